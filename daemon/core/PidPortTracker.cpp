// SPDX-License-Identifier: MIT
#include "core/PidPortTracker.hpp"

#include <algorithm>
#include <unordered_map>

namespace porteye::core {

PidPortTracker::PidPortTracker(std::uint32_t pid, bool includeChildren, IProcessTable& processes, IClock& clock,
                               SocketFilter filter)
    : m_pid(pid), m_includeChildren(includeChildren), m_processes(processes), m_clock(clock), m_filter(std::move(filter)) {
    m_filter.pid.reset();  // the tracker decides which pids belong to it
}

PortChange PidPortTracker::update(const std::vector<SocketRecord>& dump) {
    PortChange change;
    std::unordered_map<std::uint64_t, std::vector<const ProcessInfo*>> owners;
    std::vector<ProcessSockets> held;

    std::vector<std::uint32_t> pending{m_pid};
    m_coveredPids.clear();
    while (!pending.empty()) {
        const std::uint32_t pid = pending.back();
        pending.pop_back();
        if (std::find(m_coveredPids.begin(), m_coveredPids.end(), pid) != m_coveredPids.end()) continue;
        auto sockets = m_processes.socketsOf(pid);
        if (!sockets) {
            if (pid == m_pid) change.processExited = true;
            continue;
        }
        m_coveredPids.push_back(pid);
        held.push_back(std::move(*sockets));
        if (m_includeChildren)
            for (std::uint32_t child : m_processes.childrenOf(pid)) pending.push_back(child);
    }
    if (change.processExited) held.clear();  // children of a dead PID are no longer its ports

    for (const auto& process : held)
        for (std::uint64_t inode : process.inodes) owners[inode].push_back(&process.info);

    Snapshot next;
    if (!owners.empty()) {
        for (const auto& socket : dump) {
            auto it = owners.find(socket.inode);
            if (socket.inode == 0 || it == owners.end()) continue;
            for (const ProcessInfo* owner : it->second) {
                SocketRecord r = socket;
                r.pid = owner->pid;
                r.process = owner->name;
                if (m_filter.matches(r)) next.push_back(std::move(r));
            }
        }
    }
    normalizeSnapshot(next);

    SnapshotChanges diff = diffSnapshots(m_current, next);
    const auto before = localPorts(m_current);
    change.active = localPorts(next);
    for (auto port : change.active)
        if (!before.contains(port)) change.opened.insert(port);
    for (auto port : before)
        if (!change.active.contains(port)) change.closed.insert(port);
    if (!diff.empty()) change.events = stampEvents(diff, m_clock.now(), m_nextSequence);
    m_current = std::move(next);
    return change;
}

}  // namespace porteye::core
