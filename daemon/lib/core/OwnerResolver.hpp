// SPDX-License-Identifier: MIT
#pragma once

#include "core/IProcessTable.hpp"
#include "core/ProcessDetailsCache.hpp"
#include "core/SocketRecord.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace porteye::core {

/// Told, once per poll, which processes the listing found new and which it found gone.
using ProcessObserver =
    std::function<void(const std::vector<ProcessId>& fresh, const std::vector<ProcessId>& vanished)>;

struct ResolverOptions {
    /// A walk of every process is forced after this many polls (0 = never): a safety net,
    /// since owners are otherwise kept true by following processes as they come and go.
    std::uint32_t fullRescanEvery = 60;
    /// Inodes no process was found for are retried after 1, 2, 4, ... polls, up to this.
    std::uint32_t maxRetryBackoff = 64;
};

struct ResolverStats {
    std::uint64_t walks = 0;            ///< walks of every process
    std::uint64_t skippedWalks = 0;     ///< polls that needed no walk
    std::uint64_t newProcessReads = 0;  ///< fd tables read because their process was new
    std::uint64_t ownersDropped = 0;    ///< owners forgotten because their process vanished
    std::uint64_t incompletePolls = 0;  ///< polls whose owners could not all be read (EMFILE, ...)
    std::uint64_t unresolved = 0;       ///< inodes without a visible owner after the last poll
    WalkStats walk;                     ///< summed over all walks
};

/// Joins dumped sockets with their owning processes, remembering what it resolved
/// so a steady-state poll walks /proc only for inodes it has not seen before.
///
/// Owners stay true without a walk per poll: each poll lists /proc (one readdir, no
/// per-process read), forgets owners whose process is no longer listed (or whose PID now
/// names another process), and reads the fd tables of the processes listed for the first
/// time only, adding them as owners of the sockets they hold. A fork child that inherited
/// a listener is thus named, and its exited parent dropped, within one poll.
class OwnerResolver {
public:
    explicit OwnerResolver(IProcessTable& table, ResolverOptions options = {});

    /// One record per (socket, owner); sockets without a visible owner keep pid 0.
    std::vector<SocketRecord> resolve(std::vector<SocketRecord> sockets);

    /// Whether the last resolve() could not read everything it needed for a transient
    /// reason (EMFILE, ENFILE, ENOMEM): its owners may be short, so its records must not be
    /// taken for the truth. What could not be read is read again on the next call.
    bool lastIncomplete() const { return m_incomplete; }
    /// Why, when lastIncomplete().
    const char* incompleteReason() const { return m_incompleteReason; }

    const ResolverStats& stats() const { return m_stats; }
    /// The owners' details, read once per process; entries of vanished processes are dropped
    /// as each poll's listing shows them gone. Watches share it (PortMonitor::detailsCache).
    ProcessDetailsCache& detailsCache() { return m_details; }
    void setProcessObserver(ProcessObserver observer) { m_observer = std::move(observer); }
    /// Records an owner learnt elsewhere (a kernel event naming the process that opened the
    /// socket), so the next poll finds the inode resolved instead of walking /proc for it.
    void learn(std::uint64_t inode, const ProcessInfo& info);

private:
    struct Owner {
        ProcessInfo info;
        std::shared_ptr<const ProcessDetails> details;
    };
    struct Entry {
        std::vector<Owner> owners;      // sorted by pid
        std::uint64_t retryAtPoll = 0;  // for unresolved entries
        std::uint32_t backoff = 1;
        std::uint64_t seenAtPoll = 0;  // the last poll whose dump held this inode
    };

    /// Follows processes that appeared or vanished since the last poll; `walkCoversAll`
    /// when this poll's walk looks for every inode anyway.
    void followProcesses(bool walkCoversAll);
    /// The owner kept per inode: its command line lives once in the shared details, not in
    /// every socket's copy of the process (at 100k sockets that copy was ~10 MiB).
    Owner ownerOf(const ProcessInfo& info) {
        Owner owner{info, m_details.get(info)};
        owner.info.cmdline = std::string();
        return owner;
    }

    IProcessTable& m_table;
    ResolverOptions m_options;
    ProcessDetailsCache m_details;
    std::unordered_map<std::uint64_t, Entry> m_cache;
    std::vector<ProcessId> m_known;  // processes listed (and read) by the last poll, sorted
    std::uint64_t m_poll = 0;
    std::uint64_t m_lastFullWalk = 0;
    bool m_incomplete = false;
    const char* m_incompleteReason = "";
    ResolverStats m_stats;
    ProcessObserver m_observer;
};

}  // namespace porteye::core
