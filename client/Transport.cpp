// SPDX-License-Identifier: MIT
#include "Transport.hpp"

#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace porteye::cli {

const sigset_t& stopSignals() {
    static const sigset_t signals = [] {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGINT);
        sigaddset(&s, SIGTERM);
        return s;
    }();
    return signals;
}

bool seesEveryonesSockets() {
    if (geteuid() == 0) return true;
    const group* porteye = getgrnam("porteye");
    if (porteye == nullptr) return false;
    if (getegid() == porteye->gr_gid) return true;
    std::vector<gid_t> groups(static_cast<std::size_t>(std::max(getgroups(0, nullptr), 0)));
    const int count = getgroups(static_cast<int>(groups.size()), groups.data());
    return std::find(groups.begin(), groups.begin() + std::max(count, 0), porteye->gr_gid) != groups.end();
}

StreamEnd ITransport::unexpected(const core::SocketFilter&, const UnexpectedCallback&, const StreamOptions&) {
    throw CommandError(kExitUsage,
                       "unexpected-listener alerts come from porteyed's allowlist; ask porteyed (D-Bus or --socket)");
}

}  // namespace porteye::cli
