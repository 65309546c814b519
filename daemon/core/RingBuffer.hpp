// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace porteye::core {

/// Fixed-capacity circular queue: O(1) push, the oldest item is overwritten
/// when full and counted in overrunCount() (after spdlog's circular_q).
template <typename T>
class RingBuffer {
public:
    explicit RingBuffer(std::size_t capacity) : m_items(capacity) {
        if (capacity == 0) throw std::invalid_argument("ring capacity must be at least 1");
    }

    void push(T item) {
        m_items[(m_head + m_size) % m_items.size()] = std::move(item);
        if (m_size < m_items.size()) {
            ++m_size;
        } else {
            m_head = (m_head + 1) % m_items.size();
            ++m_overruns;
        }
    }

    /// i = 0 is the oldest item kept.
    const T& at(std::size_t i) const {
        if (i >= m_size) throw std::out_of_range("ring index");
        return m_items[(m_head + i) % m_items.size()];
    }

    std::size_t size() const { return m_size; }
    std::size_t capacity() const { return m_items.size(); }
    bool empty() const { return m_size == 0; }
    std::uint64_t overrunCount() const { return m_overruns; }

    /// Changes capacity keeping the newest items; dropped ones count as overruns.
    void resize(std::size_t capacity) {
        if (capacity == 0) throw std::invalid_argument("ring capacity must be at least 1");
        std::vector<T> items;
        items.reserve(capacity);
        const std::size_t keep = std::min(m_size, capacity);
        for (std::size_t i = m_size - keep; i < m_size; ++i)
            items.push_back(std::move(m_items[(m_head + i) % m_items.size()]));
        m_overruns += m_size - keep;
        m_size = keep;
        items.resize(capacity);
        m_items = std::move(items);
        m_head = 0;
    }

private:
    std::vector<T> m_items;
    std::size_t m_head = 0;
    std::size_t m_size = 0;
    std::uint64_t m_overruns = 0;
};

}  // namespace porteye::core
