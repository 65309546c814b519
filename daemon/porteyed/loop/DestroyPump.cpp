// SPDX-License-Identifier: MIT
#include "loop/DestroyPump.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-event.h>

#include <sys/epoll.h>

namespace porteye::loop {

DestroyPump::DestroyPump(sd_event* event, sys::DestroyListener& listener, flow::MonitorInlet& inlet)
    : m_listener(listener), m_inlet(inlet) {
    if (sd_event_add_io(event, &m_io, m_listener.fd(), EPOLLIN, onReadable, this) < 0) m_io = nullptr;
}

DestroyPump::~DestroyPump() {
    if (m_io) sd_event_source_disable_unref(m_io);
}

int DestroyPump::onReadable(sd_event_source*, int, std::uint32_t, void* self) {
    auto* pump = static_cast<DestroyPump*>(self);
    pump->m_destroyed.clear();
    const auto result = pump->m_listener.drain(pump->m_destroyed);
    try {
        pump->m_inlet.destroyed(pump->m_destroyed, result.overrun);
    } catch (const std::exception& e) {
        // No exception crosses sd-event's C callback; the next poll's diff still sees the closes.
        spdlog::error("handling destroyed sockets failed: {}", e.what());
    }
    if (result.error != 0 && !result.overrun) spdlog::debug("destroy listener: {}", result.message);
    return 0;
}

}  // namespace porteye::loop
