// SPDX-License-Identifier: MIT
#include "loop/NamespaceFollower.hpp"

#include "sys/NamespaceOwner.hpp"

#include <spdlog/spdlog.h>

namespace porteye::loop {

namespace {

// A container's namespace is named after its container: the first member's details say which.
std::string containerNameOf(core::IProcessTable& processes, std::uint32_t pid) {
    const auto info = processes.info(pid);
    if (!info) return {};
    const auto details = processes.details(pid, info->startTimeTicks);
    if (!details) return {};
    if (!details->containerName.empty()) return details->containerName;
    return details->containerId.substr(0, 12);
}

}  // namespace

NamespaceFollower::NamespaceFollower(sd_event* event, sys::NamespacedSocketSource& source, core::PortMonitor& monitor,
                                     flow::MonitorInlet& inlet, core::IProcessTable& processes,
                                     core::PollPlanOptions plan, std::string namedDirectory, NamespaceLimits limits)
    : m_event(event),
      m_source(source),
      m_monitor(monitor),
      m_inlet(inlet),
      m_plan(plan),
      m_tracker(
          processes, source.ownNetns(), [dir = std::move(namedDirectory)] { return sys::listNamedNamespaces(dir); },
          [&processes](std::uint32_t pid) { return containerNameOf(processes, pid); }),
      m_limits(limits) {
    m_monitor.setProcessObserver(
        [this](const auto& fresh, const auto& vanished) { m_tracker.processesChanged(fresh, vanished); });
}

NamespaceFollower::~NamespaceFollower() {
    m_monitor.setProcessObserver({});
}

std::vector<core::DumpRequest> NamespaceFollower::nextPlan(const core::DumpRequest& base) {
    std::vector<std::uint64_t> others;
    for (const auto& [inode, ns] : m_tracker.namespaces())
        if (!ns.own && m_source.attached(inode)) others.push_back(inode);
    auto plan = core::planPoll(m_polls++, base, m_source.ownNetns(), others, m_fresh, m_plan);
    m_fresh.clear();
    // Records carry the namespace's name where it has one.
    for (auto& q : plan)
        q.netnsName = q.netns == m_source.ownNetns() ? std::string{} : m_tracker.nameOf(q.netns);
    return plan;
}

bool NamespaceFollower::afterPoll() {
    const auto changes = m_tracker.refresh();
    for (std::uint64_t inode : changes.vanished) {
        m_pumps.erase(inode);  // before the source closes the listener it reads
        m_source.detach(inode);
        m_failures.erase(inode);
        if (auto owner = m_ownerOf.find(inode); owner != m_ownerOf.end()) {
            if (auto limited = m_limited.find(owner->second);
                limited != m_limited.end() && limited->second.erase(inode) > 0) {
                if (limited->second.empty()) m_limited.erase(limited);
            } else if (auto& n = m_followedByUid[owner->second]; n > 0) {
                --n;
            }
            m_ownerOf.erase(owner);
        }
        const auto removed = m_inlet.namespaceGone(inode);
        spdlog::debug("network namespace {} is gone ({} sockets closed with it)", inode, removed);
    }
    bool attached = false;
    if (!m_source.canEnterNamespaces()) return false;
    for (const auto& [inode, ns] : m_tracker.namespaces()) {
        if (ns.own || m_source.attached(inode) || m_failures.contains(inode)) continue;
        if (!admit(inode, ns.path)) continue;
        if (const auto error = m_source.attach(inode, ns.path); !error.empty()) {
            // Logged once per namespace: a process we may not enter keeps failing the same way.
            spdlog::warn("network namespace {} ({}) is not followed: {}", inode, ns.name.empty() ? "unnamed" : ns.name,
                         error);
            m_failures.emplace(inode, error);
            continue;
        }
        for (auto& [listenerNetns, listener] : m_source.destroyListeners()) {
            if (listenerNetns != inode) continue;
            auto pump = std::make_unique<DestroyPump>(m_event, *listener, m_inlet);
            if (pump->attached()) m_pumps[inode] = std::move(pump);
        }
        m_fresh.push_back(inode);
        attached = true;
        spdlog::info("following network namespace {}{}", inode, ns.name.empty() ? "" : " (" + ns.name + ")");
    }
    return attached;
}

bool NamespaceFollower::admit(std::uint64_t inode, const std::string& path) {
    // Each followed namespace costs porteyed ~3 fds and a dump a poll: `unshare -rn` in a loop
    // once made it hold thousands. Counted by who made the namespace (its user namespace's owner),
    // which its processes cannot change; an unknown owner shares one small budget.
    constexpr std::uint32_t kUnknownOwner = 0xFFFFFFFF;
    // A limited namespace is checked again each poll (one of its uid's may have gone), without
    // asking the kernel for its owner again.
    const auto known = m_ownerOf.find(inode);
    const std::uint32_t uid =
        known != m_ownerOf.end() ? known->second : sys::namespaceOwnerUid(path).value_or(kUnknownOwner);
    m_ownerOf[inode] = uid;
    const std::size_t cap = uid == 0 ? m_limits.total : m_limits.perUid;
    if (m_followedByUid[uid] >= cap || m_source.attachedCount() >= m_limits.total) {
        auto& limited = m_limited[uid];
        if (limited.empty())
            spdlog::warn("network namespaces of uid {}: limit of {} followed reached; more are not followed", uid, cap);
        limited.insert(inode);
        return false;
    }
    if (auto limited = m_limited.find(uid); limited != m_limited.end()) {
        limited->second.erase(inode);
        if (limited->second.empty()) m_limited.erase(limited);
    }
    ++m_followedByUid[uid];
    return true;
}

NamespaceStatus NamespaceFollower::status() const {
    NamespaceStatus s;
    s.enabled = m_source.canEnterNamespaces();
    s.how = m_source.openerDescription();
    s.followed = m_source.attachedCount();
    s.failed = m_failures.size();
    for (const auto& [uid, inodes] : m_limited)
        s.limited[uid] = inodes.size();
    return s;
}

}  // namespace porteye::loop
