// SPDX-License-Identifier: MIT
#pragma once

#include "loop/Timer.hpp"

#include <functional>
#include <string>

struct sd_event;
struct sd_event_source;

namespace sdbus {
class IConnection;
}

namespace porteye::loop {

/// Drives one sdbus-c++ connection from an sd-event loop: an io source on the
/// connection's fd and a timer for its next deadline, both refreshed before every
/// loop iteration from getEventLoopPollData(). sdbus-c++ 1.2 has no way to attach
/// to sd-event itself, and its PollData has a single fd, so the connection must
/// only be used on the loop's thread.
class BusEventBridge {
public:
    struct Callbacks {
        /// After a batch of messages was dispatched (e.g. to collect ended watches).
        std::function<void()> dispatched;
        /// The connection failed (the bus went away). The bridge has stopped itself; the
        /// owner must not destroy it from inside this callback, only later (say, on its
        /// reconnect timer).
        std::function<void(const std::string& why)> lost;
    };

    /// Starts dispatching at once. Throws std::system_error when sd-event refuses a source.
    BusEventBridge(sd_event* event, sdbus::IConnection& connection, Callbacks callbacks);
    ~BusEventBridge();
    BusEventBridge(const BusEventBridge&) = delete;
    BusEventBridge& operator=(const BusEventBridge&) = delete;

    /// False once the connection failed.
    bool alive() const { return m_alive; }

private:
    static int onPrepare(sd_event_source* source, void* self);
    static int onIo(sd_event_source* source, int fd, std::uint32_t events, void* self);
    void dispatch();

    sdbus::IConnection& m_connection;
    Callbacks m_callbacks;
    sd_event_source* m_io = nullptr;
    Timer m_deadline;
    bool m_alive = true;
};

}  // namespace porteye::loop
