// SPDX-License-Identifier: MIT
#include "core/SnapshotDiff.hpp"

#include <algorithm>

namespace porteye::core {

void normalizeSnapshot(Snapshot& records) {
    std::sort(records.begin(), records.end(),
              [](const SocketRecord& a, const SocketRecord& b) { return keyOf(a) < keyOf(b); });
    records.erase(std::unique(records.begin(), records.end(),
                              [](const SocketRecord& a, const SocketRecord& b) { return keyOf(a) == keyOf(b); }),
                  records.end());
}

SnapshotChanges diffSnapshots(const Snapshot& before, const Snapshot& after) {
    SnapshotChanges changes;
    auto b = before.begin();
    auto a = after.begin();
    while (b != before.end() || a != after.end()) {
        if (a == after.end() || (b != before.end() && keyOf(*b) < keyOf(*a))) {
            changes.removed.push_back(*b++);
        } else if (b == before.end() || keyOf(*a) < keyOf(*b)) {
            changes.added.push_back(*a++);
        } else {
            ++a;
            ++b;
        }
    }
    return changes;
}

std::vector<PortEvent> stampEvents(const SnapshotChanges& changes, WallTime time, std::uint64_t& nextSequence) {
    std::vector<PortEvent> events;
    events.reserve(changes.added.size() + changes.removed.size());
    for (const auto& record : changes.removed)
        events.push_back({nextSequence++, Action::Removed, time, record});
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
