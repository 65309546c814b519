// SPDX-License-Identifier: MIT
#include "core/PidPortTracker.hpp"

#include <algorithm>
#include <unordered_set>

namespace porteye::core {

PidPortTracker::PidPortTracker(std::uint32_t pid, bool includeChildren, IProcessTable& processes, IClock& clock,
                               SocketFilter filter, TrackerOptions options, const IProcessHandle* handle,
                               ProcessDetailsCache* details)
    : m_pid(pid),
      m_includeChildren(includeChildren),
      m_processes(processes),
      m_clock(clock),
      m_filter(std::move(filter)),
      m_options(options),
      m_handle(handle),
      m_ownDetails(details == nullptr ? std::make_unique<ProcessDetailsCache>(processes) : nullptr),
      m_details(details != nullptr ? details : m_ownDetails.get()) {
    m_filter.pid.reset();  // the tracker decides which pids belong to it
}

PortChange PidPortTracker::unchanged(ReadStatus status, int error) const {
    PortChange change;
    change.active = localPorts(m_current);
    change.readStatus = status;
    change.readError = error;
    return change;
}

PortChange PidPortTracker::step(const DumpProvider& dump) {
    ++m_steps;
    PortChange change;
    std::vector<ProcessSockets> held;

    std::vector<std::uint32_t> pending{m_pid};
    std::vector<std::uint32_t> covered;
    while (!pending.empty()) {
        const std::uint32_t pid = pending.back();
        pending.pop_back();
        if (std::find(covered.begin(), covered.end(), pid) != covered.end()) continue;
        auto sockets = m_processes.socketsOf(pid);
        if (sockets.status == ReadStatus::Gone) {
            if (pid == m_pid) {
                // With a pin, only the whole thread group's exit counts: a Gone that the pin
                // does not confirm (a race with the read) says nothing this step.
                if (m_handle != nullptr && !m_handle->exited()) return unchanged(ReadStatus::Transient, 0);
                change.processExited = true;
            }
            continue;
        }
        if (!sockets.ok()) {
            // Out of descriptors, or not allowed: the process lives, and its sockets are
            // unknown, not closed. Keep what we had and report nothing this step.
            return unchanged(sockets.status, sockets.error);
        }
        covered.push_back(pid);
        held.push_back(std::move(sockets));
        if (m_includeChildren)
            for (std::uint32_t child : m_processes.childrenOf(pid))
                pending.push_back(child);
    }
    if (change.processExited) held.clear();  // children of a dead PID are no longer its ports
    m_coveredPids = std::move(covered);
    if (m_ownDetails) {
        // Its own cache follows the processes it covers; a shared one is trimmed by its owner.
        m_ownDetails->retainOnly([this](std::uint32_t pid) {
            return std::find(m_coveredPids.begin(), m_coveredPids.end(), pid) != m_coveredPids.end();
        });
    }

    std::unordered_set<std::uint64_t> inodes;
    for (const auto& process : held)
        inodes.insert(process.inodes.begin(), process.inodes.end());

    bool needDump = m_steps == 1 || m_steps - m_lastDumpStep >= m_options.refreshEvery;
    for (std::uint64_t inode : inodes) {
        if (needDump) break;
        if (m_placed.contains(inode)) continue;
        auto young = m_unplaced.find(inode);
        needDump = young == m_unplaced.end() || young->second < m_options.recheckYoungFor;
    }
    if (inodes.empty()) needDump = false;  // nothing to place: the dump could only tell us nothing

    const std::vector<SocketRecord>* table = needDump ? dump() : nullptr;
    if (needDump && table == nullptr) return unchanged(ReadStatus::Ok, 0);  // no table: report nothing, not a guess
    if (table != nullptr) {
        ++m_dumpsUsed;
        m_lastDumpStep = m_steps;
        m_placed.clear();
        for (const auto& socket : *table)
            if (socket.inode != 0 && inodes.contains(socket.inode)) m_placed.emplace(socket.inode, socket);
    }
    std::erase_if(m_placed, [&](const auto& entry) { return !inodes.contains(entry.first); });
    std::unordered_map<std::uint64_t, std::uint32_t> unplaced;
    for (std::uint64_t inode : inodes) {
        if (m_placed.contains(inode)) continue;
        auto previous = m_unplaced.find(inode);
        unplaced[inode] = previous == m_unplaced.end() ? 0 : previous->second + 1;
    }
    m_unplaced = std::move(unplaced);

    Snapshot next;
    for (const auto& process : held) {
        for (std::uint64_t inode : process.inodes) {
            auto placed = m_placed.find(inode);
            if (placed == m_placed.end()) continue;
            SocketRecord r = placed->second;
            r.pid = process.info.pid;
            r.process = process.info.name;
            r.ownerUid = process.info.uid;
            if (!m_filter.matches(r)) continue;
            r.details = m_details->get(process.info);
            next.push_back(std::move(r));
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
