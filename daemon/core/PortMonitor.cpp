// SPDX-License-Identifier: MIT
#include "core/PortMonitor.hpp"

#include <algorithm>
#include <iterator>
#include <unordered_map>
#include <unordered_set>

namespace porteye::core {

PortMonitor::PortMonitor(ISocketSource& source, IProcessTable& processes, IClock& clock, MonitorOptions options)
    : m_source(source),
      m_processes(processes),
      m_clock(clock),
      m_options(options),
      m_resolver(processes, options.resolver),
      m_history(options.historyCapacity),
      m_nextSequence(std::max<std::uint64_t>(1, options.firstSequence)) {}

PollResult PortMonitor::poll() {
    const auto started = std::chrono::steady_clock::now();
    PollResult result;
    ++m_stats.polls;

    DumpResult dump = m_source.dump(m_options.request);
    if (!dump.ok()) {
        ++m_stats.failedPolls;
        m_stats.lastError = dump.message;
        result.ok = false;
        result.error = dump.message;
        result.sockets = m_snapshot.size();
        return result;
    }
    result.kernelSockets = dump.sockets.size();
    Snapshot next = m_resolver.resolve(std::move(dump.sockets));
    if (m_resolver.lastIncomplete()) {
        // Out of descriptors or memory: owners read now may be short, which would read as
        // owners gone or sockets handed over. Keep the last good snapshot; report nothing.
        ++m_stats.failedPolls;
        m_stats.lastError = m_resolver.incompleteReason();
        result.ok = false;
        result.error = m_stats.lastError;
        result.sockets = m_snapshot.size();
        return result;
    }
    normalizeSnapshot(next);
    SnapshotChanges changes = diffSnapshots(m_snapshot, next);
    if (m_baselineTaken) confirmRemovals(changes, next);
    m_snapshot = std::move(next);

    const bool silent = !m_baselineTaken && !m_options.reportInitial;
    m_baselineTaken = true;
    if (!silent) publish(changes);

    result.sockets = m_snapshot.size();
    result.added = silent ? 0 : changes.added.size();
    result.removed = silent ? 0 : changes.removed.size();
    result.duration = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    return result;
}

void PortMonitor::publish(const SnapshotChanges& changes) {
    if (changes.empty()) return;
    const auto events = stampEvents(changes, m_clock.now(), m_nextSequence);
    for (const auto& event : events)
        m_history.append(event);
    m_stats.events += events.size();
    for (const auto& listener : m_listeners)
        listener(events);
}

void PortMonitor::confirmRemovals(SnapshotChanges& changes, Snapshot& next) {
    // A dump is many messages read while the kernel's tables change; a socket moving
    // between buckets can be missed by one. A socket is closed when the kernel says so
    // (applyDestroyed) or when two dumps in a row lack its cookie; absent from one, it
    // is carried over unchanged. Keyed by cookie, so a full socket whose TIME_WAIT
    // successor (same cookie) is in the dump is reported closed at once.
    std::unordered_set<std::uint64_t> missing;
    Snapshot carried;
    std::erase_if(changes.removed, [&](const SocketRecord& r) {
        if (r.cookie == 0 || m_missedOnce.contains(r.cookie)) return false;
        const auto inNext = std::lower_bound(next.begin(), next.end(), r.cookie,
                                             [](const SocketRecord& x, std::uint64_t c) { return x.cookie < c; });
        if (inNext != next.end() && inNext->cookie == r.cookie) return false;
        missing.insert(r.cookie);
        carried.push_back(r);
        return true;
    });
    m_missedOnce = std::move(missing);
    if (carried.empty()) return;
    next.insert(next.end(), std::make_move_iterator(carried.begin()), std::make_move_iterator(carried.end()));
    normalizeSnapshot(next);
}

std::size_t PortMonitor::applyDestroyed(const std::vector<SocketRecord>& destroyed) {
    if (destroyed.empty() || !m_baselineTaken) return 0;
    // cookie -> whether a destroy for it was a TIME_WAIT one. A full socket that enters
    // TIME_WAIT hands its cookie to the mini-socket, and its own destroy may arrive after
    // a dump showed the TIME_WAIT record: that destroy must not remove the successor.
    std::unordered_map<std::uint64_t, bool> cookies;
    for (const auto& d : destroyed)
        if (d.cookie != 0) cookies[d.cookie] |= d.state == TcpState::TimeWait;
    SnapshotChanges changes;
    std::erase_if(m_snapshot, [&](const SocketRecord& r) {
        auto it = cookies.find(r.cookie);
        if (it == cookies.end()) return false;
        if (r.state == TcpState::TimeWait && !it->second) return false;
        changes.removed.push_back(r);
        m_missedOnce.erase(r.cookie);
        return true;
    });
    publish(changes);
    return changes.removed.size();
}

std::vector<SocketRecord> PortMonitor::list(const SocketFilter& filter) const {
    std::vector<SocketRecord> out;
    for (const auto& record : m_snapshot)
        if (filter.matches(record)) out.push_back(record);
    return out;
}

}  // namespace porteye::core
