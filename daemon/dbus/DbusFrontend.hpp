// SPDX-License-Identifier: MIT
#pragma once

#include "core/PortEvent.hpp"
#include "service/PortService.hpp"

#include <sdbus-c++/sdbus-c++.h>

#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace porteye::dbus {

class ManagerObject;
class WatchObject;

/// The D-Bus front-end: translates org.porteye.PortEye1 calls to PortService and
/// service results and errors back. Runs on the daemon's loop thread only.
class DbusFrontend {
public:
    /// `watchesChanged` is called when a watch is added so the loop can re-arm its watch timer.
    DbusFrontend(sdbus::IConnection& connection, service::PortService& service, std::function<void()> watchesChanged);
    ~DbusFrontend();
    DbusFrontend(const DbusFrontend&) = delete;
    DbusFrontend& operator=(const DbusFrontend&) = delete;

    /// Broadcasts PortAdded/PortRemoved for host events.
    void emitEvents(const std::vector<core::PortEvent>& events);
    /// Destroys watch objects whose end was requested while a D-Bus callback of theirs ran.
    void collectGarbage();

    // Used by the objects:
    sdbus::ObjectPath createWatch(const service::Caller& caller, std::uint32_t pid,
                                  const std::map<std::string, sdbus::Variant>& options);
    void endWatch(const service::Caller& caller, service::WatchId id);
    service::PortService& service() { return m_service; }

private:
    void dropWatchObject(service::WatchId id);
    void onNameOwnerChanged(const std::string& name, const std::string& oldOwner, const std::string& newOwner);

    sdbus::IConnection& m_connection;
    service::PortService& m_service;
    std::function<void()> m_watchesChanged;
    std::unique_ptr<ManagerObject> m_manager;
    std::unique_ptr<sdbus::IProxy> m_busDriver;
    std::map<service::WatchId, std::unique_ptr<WatchObject>> m_watchObjects;
    std::vector<std::unique_ptr<WatchObject>> m_graveyard;
};

/// Runs `body`, turning service and protocol errors into named D-Bus errors.
void translateErrors(const std::function<void()>& body);
/// The caller of the method being processed, from the bus's credentials.
service::Caller callerOf(const sdbus::Message* message);

}  // namespace porteye::dbus
