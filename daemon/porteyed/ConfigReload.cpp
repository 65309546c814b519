// SPDX-License-Identifier: MIT
#include "ConfigReload.hpp"

#include <functional>
#include <sstream>

namespace porteye {
namespace {

constexpr bool kReloadable = true;
constexpr bool kRestartOnly = false;

struct OptionRow {
    std::string key;
    bool reloadable;
    unsigned effects;
    std::function<std::string(const DaemonConfig&)> show;
    std::function<void(DaemonConfig&, const DaemonConfig&)> take;
};

template <class T>
OptionRow row(std::string key, bool reloadable, unsigned effects, T DaemonConfig::*member) {
    return {std::move(key), reloadable, effects,
            [member](const DaemonConfig& c) {
                std::ostringstream out;
                out << std::boolalpha << c.*member;
                return out.str();
            },
            [member](DaemonConfig& to, const DaemonConfig& from) { to.*member = from.*member; }};
}

// The one table of what a reload may change. A new option of DaemonConfig belongs here too: an
// option missing from it keeps its running value on reload, silently.
const std::vector<OptionRow>& table() {
    static const std::vector<OptionRow> rows{
        // The reconcile plan counts in polls: a new interval changes how many polls a reconcile
        // interval is (reloading interval = 1 -> 5 once stretched a 30 s reconcile to 150 s).
        row("interval", kReloadable, kReloadPollTimer | kReloadPlan | kReloadStatus, &DaemonConfig::intervalSeconds),
        row("reconcile_interval", kReloadable, kReloadPlan, &DaemonConfig::reconcileSeconds),
        row("netns_connections_every", kReloadable, kReloadPlan, &DaemonConfig::netnsConnectionsEvery),
        row("history_capacity", kReloadable, kReloadHistory | kReloadStatus, &DaemonConfig::historyCapacity),
        row("log_level", kReloadable, kReloadLogLevel, &DaemonConfig::logLevel),
        row("journal_events", kReloadable, kReloadJournal, &DaemonConfig::journalEvents),
        // The allowlist is re-read on every reload whether or not its directory changed.
        row("expected_dir", kReloadable, kReloadNothingElse, &DaemonConfig::expectedDir),
        row("strict", kReloadable, kReloadNothingElse, &DaemonConfig::strict),
        row("bus", kRestartOnly, 0, &DaemonConfig::bus),
        row("bus_address", kRestartOnly, 0, &DaemonConfig::busAddress),
        row("no_bus", kRestartOnly, 0, &DaemonConfig::noBus),
        row("socket", kRestartOnly, 0, &DaemonConfig::socketPath),
        row("state_dir", kRestartOnly, 0, &DaemonConfig::stateDir),
        row("history_keep_events", kRestartOnly, 0, &DaemonConfig::historyKeepEvents),
        row("history_keep_days", kRestartOnly, 0, &DaemonConfig::historyKeepDays),
        row("max_reply_records", kRestartOnly, 0, &DaemonConfig::maxReplyRecords),
        row("network_namespaces", kRestartOnly, 0, &DaemonConfig::networkNamespaces),
        row("netns_helper", kRestartOnly, 0, &DaemonConfig::netnsHelper),
        row("max_namespaces_per_uid", kRestartOnly, 0, &DaemonConfig::maxNamespacesPerUid),
        row("event_source", kRestartOnly, 0, &DaemonConfig::eventSource),
        row("event_ring_bytes", kRestartOnly, 0, &DaemonConfig::eventRingBytes),
        row("metrics_listen", kRestartOnly, 0, &DaemonConfig::metricsListen),
        row("metrics_max_listener_series", kRestartOnly, 0, &DaemonConfig::metricsMaxListenerSeries),
    };
    return rows;
}

}  // namespace

ReloadPlan planReload(const DaemonConfig& running, const DaemonConfig& next) {
    ReloadPlan plan;
    plan.applied = running;
    plan.applied.warnings = next.warnings;
    for (const auto& r : table()) {
        const std::string from = r.show(running);
        const std::string to = r.show(next);
        if (from == to) continue;
        plan.changes.push_back({r.key, from, to, r.reloadable});
        if (!r.reloadable) continue;
        r.take(plan.applied, next);
        plan.effects |= r.effects;
    }
    return plan;
}

std::vector<std::pair<std::string, bool>> reloadTable() {
    std::vector<std::pair<std::string, bool>> out;
    for (const auto& r : table())
        out.emplace_back(r.key, r.reloadable);
    return out;
}

}  // namespace porteye
