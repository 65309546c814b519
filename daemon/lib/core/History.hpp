// SPDX-License-Identifier: MIT
#pragma once

#include "core/Filters.hpp"
#include "core/PortEvent.hpp"
#include "core/RingBuffer.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace porteye::core {

/// Bounded in-memory history of port events. Not thread-safe: owned by the monitor's thread.
class History {
public:
    explicit History(std::size_t capacity) : m_ring(capacity) {}

    void append(PortEvent event) { m_ring.push(std::move(event)); }

    /// Newest `filter.limit` matching events, returned oldest first.
    std::vector<PortEvent> query(const HistoryFilter& filter) const;

    std::size_t size() const { return m_ring.size(); }
    /// Sequence number of the oldest event held; nullopt when empty.
    std::optional<std::uint64_t> oldestSequence() const {
        if (m_ring.size() == 0) return std::nullopt;
        return m_ring.at(0).sequence;
    }
    std::size_t capacity() const { return m_ring.capacity(); }
    /// Events dropped because the ring was full.
    std::uint64_t droppedCount() const { return m_ring.overrunCount(); }
    void setCapacity(std::size_t capacity) { m_ring.resize(capacity); }

private:
    RingBuffer<PortEvent> m_ring;
};

}  // namespace porteye::core
