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
      m_nextSequence(std::max<std::uint64_t>(1, options.firstSequence)) {
    m_resolver.setProcessObserver([this](const auto& fresh, const auto& vanished) { onProcesses(fresh, vanished); });
}

namespace {

// Whether a dump asked for the socket `r` describes: same namespace, protocol, family and
// state. Absent from such a dump, the socket is a removal candidate; absent from a dump that
// did not ask for it (a listener-only poll, another namespace's), it is carried as it was.
bool covers(const DumpRequest& q, const SocketRecord& r) {
    if (q.netns != r.netns) return false;
    if (!(r.family == 6 ? q.ipv6 : q.ipv4)) return false;
    if (!(r.protocol == Protocol::Udp ? q.udp : q.tcp)) return false;
    return (q.states & stateBit(r.state)) != 0;
}

bool coveredBy(const std::vector<DumpRequest>& requests, const SocketRecord& r) {
    return std::any_of(requests.begin(), requests.end(), [&](const DumpRequest& q) { return covers(q, r); });
}

}  // namespace

PollResult PortMonitor::poll(const std::vector<DumpRequest>& requests) {
    const auto started = std::chrono::steady_clock::now();
    PollResult result;
    ++m_stats.polls;

    std::vector<SocketRecord> sockets;
    sockets.reserve(m_snapshot.size() + m_snapshot.size() / 8);  // about as many as last time
    std::vector<DumpRequest> covered;                            // the requests whose dump succeeded
    for (const auto& request : requests) {
        DumpResult dump = m_source.dump(request);
        if (!dump.ok()) {
            result.ok = false;
            if (result.error.empty()) result.error = dump.message;
            continue;
        }
        result.kernelSockets += dump.sockets.size();
        for (auto& r : dump.sockets) {
            r.netns = request.netns;
            r.netnsName = request.netnsName;
            if (!m_eventOnly.empty()) m_eventOnly.erase(r.cookie);  // a dump has shown it: not short-lived
            sockets.push_back(std::move(r));
        }
        covered.push_back(request);
    }
    if (covered.empty()) {
        ++m_stats.failedPolls;
        m_stats.lastError = result.error;
        result.sockets = m_snapshot.size();
        return result;
    }
    // What no successful dump covered is carried from the snapshot, once per socket and
    // without its owners, so the resolver follows its owners as for a dumped one.
    for (auto it = m_snapshot.begin(); it != m_snapshot.end(); ++it) {
        if (coveredBy(covered, *it)) continue;
        if (it != m_snapshot.begin()) {
            const auto& prev = *std::prev(it);
            if (prev.cookie == it->cookie && prev.inode == it->inode) continue;
        }
        SocketRecord r = *it;
        r.pid = 0;
        r.process.clear();
        r.ownerUid = 0;
        r.details.reset();
        sockets.push_back(std::move(r));
    }

    // An accepted socket reported by a kernel event before accept() made its file has inode 0;
    // the dump shows it with its inode: the same socket (same cookie), not a close and an open.
    std::vector<std::uint64_t> accepted;
    if (m_kernelEventsActive)  // only events add a socket before its inode is known
        for (const auto& r : m_snapshot)
            if (r.inode == 0 && r.state != TcpState::TimeWait && r.cookie != 0) accepted.push_back(r.cookie);
    Snapshot next = m_resolver.resolve(std::move(sockets));
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
    if (!result.ok) {
        ++m_stats.failedPolls;
        m_stats.lastError = result.error;
    }
    normalizeSnapshot(next);
    if (!accepted.empty()) {
        std::sort(accepted.begin(), accepted.end());
        bool moved = false;
        for (auto& r : m_snapshot) {
            if (r.inode != 0 || !std::binary_search(accepted.begin(), accepted.end(), r.cookie)) continue;
            const auto found = std::lower_bound(next.begin(), next.end(), r.cookie,
                                                [](const SocketRecord& x, std::uint64_t c) { return x.cookie < c; });
            if (found != next.end() && found->cookie == r.cookie && found->inode != 0) {
                r.inode = found->inode;
                moved = true;
            }
        }
        if (moved) normalizeSnapshot(m_snapshot);
    }
    SnapshotChanges changes = diffSnapshots(m_snapshot, next);
    if (m_baselineTaken) confirmRemovals(changes, next, covered);
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

std::size_t PortMonitor::dropNamespace(std::uint64_t netns) {
    if (netns == 0) return 0;
    SnapshotChanges changes;
    std::erase_if(m_snapshot, [&](const SocketRecord& r) {
        if (r.netns != netns) return false;
        m_missedOnce.erase(r.cookie);
        changes.removed.push_back(r);
        return true;
    });
    if (m_baselineTaken) publish(changes);
    return changes.removed.size();
}

void PortMonitor::publish(const SnapshotChanges& changes) {
    if (changes.empty()) return;
    std::uint64_t unnumbered = 0;  // publishInOrder numbers them
    publishInOrder(stampEvents(changes, m_clock.now(), unnumbered));
}

void PortMonitor::publishInOrder(std::vector<PortEvent> events) {
    if (events.empty()) return;
    const WallTime now = m_clock.now();
    for (auto& event : events) {
        event.sequence = m_nextSequence++;
        event.time = now;
        m_history.append(event);
    }
    m_stats.events += events.size();
    for (const auto& listener : m_listeners)
        listener(events);
}

void PortMonitor::confirmRemovals(SnapshotChanges& changes, Snapshot& next, const std::vector<DumpRequest>& covered) {
    // A dump is many messages read while the kernel's tables change; a socket moving
    // between buckets can be missed by one. A socket is closed when the kernel says so
    // (applyDestroyed) or when two dumps in a row that cover it lack its cookie; absent
    // from one, it is carried over unchanged. Keyed by cookie, so a full socket whose
    // TIME_WAIT successor (same cookie) is in the dump is reported closed at once.
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
    // A socket missed once whose part no dump covered this time is still missed once.
    for (std::uint64_t cookie : m_missedOnce) {
        const auto inNext = std::lower_bound(next.begin(), next.end(), cookie,
                                             [](const SocketRecord& x, std::uint64_t c) { return x.cookie < c; });
        if (inNext != next.end() && inNext->cookie == cookie && !coveredBy(covered, *inNext)) missing.insert(cookie);
    }
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
    m_stats.destroyNotifications += cookies.size();
    std::vector<PortEvent> events;
    removeClosed(cookies, events);
    const std::size_t made = events.size();
    publishInOrder(std::move(events));
    return made;
}

std::vector<SocketRecord> PortMonitor::list(const SocketFilter& filter) const {
    std::vector<SocketRecord> out;
    for (const auto& record : m_snapshot)
        if (filter.matches(record)) out.push_back(record);
    return out;
}

}  // namespace porteye::core
