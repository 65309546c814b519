// SPDX-License-Identifier: MIT
#pragma once

#include "core/IProcessTable.hpp"
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
    bool processExited = false;      ///< the watched process is gone (its sockets were reported removed)
    /// Ok, or why this step could not read a covered process's fd table (Denied, Transient).
    /// Such a step reports nothing: `active` is the previous step's, and no port is closed.
    ReadStatus readStatus = ReadStatus::Ok;
    int readError = 0;  ///< the errno behind readStatus
    bool changed() const { return !opened.empty() || !closed.empty(); }
};

}  // namespace porteye::core
