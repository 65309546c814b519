// SPDX-License-Identifier: MIT
#pragma once

#include <filesystem>
#include <string>

namespace porteye::sys {

/// What this process can see of others: the seed's permission check, done by trying.
struct ProcessView {
    bool all = false;  ///< it can read other users' fd tables, so every socket gets its owner
    std::string name;  ///< "all" or "own-user": status's "view"
    std::string why;   ///< one clause for the log line
};

/// Tries to open <procRoot>/1/fd (init's fd table: root's, so readable only with
/// CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, or as root). When PID 1 is not there to try
/// (hidepid, a foreign pid namespace) the effective capabilities (capget) decide.
ProcessView probeProcessView(const std::filesystem::path& procRoot = "/proc");

}  // namespace porteye::sys
