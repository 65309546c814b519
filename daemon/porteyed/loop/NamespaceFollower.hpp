// SPDX-License-Identifier: MIT
#pragma once

#include "core/NamespaceTracker.hpp"
#include "core/PollPlan.hpp"
#include "flow/MonitorInlet.hpp"
#include "loop/DestroyPump.hpp"
#include "sys/NamespacedSocketSource.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct sd_event;

namespace porteye::loop {

/// What `porteyectl status` says of the namespaces.
struct NamespaceStatus {
    bool enabled = false;      ///< other namespaces are followed
    std::string how;           ///< "helper ...", "in-process", or why not
    std::size_t followed = 0;  ///< other namespaces attached
    std::size_t failed = 0;    ///< namespaces that could not be attached (last refresh)
};

/// Keeps the socket source's namespaces in step with the host: after each poll it asks the
/// tracker what appeared and vanished, attaches new namespaces to the source (and pumps
/// their destroy notifications into the inlet), detaches and drops vanished ones (through
/// the inlet), and plans the next poll's dumps. Loop thread only.
class NamespaceFollower {
public:
    /// `monitor` tells the follower which processes each poll found new or gone; what the
    /// follower learns goes back in through `inlet`.
    NamespaceFollower(sd_event* event, sys::NamespacedSocketSource& source, core::PortMonitor& monitor,
                      flow::MonitorInlet& inlet, core::IProcessTable& processes, core::PollPlanOptions plan,
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
    sd_event* m_event;
    sys::NamespacedSocketSource& m_source;
    core::PortMonitor& m_monitor;
    flow::MonitorInlet& m_inlet;
    core::PollPlanOptions m_plan;
    core::NamespaceTracker m_tracker;
    std::map<std::uint64_t, std::unique_ptr<DestroyPump>> m_pumps;  // destroy listener of each attached namespace
    std::vector<std::uint64_t> m_fresh;                             // attached since the last plan: dumped in full
    std::map<std::uint64_t, std::string> m_failures;                // namespace -> why it could not be attached
    std::uint64_t m_polls = 0;
};

}  // namespace porteye::loop
