// SPDX-License-Identifier: MIT
#pragma once

#include "core/NamespaceTracker.hpp"
#include "core/PollPlan.hpp"
#include "core/PortMonitor.hpp"
#include "sys/NamespacedSocketSource.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

struct sd_event;
struct sd_event_source;

namespace porteye::loop {

/// What `porteyectl status` says of the namespaces.
struct NamespaceStatus {
    bool enabled = false;      ///< other namespaces are followed
    std::string how;           ///< "helper ...", "in-process", or why not
    std::size_t followed = 0;  ///< other namespaces attached
    std::size_t failed = 0;    ///< namespaces that could not be attached (last refresh)
};

/// Keeps the socket source's namespaces in step with the host: after each poll it asks the
/// tracker what appeared and vanished, attaches new namespaces to the source (and polls
/// their destroy notifications on the loop), detaches and drops vanished ones, and plans
/// the next poll's dumps. Loop thread only.
class NamespaceFollower {
public:
    /// Called with a namespace's destroyed sockets; `overrun` when the kernel dropped some.
    using OnDestroyed = std::function<void(const std::vector<core::SocketRecord>& destroyed, bool overrun)>;

    NamespaceFollower(sd_event* event, sys::NamespacedSocketSource& source, core::PortMonitor& monitor,
                      core::IProcessTable& processes, core::PollPlanOptions plan, OnDestroyed onDestroyed,
                      std::string namedDirectory = "/run/netns");
    ~NamespaceFollower();
    NamespaceFollower(const NamespaceFollower&) = delete;
    NamespaceFollower& operator=(const NamespaceFollower&) = delete;

    /// The dumps of the next poll (`base`: protocols and families to dump).
    std::vector<core::DumpRequest> nextPlan(const core::DumpRequest& base);
    /// After a poll: follows what appeared and vanished. True when a namespace was attached,
    /// so an early poll would list its sockets sooner.
    bool afterPoll();

    NamespaceStatus status() const;
    const core::NamespaceTracker& tracker() const { return m_tracker; }
    void setPlanOptions(core::PollPlanOptions plan) { m_plan = plan; }

private:
    static int onReadable(sd_event_source*, int, std::uint32_t, void* self);

    sd_event* m_event;
    sys::NamespacedSocketSource& m_source;
    core::PortMonitor& m_monitor;
    core::PollPlanOptions m_plan;
    OnDestroyed m_onDestroyed;
    core::NamespaceTracker m_tracker;
    std::map<std::uint64_t, sd_event_source*> m_io;  // destroy listener of each attached namespace
    std::map<int, sys::DestroyListener*> m_byFd;
    std::vector<std::uint64_t> m_fresh;               // attached since the last plan: dumped in full
    std::map<std::uint64_t, std::string> m_failures;  // namespace -> why it could not be attached
    std::uint64_t m_polls = 0;
    std::vector<core::SocketRecord> m_destroyed;
};

}  // namespace porteye::loop
