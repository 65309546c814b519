// SPDX-License-Identifier: MIT
#pragma once

#include "core/IEventStore.hpp"

#include <algorithm>
#include <vector>

namespace porteye::fakes {

/// An in-memory core::IEventStore that answers as the SQLite one does (filter.matches, same order).
class FakeEventStore final : public core::IEventStore {
public:
    std::uint64_t lastSequence() const override { return events.empty() ? 0 : events.back().sequence; }
    void append(const std::vector<core::PortEvent>& more) override {
        events.insert(events.end(), more.begin(), more.end());
    }
    std::optional<std::vector<core::PortEvent>> query(const core::HistoryFilter& filter,
                                                      std::uint64_t beforeSequence) override {
        ++queries;
        if (failing) return std::nullopt;
        std::vector<core::PortEvent> out;
        const auto take = [&](const core::PortEvent& e) {
            if (e.sequence >= beforeSequence || !filter.matches(e)) return true;
            out.push_back(e);
            return filter.limit == 0 || out.size() < filter.limit;
        };
        if (filter.afterSequence) {
            for (const auto& e : events)
                if (!take(e)) break;
        } else {
            for (auto it = events.rbegin(); it != events.rend(); ++it)
                if (!take(*it)) break;
            std::reverse(out.begin(), out.end());
        }
        return out;
    }
    void flush() override {}
    std::string health() const override { return failing ? "failed: fake" : "ok"; }
    std::uint64_t droppedCount() const override { return 0; }

    std::vector<core::PortEvent> events;
    bool failing = false;
    int queries = 0;
};

}  // namespace porteye::fakes
