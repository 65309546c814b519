// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"
#include "core/PortEvent.hpp"
#include "bus/CallerCredentials.hpp"
#include "bus/Subscriptions.hpp"
#include "flow/IEventSink.hpp"
#include "service/PortService.hpp"

#include <sdbus-c++/sdbus-c++.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace porteye::dbus {

class ManagerObject;
class WatchObject;

/// The D-Bus front-end: translates org.porteye.PortEye1 calls to PortService and service results
/// and errors back; it decides nothing itself. Runs on the daemon's loop thread only.
class DbusFrontend final : public flow::IEventSink {
public:
    /// `watchesChanged` is called when a watch is added so the loop can re-arm its watch timer.
    DbusFrontend(sdbus::IConnection& connection, service::PortService& service, std::function<void()> watchesChanged);
    /// Ends the watches of this connection's clients (each gets Ended("shutdown")).
    ~DbusFrontend() override;
    DbusFrontend(const DbusFrontend&) = delete;
    DbusFrontend& operator=(const DbusFrontend&) = delete;

    /// Broadcasts PortAdded/PortRemoved for host events, and sends each subscriber its share.
    void onEvents(const std::vector<core::PortEvent>& events) override;
    /// Broadcasts UnexpectedListener for each alert, and sends each subscriber its share.
    void onUnexpected(const std::vector<core::UnexpectedListener>& alerts) override;
    /// Emits PropertiesChanged for the settings a reload changed (PollInterval, HistoryCapacity);
    /// the daemon calls it after every reload.
    void settingsChanged();
    /// Destroys watch objects whose end was requested while a D-Bus callback of ours ran.
    void collectGarbage();

    // Used by the objects:
    /// The caller of the message being processed, as the bus vouches for it (see CallerCredentials).
    service::Caller callerOf(const sdbus::Message* message);
    sdbus::ObjectPath createWatch(const service::Caller& caller, std::uint32_t pid,
                                  const std::map<std::string, sdbus::Variant>& options);
    void endWatch(const service::Caller& caller, service::WatchId id);
    Subscriptions& subscriptions() { return *m_subscriptions; }
    service::PortService& service() { return m_service; }

    /// Marks a D-Bus callback of ours as running: a watch object ended meanwhile is destroyed
    /// after it returns (collectGarbage), not under its own feet.
    class CallbackScope {
    public:
        explicit CallbackScope(DbusFrontend& frontend) : m_frontend(frontend) { ++m_frontend.m_callbackDepth; }
        ~CallbackScope() { --m_frontend.m_callbackDepth; }
        CallbackScope(const CallbackScope&) = delete;
        CallbackScope& operator=(const CallbackScope&) = delete;

    private:
        DbusFrontend& m_frontend;
    };

private:
    void dropWatchObject(service::WatchId id);
    void onNameOwnerChanged(const std::string& name, const std::string& oldOwner, const std::string& newOwner);

    sdbus::IConnection& m_connection;
    service::PortService& m_service;
    std::function<void()> m_watchesChanged;
    std::unique_ptr<ManagerObject> m_manager;
    std::unique_ptr<sdbus::IProxy> m_busDriver;
    std::unique_ptr<CallerCredentials> m_credentials;
    std::unique_ptr<Subscriptions> m_subscriptions;
    std::map<service::WatchId, std::unique_ptr<WatchObject>> m_watchObjects;
    std::vector<std::unique_ptr<WatchObject>> m_graveyard;
    int m_callbackDepth = 0;
    double m_announcedInterval = 0;
    std::uint64_t m_announcedCapacity = 0;
};

/// Runs `body`, turning service and protocol errors into named D-Bus errors (core/Errors.hpp).
void translateErrors(const std::function<void()>& body);

/// Emits `signal` from `object` to one client only (a watch's or a subscription's owner); a
/// failure is logged, not thrown: the event loop must go on for everyone else.
void sendUnicast(sdbus::IObject& object, sdbus::Signal& signal, const std::string& destination);

}  // namespace porteye::dbus
