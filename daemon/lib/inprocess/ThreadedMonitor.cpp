// SPDX-License-Identifier: MIT
#include "inprocess/ThreadedMonitor.hpp"

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
    if (m_running) return;
    // A thread that ended by itself (the process exited, or stop() from the callback)
    // is joined here, so the monitor can be started again.
    if (m_thread.joinable() && m_thread.get_id() != std::this_thread::get_id()) m_thread.join();
    if (m_thread.joinable()) return;  // start() from the callback of a stopping thread
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

bool ThreadedMonitor::tick(core::PortChange& change) {
    // Both modes reduce to a PortChange per tick; the host-wide one reports its
    // first snapshot as opened, as ProcessPortMonitor does for its PID.
    if (!m_host && !m_tracker) {
        if (m_options.pid == 0) {
            core::MonitorOptions options;
            options.reportInitial = true;
            options.historyCapacity = 1;  // this class keeps the history the callback sees
            m_host = std::make_unique<core::PortMonitor>(*m_source, *m_processes, m_clock, options);
            m_host->addListener([this](const std::vector<core::PortEvent>& events) {
                m_hostEvents.insert(m_hostEvents.end(), events.begin(), events.end());
            });
        } else {
            m_tracker =
                std::make_unique<core::PidPortTracker>(m_options.pid, m_options.includeChildren, *m_processes, m_clock);
        }
    }
    try {
        if (m_host) {
            m_hostEvents.clear();
            if (!m_host->poll().ok) return false;
            change.active = core::localPorts(m_host->snapshot());
            change.events = std::move(m_hostEvents);
        } else {
            core::DumpResult dump;
            bool dumpFailed = false;
            change = m_tracker->step([&]() -> const std::vector<core::SocketRecord>* {
                dump = m_source->dump({});
                dumpFailed = !dump.ok();
                return dump.ok() ? &dump.sockets : nullptr;
            });
            if (dumpFailed || change.readStatus != core::ReadStatus::Ok) return false;
        }
    } catch (const std::exception&) {
        return false;  // skipped; the next tick retries
    }
    change.opened.clear();
    change.closed.clear();
    for (auto p : change.active)
        if (!m_previous.contains(p)) change.opened.insert(p);
    for (auto p : m_previous)
        if (!change.active.contains(p)) change.closed.insert(p);
    return true;
}

void ThreadedMonitor::run() {
    const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(m_options.interval);
    auto next = std::chrono::steady_clock::now();
    for (;;) {
        core::PortChange change;
        const bool good = tick(change);
        std::vector<core::PortEvent> historyCopy;
        if (good) {
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
        if (good) m_previous = change.active;
        if (good && change.changed() && m_callback) {
            try {
                m_callback(change.opened, change.closed, change.active, historyCopy);
            } catch (...) {
                // The caller's callback must not kill the monitor thread.
            }
        }

        std::unique_lock lock(m_mutex);
        if (good && change.processExited) m_stopRequested = true;
        next += interval;
        if (m_wake.wait_until(lock, next, [this] { return m_stopRequested; })) break;
    }
    std::lock_guard lock(m_mutex);
    m_running = false;
}

}  // namespace porteye
