// SPDX-License-Identifier: MIT
#include "loop/KernelEventPump.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-event.h>

#include <sys/epoll.h>

namespace porteye::loop {

KernelEventPump::KernelEventPump(sd_event* event, core::IKernelEventSource& source, flow::MonitorInlet& inlet,
                                 std::uint64_t drainEveryUsec)
    : m_source(source), m_inlet(inlet), m_drainEvery(drainEveryUsec) {
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
            // Logged on the 1st, 2nd, 4th, 8th... loss: a host that overruns the ring all the time
            // says so without filling the journal (status and /metrics count every resync).
            if (++m_losses >= m_nextLogAt) {
                spdlog::warn("the kernel event source lost {} events (loss #{}): resynchronising with full dumps",
                             lost - m_lostSeen, m_losses);
                m_nextLogAt *= 2;
            }
            m_lostSeen = lost;
            m_inlet.kernelEventsLost();
        }
    } catch (const std::exception& e) {
        spdlog::error("applying kernel socket events failed: {}", e.what());
    }
    return read;
}

}  // namespace porteye::loop
