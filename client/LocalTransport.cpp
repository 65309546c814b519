// SPDX-License-Identifier: MIT
#include "LocalTransport.hpp"

#include "ExitCode.hpp"
#include "core/PortMonitor.hpp"
#include "core/TimeFormat.hpp"
#include "core/UsageSampler.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/ProcProcessTable.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <map>

namespace porteye::cli {
namespace {

core::DumpRequest requestFor(const core::SocketFilter& filter) {
    core::DumpRequest request;
    if (filter.state) request.states = core::stateBit(*filter.state);
    // Each protocol is a dump of its own: skip the one the filter rules out.
    if (filter.protocol) {
        request.tcp = *filter.protocol == core::Protocol::Tcp;
        request.udp = *filter.protocol == core::Protocol::Udp;
    }
    return request;
}

/// The real system inputs and a host-wide monitor over them, as porteyed has.
struct LocalMonitor {
    explicit LocalMonitor(const core::SocketFilter& filter) : monitor(source, processes, clock, optionsFor(filter)) {}
    void poll() {
        const auto result = monitor.poll();
        if (!result.ok) throw CommandError(kExitFailure, "cannot read the socket table: " + result.error);
    }
    static core::MonitorOptions optionsFor(const core::SocketFilter& filter) {
        core::MonitorOptions options;
        options.request = requestFor(filter);
        return options;
    }

    sys::NetlinkSocketSource source;
    sys::ProcProcessTable processes;
    core::SystemClock clock;
    core::PortMonitor monitor;
};

}  // namespace

std::vector<core::SocketRecord> LocalTransport::list(const core::SocketFilter& filter) {
    LocalMonitor local(filter);
    local.poll();
    auto records = local.monitor.list(filter);
    // One reading per process, as porteyed gives: with no earlier one, CPU is the lifetime average.
    core::UsageSampler sampler;
    const auto now = core::toEpochMicros(local.clock.now());
    std::map<std::uint32_t, std::optional<core::UsageNow>> byPid;
    for (auto& r : records) {
        if (r.pid == 0) continue;
        auto [it, fresh] = byPid.try_emplace(r.pid);
        if (fresh) {
            if (auto u = local.processes.usage(r.pid)) {
                const auto start = r.details ? r.details->startTimeUs : 0;
                const double age = start != 0 && now > start ? static_cast<double>(now - start) / 1e6 : 0;
                it->second = sampler.sample(r.pid, *u, 0, age);
            }
        }
        r.usage = it->second;
    }
    return records;
}

void LocalTransport::watch(std::uint32_t pid, const WatchOptions& options, const WatchCallback& onChange) {
    sys::NetlinkSocketSource source;
    sys::ProcProcessTable processes;
    core::SystemClock clock;
    if (!processes.exists(pid)) throw CommandError(kExitNoSuchProcess, "no process with PID " + std::to_string(pid));

    core::PidPortTracker tracker(pid, options.includeChildren, processes, clock, options.filter);
    if (options.onStarted) options.onStarted();
    const auto request = requestFor(options.filter);
    core::DumpResult dump;
    const core::DumpProvider dumpNow = [&]() -> const std::vector<core::SocketRecord>* {
        dump = source.dump(request);
        if (!dump.ok()) throw CommandError(kExitFailure, "cannot read the socket table: " + dump.message);
        return &dump.sockets;
    };
    for (;;) {
        auto change = tracker.step(dumpNow);
        if ((change.changed() || change.processExited) && !onChange(change)) return;
        if (change.processExited || waitForStop(options.interval)) return;
    }
}

std::vector<core::PortEvent> LocalTransport::history(const core::HistoryFilter&) {
    throw CommandError(kExitUsage, "history is kept by porteyed; --local has none (drop --local to ask the daemon)");
}

DaemonStatus LocalTransport::status() {
    throw CommandError(kExitUsage, "status describes porteyed; drop --local to ask the daemon");
}

StreamEnd LocalTransport::events(const core::SocketFilter& filter, const EventCallback& onEvent,
                                 const StreamOptions& options) {
    LocalMonitor local(filter);
    bool keepGoing = true;
    local.monitor.addListener([&](const std::vector<core::PortEvent>& events) {
        for (const auto& e : events)
            if (keepGoing && filter.matches(e.record)) keepGoing = onEvent(e);
    });
    if (options.onSubscribed && !options.onSubscribed()) return StreamEnd::Callback;
    for (;;) {
        local.poll();
        if (!keepGoing) return StreamEnd::Callback;
        auto interval = m_eventsInterval;
        if (options.deadline) {
            const auto left = std::chrono::duration<double>(*options.deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return StreamEnd::Deadline;
            interval = std::min(interval, left);
        }
        if (waitForStop(interval)) return StreamEnd::Signal;
    }
}

}  // namespace porteye::cli
