// SPDX-License-Identifier: MIT
#include "loop/NamespaceFollower.hpp"

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
                                     core::PollPlanOptions plan, std::string namedDirectory)
    : m_event(event),
      m_source(source),
      m_monitor(monitor),
      m_inlet(inlet),
      m_plan(plan),
      m_tracker(
          processes, source.ownNetns(), [dir = std::move(namedDirectory)] { return sys::listNamedNamespaces(dir); },
          [&processes](std::uint32_t pid) { return containerNameOf(processes, pid); }) {
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
        const auto removed = m_inlet.namespaceGone(inode);
        spdlog::debug("network namespace {} is gone ({} sockets closed with it)", inode, removed);
    }
    bool attached = false;
    if (!m_source.canEnterNamespaces()) return false;
    for (const auto& [inode, ns] : m_tracker.namespaces()) {
        if (ns.own || m_source.attached(inode) || m_failures.contains(inode)) continue;
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

NamespaceStatus NamespaceFollower::status() const {
    NamespaceStatus s;
    s.enabled = m_source.canEnterNamespaces();
    s.how = m_source.openerDescription();
    s.followed = m_source.attachedCount();
    s.failed = m_failures.size();
    return s;
}

}  // namespace porteye::loop
