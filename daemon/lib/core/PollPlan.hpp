// SPDX-License-Identifier: MIT
#pragma once

#include "core/ISocketSource.hpp"

#include <cstdint>
#include <vector>

namespace porteye::core {

/// How often each part of the socket table is dumped, in polls.
struct PollPlanOptions {
    /// The daemon's own namespace: connections every this many polls (1: every poll, as a
    /// poll-only daemon must; more once a kernel event source reports opens).
    std::uint32_t hostConnectionsEvery = 1;
    /// Every other namespace: its connections every this many polls. Its listeners and UDP
    /// sockets are dumped on every poll: a LISTEN-only dump walks only the listening hash,
    /// while a connection dump walks the kernel's whole connection hash, shared by all
    /// namespaces (~1 ms even for an empty namespace). Closes come from each namespace's
    /// destroy notifications in between.
    std::uint32_t namespaceConnectionsEvery = 10;
};

/// The dumps of poll number `poll` (counted from 0): `base` says which protocols and
/// families, per namespace either every state or listeners only. A namespace in `fresh`
/// (first seen) gets every state at once, so its connections are known from the start;
/// namespaces' connection dumps are staggered over the polls.
std::vector<DumpRequest> planPoll(std::uint64_t poll, const DumpRequest& base, std::uint64_t ownNetns,
                                  const std::vector<std::uint64_t>& others, const std::vector<std::uint64_t>& fresh,
                                  const PollPlanOptions& options);

}  // namespace porteye::core
