// SPDX-License-Identifier: MIT
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace porteye::control {

/// Who is at the other end of a Unix stream socket, as the kernel vouches for it.
struct PeerIdentity {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    pid_t pid = 0;  ///< for logs only: a pid is not an identity (it can be reused)
    std::vector<std::uint32_t> groups;
    /// True when `groups` came from SO_PEERGROUPS (the peer's groups at connect time); false when
    /// the kernel could not say and they come from the user database for `uid`.
    bool groupsFromKernel = false;
};

/// Reads SO_PEERCRED (uid, gid, pid, recorded by the kernel at connect()) and SO_PEERGROUPS
/// (supplementary groups, same moment). When SO_PEERGROUPS fails (old kernel, no groups
/// recorded), the groups are those the user database gives `uid`. Never reads /proc: the peer
/// may have changed identity, or exited and had its pid reused, since it connected.
/// Returns nullopt (with `error` set) when SO_PEERCRED itself fails.
std::optional<PeerIdentity> readPeerIdentity(int fd, std::string& error);

/// The user database's groups for `uid` (primary and supplementary); empty when it has no such user.
std::vector<std::uint32_t> userDatabaseGroups(std::uint32_t uid, std::uint32_t gid);

}  // namespace porteye::control
