// SPDX-License-Identifier: MIT
#include "core/Filters.hpp"

#include <algorithm>
#include <cctype>

namespace porteye::core {

bool containsIgnoreCase(std::string_view haystack, std::string_view needle) {
    if (needle.empty()) return true;
    const auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                       [&](char a, char b) { return lower(a) == lower(b); }) != haystack.end();
}

bool SocketFilter::matches(const SocketRecord& r) const {
    if (pid && r.pid != *pid) return false;
    if (port && r.localPort != *port && r.remotePort != *port) return false;
    if (process && !containsIgnoreCase(r.process, *process)) return false;
    if (state && r.state != *state) return false;
    if (protocol && r.protocol != *protocol) return false;
    if (uid && r.visibleUid() != *uid) return false;
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
