// SPDX-License-Identifier: MIT
#pragma once

#include "core/Limits.hpp"
#include "core/NamespaceTracker.hpp"
#include "core/PollPlan.hpp"
#include "flow/MonitorInlet.hpp"
#include "loop/DestroyPump.hpp"
#include "sys/NamespacedSocketSource.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <set>
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
    /// uid (owner of the namespace's user namespace) -> its namespaces not followed: over the cap.
    std::map<std::uint32_t, std::size_t> limited;
};

/// How many namespaces are followed, by the uid that owns each one's user namespace.
struct NamespaceLimits {
    std::size_t total = core::limits::kMaxFollowedNamespaces;
    std::size_t perUid = core::limits::kMaxFollowedNamespacesPerUid;  ///< root: `total`
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
                      std::string namedDirectory = "/run/netns", NamespaceLimits limits = {});
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
    /// Whether `inode` may be followed under its owner's cap (and counts it); false: limited.
    bool admit(std::uint64_t inode, const std::string& path);

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
    NamespaceLimits m_limits;
    std::map<std::uint64_t, std::uint32_t> m_ownerOf;  // namespace -> owner uid (followed or limited)
    std::map<std::uint32_t, std::size_t> m_followedByUid;
    std::map<std::uint32_t, std::set<std::uint64_t>> m_limited;  // uid -> namespaces over its cap
};

}  // namespace porteye::loop
