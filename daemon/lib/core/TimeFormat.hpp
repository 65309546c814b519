// SPDX-License-Identifier: MIT
#pragma once

#include "core/IClock.hpp"

#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace porteye::core {

/// "2023-10-03T12:00:00.000000" in local time, as the ProcessPortMonitor seed prints history.
std::string formatIsoLocal(WallTime time);
/// "2023-10-03T12:00:00.000000Z" in UTC, for machine-readable output.
std::string formatIsoUtc(WallTime time);
/// Accepts "YYYY-MM-DDTHH:MM:SS[.ffffff][Z]" (local time without Z) or an integer of µs since the epoch.
std::optional<WallTime> parseTime(std::string_view text);

/// µs since the epoch, the wire form on D-Bus and JSON.
inline std::uint64_t toEpochMicros(WallTime t) {
    return static_cast<std::uint64_t>(t.time_since_epoch().count());
}
inline WallTime fromEpochMicros(std::uint64_t us) {
    return WallTime{std::chrono::microseconds{static_cast<std::int64_t>(us)}};
}
/// For values from callers: nullopt when `us` does not fit the clock (2^63 µs and above would wrap).
inline std::optional<WallTime> checkedFromEpochMicros(std::uint64_t us) {
    if (us > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return fromEpochMicros(us);
}

}  // namespace porteye::core
