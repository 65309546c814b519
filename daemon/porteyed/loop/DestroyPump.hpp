// SPDX-License-Identifier: MIT
#pragma once

#include "flow/MonitorInlet.hpp"
#include "sys/DestroyListener.hpp"

#include <vector>

struct sd_event;
struct sd_event_source;

namespace porteye::loop {

/// Moves one namespace's sock_diag destroy notifications into the monitor (through the
/// MonitorInlet) when its listener's fd wakes. Loop thread only.
class DestroyPump {
public:
    DestroyPump(sd_event* event, sys::DestroyListener& listener, flow::MonitorInlet& inlet);
    ~DestroyPump();
    DestroyPump(const DestroyPump&) = delete;
    DestroyPump& operator=(const DestroyPump&) = delete;

    /// Whether the loop polls the listener (sd_event_add_io succeeded).
    bool attached() const { return m_io != nullptr; }

private:
    static int onReadable(sd_event_source*, int, std::uint32_t, void* self);

    sys::DestroyListener& m_listener;
    flow::MonitorInlet& m_inlet;
    sd_event_source* m_io = nullptr;
    std::vector<core::SocketRecord> m_destroyed;
};

}  // namespace porteye::loop
