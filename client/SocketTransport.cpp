// SPDX-License-Identifier: MIT
#include "SocketTransport.hpp"

#include "ExitCode.hpp"
#include "wire/Json.hpp"
#include "wire/JsonRpc.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstring>

namespace porteye::cli {
namespace {

namespace rpc = protocol::rpc;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kReplyTimeoutMs = 30'000;
constexpr std::size_t kReadChunk = 64 * 1024;

/// Error replies map to exit codes through the one error table (core/Errors.hpp), by the
/// error's name (error.data.name, as D-Bus error names are mapped) and else by its code.
[[noreturn]] void throwRpcError(const rpc::Message& message) {
    const int code = message.errorCode.value_or(0);
    if (auto known = rpc::errorOf(message)) {
        const auto& spec = core::errorSpec(*known);
        // Failed and the other generic codes say which error it was; the specific ones speak for themselves.
        if (spec.exitCode == kExitFailure)
            throw CommandError(kExitFailure, message.errorMessage + " (" + std::string(spec.name) + ")");
        throw CommandError(spec.exitCode, message.errorMessage);
    }
    throw CommandError(kExitFailure, message.errorMessage + " (JSON-RPC error " + std::to_string(code) + ")");
}

template <typename F>
auto decoding(F&& body) {
    try {
        return body();
    } catch (const protocol::InvalidArgument& e) {
        throw CommandError(kExitFailure, std::string("porteyed sent a malformed reply: ") + e.what());
    } catch (const json::exception& e) {
        throw CommandError(kExitFailure, std::string("porteyed sent a malformed reply: ") + e.what());
    }
}

std::uint64_t idField(const json& params, const char* key) {
    if (!params.is_object() || !params.contains(key) || !params[key].is_number_unsigned()) return 0;
    return params[key].get<std::uint64_t>();
}

}  // namespace

SocketTransport::SocketTransport(std::string path) : m_path(std::move(path)) {}

SocketTransport::~SocketTransport() {
    if (m_fd >= 0) ::close(m_fd);
}

void SocketTransport::connectIfNeeded() {
    if (m_fd >= 0) return;
    auto unreachable = [&](const std::string& reason) {
        return CommandError(kExitUnavailable, "cannot reach porteyed at " + m_path + " (" + reason +
                                                  "). Start it with `systemctl start porteyed`, or use --local to "
                                                  "read the kernel directly.");
    };
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (m_path.empty() || m_path.size() >= sizeof(addr.sun_path)) throw unreachable("the socket path is too long");
    std::memcpy(addr.sun_path, m_path.c_str(), m_path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw unreachable(std::strerror(errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0) {
        const int error = errno;
        ::close(fd);
        throw unreachable(std::strerror(error));
    }
    m_fd = fd;
}

void SocketTransport::sendLine(const std::string& line) {
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t n = ::send(m_fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw CommandError(kExitUnavailable,
                               "lost the connection to porteyed at " + m_path + " (" + std::strerror(errno) + ")");
        }
        sent += static_cast<std::size_t>(n);
    }
}

SocketTransport::Wait SocketTransport::read(int stopFd, std::optional<Clock::time_point> deadline, rpc::Message& out) {
    for (;;) {
        const auto newline = m_buffer.find('\n', m_scanned);
        if (newline != std::string::npos) {
            std::string line = m_buffer.substr(0, newline);
            m_buffer.erase(0, newline + 1);
            m_scanned = 0;
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            out = decoding([&] { return rpc::parseMessage(line); });
            return Wait::Message;
        }
        m_scanned = m_buffer.size();

        int wait = -1;
        if (deadline) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
            if (left <= 0) return Wait::TimedOut;
            wait = static_cast<int>(std::min<std::int64_t>(left, 24 * 3600 * 1000));
        }
        pollfd fds[2] = {{m_fd, POLLIN, 0}, {stopFd, POLLIN, 0}};
        const int r = ::poll(fds, stopFd >= 0 ? 2 : 1, wait);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw CommandError(kExitFailure, std::string("poll failed: ") + std::strerror(errno));
        }
        if (stopFd >= 0 && (fds[1].revents & POLLIN)) return Wait::Stopped;  // left pending: see stopSignalFd()
        if (fds[0].revents == 0) continue;
        char chunk[kReadChunk];
        const ssize_t n = ::recv(m_fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            throw CommandError(kExitUnavailable,
                               "lost the connection to porteyed at " + m_path + " (" + std::strerror(errno) + ")");
        }
        if (n == 0) throw CommandError(kExitUnavailable, "porteyed at " + m_path + " closed the connection");
        m_buffer.append(chunk, static_cast<std::size_t>(n));
    }
}

SocketTransport::Wait SocketTransport::next(int stopFd, std::optional<Clock::time_point> deadline, rpc::Message& out) {
    if (!m_pending.empty()) {
        out = std::move(m_pending.front());
        m_pending.pop_front();
        return Wait::Message;
    }
    return read(stopFd, deadline, out);
}

