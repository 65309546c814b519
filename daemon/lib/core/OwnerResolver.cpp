// SPDX-License-Identifier: MIT
#include "core/OwnerResolver.hpp"

#include <algorithm>
#include <iterator>
#include <unordered_set>

namespace porteye::core {
namespace {

template <typename Owner>
void addOwner(std::vector<Owner>& owners, Owner owner) {
    auto it = std::lower_bound(owners.begin(), owners.end(), owner.info.pid,
                               [](const Owner& p, std::uint32_t pid) { return p.info.pid < pid; });
    if (it != owners.end() && it->info.pid == owner.info.pid) {
        *it = std::move(owner);
    } else {
        owners.insert(it, std::move(owner));
    }
}

}  // namespace

OwnerResolver::OwnerResolver(IProcessTable& table, ResolverOptions options)
    : m_table(table), m_options(options), m_details(table) {}

void OwnerResolver::followProcesses(bool walkCoversAll) {
    auto listing = m_table.listProcesses();
    if (!listing) {
        // Nothing learnt this poll; the owners stay as they were and the next poll compares
        // with the last good listing.
        m_incomplete = true;
        m_incompleteReason = "could not list processes";
        return;
    }
    std::vector<ProcessId> vanished;
    std::vector<ProcessId> fresh;
    std::set_difference(m_known.begin(), m_known.end(), listing->begin(), listing->end(), std::back_inserter(vanished));
    std::set_difference(listing->begin(), listing->end(), m_known.begin(), m_known.end(), std::back_inserter(fresh));
    if (m_observer && (!fresh.empty() || !vanished.empty())) m_observer(fresh, vanished);

    if (!vanished.empty()) {
        // A PID listed again with another generation was reused: its old process is gone
        // too, and the new one is in `fresh`.
        std::unordered_set<std::uint32_t> gone;
        for (const auto& p : vanished) {
            gone.insert(p.pid);
            m_details.forget(p.pid);
        }
        for (auto& [inode, entry] : m_cache) {
            const auto before = entry.owners.size();
            std::erase_if(entry.owners, [&](const Owner& p) { return gone.contains(p.info.pid); });
            m_stats.ownersDropped += before - entry.owners.size();
            if (before != 0 && entry.owners.empty()) {
                entry.retryAtPoll = m_poll;  // ownerless now: look again soon, from the start
                entry.backoff = 1;
            }
        }
    }

    std::vector<std::uint32_t> retry;
    // A poll whose walk looks for every inode (the first, a full rescan) needs no
    // per-process reads: the walk that follows sees every process listed here.
    if (!walkCoversAll && !fresh.empty()) {
        std::vector<std::uint32_t> pids;
        pids.reserve(fresh.size());
        for (const auto& p : fresh)
            pids.push_back(p.pid);
        OwnerScan scan = m_table.findOwnersAmong(pids, [this](std::uint64_t inode) {
            auto it = m_cache.find(inode);
            return it != m_cache.end() && it->second.seenAtPoll == m_poll;
        });
        m_stats.newProcessReads += pids.size();
        m_stats.walk += scan.stats;
        for (auto& [inode, infos] : scan.owners) {
            Entry& entry = m_cache[inode];
            for (const auto& info : infos)
                addOwner(entry.owners, ownerOf(info));
            entry.backoff = 1;
        }
        retry = std::move(scan.retry);
        if (!retry.empty()) {
            m_incomplete = true;
            m_incompleteReason = "could not read new processes' file descriptors";
        }
    }
    if (walkCoversAll) {
        // Watches add details of processes this resolver may never list (born and gone between
        // two polls); a full walk's listing sweeps them out, so the cache stays within the host.
        m_details.retainOnly([&](std::uint32_t pid) {
            return std::binary_search(listing->begin(), listing->end(), ProcessId{pid, 0},
                                      [](const ProcessId& a, const ProcessId& b) { return a.pid < b.pid; });
        });
    }
    // Processes that could not be read now are left out, so the next poll reads them again.
    m_known = std::move(*listing);
    if (!retry.empty()) {
        std::sort(retry.begin(), retry.end());
        std::erase_if(m_known,
                      [&](const ProcessId& p) { return std::binary_search(retry.begin(), retry.end(), p.pid); });
    }
}

void OwnerResolver::learn(std::uint64_t inode, const ProcessInfo& info) {
    if (inode == 0 || info.pid == 0) return;
    Entry& entry = m_cache[inode];
    addOwner(entry.owners, ownerOf(info));
    entry.seenAtPoll = m_poll;
    entry.backoff = 1;
}

std::vector<SocketRecord> OwnerResolver::resolve(std::vector<SocketRecord> sockets) {
    ++m_poll;
    m_incomplete = false;
    m_incompleteReason = "";
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

    // Listed before any walk, so a process that starts after the listing is new next poll.
    followProcesses(!wanted.empty() && wanted.size() == m_cache.size());

    if (wanted.empty()) {
        ++m_stats.skippedWalks;
    } else {
        OwnerScan scan = m_table.findOwners(wanted);
        ++m_stats.walks;
        m_stats.walk += scan.stats;
        const bool complete = scan.stats.transientErrors == 0;
        if (!complete) {
            m_incomplete = true;
            m_incompleteReason = "could not read every process's file descriptors";
        }
        if (fullWalk && complete) m_lastFullWalk = m_poll;
        for (std::uint64_t inode : wanted) {
            Entry& entry = m_cache[inode];
            auto found = scan.owners.find(inode);
            if (found != scan.owners.end() && !found->second.empty()) {
                // A known process found again (a full rescan, a new socket) hits the details
                // cache: nothing is read for it.
                entry.owners.clear();
                entry.owners.reserve(found->second.size());
                for (const auto& info : found->second)
                    entry.owners.push_back(ownerOf(info));
                std::sort(entry.owners.begin(), entry.owners.end(),
                          [](const Owner& a, const Owner& b) { return a.info.pid < b.info.pid; });
                entry.backoff = 1;
            } else if (!complete) {
                // Not found may only mean not read: keep what we knew, and look again next poll.
                entry.retryAtPoll = m_poll + 1;
            } else {
                // Accept-queue sockets have no fd yet and other namespaces' owners are
                // invisible: retry with backoff instead of walking on every poll.
                entry.owners.clear();
                entry.retryAtPoll = m_poll + entry.backoff;
                entry.backoff = std::min(entry.backoff * 2, std::max<std::uint32_t>(1, m_options.maxRetryBackoff));
            }
        }
    }
    if (m_incomplete) ++m_stats.incompletePolls;

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
            r.pid = owners[i].info.pid;
            r.process = owners[i].info.name;
            r.ownerUid = owners[i].info.uid;
            r.details = owners[i].details;
            records.push_back(std::move(r));
        }
    }
    m_stats.unresolved = unresolved;
    return records;
}

}  // namespace porteye::core
