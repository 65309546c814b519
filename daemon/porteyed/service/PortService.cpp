// SPDX-License-Identifier: MIT
#include "service/PortService.hpp"

#include <map>

#include "core/TimeFormat.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace porteye::service {

PortService::PortService(core::PortMonitor& monitor, core::ISocketSource& source, ServiceOptions options)
    : m_monitor(monitor), m_source(source), m_watchProcesses(monitor.processTable()), m_options(std::move(options)) {}

std::string_view watchEndName(WatchEnd reason) {
    switch (reason) {
        case WatchEnd::ProcessExited:
            return "exited";
        case WatchEnd::Unwatched:
            return "unwatched";
        case WatchEnd::ClientGone:
            return "client-gone";
        case WatchEnd::Shutdown:
            return "shutdown";
    }
    return "shutdown";
}

bool PortService::seesEverything(const Caller& caller) const {
    if (caller.uid == 0) return true;
    if (!m_options.privilegedGid) return false;
    const auto gid = *m_options.privilegedGid;
    return caller.gid == gid || std::find(caller.groups.begin(), caller.groups.end(), gid) != caller.groups.end();
}

bool PortService::maySee(const Caller& caller, const core::SocketRecord& record) const {
    return seesEverything(caller) || record.visibleUid() == caller.uid;
}

std::optional<core::PortEvent> PortService::visibleEvent(const Caller& caller, const core::PortEvent& event) const {
    if (seesEverything(caller)) return event;
    const bool seesRecord = event.record.visibleUid() == caller.uid;
    const bool seesPrevious =
        event.action == core::Action::OwnerChanged && event.previousPid != 0 && event.previousOwnerUid == caller.uid;
    if (!seesRecord && !seesPrevious) return std::nullopt;
    core::PortEvent shown = event;
    if (!seesRecord) {
        shown.record.pid = 0;
        shown.record.process.clear();
        shown.record.ownerUid = 0;
        shown.record.details.reset();  // another user's command line, exe, unit, ...
        shown.record.usage.reset();
    }
    if (!seesPrevious) {
        shown.previousPid = 0;
        shown.previousOwnerUid = 0;
    }
    return shown;
}

std::vector<core::SocketRecord> PortService::list(const Caller& caller, core::ListQuery query) const {
    if (m_freshen) m_freshen();
    if (!seesEverything(caller)) query.filter.uid = caller.uid;
    const std::size_t cap = m_options.maxReplyRecords;
    const std::size_t limit = query.limit == 0 ? cap + 1 : query.limit;
    if (query.limit > cap)
        throw ServiceError(ErrorCode::ReplyTooLarge, "limit " + std::to_string(query.limit) + " is above the " +
                                                         std::to_string(cap) + " records one reply may carry");
    std::vector<core::SocketRecord> out;
    std::size_t skipped = 0;
    std::size_t bytes = 0;
    for (const auto& record : m_monitor.snapshot()) {
        if (!query.filter.matches(record)) continue;
        if (skipped < query.offset) {
            ++skipped;
            continue;
        }
        out.push_back(record);
        bytes += core::approximateWireSize(record);
        requireReplyBytes(bytes, "narrow the filter, or page with a smaller 'limit' and 'offset'");
        if (out.size() >= limit) break;
    }
    if (out.size() > cap)
        throw ServiceError(ErrorCode::ReplyTooLarge,
                           "more than " + std::to_string(cap) +
                               " sockets match; narrow the filter, or page with 'limit' (at most " +
                               std::to_string(cap) + ") and 'offset'");
    fillUsage(out);
    return out;
}

void PortService::requireReplyBytes(std::size_t bytes, const char* how) const {
    if (bytes <= m_options.maxReplyBytes) return;
    throw ServiceError(ErrorCode::ReplyTooLarge, "the reply would be over " +
                                                     std::to_string(m_options.maxReplyBytes / (1024 * 1024)) +
                                                     " MiB (long command lines); " + how);
}

void PortService::fillUsage(std::vector<core::SocketRecord>& records) const {
    const double now = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
    const auto wallNow = core::toEpochMicros(m_monitor.clock().now());
    std::unordered_map<std::uint32_t, std::optional<core::UsageNow>> byPid;  // one read per process
    for (auto& r : records) {
        if (r.pid == 0) continue;
        auto [it, fresh] = byPid.try_emplace(r.pid);
        if (fresh) {
            if (auto u = m_monitor.processTable().usage(r.pid)) {
                const double age = r.details && r.details->startTimeUs != 0 && wallNow > r.details->startTimeUs
                                       ? static_cast<double>(wallNow - r.details->startTimeUs) / 1e6
                                       : 0;
                it->second = m_usage.sample(r.pid, *u, now, age);
            }
        }
        r.usage = it->second;
    }
}

