// SPDX-License-Identifier: MIT
#pragma once

#include "core/KernelSocketEvent.hpp"
#include "flow/MonitorInlet.hpp"
#include "loop/Timer.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

struct sd_event;
struct sd_event_source;

namespace porteye::loop {

/// Moves a kernel event source's events into the monitor (through the MonitorInlet) on the loop
/// thread: when its fd wakes (a listener opened or closed, or a batch's worth queued) and every
/// `drainEveryUsec` otherwise (the program does not wake the loop for each connection, which
/// would slow every connect() on the host). When the source reports lost events, tells the
/// inlet, which resynchronises with full dumps. The period bounds how late a connection's event
/// (and its acceptor) reaches subscribers: 8 ms keeps that under the 10 ms target, and an
/// empty drain costs about a microsecond, so 125 a second are nothing next to a dump.
class KernelEventPump {
public:
    /// Lost events are logged at most once per `lossLogWindow`, with how many since the last line.
    KernelEventPump(sd_event* event, core::IKernelEventSource& source, flow::MonitorInlet& inlet,
                    std::uint64_t drainEveryUsec = 8'000,
                    std::chrono::steady_clock::duration lossLogWindow = std::chrono::seconds(10));
    ~KernelEventPump();
    KernelEventPump(const KernelEventPump&) = delete;
    KernelEventPump& operator=(const KernelEventPump&) = delete;

    /// Consumes what is queued now; returns how many kernel events it read.
    std::size_t drain();
    /// Events the source lost since this pump started (status, /metrics).
    std::uint64_t lostEvents() const { return m_lostTotal; }

private:
    void reportLosses();
    static int onReadable(sd_event_source*, int, std::uint32_t, void* self);

    core::IKernelEventSource& m_source;
    flow::MonitorInlet& m_inlet;
    std::uint64_t m_drainEvery;
    std::chrono::steady_clock::duration m_lossLogWindow;
    sd_event_source* m_io = nullptr;
    std::unique_ptr<Timer> m_timer;
    std::vector<core::KernelSocketEvent> m_batch;
    std::uint64_t m_lostSeen = 0;
    std::uint64_t m_lostTotal = 0;
    std::uint64_t m_losses = 0;  // drains that found events lost
    // Lost events not yet logged, and when the last warning was: one line per window at most.
    std::uint64_t m_lostUnlogged = 0;
    std::uint64_t m_lossesUnlogged = 0;
    std::chrono::steady_clock::time_point m_lastLossLog{};
};

}  // namespace porteye::loop
