// SPDX-License-Identifier: MIT
// What the operator outputs cost on the loop thread: rendering /metrics for a host with many
// connections (one pass over the snapshot), and building one journal entry.
#include "journal/JournalEntry.hpp"
#include "metrics/MetricsText.hpp"

#include <benchmark/benchmark.h>

#include <memory>

namespace {

using namespace porteye;

core::Snapshot hostSnapshot(std::size_t listeners, std::size_t connections) {
    auto details = std::make_shared<core::ProcessDetails>();
    details->unit = "app.service";
    details->user = "app";
    core::Snapshot s;
    s.reserve(listeners + connections);
    std::uint64_t cookie = 1;
    for (std::size_t i = 0; i < listeners + connections; ++i) {
        core::SocketRecord r;
        r.localAddress = "10.0.0.1";
        r.localPort = static_cast<std::uint16_t>(1024 + i % 60000);
        r.cookie = cookie++;
        r.inode = r.cookie + 100;
        r.pid = static_cast<std::uint32_t>(100 + i % 500);
        r.process = "app" + std::to_string(i % 50);
        r.details = details;
        if (i < listeners) {
            r.state = core::TcpState::Listen;
            r.remoteAddress = "0.0.0.0";
        } else {
            r.state = i % 3 ? core::TcpState::Established : core::TcpState::TimeWait;
            r.remoteAddress = "192.0.2.7";
            r.remotePort = 443;
        }
        s.push_back(std::move(r));
    }
    core::normalizeSnapshot(s);
    return s;
}

void BM_RenderMetrics(benchmark::State& state) {
    const auto snapshot = hostSnapshot(1000, static_cast<std::size_t>(state.range(0)));
    metrics::Counters counters;
    metrics::Gauges gauges;
    std::size_t bytes = 0;
    for (auto _ : state) {
        auto text = metrics::renderMetrics(snapshot, counters, gauges);
        bytes = text.size();
        benchmark::DoNotOptimize(text);
    }
    state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderMetrics)->Arg(0)->Arg(10'000)->Arg(100'000)->ArgName("connections")->Unit(benchmark::kMicrosecond);

void BM_JournalEntryFields(benchmark::State& state) {
    core::PortEvent e;
    e.record = hostSnapshot(1, 0).front();
    e.sequence = 123456;
    for (auto _ : state) {
        auto fields = journal::entryFields(e);
        benchmark::DoNotOptimize(fields);
    }
}
BENCHMARK(BM_JournalEntryFields);

}  // namespace

BENCHMARK_MAIN();
