// SPDX-License-Identifier: MIT
#include "DaemonConfig.hpp"

#include "metrics/MetricsServer.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

namespace porteye {

ParsedConfig parseDaemonConfig(const std::vector<std::string>& args) {
    DaemonConfig config;
    CLI::App app{"porteyed - report which process holds which port, over D-Bus and a Unix socket", "porteyed"};
    app.set_version_flag("--version", PORTEYE_VERSION);
    auto* configOption =
        app.set_config("--config", config.configFile, "Configuration file (key = value lines); flags override it");
    app.add_option("--interval", config.intervalSeconds, "Seconds between host-wide polls")
        ->check(CLI::Range(kMinPollInterval, kMaxPollInterval));
    app.add_option("--bus", config.bus, "Bus to serve on: system or session")
        ->check(CLI::IsMember({"system", "session"}));
    app.add_option("--bus-address,--bus_address", config.busAddress, "Connect to this D-Bus address instead");
    app.add_option("--history-size,--history_size", config.historySize,
                   "Events kept in memory, 1 to " + std::to_string(kMaxHistorySize) +
                       " (~300 bytes each; memory grows as the history fills)")
        ->check(CLI::Range(std::size_t{1}, kMaxHistorySize));
    app.add_option("--socket", config.socketPath, "Unix control socket path (empty: none)");
    app.add_option("--log-level,--log_level", config.logLevel, "trace, debug, info, warn, error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_option("--state-dir,--state_dir", config.stateDir,
                   "Directory of the persistent history (history.db, SQLite); empty: keep it in memory only");
    app.add_option("--history-keep-events,--history_keep_events", config.historyKeepEvents,
                   "Events kept in the persistent history, newest first (0: no count limit)")
        ->check(CLI::Range(std::uint64_t{0}, kMaxHistoryKeepEvents));
    app.add_option("--history-keep-days,--history_keep_days", config.historyKeepDays,
                   "Days of persistent history kept (0: no age limit)")
        ->check(CLI::Range(std::uint32_t{0}, kMaxHistoryKeepDays));
    app.add_option("--network-namespaces,--network_namespaces", config.networkNamespaces,
                   "all: sockets of every network namespace (containers, ip netns); host: porteyed's own only")
        ->check(CLI::IsMember({"all", "host"}));
    app.add_option("--netns-helper,--netns_helper", config.netnsHelper,
                   "porteye-netns-helper's socket, or the helper executable to start");
    app.add_option("--netns-connections-every,--netns_connections_every", config.netnsConnectionsEvery,
                   "Dump other namespaces' connections every N polls (listeners: every poll)")
        ->check(CLI::Range(std::uint32_t{1}, std::uint32_t{3600}));
    app.add_option("--event-source,--event_source", config.eventSource,
                   "Kernel event source: auto (eBPF, falling back), tracepoint, or off (polling only)")
        ->check(CLI::IsMember({"auto", "tracepoint", "off"}));
    app.add_option("--reconcile-interval,--reconcile_interval", config.reconcileSeconds,
                   "With an event source: seconds between dumps of connections (listeners: every interval)")
        ->check(CLI::Range(kMinPollInterval, kMaxPollInterval));
    app.add_option("--expected-dir,--expected_dir", config.expectedDir,
                   "Directory of expected-listener rules (*.conf); any other new listener raises an alert. "
                   "Missing or without *.conf files: no alerts");
    app.add_option("--journal-events,--journal_events", config.journalEvents,
                   "Port events written to the journal: listeners (info), all (connections too, debug), off")
        ->check(CLI::IsMember({"listeners", "all", "off"}));
    app.add_option("--metrics-listen,--metrics_listen", config.metricsListen,
                   "Serve Prometheus /metrics on ADDR: 127.0.0.1:9656, [::1]:9656 or /path/of/a/socket "
                   "(empty: off). Shows every user's listeners to whoever can connect")
        ->check([](const std::string& value) {
            std::string error;
            if (value.empty() || metrics::parseListenAddress(value, error)) return std::string();
            return error;
        });
    app.add_option("--metrics-max-listener-series,--metrics_max_listener_series", config.metricsMaxListenerSeries,
                   "Most porteye_listening_socket_info series in one scrape (root's first; the rest counted in "
                   "porteye_listening_socket_info_truncated)")
        ->check(CLI::Range(std::size_t{0}, std::size_t{1'000'000}));
    app.add_flag("--no-bus,--no_bus", config.noBus, "Do not connect to D-Bus (control socket only)");
    // Hidden (empty group): lets tests reach the reply cap without 50,000 sockets. It can only lower it.
    app.add_option("--max-reply-records", config.maxReplyRecords, "Most records in one reply (testing)")
        ->check(CLI::Range(std::size_t{1}, DaemonConfig{}.maxReplyRecords))
        ->group("");
    app.add_option("--event-ring-bytes", config.eventRingBytes, "Event source ring size (testing)")
        ->check(CLI::Range(std::size_t{4096}, std::size_t{64} << 20))
        ->group("");

    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last-first
    if (!reversed.empty()) reversed.pop_back();                     // argv[0]
    try {
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return {std::nullopt, code == 0 ? 0 : 2};
    }
    // A missing default config file is normal; one named on the command line is not.
    if (configOption->count() > 0 && !std::filesystem::exists(configOption->as<std::string>())) {
        std::cerr << "porteyed: config file " << configOption->as<std::string>() << " does not exist\n";
        return {std::nullopt, 2};
    }
    config.configFile = configOption->count() > 0 ? configOption->as<std::string>() : config.configFile;
    return {config, 0};
}

}  // namespace porteye
