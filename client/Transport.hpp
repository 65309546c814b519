// SPDX-License-Identifier: MIT
#pragma once

#include "ExitCode.hpp"
#include "core/DaemonStatus.hpp"
#include "core/ExpectedListeners.hpp"
#include "core/Filters.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortEvent.hpp"
#include "core/SocketRecord.hpp"

#include <csignal>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace porteye::cli {

/// An error with the exit status porteyectl should end with.
class CommandError : public std::runtime_error {
public:
    CommandError(int exitCode, const std::string& message) : std::runtime_error(message), m_exitCode(exitCode) {}
    int exitCode() const { return m_exitCode; }

private:
    int m_exitCode;
};

/// A request cut short by a stop signal (SIGINT, SIGTERM) while it waited for the reply.
class Interrupted : public CommandError {
public:
    Interrupted() : CommandError(kExitFailure, "interrupted while waiting for porteyed") {}
};

struct WatchOptions {
    std::chrono::duration<double> interval{1.0};
    bool includeChildren = false;
    core::SocketFilter filter;  ///< narrows which sockets count (state, protocol)
    /// Called once the watch is established (the PID checked), before any change.
    std::function<void()> onStarted;
};

/// Called for every change of a watch; return false to stop watching.
using WatchCallback = std::function<bool(const core::PortChange& change)>;
/// Called for host-wide events; return false to stop.
using EventCallback = std::function<bool(const core::PortEvent& event)>;
/// Called for each unexpected-listener alert; return false to stop.
using UnexpectedCallback = std::function<bool(const core::UnexpectedListener& alert)>;

/// How an event stream is bounded besides its callback and the stop signals.
struct StreamOptions {
    /// Called once the subscription is in place, before any event: what a client reads in it (a list)
    /// is covered by the stream. Returns false to end the stream there. May be empty.
    std::function<bool()> onSubscribed;
    /// When set, the stream ends at this time (StreamEnd::Deadline) if nothing ended it before.
    std::optional<std::chrono::steady_clock::time_point> deadline;
};

/// Why events() returned.
enum class StreamEnd {
    Callback,  ///< onEvent or onSubscribed returned false
    Signal,    ///< a stop signal (SIGINT, SIGTERM) arrived
    Deadline,  ///< StreamOptions::deadline passed
};

using DaemonStatus = core::DaemonStatus;

/// How porteyectl reaches the data: the kernel directly (--local), D-Bus or the
/// Unix socket. Commands only see this interface.
class ITransport {
public:
    virtual ~ITransport() = default;
    virtual std::vector<core::SocketRecord> list(const core::SocketFilter& filter) = 0;
    /// Streams the PID's changes until the callback returns false, a stop signal
    /// arrives (returns normally) or the process exits (change.processExited set).
    /// Throws CommandError(kExitNoSuchProcess) when the PID does not exist.
    virtual void watch(std::uint32_t pid, const WatchOptions& options, const WatchCallback& onChange) = 0;
    virtual std::vector<core::PortEvent> history(const core::HistoryFilter& filter) = 0;
    virtual DaemonStatus status() = 0;
    /// Streams every host change matching the filter until a callback returns false, a stop signal
    /// arrives or the deadline passes (see StreamOptions). Throws CommandError(kExitUnavailable)
    /// when porteyed goes away meanwhile.
    virtual StreamEnd events(const core::SocketFilter& filter, const EventCallback& onEvent,
                             const StreamOptions& options) = 0;

    /// Streams porteyed's unexpected-listener alerts (its allowlist) matching the filter, as events().
    /// Transports without a daemon have no allowlist: the default says so (exit status 2).
    virtual StreamEnd unexpected(const core::SocketFilter& filter, const UnexpectedCallback& onAlert,
                                 const StreamOptions& options);
};

/// Stop signals (SIGINT, SIGTERM) are blocked by main() before any thread starts.
const sigset_t& stopSignals();
/// The one place porteyectl learns of a stop: a descriptor, shared by every thread, that is
/// readable while a stop signal is pending. Nothing ever takes the signal off the pending set, so
/// a stop is a level that every waiter sees, now or later, not a message that one thread takes.
int stopSignalFd();
/// Sleeps for up to `timeout` (no timeout: until a stop); true when a stop signal is pending.
bool waitForStop(std::optional<std::chrono::duration<double>> timeout);

/// Whether porteyed shows this caller every socket: root, or a member of group porteye. Anyone else
/// sees only the sockets of their own processes (and receives no host-wide D-Bus signals).
bool seesEveryonesSockets();

}  // namespace porteye::cli
