// SPDX-License-Identifier: MIT
#pragma once

#include "core/History.hpp"
#include "core/IClock.hpp"
#include "core/IProcessTable.hpp"
#include "core/ISocketSource.hpp"
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
/// called from any thread.
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

    ThreadedMonitorOptions m_options;
    Callback m_callback;
    std::unique_ptr<core::ISocketSource> m_source;
    std::unique_ptr<core::IProcessTable> m_processes;
    core::SystemClock m_clock;

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
