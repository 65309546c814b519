// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>

/// Every numeric bound that porteyed enforces and porteyectl checks before asking, in one place,
/// so the two never disagree (porteyectl once accepted a 86,400 s watch interval that porteyed
/// refused above 3,600 s). Each name says what the number counts.
namespace porteye::core::limits {

/// Seconds between host-wide polls (`interval`) and between reconcile dumps (`reconcile_interval`).
constexpr double kMinPollIntervalSeconds = 0.05;
constexpr double kMaxPollIntervalSeconds = 3600;

/// Seconds between the steps of one PID watch, asked of porteyed (D-Bus, socket).
constexpr double kMinWatchIntervalSeconds = 0.05;
constexpr double kMaxWatchIntervalSeconds = 3600;
/// porteyectl's local mode (no daemon) may step faster: it costs only the caller.
constexpr double kMinLocalWatchIntervalSeconds = 0.01;

/// Watches porteyed holds at once, per uid, and of those kept for root and the porteye group.
constexpr std::size_t kMaxWatches = 4096;
constexpr std::size_t kMaxWatchesPerUid = 256;
constexpr std::size_t kReservedPrivilegedWatches = 512;

/// The in-memory history's capacity (`history_capacity`): most events the ring can hold; the
/// number it holds now is `history_events` in status. An event costs about 184 bytes in the ring
/// (sizeof(PortEvent)), plus up to ~100 bytes of string heap for IPv6 addresses and escaped
/// process names, plus half its slot while the ring doubles: ~320 bytes at worst. 250,000 of them
/// are ~80 MiB, which leaves room under the unit's MemoryMax=256M for the socket table, client
/// output budgets and replies.
constexpr std::size_t kMinHistoryCapacity = 1;
constexpr std::size_t kMaxHistoryCapacity = 250'000;
constexpr std::size_t kDefaultHistoryCapacity = 10'000;

/// The persistent history's retention. A stored event takes ~250 bytes on disk with its indexes
/// (more with long command lines): 10 million are ~2.5 GB, more than a host's history of ports is
/// worth.
constexpr std::uint64_t kMaxHistoryKeepEvents = 10'000'000;
constexpr std::uint32_t kMaxHistoryKeepDays = 3650;

/// Most records in one list or history reply (dbus-daemon drops a sender whose message exceeds
/// 32 MiB; a record is well under 300 bytes) ...
constexpr std::size_t kMaxReplyRecords = 50'000;
/// ... and most bytes: records carry command lines of up to 4 KiB, so 50,000 of them could exceed
/// the bus's 32 MiB and the control socket's 24 MiB per-uid output budget.
constexpr std::size_t kMaxReplyBytes = 16 * 1024 * 1024;

/// Other namespaces' connections are dumped every N polls: N's range.
constexpr std::uint32_t kMaxNamespaceConnectionsEvery = 3600;

/// Network namespaces porteyed follows at once, counted by the uid that owns each namespace's
/// user namespace: root (and so the host's container runtimes) gets the generous cap, any other
/// uid the small one, so `unshare -rn` in a loop cannot make porteyed hold thousands of fds.
constexpr std::size_t kMaxFollowedNamespaces = 4096;
constexpr std::size_t kMaxFollowedNamespacesPerUid = 64;

}  // namespace porteye::core::limits
