// SPDX-License-Identifier: MIT
#pragma once

#include "core/Limits.hpp"
#include "core/DaemonStatus.hpp"
#include "core/Errors.hpp"
#include "core/ExpectedListeners.hpp"
#include "core/Filters.hpp"
#include "core/IEventStore.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortMonitor.hpp"
#include "core/TickCachedProcessTable.hpp"
#include "core/UsageSampler.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace porteye::service {

/// Who is asking, as the kernel or the bus vouches for it — never read from /proc at call time:
/// D-Bus callers by the credentials dbus-daemon recorded for the connection, control-socket
/// clients by SO_PEERCRED/SO_PEERGROUPS. Groups the transport could not vouch for come from the
/// user database for that uid.
struct Caller {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::vector<std::uint32_t> groups;  ///< supplementary groups
    std::string id;                     ///< bus unique name or "socket:<n>"; owns the caller's watches
};

using ErrorCode = core::ErrorCode;

/// Errors every front-end translates through the one table in core/Errors.hpp.
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

/// Why a watch ended.
enum class WatchEnd : std::uint8_t {
    ProcessExited,  ///< the whole thread group is gone
    Unwatched,      ///< its owner (or root, from any transport) asked
    ClientGone,     ///< its owner's connection went away
    Shutdown,       ///< porteyed is stopping or lost the transport
};
/// "exited", "unwatched", "client-gone", "shutdown": the same words on D-Bus and JSON.
std::string_view watchEndName(WatchEnd reason);

/// Where a watch's output goes; both run on the loop thread.
struct WatchSink {
    std::function<void(const core::PortChange&)> onChange;
    /// Called once, whoever ended the watch and why, after it left the registry. A front-end
    /// tells its client here and frees what it holds for the watch, and nowhere else.
    std::function<void(WatchEnd reason, std::uint32_t pid)> onEnd;
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
    std::string instanceId;  ///< random per start
    double pollIntervalSeconds = 1.0;
    std::optional<std::uint32_t> privilegedGid;  ///< members see everything (group "porteye")
    double minWatchInterval = core::limits::kMinWatchIntervalSeconds;
    double maxWatchInterval = core::limits::kMaxWatchIntervalSeconds;
    std::size_t maxWatches = core::limits::kMaxWatches;
    /// Per uid, so one user cannot fill the table from many connections.
    std::size_t maxWatchesPerUid = core::limits::kMaxWatchesPerUid;
    /// Of maxWatches, this many are kept for root and the privileged group.
    std::size_t reservedPrivilegedWatches = core::limits::kReservedPrivilegedWatches;
    /// Largest number of records in one list or history reply (dbus-daemon drops a sender
    /// whose message exceeds 32 MiB; a record is well under 300 bytes).
    std::size_t maxReplyRecords = core::limits::kMaxReplyRecords;
    /// Largest reply in bytes (core::approximateWireSize): records now carry command lines of up
    /// to 4 KiB, so 50,000 of them could exceed the bus's 32 MiB and the control socket's 24 MiB
    /// per-uid output budget, either of which would cut the client (or porteyed) off.
    std::size_t maxReplyBytes = core::limits::kMaxReplyBytes;
    /// What porteyed itself can see (status "view"): "all" processes, or only its "own-user"'s
    /// when it lacks the capabilities to read other users' fd tables (sys/ProcessView.hpp).
    std::string view = "all";
};

using ServiceStatus = core::DaemonStatus;

/// The one service every front-end (D-Bus, Unix socket) translates to: queries
/// with the access rule applied, and per-PID watches. Single-threaded: the
/// daemon's loop thread calls everything, including the tick functions.
class PortService {
public:
    using Clock = std::chrono::steady_clock;

    PortService(core::PortMonitor& monitor, core::ISocketSource& source, ServiceOptions options);

    /// The visibility rule, the one place it is written: root and the privileged group see every
    /// record; anyone else sees the records whose owning process runs as its uid, and ownerless
    /// sockets by the socket's uid (core::SocketRecord::visibleUid). Lists, history, event
    /// streams, signals, watches and status all go through here.
    bool seesEverything(const Caller& caller) const;
    bool maySee(const Caller& caller, const core::SocketRecord& record) const;
    /// An event as this caller may see it, or nullopt. An owner change between two users is
    /// shown to each with the other side blanked (pid 0, no name): to the new owner without
    /// the previous pid, to the previous owner with the record's owner blanked.
    std::optional<core::PortEvent> visibleEvent(const Caller& caller, const core::PortEvent& event) const;

    /// Throws ReplyTooLarge (saying how to page) when more than maxReplyRecords would be returned,
    /// or more than maxReplyBytes. The records carry their holders' CPU and memory now (SocketRecord::usage), read once
    /// per distinct pid of the reply; CPU is over the time since the previous list that showed the process
    /// (core::UsageSampler).
    std::vector<core::SocketRecord> list(const Caller& caller, core::ListQuery query) const;
    std::vector<core::PortEvent> history(const Caller& caller, core::HistoryFilter filter) const;
    /// Host-wide counters for privileged callers; counts of what it may see for anyone else.
    ServiceStatus status(const Caller& caller) const;
    /// The host-wide status, for the daemon itself (sd_notify, logs, properties of privileged views).
    ServiceStatus hostStatus() const;
    const std::string& instanceId() const { return m_options.instanceId; }

