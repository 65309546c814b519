// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>

namespace porteye::core {

/// The daemon's counters, as `status` (JSON) and the D-Bus properties report them.
struct DaemonStatus {
    std::string version;
    /// Random, new on every start: a client resuming with after_sequence learns the sequence restarted.
    std::string instanceId;
    /// False for an unprivileged caller: sockets, history and watches then count only what it may see,
    /// and the host-wide counters (polls, failed polls, dropped history) are 0.
    bool hostWide = true;
    double pollIntervalSeconds = 0;
    std::uint64_t sockets = 0;
    std::uint64_t historySize = 0;
    std::uint64_t historyCapacity = 0;
    std::uint64_t historyDropped = 0;
    std::uint64_t nextSequence = 0;
    std::uint64_t watches = 0;
    std::uint64_t polls = 0;        ///< not a D-Bus property: 0 when read over D-Bus
    std::uint64_t failedPolls = 0;  ///< likewise
    /// What porteyed can see: "all" processes, or "own-user" (only its own user's: it lacks
    /// CAP_DAC_READ_SEARCH/CAP_SYS_PTRACE, so other users' sockets show without an owner).
    std::string view = "all";
    /// The persistent history: "ok", "disabled" (no state directory) or "failed: <reason>"
    /// (the daemon then keeps only the in-memory ring).
    std::string store = "disabled";
    /// Which network namespaces are followed: "all (<how>, N others)" or "own only: <why>".
    std::string networkNamespaces = "own only";
    /// Where new sockets are learnt from: "polling", or a kernel event source's stage, with why
    /// it fell back when it did.
    std::string eventSource = "polling";
    /// Host-wide (0 for unprivileged callers): sockets that opened and closed between two dumps,
    /// in the history with their owner thanks to the event source ...
    std::uint64_t shortLived = 0;
    /// ... and those known only from their destroy notification (no event source): counted.
    std::uint64_t unattributedShortLived = 0;
    /// Resynchronisations after the kernel dropped events or notifications.
    std::uint64_t resyncs = 0;
    /// Host-wide: events the kernel event source lost (its ring was full), since start. Each loss
    /// is also a resync; this counts the events, so a reader knows how much the history missed.
    std::uint64_t eventSourceLost = 0;
    /// Host-wide: events the persistent store never wrote (it failed, or fell more than its queue
    /// behind); the log names their sequence numbers when the store works again.
    std::uint64_t storeDropped = 0;
    /// Expected listeners (core/ExpectedListeners.hpp): whether an allowlist is loaded, its rules,
    /// the unexpected listeners open now (those the caller may see) and the alerts raised since
    /// start (0 for an unprivileged caller, like polls).
    bool expectedActive = false;
    std::uint64_t expectedRules = 0;
    std::uint64_t unexpectedListeners = 0;
    std::uint64_t unexpectedTotal = 0;
};

}  // namespace porteye::core
