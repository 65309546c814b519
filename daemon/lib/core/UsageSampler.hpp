// SPDX-License-Identifier: MIT
#pragma once

#include "core/ProcessInfo.hpp"

#include <cstdint>
#include <map>
#include <utility>

namespace porteye::core {

struct UsageSamplerOptions {
    /// A reading covers at least this many seconds: replies asked for in quick succession (a
    /// page and a CLI, two front-ends) repeat the last full reading instead of dividing a
    /// clock tick or two by a few milliseconds.
    double minIntervalSeconds = 1.0;
    /// Processes not sampled for this long (exited, or no longer asked about) are forgotten.
    double forgetAfterSeconds = 600;
};

/// CPU percentages of processes as psutil's Process.cpu_percent(interval=None) computes them:
/// CPU time used since the previous reading over the wall time since then, x100 (so a process
/// busy on two cores shows 200), rounded to 0.1. Keyed by (pid, start time), so a reused PID
/// starts afresh. Unlike psutil, the first reading of a process is not 0 but its average over
/// its life (as ps shows), when its age is known. No I/O: times and usage are passed in.
class UsageSampler {
public:
    explicit UsageSampler(UsageSamplerOptions options = {}) : m_options(options) {}

    /// The reading for `usage` (of process `pid`) taken at `nowSeconds` (a monotonic clock);
    /// `ageSeconds` is how long the process has run (<= 0: unknown).
    UsageNow sample(std::uint32_t pid, const ProcessUsage& usage, double nowSeconds, double ageSeconds);

    std::size_t size() const { return m_entries.size(); }

private:
    struct Entry {
        double baseCpuSeconds = 0;
        double baseTime = 0;
        double lastPercent = 0;
        double lastSeen = 0;
    };
    void sweep(double nowSeconds);

    UsageSamplerOptions m_options;
    std::map<std::pair<std::uint32_t, std::uint64_t>, Entry> m_entries;  // (pid, start time ticks)
    double m_lastSweep = 0;
};

}  // namespace porteye::core
