// SPDX-License-Identifier: MIT
#include "support/RpcClient.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace porteye::testing {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

}  // namespace

RpcClient::RpcClient(const std::string& path) {
    m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    m_connected = m_fd >= 0 && ::connect(m_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
}

RpcClient::~RpcClient() {
    if (m_fd >= 0) ::close(m_fd);
}

bool RpcClient::sendRaw(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(m_fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

std::optional<json> RpcClient::read(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        const auto newline = m_buffer.find('\n');
        if (newline != std::string::npos) {
            const std::string line = m_buffer.substr(0, newline);
            m_buffer.erase(0, newline + 1);
            return json::parse(line);
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return std::nullopt;
        pollfd pfd{m_fd, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
        char chunk[65536];
        const ssize_t n = ::recv(m_fd, chunk, sizeof(chunk), 0);
        if (n <= 0) return std::nullopt;
        m_buffer.append(chunk, static_cast<std::size_t>(n));
    }
}

json RpcClient::call(const std::string& method, const json& params) {
    const std::uint64_t id = m_nextId++;
    json request{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    if (!params.is_null()) request["params"] = params;
    // Even when sending fails (the daemon closed on us), a line it sent first is still readable.
    (void)sendRaw(request.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    for (;;) {
        auto message = read();
        if (!message) return json{{"read", "failed"}};
        if (message->contains("id") && (*message)["id"] == id) return *message;
        if (message->contains("error")) return *message;  // a connection-level error (id null)
    }
}

std::optional<json> RpcClient::waitNotification(const std::string& method,
                                                const std::function<bool(const json&)>& predicate,
                                                std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        auto message = read(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
        if (!message) return std::nullopt;
        if (message->value("method", "") == method && predicate((*message)["params"])) return (*message)["params"];
    }
    return std::nullopt;
}

int errorCode(const json& reply) {
    if (!reply.is_object() || !reply.contains("error")) return 0;
    return reply["error"]["code"].get<int>();
}

std::string errorName(const json& reply) {
    if (!reply.is_object() || !reply.contains("error")) return {};
    const json& error = reply["error"];
    if (!error.contains("data") || !error["data"].is_object() || !error["data"].contains("name")) return {};
    return error["data"]["name"].get<std::string>();
}

}  // namespace porteye::testing
