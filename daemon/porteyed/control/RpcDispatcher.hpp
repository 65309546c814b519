// SPDX-License-Identifier: MIT
#pragma once

#include "control/UnixSocketTransport.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace porteye::control {

/// How a method takes its `params`.
enum class ParamsRule : std::uint8_t {
    None,      ///< absent, null or {}
    Optional,  ///< absent, null or an object
    Required,  ///< an object
};

/// One row of the method table.
struct RpcMethod {
    std::string name;
    ParamsRule params = ParamsRule::Optional;
    std::vector<std::string> required;  ///< keys that must be present
    /// When not empty, the only keys accepted; otherwise the handler's parser rejects unknown keys.
    std::vector<std::string> allowed;
    std::string usage;  ///< the params' shape, for error messages, e.g. {"watch": ID}
    /// Gets params validated against the row; returns the result. Throws service::ServiceError,
    /// protocol::InvalidArgument or nlohmann::json::exception, which become error objects.
    std::function<nlohmann::json(ConnectionId, const nlohmann::json& params)> handler;
};

/// JSON-RPC 2.0 over lines, driven by a table of methods: parses a request, checks it and its
/// params against the method's row, runs the handler, and turns the result or the exception
/// into the reply. Errors carry data.name from the one error table (core/Errors.hpp).
/// No I/O: lines in, lines out.
class RpcDispatcher {
public:
    explicit RpcDispatcher(std::vector<RpcMethod> methods);

    /// The reply line for one request line; empty for a notification or a blank line.
    std::string handle(ConnectionId connection, std::string_view line) const;
    /// The error line for a request line over `maxBytes`.
    static std::string overlongLine(std::size_t maxBytes);
    /// The error line for a connection refused for a quota (id null, LimitExceeded).
    static std::string refusalLine(const std::string& why);

private:
    nlohmann::json checkParams(const RpcMethod& method, const nlohmann::json& params) const;

    std::map<std::string, RpcMethod, std::less<>> m_methods;
    std::string m_names;  ///< "status, list, ..." for "method not found"
};

/// An unsigned integer member of `params` no larger than `max`; InvalidArgument otherwise.
std::uint64_t unsignedParam(const nlohmann::json& params, const char* key, std::uint64_t max);

}  // namespace porteye::control
