// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>

namespace porteye::core {

/// The daemon's counters, as `status` (JSON) and the D-Bus properties report them.
struct DaemonStatus {
    std::string version;
    double pollIntervalSeconds = 0;
    std::uint64_t sockets = 0;
    std::uint64_t historySize = 0;
    std::uint64_t historyCapacity = 0;
    std::uint64_t historyDropped = 0;
    std::uint64_t nextSequence = 0;
    std::uint64_t watches = 0;
    std::uint64_t polls = 0;        ///< not a D-Bus property: 0 when read over D-Bus
    std::uint64_t failedPolls = 0;  ///< likewise
};

}  // namespace porteye::core