std::vector<core::PortEvent> PortService::history(const Caller& caller, core::HistoryFilter filter) const {
    if (!seesEverything(caller)) filter.socket.uid = caller.uid;
    const std::size_t cap = m_options.maxReplyRecords;
    if (filter.limit > cap)
        throw ServiceError(ErrorCode::ReplyTooLarge, "limit " + std::to_string(filter.limit) + " is above the " +
                                                         std::to_string(cap) + " events one reply may carry");
    const bool unlimited = filter.limit == 0;
    if (unlimited) filter.limit = cap + 1;
    // The ring answers what it holds; older events come from the store (same filter, same uid rule).
    auto events = core::queryHistory(m_monitor.historyRing(), m_monitor.nextSequence(), m_store, filter);
    if (!seesEverything(caller))
        for (auto& event : events)
            event = *visibleEvent(caller, event);  // the uid filter let through only what it sees
    std::size_t bytes = 0;
    for (const auto& event : events) {
        bytes += core::approximateWireSize(event.record) + 100;
        requireReplyBytes(bytes, "page with a smaller 'limit' and 'after_sequence' (the last sequence number you got)");
    }
    if (unlimited && events.size() > cap)
        throw ServiceError(ErrorCode::ReplyTooLarge,
                           "more than " + std::to_string(cap) + " events match; page with 'limit' (at most " +
                               std::to_string(cap) + ") and 'after_sequence' (the last sequence number you got)");
    return events;
}

ServiceStatus PortService::hostStatus() const {
    ServiceStatus s;
    s.version = m_options.version;
    s.instanceId = m_options.instanceId;
    s.pollIntervalSeconds = m_options.pollIntervalSeconds;
    s.sockets = m_monitor.snapshot().size();
    s.historySize = m_monitor.historyRing().size();
    s.historyCapacity = m_monitor.historyRing().capacity();
    s.historyDropped = m_monitor.historyRing().droppedCount();
    s.nextSequence = m_monitor.nextSequence();
    s.watches = m_watches.size();
    s.polls = m_monitor.stats().polls;
    s.failedPolls = m_monitor.stats().failedPolls;
    s.shortLived = m_monitor.stats().shortLived;
    s.unattributedShortLived = m_monitor.stats().unattributedShortLived;
    s.view = m_options.view;
    s.store = m_store ? m_store->health() : m_storeStatus;
    s.storeDropped = m_store ? m_store->droppedCount() : 0;
    if (m_fillStatus) m_fillStatus(s);
    s.expectedActive = m_expected.active();
    s.expectedRules = m_expected.ruleCount();
    s.unexpectedListeners = m_expected.current().size();
    s.unexpectedTotal = m_expected.total();
    return s;
}

ServiceStatus PortService::status(const Caller& caller) const {
    if (seesEverything(caller)) return hostStatus();
    // Only what this caller may see: no host-wide activity figures leak through the counters.
    ServiceStatus s;
    s.version = m_options.version;
    s.instanceId = m_options.instanceId;
    s.hostWide = false;
    s.view = m_options.view;
    s.pollIntervalSeconds = m_options.pollIntervalSeconds;
    s.sockets = static_cast<std::uint64_t>(std::count_if(m_monitor.snapshot().begin(), m_monitor.snapshot().end(),
                                                         [&](const auto& r) { return r.visibleUid() == caller.uid; }));
    s.historyCapacity = m_monitor.historyRing().capacity();
    s.nextSequence = m_monitor.nextSequence();
    s.watches = static_cast<std::uint64_t>(std::count_if(
        m_watches.begin(), m_watches.end(), [&](const auto& w) { return w.second.ownerUid == caller.uid; }));
    s.store = m_store ? m_store->health() : m_storeStatus;
    if (m_fillStatus) m_fillStatus(s);  // modes only: counts of namespaces are host-wide
    s.expectedActive = m_expected.active();
    s.expectedRules = m_expected.ruleCount();
    s.unexpectedListeners = unexpectedListeners(caller).size();
    return s;
}

