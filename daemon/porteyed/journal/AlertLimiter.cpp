// SPDX-License-Identifier: MIT
#include "journal/AlertLimiter.hpp"

namespace porteye::journal {
namespace {

/// The uid that stands for every uid past maxUids.
constexpr std::uint32_t kOtherUids = 0xffffffffU;

}  // namespace

bool AlertLimiter::alwaysThrough(const core::UnexpectedListener& alert) {
    const auto& r = alert.event.record;
    if (r.uid == 0) return true;
    const auto* d = r.details.get();
    if (!d) return false;
    const std::string& unit = d->unit;
    // A unit of a nested manager reads "user@1000.service/app.service": never a system service.
    return unit.size() > 8 && unit.find('/') == std::string::npos && unit.rfind("user@", 0) != 0 &&
           unit.compare(unit.size() - 8, 8, ".service") == 0;
}

AlertLimiter::PerUid& AlertLimiter::bucketOf(std::uint32_t uid) {
    if (m_uids.size() >= m_limits.maxUids && !m_uids.count(uid)) uid = kOtherUids;
    return m_uids.try_emplace(uid, PerUid{TokenBucket(m_limits.rate, m_limits.burst)}).first->second;
}

std::vector<core::UnexpectedListener> AlertLimiter::admit(const std::vector<core::UnexpectedListener>& alerts,
                                                          std::uint64_t nowUsec) {
    std::vector<core::UnexpectedListener> out;
    out.reserve(alerts.size());
    for (const auto& alert : alerts) {
        if (alwaysThrough(alert)) {
            out.push_back(alert);
            continue;
        }
        auto& uid = bucketOf(alert.event.record.uid);
        if (uid.bucket.take(nowUsec)) {
            out.push_back(alert);
            continue;
        }
        if (uid.held++ == 0) uid.firstHeldUsec = nowUsec;
        ++m_total;
    }
    return out;
}

std::vector<HeldBackAlerts> AlertLimiter::heldBack(std::uint64_t nowUsec, std::uint64_t intervalUsec, bool force) {
    std::vector<HeldBackAlerts> out;
    for (auto& [uid, per] : m_uids) {
        if (per.held == 0) continue;
        const std::uint64_t elapsed = nowUsec > per.firstHeldUsec ? nowUsec - per.firstHeldUsec : 0;
        if (!force && elapsed < intervalUsec) continue;
        out.push_back({uid, per.held, static_cast<double>(elapsed) / 1e6});
        per.held = 0;
    }
    return out;
}

}  // namespace porteye::journal
