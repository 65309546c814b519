// SPDX-License-Identifier: MIT
#include "core/History.hpp"

#include <algorithm>

namespace porteye::core {

std::vector<PortEvent> History::query(const HistoryFilter& filter) const {
    std::vector<PortEvent> result;
    if (filter.afterSequence) {
        // Paging forward: the oldest `limit` events after the last one the caller has, so
        // calling again with the last sequence received walks the whole history without a
        // gap. Sequences grow along the ring, so the start is found by bisection.
        std::size_t lo = 0;
        std::size_t hi = m_ring.size();
        while (lo < hi) {
            const std::size_t mid = lo + (hi - lo) / 2;
            if (m_ring.at(mid).sequence <= *filter.afterSequence)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (std::size_t i = lo; i < m_ring.size(); ++i) {
            const PortEvent& event = m_ring.at(i);
            if (!filter.matches(event)) continue;
            result.push_back(event);
            if (filter.limit != 0 && result.size() >= filter.limit) break;
        }
        return result;
    }
    // Walk newest to oldest so a small limit stops early on a large ring.
    for (std::size_t i = m_ring.size(); i-- > 0;) {
        const PortEvent& event = m_ring.at(i);
        if (!filter.matches(event)) continue;
        result.push_back(event);
        if (filter.limit != 0 && result.size() >= filter.limit) break;
    }
    std::reverse(result.begin(), result.end());
    return result;
}

}  // namespace porteye::core
