// SPDX-License-Identifier: MIT
#pragma once

#include "Transport.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace porteye::protocol::rpc {
struct Message;
}

namespace porteye::cli {

/// Talks to porteyed over its Unix control socket (newline-delimited JSON-RPC 2.0,
/// docs/control-socket.md). Connects on first use and keeps the connection.
class SocketTransport final : public ITransport {
public:
    explicit SocketTransport(std::string path);
    ~SocketTransport() override;
    SocketTransport(const SocketTransport&) = delete;
    SocketTransport& operator=(const SocketTransport&) = delete;

    std::vector<core::SocketRecord> list(const core::SocketFilter& filter) override;
    void watch(std::uint32_t pid, const WatchOptions& options, const WatchCallback& onChange) override;
    std::vector<core::PortEvent> history(const core::HistoryFilter& filter) override;
    DaemonStatus status() override;
    StreamEnd events(const core::SocketFilter& filter, const EventCallback& onEvent,
                     const StreamOptions& options) override;
    StreamEnd unexpected(const core::SocketFilter& filter, const UnexpectedCallback& onAlert,
                         const StreamOptions& options) override;

private:
    void connectIfNeeded();
    void sendLine(const std::string& line);
    /// Sends a request and waits for its reply; throws CommandError for error replies.
    nlohmann::json call(const std::string& method, const nlohmann::json& params);
    enum class Wait { Message, Stopped, TimedOut };
    /// Reads the next message from the connection into `out`: Stopped when a stop signal arrived on
    /// `stopFd` (if >= 0), TimedOut when `deadline` (if set) passed first.
    Wait read(int stopFd, std::optional<std::chrono::steady_clock::time_point> deadline, protocol::rpc::Message& out);
    /// As read(), but notifications that arrived while call() waited for a reply come first.
    Wait next(int stopFd, std::optional<std::chrono::steady_clock::time_point> deadline, protocol::rpc::Message& out);
    /// Subscribes with `events` and passes the params of each `method` notification of that
    /// subscription ("event", "unexpected") to `onMessage` until it returns false, a stop signal
    /// or the deadline; unsubscribes after.
    StreamEnd stream(const nlohmann::json& params, const char* method,
                     const std::function<bool(const nlohmann::json&)>& onMessage, const StreamOptions& options);

    std::string m_path;
    int m_fd = -1;
    std::string m_buffer;
    std::size_t m_scanned = 0;
    std::uint64_t m_nextId = 1;
    /// Notifications (events of a stream) read by call() while it waited for its reply: kept for
    /// the stream, so a list made inside a stream loses none of the stream's events.
    std::deque<protocol::rpc::Message> m_pending;
};

}  // namespace porteye::cli
