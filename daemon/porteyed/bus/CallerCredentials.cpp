// SPDX-License-Identifier: MIT
#include "bus/CallerCredentials.hpp"

#include "wire/DbusTypes.hpp"

#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>

namespace porteye::dbus {

namespace {

/// More live connections than any bus allows by default (system.conf: 2048 completed
/// connections). Past it something failed to tell us of departures: start over rather than grow.
constexpr std::size_t kMaxCached = 8192;

/// A gid nobody has: for a caller whose primary group is unknown (or not among the bus's list).
constexpr std::uint32_t kNoGid = std::numeric_limits<std::uint32_t>::max();

}  // namespace

UserGroups userGroups(std::uint32_t uid) {
    UserGroups result;
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return result;
    result.primaryGid = pw.pw_gid;
    int count = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
        groups.resize(static_cast<std::size_t>(count));
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) count = 0;
    }
    result.groups.assign(groups.begin(), groups.begin() + count);
    return result;
}

service::Caller CallerCredentials::lookUp(const std::string& uniqueName) {
    if (auto it = m_cache.find(uniqueName); it != m_cache.end()) return it->second;

    std::map<std::string, sdbus::Variant> credentials;
    try {
        // A synchronous call from inside a method handler: sd_bus_call reads the socket itself and
        // queues whatever else arrives meanwhile for the loop, so this does not deadlock.
        m_busDriver.callMethod("GetConnectionCredentials")
            .onInterface("org.freedesktop.DBus")
            .withArguments(uniqueName)
            .storeResultsTo(credentials);
    } catch (const sdbus::Error& e) {
        spdlog::info("cannot identify D-Bus caller {}: {}", uniqueName, e.getMessage());
        throw sdbus::Error(std::string(kErrorPrefix) + "AccessDenied", "the bus cannot identify the caller");
    }
    service::Caller caller;
    caller.id = uniqueName;
    auto uid = credentials.find("UnixUserID");
    if (uid == credentials.end() || uid->second.peekValueType() != "u")
        throw sdbus::Error(std::string(kErrorPrefix) + "AccessDenied", "the bus does not know the caller's uid");
    caller.uid = uid->second.get<std::uint32_t>();

    const auto database = userGroups(caller.uid);
    caller.gid = database.primaryGid.value_or(kNoGid);
    auto groups = credentials.find("UnixGroupIDs");
    if (groups != credentials.end() && groups->second.peekValueType() == "au") {
        caller.groups = groups->second.get<std::vector<std::uint32_t>>();
        // The bus lists the connection's groups sorted, primary among them, without saying which
        // is primary. Keep the database's primary gid only if the connection really holds it, so
        // a process that dropped its groups is not credited with them by the user database.
        if (std::find(caller.groups.begin(), caller.groups.end(), caller.gid) == caller.groups.end())
            caller.gid = kNoGid;
    } else {
        caller.groups = database.groups;
    }

    if (m_cache.size() >= kMaxCached) m_cache.clear();
    m_cache.emplace(uniqueName, caller);
    return caller;
}

}  // namespace porteye::dbus
