// SPDX-License-Identifier: MIT
#include "core/SnapshotDiff.hpp"

#include <algorithm>

namespace porteye::core {
namespace {

// A socket, whoever holds it. Inode 0 (TIME_WAIT, accept-queue) has no identity beyond
// its cookie's record, so such records are never owner changes.
struct SocketId {
    std::uint64_t cookie = 0;
    std::uint64_t inode = 0;
    auto operator<=>(const SocketId&) const = default;
};
SocketId idOf(const SocketRecord& r) {
    return {r.cookie, r.inode};
}

// The records of socket `id` in a normalized snapshot (contiguous: the key starts with it).
std::pair<Snapshot::const_iterator, Snapshot::const_iterator> recordsOf(const Snapshot& s, SocketId id) {
    const auto first =
        std::lower_bound(s.begin(), s.end(), id, [](const SocketRecord& r, const SocketId& v) { return idOf(r) < v; });
    auto last = first;
    while (last != s.end() && idOf(*last) == id)
        ++last;
    return {first, last};
}

bool holds(const Snapshot& s, SocketId id) {
    const auto [first, last] = recordsOf(s, id);
    return first != last;
}

}  // namespace

void normalizeSnapshot(Snapshot& records) {
    std::sort(records.begin(), records.end(),
              [](const SocketRecord& a, const SocketRecord& b) { return keyOf(a) < keyOf(b); });
    records.erase(std::unique(records.begin(), records.end(),
                              [](const SocketRecord& a, const SocketRecord& b) { return keyOf(a) == keyOf(b); }),
                  records.end());
}

SnapshotChanges diffSnapshots(const Snapshot& before, const Snapshot& after) {
    std::vector<SocketRecord> gone;    // records whose key left
    std::vector<SocketRecord> joined;  // records whose key appeared
    auto b = before.begin();
    auto a = after.begin();
    while (b != before.end() || a != after.end()) {
        if (a == after.end() || (b != before.end() && keyOf(*b) < keyOf(*a))) {
            gone.push_back(*b++);
        } else if (b == before.end() || keyOf(*a) < keyOf(*b)) {
            joined.push_back(*a++);
        } else {
            ++a;
            ++b;
        }
    }

    // Both lists are in key order, so a socket's records are contiguous in each. A socket
    // still in `after` only changed owners; one no longer there closed; one not in
    // `before` is new. Only the (few) changed records are looked at.
    SnapshotChanges changes;
    auto g = gone.begin();
    auto j = joined.begin();
    while (g != gone.end() || j != joined.end()) {
        SocketId id = g == gone.end() ? idOf(*j) : j == joined.end() ? idOf(*g) : std::min(idOf(*g), idOf(*j));
        auto gEnd = g;
        while (gEnd != gone.end() && idOf(*gEnd) == id)
            ++gEnd;
        auto jEnd = j;
        while (jEnd != joined.end() && idOf(*jEnd) == id)
            ++jEnd;
        const bool hasIdentity = id.inode != 0;
        const bool wasThere = g != gEnd || (hasIdentity && holds(before, id));
        const bool isThere = j != jEnd || (hasIdentity && holds(after, id));
        if (!hasIdentity || !wasThere || !isThere) {
            changes.removed.insert(changes.removed.end(), g, gEnd);
            changes.added.insert(changes.added.end(), j, jEnd);
        } else {
            const auto stayed = recordsOf(after, id).first;  // some current owner's record
            for (; g != gEnd || j != jEnd;) {
                OwnerChange change;
                if (g != gEnd) {
                    change.previousPid = g->pid;
                    change.previousOwnerUid = g->pid != 0 ? g->ownerUid : 0;
                    ++g;
                }
                change.record = j != jEnd ? *j++ : *stayed;
                changes.ownerChanged.push_back(std::move(change));
            }
        }
        g = gEnd;
        j = jEnd;
    }
    return changes;
}

std::vector<PortEvent> stampEvents(const SnapshotChanges& changes, WallTime time, std::uint64_t& nextSequence) {
    std::vector<PortEvent> events;
    events.reserve(changes.added.size() + changes.removed.size() + changes.ownerChanged.size());
    for (const auto& record : changes.removed)
        events.push_back({nextSequence++, Action::Removed, time, record});
    for (const auto& change : changes.ownerChanged)
        events.push_back(
            {nextSequence++, Action::OwnerChanged, time, change.record, change.previousPid, change.previousOwnerUid});
    for (const auto& record : changes.added)
        events.push_back({nextSequence++, Action::Added, time, record});
    return events;
}

std::set<std::uint16_t> localPorts(const std::vector<SocketRecord>& records) {
    std::set<std::uint16_t> ports;
    for (const auto& r : records)
        ports.insert(r.localPort);
    return ports;
}

}  // namespace porteye::core
