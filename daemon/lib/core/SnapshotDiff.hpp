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

/// A socket that stayed open while its owners changed (see Action::OwnerChanged).
struct OwnerChange {
    SocketRecord record;  ///< the socket with an owner it has now (pid 0: none visible)
    std::uint32_t previousPid = 0;
    std::uint32_t previousOwnerUid = 0;
};

struct SnapshotChanges {
    std::vector<SocketRecord> added;    ///< sockets that appeared
    std::vector<SocketRecord> removed;  ///< sockets that are gone (every owner's record)
    std::vector<OwnerChange> ownerChanged;
    bool empty() const { return added.empty() && removed.empty() && ownerChanged.empty(); }
};

/// What changed between two normalized snapshots. A socket whose state changes
/// keeps its key and is not reported (its record in `after` carries the new state).
/// A socket (same cookie and inode) in both snapshots whose owners differ is reported
/// in `ownerChanged`, never as removed and added: per socket, the owners that let go
/// are paired with those that joined in pid order; an owner left over on either side is
/// paired with none (previousPid 0, or the record of an owner that stayed).
SnapshotChanges diffSnapshots(const Snapshot& before, const Snapshot& after);

/// Turns changes into events stamped with `time`, removals first, then owner
/// changes, then additions, numbering them from `nextSequence` (advanced past the last one).
std::vector<PortEvent> stampEvents(const SnapshotChanges& changes, WallTime time, std::uint64_t& nextSequence);

/// Local ports of the records (the ProcessPortMonitor "active ports" set).
std::set<std::uint16_t> localPorts(const std::vector<SocketRecord>& records);

}  // namespace porteye::core
