// SPDX-License-Identifier: MIT
#pragma once

#include "core/IProcessTable.hpp"
#include "core/SocketRecord.hpp"

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace porteye::core {

struct ResolverOptions {
    /// A walk of every process is forced after this many polls (0 = never) so owners
    /// that changed without the socket changing (fork, then the parent exits) are refreshed.
    std::uint32_t fullRescanEvery = 60;
    /// Inodes no process was found for are retried after 1, 2, 4, ... polls, up to this.
    std::uint32_t maxRetryBackoff = 64;
};

struct ResolverStats {
    std::uint64_t walks = 0;         ///< walks of every process
    std::uint64_t skippedWalks = 0;  ///< polls that needed no walk
    std::uint64_t unresolved = 0;    ///< inodes without a visible owner after the last poll
    WalkStats walk;                  ///< summed over all walks
};

/// Joins dumped sockets with their owning processes, remembering what it resolved
/// so a steady-state poll walks /proc only for inodes it has not seen before.
class OwnerResolver {
public:
    explicit OwnerResolver(IProcessTable& table, ResolverOptions options = {});

    /// One record per (socket, owner); sockets without a visible owner keep pid 0.
    std::vector<SocketRecord> resolve(std::vector<SocketRecord> sockets);

    const ResolverStats& stats() const { return m_stats; }

private:
    struct Entry {
        std::vector<ProcessInfo> owners;
        std::uint64_t retryAtPoll = 0;  // for unresolved entries
        std::uint32_t backoff = 1;
        std::uint64_t seenAtPoll = 0;  // the last poll whose dump held this inode
    };

    IProcessTable& m_table;
    ResolverOptions m_options;
    std::unordered_map<std::uint64_t, Entry> m_cache;
    std::uint64_t m_poll = 0;
    std::uint64_t m_lastFullWalk = 0;
    ResolverStats m_stats;
};

}  // namespace porteye::core