std::vector<core::UnexpectedListener> PortService::setExpected(std::optional<core::ExpectedListeners> rules) {
    m_expected.setRules(std::move(rules));
    return m_expected.rescan(m_monitor.snapshot(), m_monitor.clock().now());
}

std::vector<core::UnexpectedListener> PortService::checkExpected(const std::vector<core::PortEvent>& events) {
    return m_expected.onEvents(events, m_monitor.snapshot());
}

std::optional<core::UnexpectedListener> PortService::visibleAlert(const Caller& caller,
                                                                  const core::UnexpectedListener& alert) const {
    // The socket's own rule: an alert about another user's listener is not shown at all (the
    // record part of visibleEvent's answer must be the caller's own).
    if (!maySee(caller, alert.event.record)) return std::nullopt;
    auto shown = visibleEvent(caller, alert.event);
    if (!shown) return std::nullopt;
    core::UnexpectedListener out = alert;
    out.event = *shown;
    return out;
}

std::vector<core::UnexpectedListener> PortService::unexpectedListeners(const Caller& caller) const {
    std::vector<core::UnexpectedListener> out;
    for (auto& alert : m_expected.current())
        if (auto shown = visibleAlert(caller, alert)) out.push_back(std::move(*shown));
    return out;
}

core::PinResult PortService::pinVisible(const Caller& caller, std::uint32_t pid) const {
    const auto hidden = [pid] {
        return ServiceError(ErrorCode::NoSuchProcess,
                            "no process with PID " + std::to_string(pid) + " that you may watch");
    };
    core::PinResult pinned = m_monitor.processTable().pin(pid);
    const auto visible = [&](std::uint32_t uid) { return seesEverything(caller) || uid == caller.uid; };
    switch (pinned.error) {
        case core::PinError::None:
            break;
        case core::PinError::NoSuchProcess: {
            // A free PID fails at pidfd_open, an existing one of another user only after its /proc
            // files are read: ~60 us apart, enough for a PID scanner to defeat hidepid. Pin
            // porteyed itself instead, the same work, and answer the same "no process".
            [[maybe_unused]] const auto decoy = m_monitor.processTable().pin(static_cast<std::uint32_t>(::getpid()));
            throw hidden();
        }
        case core::PinError::Transient:
            throw ServiceError(ErrorCode::TryAgain,
                               "cannot open PID " + std::to_string(pid) + " now (" + pinned.message + "); try again");
        case core::PinError::NotAProcess: {
            auto group = m_monitor.processTable().info(pinned.threadGroup);
            if (!group || !visible(group->uid)) throw hidden();
            throw ServiceError(ErrorCode::InvalidArgument, "PID " + std::to_string(pid) + " is a thread of process " +
                                                               std::to_string(pinned.threadGroup) + "; watch that");
        }
    }
    if (!visible(pinned.info.uid)) throw hidden();
    return pinned;
}

void PortService::requireQuota(const Caller& caller) const {
    const bool privileged = seesEverything(caller);
    const std::size_t total = m_watches.size();
    const std::size_t unprivilegedCap = m_options.maxWatches > m_options.reservedPrivilegedWatches
                                            ? m_options.maxWatches - m_options.reservedPrivilegedWatches
                                            : 0;
    if (total >= m_options.maxWatches || (!privileged && total >= unprivilegedCap))
        throw ServiceError(ErrorCode::LimitExceeded, "too many watches on this host; try again later");
    if (privileged) return;
    const auto mine = static_cast<std::size_t>(std::count_if(
        m_watches.begin(), m_watches.end(), [&](const auto& w) { return w.second.ownerUid == caller.uid; }));
    if (mine >= m_options.maxWatchesPerUid)
        throw ServiceError(ErrorCode::LimitExceeded, "too many watches for uid " + std::to_string(caller.uid) + " (" +
                                                         std::to_string(m_options.maxWatchesPerUid) + ")");
}

