// SPDX-License-Identifier: MIT
#pragma once

#include "core/DaemonStatus.hpp"
#include "core/Filters.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortMonitor.hpp"
#include "core/TickCachedProcessTable.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace porteye::service {

/// Who is asking, as the transport authenticated it (bus credentials or SO_PEERCRED).
struct Caller {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::vector<std::uint32_t> groups;  ///< supplementary groups
    std::string id;                     ///< bus unique name or "socket:<n>"; owns the caller's watches
};

enum class ErrorCode { InvalidArgument, NoSuchProcess, AccessDenied, NoSuchWatch, LimitExceeded, Failed };

/// Errors every front-end translates (D-Bus error names, JSON-RPC codes).
class ServiceError : public std::runtime_error {
public:
    ServiceError(ErrorCode code, const std::string& message) : std::runtime_error(message), m_code(code) {}
    ErrorCode code() const { return m_code; }

private:
    ErrorCode m_code;
};

using WatchId = std::uint64_t;

struct WatchRequest {
    std::uint32_t pid = 0;
    double intervalSeconds = 1.0;
    bool includeChildren = false;
    core::SocketFilter filter;  ///< state/protocol narrowing; pid is ignored
};

/// Where a watch's output goes; both run on the loop thread.
struct WatchSink {
    std::function<void(const core::PortChange&)> onChange;
    /// The process exited; the watch is removed right after this returns.
    std::function<void(std::uint32_t pid)> onExit;
};

struct WatchInfo {
    WatchId id = 0;
    std::uint32_t pid = 0;
    double intervalSeconds = 0;
    bool includeChildren = false;
    std::string owner;
};

struct ServiceOptions {
    std::string version;
    double pollIntervalSeconds = 1.0;
    std::optional<std::uint32_t> privilegedGid;  ///< members see everything (group "porteye")
    double minWatchInterval = 0.05;
    double maxWatchInterval = 3600;
    std::size_t maxWatches = 4096;
    std::size_t maxWatchesPerCaller = 1024;
};

using ServiceStatus = core::DaemonStatus;

/// The one service every front-end (D-Bus, Unix socket) translates to: queries
/// with the access rule applied, and per-PID watches. Single-threaded: the
/// daemon's loop thread calls everything, including the tick functions.
class PortService {
public:
    using Clock = std::chrono::steady_clock;

    PortService(core::PortMonitor& monitor, core::ISocketSource& source, ServiceOptions options);

    std::vector<core::SocketRecord> list(const Caller& caller, core::SocketFilter filter) const;
    std::vector<core::PortEvent> history(const Caller& caller, core::HistoryFilter filter) const;
    ServiceStatus status() const;

    /// Validates and registers a watch; its first step (reporting the ports the
    /// process already holds) runs on the next runDueWatches(), after the caller got the id.
    WatchId addWatch(const Caller& caller, const WatchRequest& request, WatchSink sink);
    /// Removes a watch the caller owns (root may remove any). Throws NoSuchWatch.
    void removeWatch(const Caller& caller, WatchId id);
    /// Drops every watch of a caller that went away; returns how many.
    std::size_t removeWatchesOf(const std::string& owner);
    std::vector<WatchInfo> watches() const;
    std::optional<WatchInfo> watch(WatchId id) const;

    /// Whether the caller sees every socket (root or the privileged group).
    bool seesEverything(const Caller& caller) const;
    /// Narrows events to what the caller may see (for event streams).
    bool maySee(const Caller& caller, const core::SocketRecord& record) const;

    /// One host-wide poll; listeners of the monitor get the events.
    core::PollResult pollHost() { return m_monitor.poll(); }
    /// Steps every watch that is due, sharing one dump; returns when the next one is due.
    std::optional<Clock::time_point> runDueWatches(Clock::time_point now);
    std::optional<Clock::time_point> nextWatchDue() const;
    /// Steps one watch now, out of its schedule (its process just exited, say).
    void stepWatch(WatchId id);

    /// Lets the loop follow watches as they come and go, e.g. to poll a pidfd
    /// per watched process and step the watch the moment the process exits.
    struct WatchLifecycle {
        std::function<void(WatchId, std::uint32_t pid)> added;
        std::function<void(WatchId)> removed;
    };
    void setWatchLifecycle(WatchLifecycle lifecycle) { m_lifecycle = std::move(lifecycle); }

    void setPollInterval(double seconds) { m_options.pollIntervalSeconds = seconds; }
    void setHistoryCapacity(std::size_t capacity) { m_monitor.setHistoryCapacity(capacity); }
    core::PortMonitor& monitor() { return m_monitor; }

private:
    struct Watch {
        WatchInfo info;
        std::unique_ptr<core::PidPortTracker> tracker;
        WatchSink sink;
        Clock::time_point due;
    };

    void requireVisible(const Caller& caller, std::uint32_t pid) const;
    void runWatches(const std::vector<WatchId>& ids, Clock::time_point now);
    void erase(std::map<WatchId, Watch>::iterator it);

    core::PortMonitor& m_monitor;
    core::ISocketSource& m_source;
    core::TickCachedProcessTable m_watchProcesses;  // what watches read, shared within one tick
    ServiceOptions m_options;
    std::map<WatchId, Watch> m_watches;
    WatchId m_nextWatchId = 1;
    WatchLifecycle m_lifecycle;
};

}  // namespace porteye::service
