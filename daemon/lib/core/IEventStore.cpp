// SPDX-License-Identifier: MIT
#include "core/IEventStore.hpp"

namespace porteye::core {

std::vector<PortEvent> queryHistory(const History& ring, std::uint64_t nextSequence, IEventStore* store,
                                    const HistoryFilter& filter) {
    // Everything from ringStart on is in the ring; what came before is only in the store.
    const std::uint64_t ringStart = ring.oldestSequence().value_or(nextSequence);
    const bool storeMayHelp = store != nullptr && ringStart > 1;
    if (filter.afterSequence) {
        // Paging forward: the store's part comes first, then the ring continues it.
        if (!storeMayHelp || *filter.afterSequence + 1 >= ringStart) return ring.query(filter);
        auto stored = store->query(filter, ringStart);
        if (!stored) return ring.query(filter);
        if (filter.limit != 0 && stored->size() >= filter.limit) return std::move(*stored);
        HistoryFilter rest = filter;
        if (filter.limit != 0) rest.limit = filter.limit - stored->size();
        auto fromRing = ring.query(rest);
        stored->insert(stored->end(), fromRing.begin(), fromRing.end());
        return std::move(*stored);
    }
    // The newest `limit`: the ring's, completed with older ones from the store when short.
    auto fromRing = ring.query(filter);
    if (!storeMayHelp || (filter.limit != 0 && fromRing.size() >= filter.limit)) return fromRing;
    HistoryFilter older = filter;
    if (filter.limit != 0) older.limit = filter.limit - fromRing.size();
    auto stored = store->query(older, ringStart);
    if (!stored) return fromRing;
    stored->insert(stored->end(), fromRing.begin(), fromRing.end());
    return std::move(*stored);
}

}  // namespace porteye::core
