// SPDX-License-Identifier: MIT
#include "metrics/MetricsText.hpp"

#include <cstdio>
#include <map>
#include <set>
#include <tuple>

namespace porteye::metrics {
namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample(std::string& out, std::string_view name, std::string_view labels, const std::string& value) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
}

std::string num(std::uint64_t v) {
    return std::to_string(v);
}

std::string num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void label(std::string& out, std::string_view key, std::string_view value) {
    if (!out.empty()) out += ',';
    out += key;
    out += "=\"";
    out += escapeLabelValue(value);
    out += '"';
}

void gauge(std::string& out, std::string_view name, std::string_view help, std::uint64_t value) {
    family(out, name, "gauge", help);
    sample(out, name, {}, num(value));
}

void counter(std::string& out, std::string_view name, std::string_view help, std::uint64_t value) {
    family(out, name, "counter", help);
    sample(out, name, {}, num(value));
}

std::string containerOf(const core::SocketRecord& r) {
    if (!r.details) return {};
    return !r.details->containerName.empty() ? r.details->containerName : r.details->containerId;
}

std::string netnsOf(const core::SocketRecord& r) {
    if (!r.netnsName.empty()) return r.netnsName;
    return r.netns != 0 ? std::to_string(r.netns) : std::string();
}

}  // namespace

void Counters::countPollDuration(double seconds) {
    std::size_t i = 0;
    while (i < kPollBuckets.size() && seconds > kPollBuckets[i])
        ++i;
    ++pollBuckets[i];
    pollSecondsSum += seconds;
}

