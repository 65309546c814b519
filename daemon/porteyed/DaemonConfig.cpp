// SPDX-License-Identifier: MIT
#include "DaemonConfig.hpp"

#include "metrics/MetricsServer.hpp"

#include <CLI/CLI.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

namespace porteye {
namespace {

namespace limits = core::limits;

/// CLI11's Range lets NaN through (every comparison with it is false): a NaN interval stopped
/// polling and broke every client's status. Every floating-point option goes through this first.
const CLI::Validator kFinite(
    [](const std::string& text) {
        try {
            std::size_t used = 0;
            if (std::isfinite(std::stod(text, &used)) && used == text.size()) return std::string();
        } catch (const std::exception&) {
        }
        return "'" + text + "' is not a finite number";
    },
    "FINITE");

/// Old config keys and flags, still read, with the name that replaced them.
const std::vector<std::pair<std::string, std::string>> kDeprecatedKeys{
    {"history_size", "history_capacity"},
    {"history-size", "history-capacity"},
};

std::string trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

/// CLI11 ignores config lines it cannot map to an option: a typo (`metric_listen`) silently
/// kept the default. This reads the file again and names each line porteyed will not use.
/// `unusable` counts the lines that are not deprecations (what --strict refuses).
std::vector<std::string> checkConfigKeys(const CLI::App& app, const std::string& path, std::size_t& unusable) {
    std::set<std::string> known;
    for (const auto* option : app.get_options())
        for (const auto& name : option->get_lnames())
            known.insert(name);
    std::vector<std::string> out;
    std::ifstream in(path);
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
        const std::string text = trim(line);
        if (text.empty() || text[0] == '#' || text[0] == ';') continue;
        const std::string where = path + ":" + std::to_string(number) + ": ";
        const auto equals = text.find('=');
        if (text.front() == '[' || equals == std::string::npos) {
            out.push_back(where + "'" + text + "' is not a 'key = value' line; ignored");
            ++unusable;
            continue;
        }
        const std::string key = trim(text.substr(0, equals));
        if (!known.contains(key) || key == "config") {
            out.push_back(where + "unknown key '" + key + "'; ignored");
            ++unusable;
            continue;
        }
        for (const auto& [old, now] : kDeprecatedKeys)
            if (key == old) out.push_back(where + "'" + old + "' is deprecated; write '" + now + "'");
    }
    return out;
}

}  // namespace

ParsedConfig parseDaemonConfig(const std::vector<std::string>& args) {
    DaemonConfig config;
    CLI::App app{"porteyed - report which process holds which port, over D-Bus and a Unix socket", "porteyed"};
    app.set_version_flag("--version", PORTEYE_VERSION);
    auto* configOption =
        app.set_config("--config", config.configFile, "Configuration file (key = value lines); flags override it");
    app.add_option("--interval", config.intervalSeconds, "Seconds between host-wide polls")
        ->check(kFinite)
        ->check(CLI::Range(limits::kMinPollIntervalSeconds, limits::kMaxPollIntervalSeconds));
    app.add_option("--bus", config.bus, "Bus to serve on: system or session")
        ->check(CLI::IsMember({"system", "session"}));
    app.add_option("--bus-address,--bus_address", config.busAddress, "Connect to this D-Bus address instead");
    app.add_option("--history-capacity,--history_capacity,--history-size,--history_size", config.historyCapacity,
                   "Most events kept in memory, 1 to " + std::to_string(limits::kMaxHistoryCapacity) +
                       " (~300 bytes each; memory grows as the history fills). --history-size: old name")
        ->check(CLI::Range(limits::kMinHistoryCapacity, limits::kMaxHistoryCapacity));
    app.add_option("--socket", config.socketPath, "Unix control socket path (empty: none)");
    app.add_option("--log-level,--log_level", config.logLevel, "trace, debug, info, warn, error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_option("--state-dir,--state_dir", config.stateDir,
                   "Directory of the persistent history (history.db, SQLite); empty: keep it in memory only");
    app.add_option("--history-keep-events,--history_keep_events", config.historyKeepEvents,
                   "Events kept in the persistent history, newest first (0: no count limit)")
        ->check(CLI::Range(std::uint64_t{0}, limits::kMaxHistoryKeepEvents));
    app.add_option("--history-keep-days,--history_keep_days", config.historyKeepDays,
                   "Days of persistent history kept (0: no age limit)")
        ->check(CLI::Range(std::uint32_t{0}, limits::kMaxHistoryKeepDays));
    app.add_option("--network-namespaces,--network_namespaces", config.networkNamespaces,
                   "all: sockets of every network namespace (containers, ip netns); host: porteyed's own only")
        ->check(CLI::IsMember({"all", "host"}));
    app.add_option("--netns-helper,--netns_helper", config.netnsHelper,
                   "porteye-netns-helper's socket, or the helper executable to start");
    app.add_option("--netns-connections-every,--netns_connections_every", config.netnsConnectionsEvery,
                   "Dump other namespaces' connections every N polls (listeners: every poll)")
        ->check(CLI::Range(std::uint32_t{1}, limits::kMaxNamespaceConnectionsEvery));
    app.add_option("--event-source,--event_source", config.eventSource,
                   "Kernel event source: auto (eBPF, falling back), tracepoint, or off (polling only)")
        ->check(CLI::IsMember({"auto", "tracepoint", "off"}));
    app.add_option("--reconcile-interval,--reconcile_interval", config.reconcileSeconds,
                   "With an event source: seconds between dumps of connections (listeners: every interval)")
        ->check(kFinite)
        ->check(CLI::Range(limits::kMinPollIntervalSeconds, limits::kMaxPollIntervalSeconds));
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
    app.add_flag("--strict", config.strict,
                 "Refuse a config file with unknown keys or lines that are not 'key = value' (default: warn)");
    // Hidden (empty group): lets tests reach the reply cap without 50,000 sockets. It can only lower it.
    app.add_option("--max-reply-records", config.maxReplyRecords, "Most records in one reply (testing)")
        ->check(CLI::Range(std::size_t{1}, limits::kMaxReplyRecords))
        ->group("");
    app.add_option("--max-namespaces-per-uid", config.maxNamespacesPerUid, "Namespaces followed per uid (testing)")
        ->check(CLI::Range(std::size_t{1}, limits::kMaxFollowedNamespacesPerUid))
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
    std::size_t unusable = 0;
    if (std::filesystem::exists(config.configFile)) config.warnings = checkConfigKeys(app, config.configFile, unusable);
    for (const auto& arg : args)
        for (const auto& [old, now] : kDeprecatedKeys)
            if (arg == "--" + old || arg.rfind("--" + old + "=", 0) == 0)
                config.warnings.push_back("--" + old + " is deprecated; write --" + now);
    if (config.strict && unusable > 0) {
        for (const auto& warning : config.warnings)
            std::cerr << "porteyed: " << warning << "\n";
        std::cerr << "porteyed: --strict: configuration refused\n";
        return {std::nullopt, 2};
    }
    return {config, 0};
}

}  // namespace porteye
