// SPDX-License-Identifier: MIT
#include "Transport.hpp"

#include <grp.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
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

int stopSignalFd() {
    // Never read: reading a signalfd (like sigwaitinfo) takes the signal for one thread only.
    // porteyectl web waits for a stop in its event thread and in every request waiting for a reply;
    // when one of them took the signal, the others slept on (a request kept the server from stopping
    // until its 30 s reply timeout). A pending signal left pending wakes them all.
    static const int fd = [] {
        const int created = signalfd(-1, &stopSignals(), SFD_CLOEXEC | SFD_NONBLOCK);
        if (created < 0) throw CommandError(kExitFailure, std::string("signalfd failed: ") + std::strerror(errno));
        return created;
    }();
    return fd;
}

bool waitForStop(std::optional<std::chrono::duration<double>> timeout) {
    const auto deadline = timeout ? std::chrono::steady_clock::now() +
                                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout)
                                  : std::chrono::steady_clock::time_point::max();
    for (;;) {
        int waitMs = -1;
        if (timeout) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            waitMs = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 24 * 3600 * 1000));
        }
        pollfd fd{stopSignalFd(), POLLIN, 0};
        const int r = poll(&fd, 1, waitMs);
        if (r > 0) return true;
        if (r == 0 && waitMs >= 0 && std::chrono::steady_clock::now() >= deadline) return false;
        if (r < 0 && errno != EINTR)
            throw CommandError(kExitFailure, std::string("poll failed: ") + std::strerror(errno));
    }
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
