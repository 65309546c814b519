// SPDX-License-Identifier: MIT
#include "loop/BusEventBridge.hpp"

#include <sdbus-c++/IConnection.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-event.h>

#include <cstdint>
#include <exception>
#include <system_error>

namespace porteye::loop {

BusEventBridge::BusEventBridge(sd_event* event, sdbus::IConnection& connection, Callbacks callbacks)
    : m_connection(connection),
      m_callbacks(std::move(callbacks)),
      m_deadline(event, [this](std::uint64_t) { dispatch(); }) {
    const auto poll = m_connection.getEventLoopPollData();
    if (int r = sd_event_add_io(event, &m_io, poll.fd, static_cast<std::uint32_t>(poll.events), onIo, this); r < 0)
        throw std::system_error(-r, std::generic_category(), "sd_event_add_io for the bus");
    // The connection's wanted events and deadline change with every message queued or
    // sent: read them again right before the loop goes to sleep.
    sd_event_source_set_prepare(m_io, onPrepare);
}

BusEventBridge::~BusEventBridge() {
    sd_event_source_disable_unref(m_io);
}

int BusEventBridge::onPrepare(sd_event_source*, void* self) {
    auto* bridge = static_cast<BusEventBridge*>(self);
    if (!bridge->m_alive) return 0;
    try {
        const auto poll = bridge->m_connection.getEventLoopPollData();
        sd_event_source_set_io_events(bridge->m_io, static_cast<std::uint32_t>(poll.events));
        if (poll.timeout_usec == UINT64_MAX)
            bridge->m_deadline.disarm();
        else
            // sd-bus's deadlines are method-call timeouts: 1 ms late is fine, 250 ms is not.
            bridge->m_deadline.armAt(poll.timeout_usec, accuracyFor(UINT64_MAX));
    } catch (const std::exception& e) {
        spdlog::debug("D-Bus poll data: {}", e.what());
    }
    return 0;
}

int BusEventBridge::onIo(sd_event_source*, int, std::uint32_t, void* self) {
    static_cast<BusEventBridge*>(self)->dispatch();
    return 0;
}

void BusEventBridge::dispatch() {
    if (!m_alive) return;
    try {
        while (m_connection.processPendingRequest()) {
        }
    } catch (const std::exception& e) {
        m_alive = false;
        sd_event_source_set_enabled(m_io, SD_EVENT_OFF);
        m_deadline.disarm();
        // The owner reacts: drops its front-end, schedules a reconnect.
        try {
            if (m_callbacks.lost) m_callbacks.lost(e.what());
        } catch (const std::exception& inner) {
            spdlog::error("after losing D-Bus: {}", inner.what());
        }
        return;
    }
    try {
        if (m_callbacks.dispatched) m_callbacks.dispatched();
    } catch (const std::exception& e) {
        spdlog::error("after D-Bus dispatch: {}", e.what());
    }
}

}  // namespace porteye::loop
