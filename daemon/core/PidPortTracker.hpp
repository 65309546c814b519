// SPDX-License-Identifier: MIT
#pragma once

#include "core/Filters.hpp"
#include "core/IClock.hpp"
#include "core/IProcessTable.hpp"
#include "core/SnapshotDiff.hpp"

#include <cstdint>
#include <set>
#include <vector>

namespace porteye::core {

/// One step of a per-PID watch, in ProcessPortMonitor's terms.
struct PortChange {
    std::set<std::uint16_t> opened;  ///< local ports that appeared
    std::set<std::uint16_t> closed;  ///< local ports no longer held
    std::set<std::uint16_t> active;  ///< local ports held now
    std::vector<PortEvent> events;   ///< per-socket events behind the sets
    bool processExited = false;      ///< the watched PID is gone (its sockets were reported removed)
    bool changed() const { return !opened.empty() || !closed.empty(); }
};

/// Tracks the sockets of one PID (optionally with its descendants) by reading
/// that process's fd table, so it never walks the rest of /proc.
class PidPortTracker {
public:
    PidPortTracker(std::uint32_t pid, bool includeChildren, IProcessTable& processes, IClock& clock,
                   SocketFilter filter = {});

    /// Joins a fresh dump (owners empty) with the PID's fds and reports what changed.
    PortChange update(const std::vector<SocketRecord>& dump);

    std::uint32_t pid() const { return m_pid; }
    bool includeChildren() const { return m_includeChildren; }
    const Snapshot& current() const { return m_current; }
    /// Pids covered by the last update (the PID and, with children, its descendants).
    const std::vector<std::uint32_t>& coveredPids() const { return m_coveredPids; }

private:
    std::uint32_t m_pid;
    bool m_includeChildren;
    IProcessTable& m_processes;
    IClock& m_clock;
    SocketFilter m_filter;
    Snapshot m_current;
    std::vector<std::uint32_t> m_coveredPids;
    std::uint64_t m_nextSequence = 1;
};

}  // namespace porteye::core
