// SPDX-License-Identifier: MIT
#include "core/TimeFormat.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace porteye::core {
namespace {

std::string format(WallTime time, bool utc) {
    using namespace std::chrono;
    const auto micros = time.time_since_epoch().count();
    // Floor division so times before the epoch keep a positive fraction.
    std::int64_t seconds = micros / 1'000'000;
    std::int64_t fraction = micros % 1'000'000;
    if (fraction < 0) {
        fraction += 1'000'000;
        --seconds;
    }
    const std::time_t tt = static_cast<std::time_t>(seconds);
    std::tm tm{};
    if (utc)
        gmtime_r(&tt, &tm);
    else
        localtime_r(&tt, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld%s", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(fraction), utc ? "Z" : "");
    return buf;
}

}  // namespace

std::string formatIsoLocal(WallTime time) {
    return format(time, false);
}
std::string formatIsoUtc(WallTime time) {
    return format(time, true);
}

std::optional<WallTime> parseTime(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t micros = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), micros);
    if (ec == std::errc{} && end == text.data() + text.size()) return checkedFromEpochMicros(micros);

    std::tm tm{};
    int consumed = 0;
    const std::string copy(text);
    if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &consumed) != 6)
        return std::nullopt;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    std::string_view rest = text.substr(static_cast<std::size_t>(consumed));
    std::int64_t fraction = 0;
    if (!rest.empty() && rest.front() == '.') {
        rest.remove_prefix(1);
        int digits = 0;
        while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
            if (digits < 6) {
                fraction = fraction * 10 + (rest.front() - '0');
                ++digits;
            }
            rest.remove_prefix(1);
        }
        if (digits == 0) return std::nullopt;
        for (; digits < 6; ++digits)
            fraction *= 10;
    }
    bool utc = false;
    if (!rest.empty() && (rest.front() == 'Z' || rest.front() == 'z')) {
        utc = true;
        rest.remove_prefix(1);
    }
    if (!rest.empty()) return std::nullopt;
    tm.tm_isdst = -1;
    const std::time_t seconds = utc ? timegm(&tm) : mktime(&tm);
    if (seconds == static_cast<std::time_t>(-1)) return std::nullopt;
    return WallTime{std::chrono::microseconds{static_cast<std::int64_t>(seconds) * 1'000'000 + fraction}};
}

}  // namespace porteye::core
