// SPDX-License-Identifier: MIT
#include "core/OwnerResolver.hpp"

#include <algorithm>
#include <unordered_set>

namespace porteye::core {

OwnerResolver::OwnerResolver(IProcessTable& table, ResolverOptions options) : m_table(table), m_options(options) {}

std::vector<SocketRecord> OwnerResolver::resolve(const std::vector<SocketRecord>& sockets) {
    ++m_poll;
    std::unordered_set<std::uint64_t> present;
    present.reserve(sockets.size());
    for (const auto& s : sockets)
        if (s.inode != 0) present.insert(s.inode);

    bool cacheChanged = false;
    for (auto it = m_cache.begin(); it != m_cache.end();) {
        if (!present.contains(it->first)) {
            it = m_cache.erase(it);
            cacheChanged = true;
        } else {
            ++it;
        }
    }

    const bool fullWalk = m_options.fullRescanEvery != 0 && m_poll - m_lastFullWalk >= m_options.fullRescanEvery;
    std::unordered_set<std::uint64_t> wanted;
    for (std::uint64_t inode : present) {
        auto it = m_cache.find(inode);
        if (fullWalk || it == m_cache.end() || (it->second.owners.empty() && it->second.retryAtPoll <= m_poll))
            wanted.insert(inode);
    }

    if (wanted.empty()) {
        ++m_stats.skippedWalks;
    } else {
        OwnerScan scan = m_table.findOwners(wanted);
        ++m_stats.walks;
        m_stats.walk += scan.stats;
        if (fullWalk) m_lastFullWalk = m_poll;
        for (std::uint64_t inode : wanted) {
            Entry& entry = m_cache[inode];
            auto found = scan.owners.find(inode);
            if (found != scan.owners.end() && !found->second.empty()) {
                entry.owners = std::move(found->second);
                std::sort(entry.owners.begin(), entry.owners.end(),
                          [](const ProcessInfo& a, const ProcessInfo& b) { return a.pid < b.pid; });
                entry.backoff = 1;
            } else {
                // Accept-queue sockets have no fd yet and other namespaces' owners are
                // invisible: retry with backoff instead of walking on every poll.
                entry.owners.clear();
                entry.retryAtPoll = m_poll + entry.backoff;
                entry.backoff = std::min(entry.backoff * 2, std::max<std::uint32_t>(1, m_options.maxRetryBackoff));
            }
        }
        cacheChanged = true;
    }
    if (cacheChanged) rebuildProcessIndex();

    std::vector<SocketRecord> records;
    records.reserve(sockets.size());
    std::uint64_t unresolved = 0;
    for (const auto& s : sockets) {
        auto it = s.inode != 0 ? m_cache.find(s.inode) : m_cache.end();
        if (it == m_cache.end() || it->second.owners.empty()) {
            if (s.inode != 0) ++unresolved;
            records.push_back(s);
            continue;
        }
        for (const auto& owner : it->second.owners) {
            SocketRecord r = s;
            r.pid = owner.pid;
            r.process = owner.name;
            records.push_back(std::move(r));
        }
    }
    m_stats.unresolved = unresolved;
    return records;
}

void OwnerResolver::rebuildProcessIndex() {
    m_processes.clear();
    for (const auto& [inode, entry] : m_cache)
        for (const auto& owner : entry.owners) m_processes.try_emplace(owner.pid, owner);
}

std::optional<ProcessInfo> OwnerResolver::process(std::uint32_t pid) const {
    auto it = m_processes.find(pid);
    if (it == m_processes.end()) return std::nullopt;
    return it->second;
}

}  // namespace porteye::core
