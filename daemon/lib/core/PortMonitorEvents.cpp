// SPDX-License-Identifier: MIT
// PortMonitor's second input: what a kernel event source reports between dumps.
#include "core/Escape.hpp"
#include "core/PortMonitor.hpp"

#include <algorithm>
#include <iterator>
#include <unordered_map>
#include <utility>

namespace porteye::core {

void PortMonitor::onProcesses(const std::vector<ProcessId>& fresh, const std::vector<ProcessId>& vanished) {
    // A PID listed again with another generation was reused: the owner read for it is stale.
    for (const auto& p : vanished)
        m_eventOwners.erase(p.pid);
    if (m_observer) m_observer(fresh, vanished);
}

const ProcessInfo* PortMonitor::eventOwner(std::uint32_t pid) {
    if (auto it = m_eventOwners.find(pid); it != m_eventOwners.end()) return &it->second;
    auto info = m_processes.info(pid);
    if (!info) return nullptr;  // gone already: the event's own comm and uid still say who
    // Bounded: the listing forgets vanished processes, but a churn of short-lived ones between
    // two polls must not grow this without limit.
    if (m_eventOwners.size() >= 65536) m_eventOwners.clear();
    return &m_eventOwners.emplace(pid, std::move(*info)).first->second;
}

void PortMonitor::removeClosed(const std::unordered_map<std::uint64_t, bool>& cookies, std::vector<PortEvent>& out) {
    std::unordered_set<std::uint64_t> matched;
    const auto removal = [&](const SocketRecord& r, bool timeWaitClose) {
        matched.insert(r.cookie);
        if (r.state == TcpState::TimeWait && !timeWaitClose) return false;
        PortEvent e;
        e.action = Action::Removed;
        e.record = r;
        e.shortLived = m_eventOnly.contains(r.cookie);
        if (e.shortLived) ++m_stats.shortLived;
        out.push_back(std::move(e));
        m_missedOnce.erase(r.cookie);
        return true;
    };
    if (cookies.size() * 32 < m_snapshot.size()) {
        // A few closes (the usual case between polls): the table is sorted by cookie, so each is
        // found by binary search instead of a pass over every record.
        for (const auto& [cookie, timeWait] : cookies) {
            auto first = std::lower_bound(m_snapshot.begin(), m_snapshot.end(), cookie,
                                          [](const SocketRecord& r, std::uint64_t c) { return r.cookie < c; });
            auto last = first;
            while (last != m_snapshot.end() && last->cookie == cookie)
                ++last;
            // timeWait copied: clang before 16 cannot capture a structured binding (the fuzz build's clang is 14).
            const auto kept = std::remove_if(
                first, last, [&removal, tw = timeWait](const SocketRecord& r) { return removal(r, tw); });
            m_snapshot.erase(kept, last);
        }
    } else {
        std::erase_if(m_snapshot, [&](const SocketRecord& r) {
            auto it = cookies.find(r.cookie);
            return it != cookies.end() && removal(r, it->second);
        });
    }
    for (const auto& [cookie, timeWait] : cookies) {
        m_eventOnly.erase(cookie);
        // A close of a socket no dump ever showed lived between two dumps. With a kernel event
        // source its open was reported (and the close too, maybe first): nothing to count here.
        if (!m_kernelEventsActive && !timeWait && !matched.contains(cookie)) ++m_stats.unattributedShortLived;
    }
}

std::size_t PortMonitor::applyKernelEvents(const std::vector<KernelSocketEvent>& events) {
    if (events.empty() || !m_baselineTaken) return 0;
    m_stats.kernelEvents += events.size();
    std::vector<PortEvent> out;
    Snapshot opened;  // this batch's additions, merged into the snapshot once at the end
    // cookie -> (index in `opened`, index of its Added event in `out`); cookie 0 in `opened`: closed
    std::unordered_map<std::uint64_t, std::pair<std::size_t, std::size_t>> openedAt;
    // Closes of sockets the table already had: one pass over the table per batch, not per close
    // (a scan per close was the largest cost of a connection churn).
    std::unordered_map<std::uint64_t, bool> closing;
    const auto flushOpened = [&] {
        std::erase_if(opened, [](const SocketRecord& r) { return r.cookie == 0; });
        if (opened.empty()) return;
        normalizeSnapshot(opened);
        const auto middle = m_snapshot.insert(m_snapshot.end(), std::make_move_iterator(opened.begin()),
                                              std::make_move_iterator(opened.end()));
        std::inplace_merge(m_snapshot.begin(), middle, m_snapshot.end(),
                           [](const SocketRecord& a, const SocketRecord& b) { return keyOf(a) < keyOf(b); });
        opened.clear();
    };
    const auto firstOf = [&](std::uint64_t cookie) {
        return std::lower_bound(m_snapshot.begin(), m_snapshot.end(), cookie,
                                [](const SocketRecord& r, std::uint64_t c) { return r.cookie < c; });
    };
    const auto knownCookie = [&](std::uint64_t cookie) {
        const auto it = firstOf(cookie);
        return it != m_snapshot.end() && it->cookie == cookie;
    };
    // The owner the event names, as a record carries it.
    const auto own = [&](SocketRecord& r, const KernelSocketEvent& ev) {
        r.pid = ev.tgid;
        r.ownerUid = ev.uid;
        r.process.clear();
        r.details.reset();
        if (const ProcessInfo* owner = eventOwner(ev.tgid)) {
            r.process = owner->name;
            r.ownerUid = owner->uid;
            r.details = m_resolver.detailsCache().get(*owner);
            m_resolver.learn(ev.inode, *owner);
        } else {
            r.process = escapeUntrusted(ev.comm);
        }
    };
    // accept() returned a socket reported earlier without its acceptor: the owner is now certain.
    // Returns false when no record of it is known (its earlier event was lost): then it is an open.
    const auto accepted = [&](const KernelSocketEvent& ev) {
        if (const auto pending = openedAt.find(ev.cookie); pending != openedAt.end()) {
            // Opened in this batch: its one Added event names the acceptor.
            SocketRecord& r = opened[pending->second.first];
            r.inode = ev.inode;
            own(r, ev);
            out[pending->second.second].record = r;
            return true;
        }
        auto first = firstOf(ev.cookie);
        auto last = first;
        while (last != m_snapshot.end() && last->cookie == ev.cookie)
            ++last;
        if (first == last) return false;
        if (std::any_of(first, last, [&](const SocketRecord& r) { return r.inode == ev.inode && r.pid == ev.tgid; }))
            return true;  // a dump got there first
        SocketRecord r = *first;
        // The record of a socket no file held yet is replaced; one a dump showed held keeps its
        // owners, and the acceptor joins them.
        const bool early = r.inode == 0;
        const std::uint32_t previousPid = early ? r.pid : 0;
        const std::uint32_t previousUid = early ? r.ownerUid : 0;
        r.inode = ev.inode;
        own(r, ev);
        // The records before accept() returned (inode 0: the accept queue's, or a guess) are replaced.
        const auto kept = std::remove_if(first, last, [](const SocketRecord& x) { return x.inode == 0; });
        m_snapshot.erase(kept, last);
        if (!early || previousPid != r.pid) {
            PortEvent e;
            e.action = Action::OwnerChanged;
            e.record = r;
            e.previousPid = previousPid;
            e.previousOwnerUid = previousUid;
            out.push_back(std::move(e));
        }
        opened.push_back(std::move(r));  // re-sorted under its new key when merged
        return true;
    };

    for (const auto& ev : events) {
        if (ev.cookie == 0) continue;
        const bool isClose = ev.kind == KernelEventKind::Close || ev.kind == KernelEventKind::UdpClose;
        if (isClose) {
            // Closed before this batch was merged: an open and its close in one batch.
            if (const auto pending = openedAt.find(ev.cookie); pending != openedAt.end()) {
                ++m_stats.shortLived;
                m_eventOnly.erase(ev.cookie);
                PortEvent e;
                e.action = Action::Removed;
                e.record = opened[pending->second.first];
                e.shortLived = true;
                out.push_back(std::move(e));
                opened[pending->second.first].cookie = 0;  // never merged into the table
                openedAt.erase(pending);
                continue;
            }
            ++m_stats.destroyNotifications;
            closing.emplace(ev.cookie, false);  // removed in one pass over the table, below
            continue;
        }
        if (ev.kind == KernelEventKind::Accepted && ev.tgid != 0 && ev.inode != 0) {
            // A socket re-keyed by an earlier accept of this batch is in `opened`, not in the table.
            if (closing.contains(ev.cookie) || accepted(ev)) continue;
        }
        // An open whose port is not chosen yet (listen() without bind()) is left to the next dump;
        // so is a socket the table already has (a dump or an earlier event showed it).
        if (ev.localPort == 0 || knownCookie(ev.cookie) || openedAt.contains(ev.cookie)) continue;
        SocketRecord r;
        r.protocol = ev.protocol;
        r.family = ev.family;
        r.localAddress = ev.localAddress;
        r.localPort = ev.localPort;
        r.remoteAddress = ev.remoteAddress;
        r.remotePort = ev.remotePort;
        r.state = ev.state;
        r.inode = ev.inode;
        r.uid = ev.uid;
        r.cookie = ev.cookie;
        r.netns = ev.netns;
        if (m_namer) r.netnsName = m_namer(ev.netns);
        if (ev.tgid != 0) own(r, ev);
        m_eventOnly.insert(ev.cookie);
        PortEvent e;
        e.action = Action::Added;
        e.record = r;
        openedAt.emplace(r.cookie, std::make_pair(opened.size(), out.size()));
        out.push_back(std::move(e));
        opened.push_back(std::move(r));
    }
    flushOpened();
    if (!closing.empty()) removeClosed(closing, out);
    const std::size_t made = out.size();
    publishInOrder(std::move(out));
    return made;
}

}  // namespace porteye::core
