// SPDX-License-Identifier: MIT
#pragma once

#include "core/PortEvent.hpp"
#include "core/SnapshotDiff.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

/// The Prometheus text exposition format (0.0.4) of porteyed's state, as a pure function:
/// a snapshot and counters in, the /metrics body out. No I/O here (MetricsServer serves it).
namespace porteye::metrics {

/// Upper bounds (seconds) of the poll-duration histogram's buckets; +Inf is implied.
inline constexpr std::array<double, 9> kPollBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5};

/// Counters the daemon keeps for the scrape (all since start).
struct Counters {
    /// Events by action (core::Action) and protocol (core::Protocol).
    std::array<std::array<std::uint64_t, 2>, 3> events{};
    std::uint64_t polls = 0;
    std::uint64_t failedPolls = 0;
    /// Poll durations: count per bucket (not cumulative; the renderer sums), and the sum.
    std::array<std::uint64_t, kPollBuckets.size() + 1> pollBuckets{};
    double pollSecondsSum = 0;
    std::uint64_t lastDumpSockets = 0;  ///< sockets in the last dump (kernel sockets)
    std::uint64_t destroyNotifications = 0;
    std::uint64_t destroyOverruns = 0;         ///< times the kernel dropped destroy notifications (ENOBUFS)
    std::uint64_t resyncs = 0;                 ///< full dumps made because notifications or kernel events were dropped
    std::uint64_t shortLived = 0;              ///< sockets that lived between two dumps, seen by the event source
    std::uint64_t unattributedShortLived = 0;  ///< such sockets known only from their close
    std::uint64_t scrapes = 0;
    std::uint64_t refusedClients = 0;  ///< metrics clients refused or cut off (limit, size, timeout)

    void countEvent(const core::PortEvent& e) {
        ++events[static_cast<std::size_t>(e.action)][static_cast<std::size_t>(e.record.protocol)];
    }
    void countPollDuration(double seconds);
};

/// The daemon's state read at scrape time.
struct Gauges {
    std::string version;
    std::uint64_t ownerWalks = 0;      ///< walks of every process (ResolverStats::walks)
    std::uint64_t fdTableReads = 0;    ///< fd tables read because their process was new
    std::uint64_t unresolved = 0;      ///< inodes without a visible owner after the last poll
    std::uint64_t controlClients = 0;  ///< control-socket connections
    std::uint64_t dbusWatches = 0;
    std::uint64_t socketWatches = 0;
    std::uint64_t historySize = 0;
    std::uint64_t historyCapacity = 0;
    std::uint64_t historyDropped = 0;
    std::uint64_t storeDropped = 0;     ///< events the persistent store never wrote (DaemonStatus)
    std::uint64_t eventSourceLost = 0;  ///< events the kernel event source lost (DaemonStatus)
    std::string store = "disabled";     ///< "ok", "disabled", "failed: ..." (DaemonStatus::store)
    std::uint64_t journalSent = 0;
    std::uint64_t journalSuppressed = 0;
    std::uint64_t journalFailed = 0;
    std::uint64_t metricsClients = 0;
    std::uint64_t unexpectedListeners = 0;  ///< open now (DaemonStatus::unexpectedListeners)
    std::uint64_t unexpectedTotal = 0;      ///< alerts since start, held back or not
    std::uint64_t alertsHeldBack = 0;       ///< unexpected-listener alerts the per-uid limit kept from the journal
    std::size_t maxListenerSeries = 2000;   ///< porteye_listening_socket_info series at most; the rest are counted
    std::string eventSource = "polling";    ///< stage: "full", "tracepoint" or "polling"
};

/// A label value escaped as the format wants it: backslash, double quote and newline.
std::string escapeLabelValue(std::string_view value);

/// The whole /metrics body. Listening sockets are one `porteye_listening_socket_info` series per
/// distinct label set (protocol, family, address, port, process, unit, container, netns): the
/// owners of one listener, and SO_REUSEPORT siblings of one service, collapse into one series,
/// and there is no pid label, so a restart keeps the series. At most gauges.maxListenerSeries of
/// them, root's sockets first (no user can push them out), then in label order; how many were
/// left out is `porteye_listening_socket_info_truncated`. Connections are counted by
/// protocol and state, never listed, so the output stays small on a host with 100k of them.
std::string renderMetrics(const core::Snapshot& snapshot, const Counters& counters, const Gauges& gauges);

}  // namespace porteye::metrics
