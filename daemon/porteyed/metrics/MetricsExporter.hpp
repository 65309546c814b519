// SPDX-License-Identifier: MIT
#pragma once

#include "core/PortMonitor.hpp"
#include "flow/IEventSink.hpp"
#include "journal/JournalEventLog.hpp"
#include "metrics/MetricsServer.hpp"
#include "metrics/MetricsText.hpp"
#include "service/PortService.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace porteye::metrics {

/// What the exporter reads at scrape time besides the service.
struct MetricsSources {
    std::string version;
    std::function<std::size_t()> controlClients;        ///< null: 0
    const journal::JournalEventLog* journal = nullptr;  ///< null: journal events off
    std::size_t maxListenerSeries = 2000;               ///< porteye_listening_socket_info series at most
};

/// porteyed's Prometheus exporter: counts what the loop tells it (events, polls, destroy
/// notifications) and serves /metrics (MetricsServer) rendered by renderMetrics() from the
/// service's snapshot. Loop thread only (MetricsServer's HTTP threads never call in here).
class MetricsExporter final : public flow::IEventSink {
public:
    MetricsExporter(sd_event* event, MetricsServerOptions options, service::PortService& service,
                    MetricsSources sources);
    /// Binds and listens (throws std::system_error / std::invalid_argument).
    void start() { m_server.start(); }
    const std::string& boundAddress() const { return m_server.boundAddress(); }

    /// Counts the batch's events (by action, protocol, short-lived).
    void onEvents(const std::vector<core::PortEvent>& events) override;
    void countPoll(const core::PollResult& result);
    /// One drain of the destroy listener: `records` notifications; `overrun` when the kernel
    /// dropped some (the daemon then resynchronises with a full dump).
    void countDestroyed(std::size_t records, bool overrun);

    /// The body of /metrics now (what a scrape gets).
    std::string render();

private:
    service::PortService& m_service;
    MetricsSources m_sources;
    Counters m_counters;
    MetricsServer m_server;
};

}  // namespace porteye::metrics
