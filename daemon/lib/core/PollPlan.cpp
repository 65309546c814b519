// SPDX-License-Identifier: MIT
#include "core/PollPlan.hpp"

#include <algorithm>

namespace porteye::core {

std::vector<DumpRequest> planPoll(std::uint64_t poll, const DumpRequest& base, std::uint64_t ownNetns,
                                  const std::vector<std::uint64_t>& others, const std::vector<std::uint64_t>& fresh,
                                  const PollPlanOptions& options) {
    std::vector<DumpRequest> plan;
    plan.reserve(2 * (1 + others.size()));
    const auto add = [&](std::uint64_t netns, std::uint32_t every, bool isFresh, std::uint64_t offset) {
        DumpRequest q = base;
        q.netns = netns;
        if (isFresh || every <= 1 || (poll + offset) % every == 0) {
            plan.push_back(q);
            return;
        }
        // Listeners only: TCP's LISTEN-only walk, and UDP (whose states, ESTABLISHED and CLOSE,
        // must not be asked of TCP, or its connection hash would be walked after all).
        DumpRequest listeners = q;
        listeners.udp = false;
        listeners.states = base.states & kListenOnly;
        if (listeners.tcp && listeners.states != 0) plan.push_back(listeners);
        DumpRequest udp = q;
        udp.tcp = false;
        udp.states = base.states & kUdpStates;
        if (udp.udp && udp.states != 0) plan.push_back(udp);
    };
    add(ownNetns, options.hostConnectionsEvery, poll == 0, 0);
    for (std::uint64_t netns : others) {
        if (netns == ownNetns) continue;
        const bool isFresh = std::find(fresh.begin(), fresh.end(), netns) != fresh.end();
        // Staggered by namespace, so their connection dumps do not all fall on one poll.
        add(netns, options.namespaceConnectionsEvery, isFresh, netns);
    }
    return plan;
}

}  // namespace porteye::core
