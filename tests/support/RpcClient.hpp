// SPDX-License-Identifier: MIT
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace porteye::testing {

/// A blocking client of porteyed's control socket, speaking newline-delimited JSON-RPC 2.0 with
/// a timeout on every read. It builds its requests itself (not with the daemon's protocol
/// library), so tests see the wire format as any outside client would.
class RpcClient {
public:
    static constexpr std::chrono::milliseconds kDefaultTimeout{20'000};

    /// Connects to the Unix socket at `path`; connected() says whether that worked.
    explicit RpcClient(const std::string& path);
    ~RpcClient();
    RpcClient(const RpcClient&) = delete;
    RpcClient& operator=(const RpcClient&) = delete;

    bool connected() const { return m_connected; }
    int fd() const { return m_fd; }

    /// Sends bytes as they are; false when the daemon closed the connection (or on another error).
    bool sendRaw(const std::string& bytes);

    /// The next message, or nullopt on EOF, error or timeout.
    std::optional<nlohmann::json> read(std::chrono::milliseconds timeout = kDefaultTimeout);

    /// Sends a request (ids count up from 1; null params are left out) and returns the whole
    /// reply (result or error), skipping notifications. A connection-level error (id null) is
    /// returned as the reply; {"read": "failed"} when nothing came.
    nlohmann::json call(const std::string& method, const nlohmann::json& params = nullptr);

    /// Reads until a notification of `method` whose params satisfy `predicate`; returns its params.
    std::optional<nlohmann::json> waitNotification(const std::string& method,
                                                   const std::function<bool(const nlohmann::json&)>& predicate,
                                                   std::chrono::milliseconds timeout = kDefaultTimeout);

private:
    int m_fd = -1;
    bool m_connected = false;
    std::string m_buffer;
    std::uint64_t m_nextId = 1;
};

/// The error code of a JSON-RPC reply, 0 when it is not an error.
int errorCode(const nlohmann::json& reply);
/// The error's data.name (the error table's name, as on D-Bus); empty when there is none.
std::string errorName(const nlohmann::json& reply);

}  // namespace porteye::testing
