// SPDX-License-Identifier: MIT
#include "core/History.hpp"

#include <algorithm>

namespace porteye::core {

std::vector<PortEvent> History::query(const HistoryFilter& filter) const {
    // Walk newest to oldest so a small limit stops early on a large ring.
    std::vector<PortEvent> result;
    for (std::size_t i = m_ring.size(); i-- > 0;) {
        const PortEvent& event = m_ring.at(i);
        if (filter.afterSequence && event.sequence <= *filter.afterSequence) break;
        if (!filter.matches(event)) continue;
        result.push_back(event);
        if (filter.limit != 0 && result.size() >= filter.limit) break;
    }
    std::reverse(result.begin(), result.end());
    return result;
}

}  // namespace porteye::core
