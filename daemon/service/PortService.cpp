// SPDX-License-Identifier: MIT
#include "service/PortService.hpp"

#include <algorithm>
#include <cmath>

namespace porteye::service {

PortService::PortService(core::PortMonitor& monitor, core::ISocketSource& source, ServiceOptions options)
    : m_monitor(monitor), m_source(source), m_watchProcesses(monitor.processTable()), m_options(std::move(options)) {}

bool PortService::seesEverything(const Caller& caller) const {
    if (caller.uid == 0) return true;
    if (!m_options.privilegedGid) return false;
    const auto gid = *m_options.privilegedGid;
    return caller.gid == gid || std::find(caller.groups.begin(), caller.groups.end(), gid) != caller.groups.end();
}

bool PortService::maySee(const Caller& caller, const core::SocketRecord& record) const {
    return seesEverything(caller) || record.uid == caller.uid;
}

std::vector<core::SocketRecord> PortService::list(const Caller& caller, core::SocketFilter filter) const {
    if (!seesEverything(caller)) filter.uid = caller.uid;
    return m_monitor.list(filter);
}

std::vector<core::PortEvent> PortService::history(const Caller& caller, core::HistoryFilter filter) const {
    if (!seesEverything(caller)) filter.socket.uid = caller.uid;
    return m_monitor.history(filter);
}

ServiceStatus PortService::status() const {
    ServiceStatus s;
    s.version = m_options.version;
    s.pollIntervalSeconds = m_options.pollIntervalSeconds;
    s.sockets = m_monitor.snapshot().size();
    s.historySize = m_monitor.historyRing().size();
    s.historyCapacity = m_monitor.historyRing().capacity();
    s.historyDropped = m_monitor.historyRing().droppedCount();
    s.nextSequence = m_monitor.nextSequence();
    s.watches = m_watches.size();
    s.polls = m_monitor.stats().polls;
    s.failedPolls = m_monitor.stats().failedPolls;
    return s;
}

void PortService::requireVisible(const Caller& caller, std::uint32_t pid) const {
    auto info = m_monitor.processTable().info(pid);
    if (!info) throw ServiceError(ErrorCode::NoSuchProcess, "no process with PID " + std::to_string(pid));
    if (!seesEverything(caller) && info->uid != caller.uid)
        throw ServiceError(
            ErrorCode::AccessDenied,
            "PID " + std::to_string(pid) + " belongs to another user; only root and group porteye may watch it");
}

WatchId PortService::addWatch(const Caller& caller, const WatchRequest& request, WatchSink sink) {
    if (request.pid == 0) throw ServiceError(ErrorCode::InvalidArgument, "pid must be a process ID, not 0");
    if (!std::isfinite(request.intervalSeconds) || request.intervalSeconds < m_options.minWatchInterval ||
        request.intervalSeconds > m_options.maxWatchInterval)
        throw ServiceError(ErrorCode::InvalidArgument, "interval must be between " +
                                                           std::to_string(m_options.minWatchInterval) + " and " +
                                                           std::to_string(m_options.maxWatchInterval) + " seconds");
    requireVisible(caller, request.pid);
    if (m_watches.size() >= m_options.maxWatches)
        throw ServiceError(ErrorCode::LimitExceeded, "too many watches (" + std::to_string(m_options.maxWatches) + ")");
    const auto mine = std::count_if(m_watches.begin(), m_watches.end(),
                                    [&](const auto& w) { return w.second.info.owner == caller.id; });
    if (static_cast<std::size_t>(mine) >= m_options.maxWatchesPerCaller)
        throw ServiceError(ErrorCode::LimitExceeded,
                           "too many watches for one client (" + std::to_string(m_options.maxWatchesPerCaller) + ")");

    core::SocketFilter filter = request.filter;
    if (!seesEverything(caller)) filter.uid = caller.uid;
    const WatchId id = m_nextWatchId++;
    Watch watch;
    watch.info = WatchInfo{id, request.pid, request.intervalSeconds, request.includeChildren, caller.id};
    watch.tracker = std::make_unique<core::PidPortTracker>(request.pid, request.includeChildren, m_watchProcesses,
                                                           m_monitor.clock(), filter);
    watch.sink = std::move(sink);
    watch.due = Clock::now();
    m_watches.emplace(id, std::move(watch));
    if (m_lifecycle.added) m_lifecycle.added(id, request.pid);
    return id;
}

void PortService::removeWatch(const Caller& caller, WatchId id) {
    auto it = m_watches.find(id);
    if (it == m_watches.end() || (it->second.info.owner != caller.id && caller.uid != 0))
        throw ServiceError(ErrorCode::NoSuchWatch, "no such watch");
    erase(it);
}

std::size_t PortService::removeWatchesOf(const std::string& owner) {
    std::size_t removed = 0;
    for (auto it = m_watches.begin(); it != m_watches.end();) {
        auto next = std::next(it);
        if (it->second.info.owner == owner) {
            erase(it);
            ++removed;
        }
        it = next;
    }
    return removed;
}

std::vector<WatchInfo> PortService::watches() const {
    std::vector<WatchInfo> out;
    for (const auto& [id, w] : m_watches)
        out.push_back(w.info);
    return out;
}

std::optional<WatchInfo> PortService::watch(WatchId id) const {
    auto it = m_watches.find(id);
    if (it == m_watches.end()) return std::nullopt;
    return it->second.info;
}

std::optional<PortService::Clock::time_point> PortService::nextWatchDue() const {
    std::optional<Clock::time_point> next;
    for (const auto& [id, w] : m_watches)
        if (!next || w.due < *next) next = w.due;
    return next;
}

std::optional<PortService::Clock::time_point> PortService::runDueWatches(Clock::time_point now) {
    std::vector<WatchId> due;
    for (const auto& [id, w] : m_watches)
        if (w.due <= now) due.push_back(id);
    runWatches(due, now);
    return nextWatchDue();
}

void PortService::stepWatch(WatchId id) {
    if (m_watches.contains(id)) runWatches({id}, Clock::now());
}

void PortService::runWatches(const std::vector<WatchId>& ids, Clock::time_point now) {
    if (ids.empty()) return;
    m_watchProcesses.newTick();
    // Watches ask for the socket table only when their fd tables show
    // something new; one dump then serves every watch stepped in this tick.
    std::optional<core::DumpResult> dump;
    const core::DumpProvider sharedDump = [&]() -> const std::vector<core::SocketRecord>* {
        if (!dump) dump = m_source.dump({});
        return dump->ok() ? &dump->sockets : nullptr;
    };
    for (WatchId id : ids) {
        auto it = m_watches.find(id);
        if (it == m_watches.end()) continue;  // removed by an earlier sink in this tick
        Watch& w = it->second;
        const auto period =
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(w.info.intervalSeconds));
        w.due = std::max(w.due + period, now);
        core::PortChange change = w.tracker->step(sharedDump);
        // Sinks may remove watches (a client gone), so look the watch up again after each call.
        if ((change.changed() || change.processExited) && w.sink.onChange) {
            auto onChange = w.sink.onChange;  // a copy: the sink may remove this very watch
            onChange(change);
        }
        if (change.processExited) {
            auto still = m_watches.find(id);
            if (still != m_watches.end()) {
                auto onExit = std::move(still->second.sink.onExit);
                const auto pid = still->second.info.pid;
                erase(still);
                if (onExit) onExit(pid);
            }
        }
    }
}

void PortService::erase(std::map<WatchId, Watch>::iterator it) {
    const WatchId id = it->first;
    m_watches.erase(it);
    if (m_lifecycle.removed) m_lifecycle.removed(id);
}

}  // namespace porteye::service