    /// Pins the process (a pidfd) before checking the caller may see it, then registers the
    /// watch; its first step (reporting the ports the process already holds) runs on the next
    /// runDueWatches(), after the caller got the id. A PID the caller may not see and a PID that
    /// does not exist get the same NoSuchProcess error; a thread id is refused, naming its process.
    WatchId addWatch(const Caller& caller, const WatchRequest& request, WatchSink sink);
    /// Removes a watch the caller owns (root and the privileged group may remove any, whatever
    /// transport created it); its sink's onEnd(Unwatched) runs. Throws NoSuchWatch otherwise.
    void removeWatch(const Caller& caller, WatchId id);
    /// Ends every watch of a client that went away (onEnd(reason) runs for each); returns how many.
    std::size_t removeWatchesOf(const std::string& owner, WatchEnd reason = WatchEnd::ClientGone);
    std::vector<WatchInfo> watches() const;
    /// The watch, if the caller owns it or sees everything.
    std::optional<WatchInfo> watchFor(const Caller& caller, WatchId id) const;
    std::optional<WatchInfo> watch(WatchId id) const;

    /// Steps every watch that is due, sharing one dump; returns when the next one is due.
    std::optional<Clock::time_point> runDueWatches(Clock::time_point now);
    std::optional<Clock::time_point> nextWatchDue() const;
    /// Steps one watch now, out of its schedule (its process just exited, say).
    void stepWatch(WatchId id);

    /// Lets the loop follow watches as they come and go, e.g. to poll a pidfd
    /// per watched process and step the watch the moment the process exits.
    struct WatchLifecycle {
        /// `exitFd` becomes readable once the watched thread group exited (-1: none); the
        /// service owns it, valid until removed(id) returns.
        std::function<void(WatchId, int exitFd)> added;
        std::function<void(WatchId)> removed;
    };
    void setWatchLifecycle(WatchLifecycle lifecycle) { m_lifecycle = std::move(lifecycle); }

    /// The persistent history behind the ring (null: none); `statusWhenNone` is what status says
    /// then ("disabled", or "failed: <why it could not be opened>"). The store outlives the service.
    /// Fills what the service does not own (namespaces, event source) into every status reply.
    void setStatusSources(std::function<void(ServiceStatus&)> fill) { m_fillStatus = std::move(fill); }
    /// Called before a list is answered, to apply what the kernel has queued since the last drain
    /// (KernelEventPump::drain): the answer is the table as of the request, not of one drain period before.
    void setFreshener(std::function<void()> freshen) { m_freshen = std::move(freshen); }
    void setEventStore(core::IEventStore* store, std::string statusWhenNone = "disabled") {
        m_store = store;
        m_storeStatus = std::move(statusWhenNone);
    }

    /// Expected listeners: replaces the allowlist (nullopt: none, the feature is off) and re-checks
    /// the listeners open now. Returns an alert (flagged present) for each unexpected listener
    /// not alerted before; those a new rule covers leave the set silently.
    std::vector<core::UnexpectedListener> setExpected(std::optional<core::ExpectedListeners> rules);
    /// Alerts for one batch of the monitor's events: new listeners (and listeners handed to
    /// another owner) that no rule expects, one per socket. Nothing when no allowlist is loaded.
    std::vector<core::UnexpectedListener> checkExpected(const std::vector<core::PortEvent>& events);
    /// The alert as this caller may see it (visibleEvent's rule), or nullopt.
    std::optional<core::UnexpectedListener> visibleAlert(const Caller& caller,
                                                         const core::UnexpectedListener& alert) const;
    /// The unexpected listeners open now that the caller may see.
    std::vector<core::UnexpectedListener> unexpectedListeners(const Caller& caller) const;

    void setPollInterval(double seconds) { m_options.pollIntervalSeconds = seconds; }
    void setHistoryCapacity(std::size_t capacity) { m_monitor.setHistoryCapacity(capacity); }
    core::PortMonitor& monitor() { return m_monitor; }

private:
    struct Watch {
        WatchInfo info;
        std::uint32_t ownerUid = 0;
        bool privileged = false;
        std::unique_ptr<core::IProcessHandle> process;
        std::unique_ptr<core::PidPortTracker> tracker;
        WatchSink sink;
        Clock::time_point due;
    };

    core::PinResult pinVisible(const Caller& caller, std::uint32_t pid) const;
    void requireQuota(const Caller& caller) const;
    void runWatches(const std::vector<WatchId>& ids, Clock::time_point now);
    void erase(std::map<WatchId, Watch>::iterator it, WatchEnd reason);
    void fillUsage(std::vector<core::SocketRecord>& records) const;
    /// Throws ReplyTooLarge when `bytes` is over maxReplyBytes; `how` says how to page.
    void requireReplyBytes(std::size_t bytes, const char* how) const;

    core::PortMonitor& m_monitor;
    core::ISocketSource& m_source;
    core::TickCachedProcessTable m_watchProcesses;
    std::function<void()> m_freshen;
    std::function<void(ServiceStatus&)> m_fillStatus;  // what watches read, shared within one tick
    ServiceOptions m_options;
    std::map<WatchId, Watch> m_watches;
    WatchId m_nextWatchId = 1;
    WatchLifecycle m_lifecycle;
    mutable core::UsageSampler m_usage;  // a reading is part of answering, not of the service's state
    core::IEventStore* m_store = nullptr;
    std::string m_storeStatus = "disabled";
    core::UnexpectedListenerTracker m_expected;
};

}  // namespace porteye::service
