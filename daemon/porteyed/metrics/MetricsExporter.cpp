// SPDX-License-Identifier: MIT
#include "metrics/MetricsExporter.hpp"

namespace porteye::metrics {

MetricsExporter::MetricsExporter(sd_event* event, MetricsServerOptions options, service::PortService& service,
                                 MetricsSources sources)
    : m_service(service),
      m_sources(std::move(sources)),
      m_server(event, std::move(options), [this] { return render(); }) {}

void MetricsExporter::onEvents(const std::vector<core::PortEvent>& events) {
    for (const auto& e : events)
        m_counters.countEvent(e);
}

void MetricsExporter::countPoll(const core::PollResult& result) {
    if (!result.ok) return;  // counted by the monitor (MonitorStats), read at render time
    m_counters.countPollDuration(static_cast<double>(result.duration.count()) / 1e6);
    m_counters.lastDumpSockets = result.kernelSockets;
}

void MetricsExporter::countDestroyed(std::size_t records, bool overrun) {
    m_counters.destroyNotifications += records;
    if (overrun) ++m_counters.destroyOverruns;  // the resync it causes is counted by the daemon (status)
}

std::string MetricsExporter::render() {
    const auto status = m_service.hostStatus();
    const auto& resolver = m_service.monitor().resolverStats();
    Gauges g;
    g.version = m_sources.version;
    g.ownerWalks = resolver.walks;
    g.fdTableReads = resolver.newProcessReads;
    g.unresolved = resolver.unresolved;
    g.controlClients = m_sources.controlClients ? m_sources.controlClients() : 0;
    // A watch is owned by a bus unique name (":1.42") or a control-socket session ("socket:7").
    for (const auto& w : m_service.watches())
        ++(w.owner.rfind("socket:", 0) == 0 ? g.socketWatches : g.dbusWatches);
    m_counters.polls = status.polls;
    m_counters.failedPolls = status.failedPolls;
    m_counters.resyncs = status.resyncs;
    m_counters.shortLived = status.shortLived;
    m_counters.unattributedShortLived = status.unattributedShortLived;
    g.eventSource = status.eventSource;
    g.historySize = status.historySize;
    g.historyCapacity = status.historyCapacity;
    g.historyDropped = status.historyDropped;
    g.storeDropped = status.storeDropped;
    g.eventSourceLost = status.eventSourceLost;
    g.unexpectedListeners = status.unexpectedListeners;
    g.unexpectedTotal = status.unexpectedTotal;
    g.store = status.store;
    if (const auto* j = m_sources.journal) {
        g.journalSent = j->stats().sent;
        g.journalSuppressed = j->stats().suppressed;
        g.journalFailed = j->stats().failed;
        g.alertsHeldBack = j->stats().alertsHeldBack;
    }
    // The server's own counters are read at render time: the scrape being answered is counted next.
    const auto server = m_server.counters();
    g.metricsClients = server.clients;
    m_counters.scrapes = server.scrapes;
    m_counters.refusedClients = server.refused;
    g.maxListenerSeries = m_sources.maxListenerSeries;
    return renderMetrics(m_service.monitor().snapshot(), m_counters, g);
}

}  // namespace porteye::metrics