json SocketTransport::call(const std::string& method, const json& params) {
    connectIfNeeded();
    const std::uint64_t id = m_nextId++;
    sendLine(rpc::toLine(rpc::request(id, method, params)));
    const auto deadline = Clock::now() + std::chrono::milliseconds(kReplyTimeoutMs);
    for (;;) {
        rpc::Message message;
        switch (read(stopSignalFd(), deadline, message)) {
            case Wait::Stopped:
                throw Interrupted();
            case Wait::TimedOut:
                throw CommandError(kExitFailure, "porteyed at " + m_path + " did not answer within " +
                                                     std::to_string(kReplyTimeoutMs / 1000) + " seconds");
            case Wait::Message:
                break;
        }
        if (!message.method.empty()) {
            // A notification of a stream in progress (a list made inside `wait`'s event stream):
            // kept for it. Bounded: the daemon drops a connection whose output it cannot send.
            m_pending.push_back(std::move(message));
            continue;
        }
        if (message.id && *message.id != id) continue;
        // A reply with a null id is an error about the connection itself (e.g. too many clients).
        if (message.errorCode) throwRpcError(message);
        if (!message.id) throw CommandError(kExitFailure, "porteyed sent a reply without an id");
        return std::move(message.result);
    }
}

std::vector<core::SocketRecord> SocketTransport::list(const core::SocketFilter& filter) {
    const json reply = call("list", protocol::toJson(filter));
    return decoding([&] {
        if (!reply.is_array()) throw protocol::InvalidArgument("list did not return an array");
        std::vector<core::SocketRecord> out;
        out.reserve(reply.size());
        for (const auto& r : reply)
            out.push_back(protocol::recordFromJson(r));
        return out;
    });
}

std::vector<core::PortEvent> SocketTransport::history(const core::HistoryFilter& filter) {
    const json reply = call("history", protocol::toJson(filter));
    return decoding([&] {
        if (!reply.is_array()) throw protocol::InvalidArgument("history did not return an array");
        std::vector<core::PortEvent> out;
        out.reserve(reply.size());
        for (const auto& e : reply)
            out.push_back(protocol::eventFromJson(e));
        return out;
    });
}

DaemonStatus SocketTransport::status() {
    const json reply = call("status", nullptr);
    return decoding([&] { return protocol::statusFromJson(reply); });
}

void SocketTransport::watch(std::uint32_t pid, const WatchOptions& options, const WatchCallback& onChange) {
    json params =
        protocol::toJson(protocol::WatchParams{options.interval.count(), options.includeChildren, options.filter});
    params["pid"] = pid;
    const json reply = call("watch", params);
    const std::uint64_t id = decoding([&] { return reply.at("watch").get<std::uint64_t>(); });
    if (options.onStarted) options.onStarted();
    for (;;) {
        rpc::Message received;
        if (next(stopSignalFd(), std::nullopt, received) != Wait::Message) break;  // stop signal
        auto* message = &received;
        if (message->method == "watch.changed" && idField(message->params, "watch") == id) {
            const auto change = decoding([&] { return rpc::portChangeFromJson(message->params); });
            if (!onChange(change)) break;
            if (change.processExited) return;  // the daemon ends the watch itself
        } else if (message->method == "watch.exited" && idField(message->params, "watch") == id) {
            core::PortChange change;
            change.processExited = true;
            onChange(change);
            return;
        } else if (message->method == "watch.ended" && idField(message->params, "watch") == id) {
            // Ended by someone else (root's unwatch, from either transport) or by porteyed
            // stopping: not what the user asked for, so not exit 0. A stopping daemon is
            // "unavailable" (5), as when it leaves the bus; anything else is a failure (1).
            const std::string reason = message->params.value("reason", std::string("unknown"));
            const std::string what = "watch " + std::to_string(id) + " of PID " + std::to_string(pid);
            if (reason == "shutdown") throw CommandError(kExitUnavailable, "porteyed is stopping; " + what + " ended");
            throw CommandError(kExitFailure, what + " was ended by porteyed (" + reason + "), not by you");
        }
    }
    // Stopped: end the watch now (a notification, so nothing to wait for). Closing the
    // connection would end it too, so a failure here does not matter.
    try {
        sendLine(rpc::toLine(rpc::notification("unwatch", {{"watch", id}})));
    } catch (const CommandError&) {
    }
}

StreamEnd SocketTransport::events(const core::SocketFilter& filter, const EventCallback& onEvent,
                                  const StreamOptions& options) {
    return stream(
        protocol::toJson(filter), "event",
        [&](const json& params) { return onEvent(decoding([&] { return protocol::eventFromJson(params); })); },
        options);
}

StreamEnd SocketTransport::unexpected(const core::SocketFilter& filter, const UnexpectedCallback& onAlert,
                                      const StreamOptions& options) {
    json params = protocol::toJson(filter);
    params["unexpected"] = true;  // only the alerts, not every event
    return stream(
        params, "unexpected",
        [&](const json& p) { return onAlert(decoding([&] { return protocol::unexpectedFromJson(p); })); }, options);
}

StreamEnd SocketTransport::stream(const json& params, const char* method,
                                  const std::function<bool(const json&)>& onMessage, const StreamOptions& options) {
    const json reply = call("events", params);
    const std::uint64_t id = decoding([&] { return reply.at("subscription").get<std::uint64_t>(); });
    auto end = StreamEnd::Callback;
    if (!options.onSubscribed || options.onSubscribed()) {
        for (;;) {
            rpc::Message message;
            const auto wait = next(stopSignalFd(), options.deadline, message);
            if (wait == Wait::Stopped) {
                end = StreamEnd::Signal;
                break;
            }
            if (wait == Wait::TimedOut) {
                end = StreamEnd::Deadline;
                break;
            }
            if (message.method != method || idField(message.params, "subscription") != id) continue;
            if (!onMessage(message.params)) break;
        }
    }
    try {
        sendLine(rpc::toLine(rpc::notification("unsubscribe", {{"subscription", id}})));
    } catch (const CommandError&) {
    }
    return end;
}

}  // namespace porteye::cli
