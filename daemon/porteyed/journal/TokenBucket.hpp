// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cstdint>

namespace porteye::journal {

/// A token bucket on a caller-supplied clock (µs): `burst` entries at once, then `ratePerSecond`.
/// Pure, so tests step time by hand.
class TokenBucket {
public:
    TokenBucket(double ratePerSecond, double burst) : m_rate(ratePerSecond), m_burst(burst), m_tokens(burst) {}

    /// Takes one token if there is one.
    bool take(std::uint64_t nowUsec) {
        refill(nowUsec);
        if (m_tokens < 1.0) return false;
        m_tokens -= 1.0;
        return true;
    }

private:
    void refill(std::uint64_t nowUsec) {
        if (m_started && nowUsec > m_lastUsec)
            m_tokens = std::min(m_burst, m_tokens + static_cast<double>(nowUsec - m_lastUsec) * m_rate / 1e6);
        if (!m_started || nowUsec > m_lastUsec) m_lastUsec = nowUsec;
        m_started = true;
    }

    double m_rate;
    double m_burst;
    double m_tokens;
    std::uint64_t m_lastUsec = 0;
    bool m_started = false;
};

}  // namespace porteye::journal
