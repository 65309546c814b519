// SPDX-License-Identifier: MIT
#include "loop/KernelEventPump.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-event.h>

#include <sys/epoll.h>

namespace porteye::loop {

KernelEventPump::KernelEventPump(sd_event* event, core::IKernelEventSource& source, flow::MonitorInlet& inlet,
                                 std::uint64_t drainEveryUsec, std::chrono::steady_clock::duration lossLogWindow)
    : m_source(source), m_inlet(inlet), m_drainEvery(drainEveryUsec), m_lossLogWindow(lossLogWindow) {
    m_lostSeen = m_source.lost();
    if (m_source.fd() >= 0) sd_event_add_io(event, &m_io, m_source.fd(), EPOLLIN, onReadable, this);
    m_timer = std::make_unique<Timer>(event, [this](std::uint64_t) {
        drain();
        m_timer->armIn(m_drainEvery);
    });
    m_timer->armIn(m_drainEvery);
}

KernelEventPump::~KernelEventPump() {
    if (m_io) sd_event_source_disable_unref(m_io);
}

int KernelEventPump::onReadable(sd_event_source*, int, std::uint32_t, void* self) {
    static_cast<KernelEventPump*>(self)->drain();
    return 0;
}

std::size_t KernelEventPump::drain() {
    m_batch.clear();
    const std::size_t read = m_source.consume(m_batch);
    try {
        if (read != 0) m_inlet.kernelEvents(m_batch);
        const std::uint64_t lost = m_source.lost();
        if (lost != m_lostSeen) {
            ++m_losses;
            ++m_lossesUnlogged;
            m_lostTotal += lost - m_lostSeen;
            m_lostUnlogged += lost - m_lostSeen;
            m_lostSeen = lost;
            m_inlet.kernelEventsLost();
        }
        reportLosses();
    } catch (const std::exception& e) {
        spdlog::error("applying kernel socket events failed: {}", e.what());
    }
    return read;
}

void KernelEventPump::reportLosses() {
    // Every lost event is told, at most once per window: a host that overruns the ring all the
    // time says how much it loses without filling the journal; the last window is told by the
    // next drain after it ends (one every 8 ms), so no loss goes unlogged for long.
    if (m_lostUnlogged == 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (m_lastLossLog != std::chrono::steady_clock::time_point{} && now - m_lastLossLog < m_lossLogWindow) return;
    spdlog::warn(
        "the kernel event source lost {} events in {} overruns ({} lost since start): sockets that opened and "
        "closed meanwhile are missing from the history; resynchronised with full dumps",
        m_lostUnlogged, m_lossesUnlogged, m_lostTotal);
    m_lostUnlogged = 0;
    m_lossesUnlogged = 0;
    m_lastLossLog = now;
}

}  // namespace porteye::loop
