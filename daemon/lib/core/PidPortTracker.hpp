// SPDX-License-Identifier: MIT
#pragma once

#include "core/Filters.hpp"
#include "core/IClock.hpp"
#include "core/IProcessTable.hpp"
#include "core/PortChange.hpp"
#include "core/ProcessDetailsCache.hpp"
#include "core/SnapshotDiff.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

namespace porteye::core {

/// Supplies a socket-table dump (owners empty) when a tracker needs one; nullptr if the dump failed.
using DumpProvider = std::function<const std::vector<SocketRecord>*()>;

struct TrackerOptions {
    /// A dump is taken at least every this many steps, to refresh states and
    /// catch sockets that bound without their inode changing.
    std::uint32_t refreshEvery = 10;
    /// An inode held but absent from the dump (unbound TCP or UDP, unix) is looked
    /// up again on this many following steps, in case it was just being bound.
    std::uint32_t recheckYoungFor = 2;
};

/// Tracks the sockets of one PID (optionally with its descendants) by reading
/// that process's fd table, so it never walks the rest of /proc. The host-wide
/// dump is asked for only when the fd table shows a socket it has not placed
/// yet (or for a periodic refresh): a quiet process costs one fd-table read.
class PidPortTracker {
public:
    /// `handle`, when given, pins the process: it alone decides that the process exited.
    /// `details`, when given, is a cache shared with others (PortMonitor::detailsCache) whose owner
    /// drops vanished processes; without one the tracker keeps its own, trimmed to the pids it covers.
    PidPortTracker(std::uint32_t pid, bool includeChildren, IProcessTable& processes, IClock& clock,
                   SocketFilter filter = {}, TrackerOptions options = {}, const IProcessHandle* handle = nullptr,
                   ProcessDetailsCache* details = nullptr);

    /// One watch step; calls `dump` only if it needs the socket table.
    PortChange step(const DumpProvider& dump);
    /// A step with a dump already in hand (used only if needed).
    PortChange update(const std::vector<SocketRecord>& dump) {
        return step([&dump] { return &dump; });
    }

    std::uint32_t pid() const { return m_pid; }
    bool includeChildren() const { return m_includeChildren; }
    const Snapshot& current() const { return m_current; }
    /// Pids covered by the last step (the PID and, with children, its descendants).
    const std::vector<std::uint32_t>& coveredPids() const { return m_coveredPids; }
    /// How many steps asked for a dump (for tests and benchmarks).
    std::uint64_t dumpsUsed() const { return m_dumpsUsed; }

private:
    /// A step that reports nothing: the ports as they were, with why.
    PortChange unchanged(ReadStatus status, int error) const;

    std::uint32_t m_pid;
    bool m_includeChildren;
    IProcessTable& m_processes;
    IClock& m_clock;
    SocketFilter m_filter;
    TrackerOptions m_options;
    const IProcessHandle* m_handle;
    std::unique_ptr<ProcessDetailsCache> m_ownDetails;  // when no shared cache was given
    ProcessDetailsCache* m_details;
    Snapshot m_current;
    std::vector<std::uint32_t> m_coveredPids;
    std::unordered_map<std::uint64_t, SocketRecord> m_placed;     // inode -> its socket, from the last dump
    std::unordered_map<std::uint64_t, std::uint32_t> m_unplaced;  // inode -> steps since first seen
    std::uint64_t m_steps = 0;
    std::uint64_t m_lastDumpStep = 0;
    std::uint64_t m_dumpsUsed = 0;
    std::uint64_t m_nextSequence = 1;
};

}  // namespace porteye::core
