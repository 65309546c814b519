// SPDX-License-Identifier: MIT
#include "core/UsageSampler.hpp"

#include <algorithm>
#include <cmath>

namespace porteye::core {
namespace {

double percentOf(double cpuSeconds, double wallSeconds) {
    if (!(wallSeconds > 0)) return 0;
    // CPU time can only grow; a negative delta is a clock oddity, not negative work.
    const double percent = std::max(0.0, cpuSeconds / wallSeconds * 100.0);
    return std::round(percent * 10.0) / 10.0;  // psutil rounds to one decimal
}

}  // namespace

UsageNow UsageSampler::sample(std::uint32_t pid, const ProcessUsage& usage, double nowSeconds, double ageSeconds) {
    sweep(nowSeconds);
    UsageNow out;
    out.memoryRssBytes = usage.rssBytes;
    auto [it, fresh] = m_entries.try_emplace({pid, usage.startTimeTicks});
    Entry& e = it->second;
    if (fresh) {
        e.lastPercent = ageSeconds > 0 ? percentOf(usage.cpuSeconds, ageSeconds) : 0;
        e.baseCpuSeconds = usage.cpuSeconds;
        e.baseTime = nowSeconds;
    } else if (nowSeconds - e.baseTime >= m_options.minIntervalSeconds) {
        e.lastPercent = percentOf(usage.cpuSeconds - e.baseCpuSeconds, nowSeconds - e.baseTime);
        e.baseCpuSeconds = usage.cpuSeconds;
        e.baseTime = nowSeconds;
    }
    e.lastSeen = nowSeconds;
    out.cpuPercent = e.lastPercent;
    return out;
}

void UsageSampler::sweep(double nowSeconds) {
    // At most ten sweeps per retention period: the walk is over every entry.
    if (nowSeconds - m_lastSweep < m_options.forgetAfterSeconds / 10) return;
    m_lastSweep = nowSeconds;
    std::erase_if(m_entries,
                  [&](const auto& entry) { return nowSeconds - entry.second.lastSeen > m_options.forgetAfterSeconds; });
}

}  // namespace porteye::core
