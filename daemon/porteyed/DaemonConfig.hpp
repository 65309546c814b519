// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/Limits.hpp"

namespace porteye {

/// porteyed's settings: command-line flags over /etc/porteye/porteyed.conf over defaults.
struct DaemonConfig {
    std::string configFile = "/etc/porteye/porteyed.conf";
    double intervalSeconds = 1.0;
    std::string bus = "system";
    std::string busAddress;
    /// `history_capacity` (formerly `history_size`): most events the in-memory ring holds.
    std::size_t historyCapacity = core::limits::kDefaultHistoryCapacity;
    std::string socketPath = "/run/porteye/porteyed.sock";
    std::string logLevel = "info";
    bool noBus = false;  ///< run without D-Bus (control socket only)
    /// Directory of the persistent history (history.db); empty: in memory only.
    std::string stateDir = "/var/lib/porteye";
    /// Retention of the persistent history: newest events kept (0: no count limit) ...
    std::uint64_t historyKeepEvents = 1'000'000;
    /// ... and days kept (0: no age limit).
    std::uint32_t historyKeepDays = 30;
    /// Most records in one list or history reply (hidden --max-reply-records, for tests: the
    /// default keeps every reply below dbus-daemon's 32 MiB message limit).
    std::size_t maxReplyRecords = core::limits::kMaxReplyRecords;
    /// "all": every network namespace on the host (containers, `ip netns`, `unshare -n`);
    /// "host": only porteyed's own.
    std::string networkNamespaces = "all";
    /// How to enter other namespaces: the socket of porteye-netns-helper (socket-activated by
    /// porteyed-netns.socket), or an executable to start; when neither is there, porteyed
    /// enters them itself if it may (run by root outside systemd).
    std::string netnsHelper = "/run/porteye-netns/helper.sock";
    /// Other namespaces' connections are dumped every this many polls (their listeners every poll).
    std::uint32_t netnsConnectionsEvery = 10;
    /// Namespaces followed per uid that owns their user namespace (root: the total cap); hidden
    /// --max-namespaces-per-uid, for tests.
    std::size_t maxNamespacesPerUid = core::limits::kMaxFollowedNamespacesPerUid;
    /// Kernel event source: "auto" (the full eBPF program, else its tracepoint alone, else
    /// polling), "tracepoint" (the tracepoint alone, else polling) or "off" (polling).
    std::string eventSource = "auto";
    /// With an event source, connections are dumped every this many seconds to catch what events
    /// cannot (sockets older than the program, lost events); listeners still every interval.
    double reconcileSeconds = 30;
    /// The event source's ring buffer (hidden --event-ring-bytes, for tests: a tiny ring loses events).
    std::size_t eventRingBytes = 0;
    /// Expected listeners: `*.conf` allowlist files (docs/expected-listeners.md); a missing
    /// directory, or one without `*.conf` files, turns the alerts off. Re-read on SIGHUP.
    std::string expectedDir = "/etc/porteye/expected.d";
    /// Which port events become journal entries: "listeners" (info), "all" (connections too,
    /// at debug), "off".
    std::string journalEvents = "listeners";
    /// Serve Prometheus /metrics here: "127.0.0.1:9656", "[::1]:9656" or a Unix socket path;
    /// empty (the default): no metrics endpoint.
    std::string metricsListen;
    /// porteye_listening_socket_info series at most: one user's thousands of listeners must not
    /// make every scrape megabytes long.
    std::size_t metricsMaxListenerSeries = 2000;
    /// --strict: a config file with an unknown or unparsable line is refused, not warned about.
    bool strict = false;
    /// What the config file said that porteyed could not use or that is deprecated (unknown keys,
    /// lines that are not `key = value`, old key names), each naming the key and line; logged on
    /// start and on every reload.
    std::vector<std::string> warnings;
};

/// Result of parsing: a config, or the exit status to end with (help, bad flags).
struct ParsedConfig {
    std::optional<DaemonConfig> config;
    int exitCode = 0;
};

/// Parses flags and the config file they name (a missing default file is fine;
/// a missing explicit one is an error). Called again on SIGHUP with the same argv.
ParsedConfig parseDaemonConfig(const std::vector<std::string>& args);

}  // namespace porteye
