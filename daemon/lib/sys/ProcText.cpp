// SPDX-License-Identifier: MIT
#include "sys/ProcText.hpp"

#include "core/Escape.hpp"

#include <algorithm>
#include <charconv>

namespace porteye::sys {

// First number of a /proc/<pid>/status line such as "Uid:" (the real uid) or "Tgid:".
std::optional<std::uint32_t> parseStatusField(std::string_view status, std::string_view key) {
    std::size_t pos = 0;
    while (pos < status.size()) {
        std::size_t eol = status.find('\n', pos);
        if (eol == std::string_view::npos) eol = status.size();
        std::string_view line = status.substr(pos, eol - pos);
        if (line.starts_with(key)) {
            line.remove_prefix(key.size());
            const auto first = line.find_first_not_of(" \t");
            if (first == std::string_view::npos) return std::nullopt;
            line.remove_prefix(first);
            std::uint32_t value = 0;
            auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
            if (ec != std::errc{} || ptr == line.data()) return std::nullopt;
            return value;
        }
        pos = eol + 1;
    }
    return std::nullopt;
}

std::optional<std::uint32_t> parseStatusUid(std::string_view status) {
    return parseStatusField(status, "Uid:");
}

// Field 3 of a stat file, after the comm that may itself hold ") ".
bool statSaysZombie(std::string_view stat) {
    const auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

// Field `n` (1-based, as proc(5) numbers them; n >= 3) of a stat file, counted after the comm.
std::optional<std::uint64_t> statField(std::string_view stat, int n) {
    const auto paren = stat.rfind(')');
    if (paren == std::string_view::npos) return std::nullopt;
    std::string_view rest = stat.substr(paren + 1);
    int field = 2;
    std::size_t pos = 0;
    while (true) {
        pos = rest.find_first_not_of(" \n", pos);
        if (pos == std::string_view::npos) return std::nullopt;
        std::size_t end = rest.find_first_of(" \n", pos);
        if (end == std::string_view::npos) end = rest.size();
        if (++field == n) {
            std::uint64_t v = 0;
            auto [ptr, ec] = std::from_chars(rest.data() + pos, rest.data() + end, v);
            if (ec != std::errc{} || ptr != rest.data() + end) return std::nullopt;
            return v;
        }
        pos = end;
    }
}

// Field 22: when the process started, in clock ticks after boot.
std::optional<std::uint64_t> statStartTime(std::string_view stat) {
    return statField(stat, 22);
}

std::optional<std::string> commFromStat(std::string_view stat) {
    const auto open = stat.find('(');
    const auto close = stat.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
    return core::escapeUntrusted(stat.substr(open + 1, close - open - 1));
}

std::string cmdlineFromBytes(std::string_view cmdline) {
    while (!cmdline.empty() && cmdline.back() == '\0')
        cmdline.remove_suffix(1);
    std::string text(cmdline);
    std::replace(text.begin(), text.end(), '\0', ' ');
    return core::escapeUntrusted(text);
}

// Fields after the last ')' of /proc/<pid>/stat, split on spaces; index 0 is field 3.
std::optional<core::ProcessUsage> usageFromStat(std::string_view stat, std::string_view statm, long clkTck,
                                                long pageSize) {
    const auto lastParen = stat.rfind(')');
    if (lastParen == std::string_view::npos) return std::nullopt;
    std::string_view rest = stat.substr(lastParen + 1);
    std::uint64_t fields[20] = {};
    int idx = 0;
    for (std::size_t pos = 0; idx < 20;) {
        pos = rest.find_first_not_of(" \n", pos);
        if (pos == std::string_view::npos) break;
        std::size_t end = rest.find_first_of(" \n", pos);
        if (end == std::string_view::npos) end = rest.size();
        // Field 3 (state) is a letter and some fields are signed; only the unsigned
        // ones we need must parse.
        std::uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(rest.data() + pos, rest.data() + end, v);
        const bool ok = ec == std::errc{} && ptr == rest.data() + end;
        if (!ok && (idx == 11 || idx == 12 || idx == 19)) return std::nullopt;
        fields[idx++] = ok ? v : 0;
        pos = end;
    }
    if (idx < 20 || clkTck <= 0) return std::nullopt;
    core::ProcessUsage u;
    u.cpuSeconds = static_cast<double>(fields[11] + fields[12]) / static_cast<double>(clkTck);
    u.startTimeTicks = fields[19];
    // statm: size resident shared ...; field 2 is resident pages.
    const auto sp = statm.find(' ');
    if (sp != std::string_view::npos) {
        std::string_view resident = statm.substr(sp + 1);
        std::uint64_t pages = 0;
        auto [ptr, ec] = std::from_chars(resident.data(), resident.data() + resident.size(), pages);
        if (ec == std::errc{} && ptr != resident.data()) u.rssBytes = pages * static_cast<std::uint64_t>(pageSize);
    }
    return u;
}

std::uint64_t parseSocketLink(std::string_view target) {
    constexpr std::string_view prefix = "socket:[";
    if (target.size() < prefix.size() + 2 || !target.starts_with(prefix) || target.back() != ']') return 0;
    const std::string_view digits = target.substr(prefix.size(), target.size() - prefix.size() - 1);
    if (digits.front() < '0' || digits.front() > '9') return 0;
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc{} || ptr != digits.data() + digits.size()) return 0;
    return v;
}

}  // namespace porteye::sys
