// SPDX-License-Identifier: MIT
#pragma once

#include "DaemonConfig.hpp"

#include <string>
#include <vector>

namespace porteye {

/// Runs porteyed: builds the real sources, wires the front-ends and drives one
/// sd-event loop (poll timer, watch timer, D-Bus, signals, watchdog) on one thread.
/// Returns the process exit status.
int runDaemon(const std::vector<std::string>& args, const DaemonConfig& config);

}  // namespace porteye
