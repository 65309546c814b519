// SPDX-License-Identifier: MIT
#pragma once

#include "core/Filters.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortEvent.hpp"
#include "core/SocketRecord.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
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

struct WatchOptions {
    std::chrono::duration<double> interval{1.0};
    bool includeChildren = false;
    core::SocketFilter filter;  ///< narrows which sockets count (state, protocol)
};

/// Called for every change of a watch; return false to stop watching.
using WatchCallback = std::function<bool(const core::PortChange& change)>;
/// Called for host-wide events; return false to stop.
using EventCallback = std::function<bool(const core::PortEvent& event)>;

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
};

}  // namespace porteye::cli
