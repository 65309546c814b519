// SPDX-License-Identifier: MIT
#include "control/PeerIdentity.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace porteye::control {

std::optional<PeerIdentity> readPeerIdentity(int fd, std::string& error) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    PeerIdentity peer;
    peer.uid = cred.uid;
    peer.gid = cred.gid;
    peer.pid = cred.pid;
#ifdef SO_PEERGROUPS
    // The kernel answers ERANGE with the size it needs; a second try with that size suffices
    // (the groups were fixed at connect time, they cannot grow in between).
    std::vector<gid_t> groups(64);
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
            groups.resize(bytes / sizeof(gid_t));
            peer.groups.assign(groups.begin(), groups.end());
            peer.groupsFromKernel = true;
            return peer;
        }
        if (errno != ERANGE) break;
        groups.resize(bytes / sizeof(gid_t) + 1);
    }
#endif
    // The kernel could not say: fall back to what the user database says of this uid, the same
    // rule as for D-Bus callers whose bus does not vouch for groups.
    peer.groups = userDatabaseGroups(peer.uid, peer.gid);
    return peer;
}

std::vector<std::uint32_t> userDatabaseGroups(std::uint32_t uid, std::uint32_t gid) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (::getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) return {};
    std::vector<gid_t> groups(64);
    for (int attempt = 0; attempt < 4; ++attempt) {
        int count = static_cast<int>(groups.size());
        if (::getgrouplist(pw.pw_name, gid, groups.data(), &count) >= 0) {
            groups.resize(static_cast<std::size_t>(count));
            return {groups.begin(), groups.end()};
        }
        groups.resize(static_cast<std::size_t>(count) + 16);
    }
    return {};
}

}  // namespace porteye::control
