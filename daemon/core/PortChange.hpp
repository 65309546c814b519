// SPDX-License-Identifier: MIT
#pragma once

#include "core/PortEvent.hpp"

#include <cstdint>
#include <set>
#include <vector>

namespace porteye::core {

/// One step of a per-PID watch, in ProcessPortMonitor's terms.
struct PortChange {
    std::set<std::uint16_t> opened;  ///< local ports that appeared
    std::set<std::uint16_t> closed;  ///< local ports no longer held
    std::set<std::uint16_t> active;  ///< local ports held now
    std::vector<PortEvent> events;   ///< per-socket events behind the sets
    bool processExited = false;      ///< the watched PID is gone (its sockets were reported removed)
    bool changed() const { return !opened.empty() || !closed.empty(); }
};

}  // namespace porteye::core
