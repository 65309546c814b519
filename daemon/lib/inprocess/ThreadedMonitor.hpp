// SPDX-License-Identifier: MIT
#pragma once

#include "core/History.hpp"
#include "core/IClock.hpp"
#include "core/IProcessTable.hpp"
#include "core/ISocketSource.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortMonitor.hpp"
#include "core/PortEvent.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace porteye {

struct ThreadedMonitorOptions {
    std::uint32_t pid = 0;  ///< 0 = every process on the host
    std::chrono::duration<double> interval{1.0};
    bool includeChildren = false;
    std::size_t historyCapacity = 10000;
};

/// ProcessPortMonitor's module in C++: polls on its own thread and calls back
/// with (new_ports, closed_ports, active_ports, history) whenever the ports change.
///
///     porteye::ThreadedMonitor monitor({.pid = 16609, .interval = 0.5s}, callback);
///     monitor.start(); ... monitor.stop();
///
/// The callback runs on the monitor's thread; history() and activePorts() may be
/// called from any thread. A tick that fails (the dump, or an fd table out of reach
/// for a moment) changes nothing: no callback, the active ports stay as they were.
class ThreadedMonitor {
public:
    using Ports = std::set<std::uint16_t>;
    using Callback = std::function<void(const Ports& newPorts, const Ports& closedPorts, const Ports& activePorts,
                                        const std::vector<core::PortEvent>& history)>;

    /// Sources default to netlink sock_diag and /proc; tests may pass their own.
    ThreadedMonitor(ThreadedMonitorOptions options, Callback callback,
                    std::unique_ptr<core::ISocketSource> source = nullptr,
                    std::unique_ptr<core::IProcessTable> processes = nullptr);
    ~ThreadedMonitor();
    ThreadedMonitor(const ThreadedMonitor&) = delete;
    ThreadedMonitor& operator=(const ThreadedMonitor&) = delete;

    /// Starts (or starts again, after stop() or after the thread ended by itself) polling.
    /// A restart continues from the last good state: ports already reported are not new.
    void start();
    /// Stops and joins the thread; safe to call twice or without start().
    void stop();
    bool running() const;
    /// True once a watched PID has exited (the thread then stops by itself).
    bool processExited() const;

    std::vector<core::PortEvent> history() const;
    Ports activePorts() const;

private:
    void run();
    /// One poll; false when it failed (dump error, unreadable fd table, exception), in
    /// which case `change` must be ignored: the last good state stands.
    bool tick(core::PortChange& change);

    ThreadedMonitorOptions m_options;
    Callback m_callback;
    std::unique_ptr<core::ISocketSource> m_source;
    std::unique_ptr<core::IProcessTable> m_processes;
    core::SystemClock m_clock;

    // Owned by the polling thread while it runs (and kept across restarts).
    std::unique_ptr<core::PortMonitor> m_host;
    std::unique_ptr<core::PidPortTracker> m_tracker;
    std::vector<core::PortEvent> m_hostEvents;
    Ports m_previous;  // the active ports of the last good tick

    mutable std::mutex m_mutex;  // guards everything below
    std::condition_variable m_wake;
    bool m_stopRequested = false;
    bool m_running = false;
    bool m_exited = false;
    core::History m_history;
    Ports m_active;
    std::thread m_thread;
};

}  // namespace porteye
