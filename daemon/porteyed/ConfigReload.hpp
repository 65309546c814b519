// SPDX-License-Identifier: MIT
#pragma once

#include "DaemonConfig.hpp"

#include <string>
#include <vector>

namespace porteye {

/// What porteyed must redo when a reloadable option changes (a bit set: one option can need several).
enum ReloadEffect : unsigned {
    kReloadNothingElse = 0,      ///< read when it is used (e.g. --strict at the next parse)
    kReloadPollTimer = 1u << 0,  ///< re-arm the poll timer at the new interval
    kReloadPlan = 1u << 1,       ///< recompute how often connections are dumped (reconcile)
    kReloadHistory = 1u << 2,    ///< resize the in-memory history
    kReloadLogLevel = 1u << 3,   ///< set the log level
    kReloadJournal = 1u << 4,    ///< change which events become journal entries
    kReloadStatus = 1u << 5,     ///< tell D-Bus clients the settings changed
};

/// One option whose value differs between the running config and the one just read.
struct ConfigChange {
    std::string key;  ///< the config file's key (e.g. `interval`)
    std::string from;
    std::string to;
    bool reloadable = false;  ///< false: the running value stays until porteyed restarts
};

/// What a reload changes: every option of DaemonConfig is in one table (ConfigReload.cpp),
/// marked reloadable with what it makes porteyed redo, or restart-only.
struct ReloadPlan {
    std::vector<ConfigChange> changes;
    unsigned effects = 0;  ///< ReloadEffect bits of the reloadable changes
    /// The config porteyed runs with after the reload: the new reloadable values, the running
    /// restart-only ones.
    DaemonConfig applied;

    bool needs(ReloadEffect effect) const { return (effects & effect) != 0; }
};

/// Compares the running config with the one just read.
ReloadPlan planReload(const DaemonConfig& running, const DaemonConfig& next);

/// Every key of the table with whether it is reloadable (for the docs' test and `--help`-like listings).
std::vector<std::pair<std::string, bool>> reloadTable();

}  // namespace porteye
