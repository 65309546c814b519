// SPDX-License-Identifier: MIT
#include "LocalTransport.hpp"

#include "ExitCode.hpp"
#include "core/PortMonitor.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/ProcProcessTable.hpp"

#include <cerrno>
#include <cmath>
#include <ctime>

namespace porteye::cli {

std::vector<core::SocketRecord> LocalTransport::list(const core::SocketFilter& filter) {
    sys::NetlinkSocketSource source;
    sys::ProcProcessTable processes;
    core::SystemClock clock;
    core::MonitorOptions options;
    if (filter.state) options.request.states = core::stateBit(*filter.state);
    core::PortMonitor monitor(source, processes, clock, options);
    auto result = monitor.poll();
    if (!result.ok) throw CommandError(kExitFailure, "cannot read the socket table: " + result.error);
    return monitor.list(filter);
}

void LocalTransport::watch(std::uint32_t pid, const WatchOptions& options, const WatchCallback& onChange) {
    sys::NetlinkSocketSource source;
    sys::ProcProcessTable processes;
    core::SystemClock clock;
    if (!processes.exists(pid)) throw CommandError(kExitNoSuchProcess, "no process with PID " + std::to_string(pid));

    core::PidPortTracker tracker(pid, options.includeChildren, processes, clock, options.filter);
    core::DumpRequest request;
    if (options.filter.state) request.states = core::stateBit(*options.filter.state);

    const double seconds = options.interval.count();
    timespec wait{};
    wait.tv_sec = static_cast<time_t>(std::floor(seconds));
    wait.tv_nsec = static_cast<long>((seconds - std::floor(seconds)) * 1e9);
    for (;;) {
        auto dump = source.dump(request);
        if (!dump.ok()) throw CommandError(kExitFailure, "cannot read the socket table: " + dump.message);
        auto change = tracker.update(dump.sockets);
        if ((change.changed() || change.processExited) && !onChange(change)) return;
        if (change.processExited) return;
        // Sleeping in sigtimedwait makes Ctrl+C/SIGTERM end the watch at once, cleanly.
        int signal = sigtimedwait(&m_stopSignals, nullptr, &wait);
        if (signal > 0) return;
        if (signal < 0 && errno != EAGAIN && errno != EINTR)
            throw CommandError(kExitFailure, "sigtimedwait failed");
    }
}

}  // namespace porteye::cli