std::string escapeLabelValue(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string renderMetrics(const core::Snapshot& snapshot, const Counters& c, const Gauges& g) {
    // One pass over the snapshot: listeners into a sorted set of label strings (dedupe and a
    // stable order), connections into counts. A socket with several owners is several records
    // next to each other (the snapshot is sorted by cookie): it counts once.
    // Label set -> "root's": root's series go out first, so the cap cuts users' series.
    std::map<std::string, bool> listeners;
    std::map<std::pair<std::string_view, std::string_view>, std::uint64_t> connections;
    std::uint64_t owned = 0;
    std::uint64_t listeningSockets = 0;
    std::uint64_t previousCookie = 0;
    for (const auto& r : snapshot) {
        if (r.pid != 0) ++owned;
        const bool sameSocket = r.cookie != 0 && r.cookie == previousCookie;
        previousCookie = r.cookie;
        if (r.listening()) {
            std::string labels;
            label(labels, "protocol", core::protocolName(r.protocol));
            label(labels, "family", r.family == 6 ? "ipv6" : "ipv4");
            label(labels, "address", r.localAddress);
            label(labels, "port", std::to_string(r.localPort));
            label(labels, "process", r.process);
            label(labels, "unit", r.details ? std::string_view(r.details->unit) : std::string_view());
            label(labels, "container", containerOf(r));
            label(labels, "netns", netnsOf(r));
            auto [it, fresh] = listeners.emplace(std::move(labels), r.uid == 0);
            if (!fresh && r.uid == 0) it->second = true;
            if (!sameSocket) ++listeningSockets;
        } else if (!sameSocket) {
            ++connections[{core::protocolName(r.protocol), core::stateName(r.protocol, r.state)}];
        }
    }

    std::string out;
    out.reserve(4096 + listeners.size() * 160);
    family(out, "porteye_build_info", "gauge", "porteyed's version; always 1.");
    {
        std::string labels;
        label(labels, "version", g.version);
        sample(out, "porteye_build_info", labels, "1");
    }
    family(out, "porteye_listening_socket_info", "gauge",
           "A listening socket (TCP LISTEN or unconnected UDP), one series per distinct label set; always 1.");
    std::size_t series = 0;
    for (const bool rootsPass : {true, false})
        for (const auto& [labels, roots] : listeners)
            if (roots == rootsPass && series < g.maxListenerSeries) {
                ++series;
                sample(out, "porteye_listening_socket_info", labels, "1");
            }
    gauge(out, "porteye_listening_socket_info_truncated",
          "Listener series left out of porteye_listening_socket_info by its cap (metrics_max_listener_series).",
          listeners.size() > g.maxListenerSeries ? listeners.size() - g.maxListenerSeries : 0);
    gauge(out, "porteye_listening_sockets", "Listening sockets (kernel sockets, not label sets).", listeningSockets);
    family(out, "porteye_connections", "gauge", "Non-listening sockets by protocol and state (counted, not listed).");
    for (const auto& [key, count] : connections) {
        std::string labels;
        label(labels, "protocol", key.first);
        label(labels, "state", key.second);
        sample(out, "porteye_connections", labels, num(count));
    }
    family(out, "porteye_events_total", "counter", "Socket table events since start, by action and protocol.");
    for (core::Action a : {core::Action::Added, core::Action::Removed, core::Action::OwnerChanged})
        for (core::Protocol p : {core::Protocol::Tcp, core::Protocol::Udp}) {
            std::string labels;
            label(labels, "action", core::actionName(a));
            label(labels, "protocol", core::protocolName(p));
            sample(out, "porteye_events_total", labels,
                   num(c.events[static_cast<std::size_t>(a)][static_cast<std::size_t>(p)]));
        }

    counter(out, "porteye_polls_total", "Host-wide polls (dump, owners, diff).", c.polls);
    counter(out, "porteye_failed_polls_total", "Polls that failed (the previous snapshot was kept).", c.failedPolls);
    family(out, "porteye_poll_duration_seconds", "histogram", "Duration of one host-wide poll.");
    {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < c.pollBuckets.size(); ++i) {
            cumulative += c.pollBuckets[i];
            std::string labels;
            label(labels, "le", i < kPollBuckets.size() ? num(kPollBuckets[i]) : std::string("+Inf"));
            sample(out, "porteye_poll_duration_seconds_bucket", labels, num(cumulative));
        }
        sample(out, "porteye_poll_duration_seconds_sum", {}, num(c.pollSecondsSum));
        sample(out, "porteye_poll_duration_seconds_count", {}, num(cumulative));
    }
    gauge(out, "porteye_dump_sockets", "Sockets in the last sock_diag dump.", c.lastDumpSockets);
    gauge(out, "porteye_snapshot_records", "Records in the socket table (one per socket and owner).", snapshot.size());
    gauge(out, "porteye_owners_resolved", "Records of the socket table with a known owning process.", owned);
    gauge(out, "porteye_unresolved_sockets", "Socket inodes without a visible owner after the last poll.",
          g.unresolved);
    counter(out, "porteye_owner_walks_total", "Walks of every process's fd table.", g.ownerWalks);
    counter(out, "porteye_owner_fd_table_reads_total", "fd tables read because their process was new.", g.fdTableReads);
    counter(out, "porteye_destroy_notifications_total", "sock_diag destroy notifications received.",
            c.destroyNotifications);
    counter(out, "porteye_dropped_notifications_total",
            "Times the kernel dropped destroy notifications (ENOBUFS) before porteyed read them.", c.destroyOverruns);
    counter(out, "porteye_resyncs_total", "Full dumps made because notifications or kernel events were dropped.",
            c.resyncs);
    counter(out, "porteye_short_lived_sockets_total",
            "Sockets that opened and closed between two dumps, in the history with their owner (event source).",
            c.shortLived);
    counter(out, "porteye_unattributed_short_lived_sockets_total",
            "Sockets known only from their close: they lived between two dumps and no event source named them.",
            c.unattributedShortLived);
    family(out, "porteye_event_source_info", "gauge", "Where new sockets are learnt from; 1 for the current stage.");
    for (std::string_view s : {"full", "tracepoint", "polling"})
        sample(out, "porteye_event_source_info", "stage=\"" + std::string(s) + "\"",
               g.eventSource.rfind(s, 0) == 0 ? "1" : "0");
    gauge(out, "porteye_control_clients", "Clients connected to the control socket.", g.controlClients);
    family(out, "porteye_watches", "gauge", "Active per-PID watches by transport.");
    sample(out, "porteye_watches", "transport=\"dbus\"", num(g.dbusWatches));
    sample(out, "porteye_watches", "transport=\"socket\"", num(g.socketWatches));
    gauge(out, "porteye_history_size", "Events in the in-memory history.", g.historySize);
    gauge(out, "porteye_history_capacity", "Capacity of the in-memory history.", g.historyCapacity);
    counter(out, "porteye_history_dropped_total", "Events the in-memory history overwrote.", g.historyDropped);
    counter(out, "porteye_history_store_dropped_total",
            "Events the persistent history store never wrote (it failed or fell behind).", g.storeDropped);
    counter(out, "porteye_event_source_lost_total",
            "Events the kernel event source lost (its ring was full); each loss also causes a resync.",
            g.eventSourceLost);
    family(out, "porteye_store_state", "gauge", "State of the persistent history store; 1 for the current one.");
    {
        const std::string_view state = g.store.rfind("failed", 0) == 0 ? std::string_view("failed") : g.store;
        for (std::string_view s : {"ok", "disabled", "failed"})
            sample(out, "porteye_store_state", "state=\"" + std::string(s) + "\"", s == state ? "1" : "0");
    }
    counter(out, "porteye_journal_entries_total", "Event entries written to the journal.", g.journalSent);
    counter(out, "porteye_journal_suppressed_total", "Event entries porteyed's rate limit held back.",
            g.journalSuppressed);
    counter(out, "porteye_unexpected_alerts_held_back_total",
            "Unexpected-listener alerts the per-uid limit kept from the journal, D-Bus and the socket "
            "(porteye_unexpected_alerts_total counts every alert).",
            g.alertsHeldBack);
    counter(out, "porteye_unexpected_alerts_total", "Unexpected-listener alerts raised since start, every one.",
            g.unexpectedTotal);
    gauge(out, "porteye_unexpected_listeners", "Unexpected listeners open now.", g.unexpectedListeners);
    counter(out, "porteye_journal_failed_total", "Event entries the journal refused.", g.journalFailed);
    gauge(out, "porteye_metrics_clients", "Clients connected to the metrics endpoint.", g.metricsClients);
    counter(out, "porteye_metrics_scrapes_total", "Answered requests for /metrics.", c.scrapes);
    counter(out, "porteye_metrics_refused_total",
            "Metrics clients refused or cut off (too many, request too large, too slow).", c.refusedClients);
    return out;
}

}  // namespace porteye::metrics
