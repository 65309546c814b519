// SPDX-License-Identifier: MIT
#pragma once

#include "service/PortService.hpp"

#include <sdbus-c++/IProxy.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace porteye::dbus {

/// Who a D-Bus caller is, by what dbus-daemon recorded for its connection when it connected
/// (org.freedesktop.DBus.GetConnectionCredentials: UnixUserID, UnixGroupIDs), never by reading
/// /proc/<sender pid> at call time (sd-bus's augmented credentials, racy against a sender that
/// execs or changes ids). Groups come from the bus when it records them (dbus-daemon ≥ 1.11.x
/// with SO_PEERGROUPS), otherwise from the user database for that uid. Answers are cached per
/// unique name (never reused on a bus) until forget() is called for it (NameOwnerChanged).
class CallerCredentials {
public:
    /// `busDriver` is a proxy of org.freedesktop.DBus on the daemon's connection.
    explicit CallerCredentials(sdbus::IProxy& busDriver) : m_busDriver(busDriver) {}

    /// Throws sdbus::Error (org.porteye.PortEye1.Error.AccessDenied) when the bus cannot say,
    /// e.g. the sender left before we asked: a caller that cannot be identified is refused.
    service::Caller lookUp(const std::string& uniqueName);
    void forget(const std::string& uniqueName) { m_cache.erase(uniqueName); }
    std::size_t cached() const { return m_cache.size(); }

private:
    sdbus::IProxy& m_busDriver;
    std::unordered_map<std::string, service::Caller> m_cache;
};

/// The user database's view of a uid: its primary gid (nullopt for an unknown uid) and every
/// group it is a member of (primary included).
struct UserGroups {
    std::optional<std::uint32_t> primaryGid;
    std::vector<std::uint32_t> groups;
};
UserGroups userGroups(std::uint32_t uid);

}  // namespace porteye::dbus
