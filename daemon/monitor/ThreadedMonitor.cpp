// SPDX-License-Identifier: MIT
#include "monitor/ThreadedMonitor.hpp"

#include "core/PidPortTracker.hpp"
#include "core/PortMonitor.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/ProcProcessTable.hpp"

#include <stdexcept>

namespace porteye {

ThreadedMonitor::ThreadedMonitor(ThreadedMonitorOptions options, Callback callback,
                                 std::unique_ptr<core::ISocketSource> source,
                                 std::unique_ptr<core::IProcessTable> processes)
    : m_options(options),
      m_callback(std::move(callback)),
      m_source(source ? std::move(source) : std::make_unique<sys::NetlinkSocketSource>()),
      m_processes(processes ? std::move(processes) : std::make_unique<sys::ProcProcessTable>()),
      m_history(options.historyCapacity) {
    if (!(m_options.interval.count() > 0)) throw std::invalid_argument("interval must be positive");
}

ThreadedMonitor::~ThreadedMonitor() {
    stop();
}

void ThreadedMonitor::start() {
    std::lock_guard lock(m_mutex);
    if (m_thread.joinable()) return;
    m_stopRequested = false;
    m_running = true;
    m_thread = std::thread([this] { run(); });
}

void ThreadedMonitor::stop() {
    {
        std::lock_guard lock(m_mutex);
        m_stopRequested = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable() && m_thread.get_id() != std::this_thread::get_id()) m_thread.join();
}

bool ThreadedMonitor::running() const {
    std::lock_guard lock(m_mutex);
    return m_running;
}

bool ThreadedMonitor::processExited() const {
    std::lock_guard lock(m_mutex);
    return m_exited;
}

std::vector<core::PortEvent> ThreadedMonitor::history() const {
    std::lock_guard lock(m_mutex);
    core::HistoryFilter all;
    all.limit = 0;
    return m_history.query(all);
}

ThreadedMonitor::Ports ThreadedMonitor::activePorts() const {
    std::lock_guard lock(m_mutex);
    return m_active;
}

void ThreadedMonitor::run() {
    // Both modes reduce to a PortChange per tick; the host-wide one reports its
    // first snapshot as opened, as ProcessPortMonitor does for its PID.
    std::unique_ptr<core::PortMonitor> host;
    std::unique_ptr<core::PidPortTracker> tracker;
    std::vector<core::PortEvent> hostEvents;
    if (m_options.pid == 0) {
        core::MonitorOptions options;
        options.reportInitial = true;
        options.historyCapacity = 1;  // this class keeps the history the callback sees
        host = std::make_unique<core::PortMonitor>(*m_source, *m_processes, m_clock, options);
        host->addListener([&](const std::vector<core::PortEvent>& events) {
            hostEvents.insert(hostEvents.end(), events.begin(), events.end());
        });
    } else {
        tracker =
            std::make_unique<core::PidPortTracker>(m_options.pid, m_options.includeChildren, *m_processes, m_clock);
    }

    const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(m_options.interval);
    auto next = std::chrono::steady_clock::now();
    Ports previous;
    for (;;) {
        core::PortChange change;
        try {
            if (host) {
                hostEvents.clear();
                host->poll();
                change.active = core::localPorts(host->snapshot());
                for (auto p : change.active)
                    if (!previous.contains(p)) change.opened.insert(p);
                for (auto p : previous)
                    if (!change.active.contains(p)) change.closed.insert(p);
                change.events = std::move(hostEvents);
            } else {
                core::DumpResult dump;
                change = tracker->step([&]() -> const std::vector<core::SocketRecord>* {
                    dump = m_source->dump({});
                    return dump.ok() ? &dump.sockets : nullptr;
                });
            }
        } catch (const std::exception&) {
            // A failed tick is skipped; the next one retries.
        }

        std::vector<core::PortEvent> historyCopy;
        {
            std::lock_guard lock(m_mutex);
            for (const auto& e : change.events)
                m_history.append(e);
            m_active = change.active;
            if (change.processExited) m_exited = true;
            if (change.changed()) {
                core::HistoryFilter all;
                all.limit = 0;
                historyCopy = m_history.query(all);
            }
        }
        previous = change.active;
        if (change.changed() && m_callback) {
            try {
                m_callback(change.opened, change.closed, change.active, historyCopy);
            } catch (...) {
                // The caller's callback must not kill the monitor thread.
            }
        }

        std::unique_lock lock(m_mutex);
        if (change.processExited) m_stopRequested = true;
        next += interval;
        if (m_wake.wait_until(lock, next, [this] { return m_stopRequested; })) break;
    }
    std::lock_guard lock(m_mutex);
    m_running = false;
}

}  // namespace porteye
