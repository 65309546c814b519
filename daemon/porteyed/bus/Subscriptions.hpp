// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"
#include "core/Filters.hpp"
#include "core/PortEvent.hpp"
#include "service/PortService.hpp"

#include <sdbus-c++/sdbus-c++.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace porteye::dbus {

class SubscriptionObject;

/// The D-Bus event subscriptions (Subscribe): one object per subscription whose signals go to its
/// owner only, each event shown as the owner may see it (PortService::visibleEvent) and matching
/// its filter. The broadcast signals reach only root and group porteye (bus policy); this is how
/// every other caller's client is live over D-Bus. Loop thread only.
class Subscriptions {
public:
    /// Per ordinary uid, and in all: each subscription costs a unicast signal per matching event.
    static constexpr std::size_t kMaxPerUid = 32;
    static constexpr std::size_t kMaxTotal = 1024;

    using CallerOf = std::function<service::Caller(const sdbus::Message*)>;
    /// `callerOf` tells who sent a message (DbusFrontend::callerOf), for Stop.
    Subscriptions(sdbus::IConnection& connection, service::PortService& service, CallerOf callerOf);
    ~Subscriptions();
    Subscriptions(const Subscriptions&) = delete;
    Subscriptions& operator=(const Subscriptions&) = delete;

    /// Registers a subscription of `caller` (its bus name owns it); returns its object path.
    /// Throws LimitExceeded past the quotas.
    sdbus::ObjectPath add(const service::Caller& caller, core::SocketFilter filter);
    /// Ends subscription `id` for `caller` (its owner, or a privileged caller); NoSuchWatch otherwise.
    void stop(const service::Caller& caller, std::uint64_t id);
    /// Ends every subscription of a client that left the bus; returns how many.
    std::size_t removeOwner(const std::string& owner);

    void publish(const std::vector<core::PortEvent>& events);
    void publish(const std::vector<core::UnexpectedListener>& alerts);
    /// Destroys the objects of subscriptions ended since the last call (one may end in its own Stop).
    void collectGarbage();
    std::size_t size() const { return m_entries.size(); }

private:
    struct Entry {
        service::Caller owner;
        bool privileged = false;
        core::SocketFilter filter;
        std::unique_ptr<SubscriptionObject> object;
    };
    void erase(std::map<std::uint64_t, Entry>::iterator it);

    sdbus::IConnection& m_connection;
    service::PortService& m_service;
    CallerOf m_callerOf;
    std::map<std::uint64_t, Entry> m_entries;
    std::map<std::uint32_t, std::size_t> m_perUid;  ///< ordinary uids only
    std::vector<std::unique_ptr<SubscriptionObject>> m_graveyard;
    std::uint64_t m_nextId = 1;
};

}  // namespace porteye::dbus
