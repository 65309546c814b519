// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"
#include "journal/TokenBucket.hpp"

#include <cstdint>
#include <map>
#include <vector>

namespace porteye::journal {

struct AlertLimits {
    /// Per uid: a burst of 20 alerts, then 1 a second. journald's default per-unit limit
    /// (10,000 in 30 s) is then out of one user's reach, and porteyed's own entries keep flowing.
    double rate = 1;
    double burst = 20;
    std::size_t maxUids = 1024;  ///< uids tracked apart; more (user namespaces can mint many) share one bucket
};

/// How many alerts of one uid were held back, and over how long.
struct HeldBackAlerts {
    std::uint32_t uid = 0;
    std::uint64_t count = 0;
    double seconds = 0;
};

/// The per-uid rate limit of unexpected-listener alerts: a token bucket per socket uid, so one
/// user's thousand listeners cannot drown the journal (and with it the alert that mattered).
/// root's sockets and system services' (a unit of PID 1 ending in ".service", not user@) always
/// pass: a user cannot make them. Pure, on a caller-supplied clock; loop thread only.
class AlertLimiter {
public:
    explicit AlertLimiter(AlertLimits limits = {}) : m_limits(limits) {}

    /// The alerts that pass; the others are counted for heldBack().
    std::vector<core::UnexpectedListener> admit(const std::vector<core::UnexpectedListener>& alerts,
                                                std::uint64_t nowUsec);
    /// Per uid, what was held back since the last report, once `intervalUsec` has passed since
    /// the first held-back alert (any time when `force`); the counts restart.
    std::vector<HeldBackAlerts> heldBack(std::uint64_t nowUsec, std::uint64_t intervalUsec, bool force = false);
    /// Alerts held back since the start.
    std::uint64_t heldBackTotal() const { return m_total; }

    /// Whether the alert passes whatever its uid's bucket says.
    static bool alwaysThrough(const core::UnexpectedListener& alert);

private:
    struct PerUid {
        TokenBucket bucket;
        std::uint64_t held = 0;
        std::uint64_t firstHeldUsec = 0;
    };
    PerUid& bucketOf(std::uint32_t uid);

    AlertLimits m_limits;
    std::map<std::uint32_t, PerUid> m_uids;
    std::uint64_t m_total = 0;
};

}  // namespace porteye::journal
