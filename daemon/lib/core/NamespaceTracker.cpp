// SPDX-License-Identifier: MIT
#include "core/NamespaceTracker.hpp"

#include <algorithm>

namespace porteye::core {

NamespaceTracker::NamespaceTracker(IProcessTable& processes, std::uint64_t ownNetns, NamedLister named, Namer namer,
                                   NamespaceTrackerOptions options)
    : m_processes(processes),
      m_own(ownNetns),
      m_named(std::move(named)),
      m_namer(std::move(namer)),
      m_options(std::move(options)) {
    if (m_own != 0) {
        auto& own = m_namespaces[m_own];
        own.inode = m_own;
        own.own = true;
    }
}

void NamespaceTracker::join(std::uint32_t pid, std::uint64_t netns) {
    auto [it, inserted] = m_pidNetns.try_emplace(pid, netns);
    if (!inserted) {
        if (it->second == netns) return;
        leave(pid);
        m_pidNetns[pid] = netns;
    }
    auto& ns = m_namespaces[netns];
    ns.inode = netns;
    ns.pids.insert(pid);
}

void NamespaceTracker::leave(std::uint32_t pid) {
    auto it = m_pidNetns.find(pid);
    if (it == m_pidNetns.end()) return;
    auto ns = m_namespaces.find(it->second);
    if (ns != m_namespaces.end()) ns->second.pids.erase(pid);
    m_pidNetns.erase(it);
}

void NamespaceTracker::processesChanged(const std::vector<ProcessId>& fresh, const std::vector<ProcessId>& vanished) {
    for (const auto& p : vanished)
        leave(p.pid);
    for (const auto& p : fresh) {
        // One readlink per new process; 0 when it is already gone or unreadable (kernel
        // threads share the host's namespace and are not worth a member entry either way).
        const std::uint64_t netns = m_processes.netnsOf(p.pid);
        if (netns != 0) join(p.pid, netns);
    }
}

void NamespaceTracker::recheckAll() {
    std::vector<std::uint32_t> pids;
    pids.reserve(m_pidNetns.size());
    for (const auto& [pid, netns] : m_pidNetns)
        pids.push_back(pid);
    for (std::uint32_t pid : pids) {
        const std::uint64_t netns = m_processes.netnsOf(pid);
        if (netns == 0) {
            leave(pid);
        } else {
            join(pid, netns);
        }
    }
}

std::string NamespaceTracker::pathFor(const NetworkNamespace& ns) const {
    if (auto named = m_namedNow.find(ns.inode); named != m_namedNow.end()) return named->second.path;
    if (ns.pids.empty()) return {};
    return m_options.procRoot + "/" + std::to_string(*ns.pids.begin()) + "/ns/net";
}

NamespaceChanges NamespaceTracker::refresh() {
    ++m_refreshes;
    if (m_options.recheckEvery != 0 && m_refreshes % m_options.recheckEvery == 0) recheckAll();

    m_namedNow.clear();
    if (m_named) {
        for (auto& named : m_named()) {
            if (named.inode == 0) continue;
            auto& ns = m_namespaces[named.inode];
            ns.inode = named.inode;
            m_namedNow.emplace(named.inode, std::move(named));
        }
    }

    NamespaceChanges changes;
    for (auto it = m_namespaces.begin(); it != m_namespaces.end();) {
        auto& ns = it->second;
        const bool named = m_namedNow.contains(ns.inode);
        if (!ns.own && !named && ns.pids.empty()) {
            if (m_reported.erase(ns.inode) != 0) changes.vanished.push_back(ns.inode);
            m_namerAsked.erase(ns.inode);
            it = m_namespaces.erase(it);
            continue;
        }
        ns.path = ns.own ? std::string{} : pathFor(ns);
        if (named) {
            ns.name = m_namedNow.at(ns.inode).name;
        } else if (ns.name.empty() && !ns.own && m_namer && !ns.pids.empty() && m_namerAsked.insert(ns.inode).second) {
            ns.name = m_namer(*ns.pids.begin());  // once per namespace: it reads the member's details
        }
        if (m_reported.insert(ns.inode).second) changes.appeared.push_back(ns.inode);
        ++it;
    }
    return changes;
}

std::string NamespaceTracker::nameOf(std::uint64_t inode) const {
    auto it = m_namespaces.find(inode);
    return it == m_namespaces.end() ? std::string{} : it->second.name;
}

}  // namespace porteye::core
