// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace porteye::core {

/// Bounded circular queue: O(1) amortised push; once full, the oldest item is overwritten
/// and counted in overrunCount() (after spdlog's circular_q). Storage grows geometrically as
/// items arrive, up to the capacity, so a large capacity costs nothing until it is used.
template <typename T>
class RingBuffer {
public:
    /// Slots allocated by the first push; growth doubles from there.
    static constexpr std::size_t kInitialSlots = 16;

    explicit RingBuffer(std::size_t capacity) : m_capacity(capacity) {
        if (capacity == 0) throw std::invalid_argument("ring capacity must be at least 1");
    }

    void push(T item) {
        if (m_size < m_capacity) {
            // Not full: items sit in order at [0, m_size) (m_head is 0), so append, growing
            // the storage by doubling but never past the capacity.
            if (m_items.size() == m_items.capacity())
                m_items.reserve(std::min(m_capacity, std::max(kInitialSlots, m_items.size() * 2)));
            m_items.push_back(std::move(item));
            ++m_size;
            return;
        }
        m_items[m_head] = std::move(item);
        m_head = (m_head + 1) % m_capacity;
        ++m_overruns;
    }

    /// i = 0 is the oldest item kept.
    const T& at(std::size_t i) const {
        if (i >= m_size) throw std::out_of_range("ring index");
        return m_items[(m_head + i) % m_items.size()];
    }

    std::size_t size() const { return m_size; }
    std::size_t capacity() const { return m_capacity; }
    /// Item slots allocated now (between size() and capacity()).
    std::size_t allocated() const { return m_items.capacity(); }
    bool empty() const { return m_size == 0; }
    std::uint64_t overrunCount() const { return m_overruns; }

    /// Changes capacity keeping the newest items; dropped ones count as overruns. Allocates
    /// only for the items kept; storage grows again as items arrive.
    void resize(std::size_t capacity) {
        if (capacity == 0) throw std::invalid_argument("ring capacity must be at least 1");
        const std::size_t keep = std::min(m_size, capacity);
        std::vector<T> items;
        items.reserve(std::max(keep, std::min(capacity, kInitialSlots)));
        for (std::size_t i = m_size - keep; i < m_size; ++i)
            items.push_back(std::move(m_items[(m_head + i) % m_items.size()]));
        m_overruns += m_size - keep;
        m_size = keep;
        m_items = std::move(items);
        m_head = 0;
        m_capacity = capacity;
    }

private:
    std::vector<T> m_items;  ///< m_size items; in order from 0 until full, then rotated by m_head
    std::size_t m_capacity;
    std::size_t m_head = 0;
    std::size_t m_size = 0;
    std::uint64_t m_overruns = 0;
};

}  // namespace porteye::core
