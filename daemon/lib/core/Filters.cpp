// SPDX-License-Identifier: MIT
#include "core/Filters.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace porteye::core {

bool containsIgnoreCase(std::string_view haystack, std::string_view needle) {
    if (needle.empty()) return true;
    const auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                       [&](char a, char b) { return lower(a) == lower(b); }) != haystack.end();
}

bool unitMatches(std::string_view recordUnit, std::string_view wanted) {
    if (wanted.empty() || recordUnit.empty()) return false;
    if (recordUnit == wanted) return true;
    // "user@1000.service/app.service": the manager or the unit inside it.
    const auto slash = recordUnit.find('/');
    if (slash == std::string_view::npos) return false;
    return recordUnit.substr(0, slash) == wanted || recordUnit.substr(slash + 1) == wanted;
}

bool containerMatches(std::string_view id, std::string_view name, std::string_view wanted) {
    if (wanted.empty()) return false;
    if (!name.empty() && name == wanted) return true;
    return wanted.size() >= kMinContainerIdPrefix && id.starts_with(wanted);
}

bool netnsMatches(std::uint64_t inode, std::string_view name, std::string_view wanted) {
    if (wanted.empty()) return false;
    std::uint64_t number = 0;
    const auto [ptr, ec] = std::from_chars(wanted.data(), wanted.data() + wanted.size(), number);
    if (ec == std::errc{} && ptr == wanted.data() + wanted.size()) return inode != 0 && inode == number;
    return !name.empty() && name == wanted;
}

bool SocketFilter::matches(const SocketRecord& r) const {
    if (pid && r.pid != *pid) return false;
    if (port && r.localPort != *port && r.remotePort != *port) return false;
    if (process && !containsIgnoreCase(r.process, *process)) return false;
    if (state && r.state != *state) return false;
    if (protocol && r.protocol != *protocol) return false;
    if (uid && r.visibleUid() != *uid) return false;
    if (unit && (!r.details || !unitMatches(r.details->unit, *unit))) return false;
    if (container && (!r.details || !containerMatches(r.details->containerId, r.details->containerName, *container)))
        return false;
    if (netns && !netnsMatches(r.netns, r.netnsName, *netns)) return false;
    if (listeningOnly && !r.listening()) return false;
    return true;
}

bool HistoryFilter::matches(const PortEvent& e) const {
    if (!socket.matches(e.record)) return false;
    if (action && e.action != *action) return false;
    if (since && e.time < *since) return false;
    if (afterSequence && e.sequence <= *afterSequence) return false;
    return true;
}

}  // namespace porteye::core
