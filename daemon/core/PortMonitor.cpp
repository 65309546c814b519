// SPDX-License-Identifier: MIT
#include "core/PortMonitor.hpp"

#include <unordered_set>

namespace porteye::core {

PortMonitor::PortMonitor(ISocketSource& source, IProcessTable& processes, IClock& clock, MonitorOptions options)
    : m_source(source),
      m_processes(processes),
      m_clock(clock),
      m_options(options),
      m_resolver(processes, options.resolver),
      m_history(options.historyCapacity) {}

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
    normalizeSnapshot(next);
    SnapshotChanges changes = diffSnapshots(m_snapshot, next);
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

std::size_t PortMonitor::applyDestroyed(const std::vector<SocketRecord>& destroyed) {
    if (destroyed.empty() || !m_baselineTaken) return 0;
    std::unordered_set<std::uint64_t> cookies;
    for (const auto& d : destroyed)
        if (d.cookie != 0) cookies.insert(d.cookie);
    SnapshotChanges changes;
    std::erase_if(m_snapshot, [&](const SocketRecord& r) {
        if (!cookies.contains(r.cookie)) return false;
        changes.removed.push_back(r);
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