WatchId PortService::addWatch(const Caller& caller, const WatchRequest& request, WatchSink sink) {
    if (request.pid == 0) throw ServiceError(ErrorCode::InvalidArgument, "pid must be a process ID, not 0");
    if (!std::isfinite(request.intervalSeconds) || request.intervalSeconds < m_options.minWatchInterval ||
        request.intervalSeconds > m_options.maxWatchInterval)
        throw ServiceError(ErrorCode::InvalidArgument, "interval must be between " +
                                                           std::to_string(m_options.minWatchInterval) + " and " +
                                                           std::to_string(m_options.maxWatchInterval) + " seconds");
    requireQuota(caller);
    core::PinResult pinned = pinVisible(caller, request.pid);

    core::SocketFilter filter = request.filter;
    if (!seesEverything(caller)) filter.uid = caller.uid;
    const WatchId id = m_nextWatchId++;
    Watch watch;
    watch.info = WatchInfo{id, request.pid, request.intervalSeconds, request.includeChildren, caller.id};
    watch.ownerUid = caller.uid;
    watch.privileged = seesEverything(caller);
    watch.process = std::move(pinned.handle);
    watch.tracker = std::make_unique<core::PidPortTracker>(request.pid, request.includeChildren, m_watchProcesses,
                                                           m_monitor.clock(), filter, core::TrackerOptions{},
                                                           watch.process.get(), &m_monitor.detailsCache());
    watch.sink = std::move(sink);
    watch.due = Clock::now();
    const int exitFd = watch.process ? watch.process->exitFd() : -1;
    m_watches.emplace(id, std::move(watch));
    if (m_lifecycle.added) m_lifecycle.added(id, exitFd);
    return id;
}

void PortService::removeWatch(const Caller& caller, WatchId id) {
    auto it = m_watches.find(id);
    if (it == m_watches.end() || (it->second.info.owner != caller.id && !seesEverything(caller)))
        throw ServiceError(ErrorCode::NoSuchWatch, "no such watch");
    erase(it, WatchEnd::Unwatched);
}

std::size_t PortService::removeWatchesOf(const std::string& owner, WatchEnd reason) {
    std::vector<WatchId> ids;
    for (const auto& [id, w] : m_watches)
        if (w.info.owner == owner) ids.push_back(id);
    for (WatchId id : ids) {
        auto it = m_watches.find(id);
        if (it != m_watches.end()) erase(it, reason);  // a sink may have ended another meanwhile
    }
    return ids.size();
}

std::vector<WatchInfo> PortService::watches() const {
    std::vector<WatchInfo> out;
    for (const auto& [id, w] : m_watches)
        out.push_back(w.info);
    return out;
}

std::optional<WatchInfo> PortService::watchFor(const Caller& caller, WatchId id) const {
    auto it = m_watches.find(id);
    if (it == m_watches.end() || (it->second.info.owner != caller.id && !seesEverything(caller))) return std::nullopt;
    return it->second.info;
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
    // Watches ask for the socket table only when their fd tables show something new; one dump
    // per network namespace then serves every watch stepped in this tick. A watch dumps only its
    // process's namespace (so a user's watch cannot make porteyed walk every container's table);
    // with children, which may have moved to other namespaces, every namespace.
    std::map<std::uint64_t, core::DumpResult> dumps;
    const auto dumpOf = [&](std::uint64_t netns) -> const std::vector<core::SocketRecord>* {
        auto it = dumps.find(netns);
        if (it == dumps.end()) {
            core::DumpRequest request;
            request.netns = netns;
            it = dumps.emplace(netns, m_source.dump(request)).first;
        }
        return it->second.ok() ? &it->second.sockets : nullptr;
    };
    for (WatchId id : ids) {
        auto it = m_watches.find(id);
        if (it == m_watches.end()) continue;  // removed by an earlier sink in this tick
        Watch& w = it->second;
        const auto period =
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(w.info.intervalSeconds));
        w.due = std::max(w.due + period, now);
        std::uint64_t netns = w.info.includeChildren ? 0 : m_watchProcesses.netnsOf(w.info.pid);
        if (netns == 0) netns = core::kEveryNamespace;
        core::PortChange change = w.tracker->step([&] { return dumpOf(netns); });
        // Sinks may remove watches (a client gone), so look the watch up again after each call.
        if ((change.changed() || change.processExited) && w.sink.onChange) {
            auto onChange = w.sink.onChange;  // a copy: the sink may remove this very watch
            onChange(change);
        }
        if (change.processExited) {
            auto still = m_watches.find(id);
            if (still != m_watches.end()) erase(still, WatchEnd::ProcessExited);
        }
    }
}

void PortService::erase(std::map<WatchId, Watch>::iterator it, WatchEnd reason) {
    const WatchId id = it->first;
    const auto pid = it->second.info.pid;
    auto onEnd = std::move(it->second.sink.onEnd);
    // The loop stops polling the pidfd before the handle that owns it is closed.
    if (m_lifecycle.removed) m_lifecycle.removed(id);
    m_watches.erase(it);
    if (onEnd) onEnd(reason, pid);
}

}  // namespace porteye::service
