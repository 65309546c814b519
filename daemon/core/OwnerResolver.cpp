// SPDX-License-Identifier: MIT
#include "core/OwnerResolver.hpp"

#include <algorithm>
#include <unordered_set>

namespace porteye::core {

OwnerResolver::OwnerResolver(IProcessTable& table, ResolverOptions options) : m_table(table), m_options(options) {}

std::vector<SocketRecord> OwnerResolver::resolve(std::vector<SocketRecord> sockets) {
    ++m_poll;
    const bool fullWalk = m_options.fullRescanEvery != 0 && m_poll - m_lastFullWalk >= m_options.fullRescanEvery;

    // One pass marks what is still there and collects what needs a walk; a
    // second drops what is gone. No per-poll set of every inode is built.
    std::unordered_set<std::uint64_t> wanted;
    for (const auto& s : sockets) {
        if (s.inode == 0) continue;
        auto [it, inserted] = m_cache.try_emplace(s.inode);
        Entry& entry = it->second;
        entry.seenAtPoll = m_poll;
        if (inserted || fullWalk || (entry.owners.empty() && entry.retryAtPoll <= m_poll)) wanted.insert(s.inode);
    }
    std::erase_if(m_cache, [this](const auto& item) { return item.second.seenAtPoll != m_poll; });

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
    }

    std::vector<SocketRecord> records;
    records.reserve(sockets.size());
    std::uint64_t unresolved = 0;
    for (auto& s : sockets) {
        auto it = s.inode != 0 ? m_cache.find(s.inode) : m_cache.end();
        if (it == m_cache.end() || it->second.owners.empty()) {
            if (s.inode != 0) ++unresolved;
            records.push_back(std::move(s));
            continue;
        }
        const auto& owners = it->second.owners;
        for (std::size_t i = 0; i < owners.size(); ++i) {
            // The last owner takes the dumped record itself; only shared sockets are copied.
            SocketRecord r = i + 1 == owners.size() ? std::move(s) : s;
            r.pid = owners[i].pid;
            r.process = owners[i].name;
            r.ownerUid = owners[i].uid;
            records.push_back(std::move(r));
        }
    }
    m_stats.unresolved = unresolved;
    return records;
}

}  // namespace porteye::core
