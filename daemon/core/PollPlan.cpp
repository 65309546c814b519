// SPDX-License-Identifier: MIT
#include "core/PollPlan.hpp"

#include <algorithm>

namespace porteye::core {

std::vector<DumpRequest> planPoll(std::uint64_t poll, const DumpRequest& base, std::uint64_t ownNetns,
                                  const std::vector<std::uint64_t>& others, const std::vector<std::uint64_t>& fresh,
                                  const PollPlanOptions& options) {
    const auto request = [&](std::uint64_t netns, std::uint32_t every, bool isFresh, std::uint64_t offset) {
        DumpRequest q = base;
        q.netns = netns;
        const bool connections = isFresh || every <= 1 || (poll + offset) % every == 0;
        if (!connections) q.states = base.states & kListenOnly;
        return q;
    };
    std::vector<DumpRequest> plan;
    plan.reserve(1 + others.size());
    plan.push_back(request(ownNetns, options.hostConnectionsEvery, poll == 0, 0));
    for (std::uint64_t netns : others) {
        if (netns == ownNetns) continue;
        const bool isFresh = std::find(fresh.begin(), fresh.end(), netns) != fresh.end();
        // Staggered by namespace, so their connection dumps do not all fall on one poll.
        plan.push_back(request(netns, options.namespaceConnectionsEvery, isFresh, netns));
    }
    return plan;
}

}  // namespace porteye::core
