// SPDX-License-Identifier: MIT
#pragma once

#include "core/PortEvent.hpp"
#include "core/SocketRecord.hpp"

#include <cstdint>
#include <set>
#include <vector>

namespace porteye::core {

/// Records sorted by keyOf(); the form snapshots are kept in so a diff is one merge walk.
using Snapshot = std::vector<SocketRecord>;

/// Sorts records by key and drops exact duplicate keys.
void normalizeSnapshot(Snapshot& records);

struct SnapshotChanges {
    std::vector<SocketRecord> added;
    std::vector<SocketRecord> removed;
    bool empty() const { return added.empty() && removed.empty(); }
};

/// What changed between two normalized snapshots. A socket whose state changes
/// keeps its key and is not reported (its record in `after` carries the new state).
SnapshotChanges diffSnapshots(const Snapshot& before, const Snapshot& after);

/// Turns changes into events stamped with `time`, removals first, numbering
/// them from `nextSequence` (advanced past the last one).
std::vector<PortEvent> stampEvents(const SnapshotChanges& changes, WallTime time, std::uint64_t& nextSequence);

/// Local ports of the records (the ProcessPortMonitor "active ports" set).
std::set<std::uint16_t> localPorts(const std::vector<SocketRecord>& records);

}  // namespace porteye::core
