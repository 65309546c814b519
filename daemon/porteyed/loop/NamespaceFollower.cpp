// SPDX-License-Identifier: MIT
#include "loop/NamespaceFollower.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-event.h>

#include <sys/epoll.h>

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
                                     core::IProcessTable& processes, core::PollPlanOptions plan,
                                     OnDestroyed onDestroyed, std::string namedDirectory)
    : m_event(event),
      m_source(source),
      m_monitor(monitor),
      m_plan(plan),
      m_onDestroyed(std::move(onDestroyed)),
      m_tracker(
          processes, source.ownNetns(), [dir = std::move(namedDirectory)] { return sys::listNamedNamespaces(dir); },
          [&processes](std::uint32_t pid) { return containerNameOf(processes, pid); }) {
    m_monitor.setProcessObserver(
        [this](const auto& fresh, const auto& vanished) { m_tracker.processesChanged(fresh, vanished); });
}

NamespaceFollower::~NamespaceFollower() {
    m_monitor.setProcessObserver({});
    for (auto& [inode, io] : m_io)
        sd_event_source_disable_unref(io);
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
        if (auto io = m_io.find(inode); io != m_io.end()) {
            m_byFd.erase(sd_event_source_get_io_fd(io->second));
            sd_event_source_disable_unref(io->second);
            m_io.erase(io);
        }
        m_source.detach(inode);
        m_failures.erase(inode);
        const auto removed = m_monitor.dropNamespace(inode);
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
            sd_event_source* io = nullptr;
            if (sd_event_add_io(m_event, &io, listener->fd(), EPOLLIN, onReadable, this) >= 0) {
                m_io[inode] = io;
                m_byFd[listener->fd()] = listener;
            }
        }
        m_fresh.push_back(inode);
        attached = true;
        spdlog::info("following network namespace {}{}", inode, ns.name.empty() ? "" : " (" + ns.name + ")");
    }
    return attached;
}

int NamespaceFollower::onReadable(sd_event_source*, int fd, std::uint32_t, void* self) {
    auto* follower = static_cast<NamespaceFollower*>(self);
    auto it = follower->m_byFd.find(fd);
    if (it == follower->m_byFd.end()) return 0;
    follower->m_destroyed.clear();
    const auto result = it->second->drain(follower->m_destroyed);
    try {
        follower->m_onDestroyed(follower->m_destroyed, result.overrun);
    } catch (const std::exception& e) {
        spdlog::error("handling destroyed sockets failed: {}", e.what());
    }
    return 0;
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
