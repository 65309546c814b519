// SPDX-License-Identifier: MIT
#pragma once

#include "core/Errors.hpp"
#include "core/PortChange.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

/// JSON-RPC 2.0 framing shared by the control socket server and porteyectl's
/// socket transport: one JSON object per line, see docs/control-socket.md.
namespace porteye::protocol::rpc {

// Standard JSON-RPC 2.0 codes.
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
// Server codes come from the one error table (core/Errors.hpp), shared with D-Bus and porteyectl.
constexpr int kFailed = core::errorSpec(core::ErrorCode::Failed).rpcCode;
constexpr int kNoSuchProcess = core::errorSpec(core::ErrorCode::NoSuchProcess).rpcCode;
constexpr int kAccessDenied = core::errorSpec(core::ErrorCode::AccessDenied).rpcCode;
constexpr int kNoSuchWatch = core::errorSpec(core::ErrorCode::NoSuchWatch).rpcCode;
constexpr int kLimitExceeded = core::errorSpec(core::ErrorCode::LimitExceeded).rpcCode;
constexpr int kReplyTooLarge = core::errorSpec(core::ErrorCode::ReplyTooLarge).rpcCode;
constexpr int kTryAgain = core::errorSpec(core::ErrorCode::TryAgain).rpcCode;

/// The name carried in error.data.name: the error table's name (as in the D-Bus error
/// org.porteye.PortEye1.Error.<name>) for its codes, "ParseError", "InvalidRequest" and
/// "MethodNotFound" for the JSON-RPC protocol's own codes.
std::string_view errorName(int code);

/// {"jsonrpc":"2.0","id":id,"method":method[,"params":params]} (params left out when null).
nlohmann::json request(std::uint64_t id, const std::string& method, const nlohmann::json& params = nullptr);
/// A request without id: the server sends no reply.
nlohmann::json notification(const std::string& method, const nlohmann::json& params = nullptr);
nlohmann::json result(const nlohmann::json& id, const nlohmann::json& value);
/// {"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message,"data":{"name":errorName(code)}}}.
nlohmann::json error(const nlohmann::json& id, int code, const std::string& message);
nlohmann::json error(const nlohmann::json& id, core::ErrorCode code, const std::string& message);

/// One line as it goes on the wire: compact JSON and '\n'. Invalid UTF-8 is replaced, never thrown on.
std::string toLine(const nlohmann::json& message);

/// A decoded server message: a reply to a request (id set) or a notification (method set).
struct Message {
    std::optional<std::uint64_t> id;  ///< replies to our (numeric) ids
    std::string method;               ///< notifications
    nlohmann::json params;            ///< notification params
    nlohmann::json result;            ///< reply result
    std::optional<int> errorCode;     ///< reply error
    std::string errorMessage;
    std::string errorName;  ///< error.data.name, empty when the server sent none
};

/// The error of a reply as the one table knows it: by error.data.name first (the same names
/// as on D-Bus), else by code; nullopt for protocol errors (parse error, unknown method).
std::optional<core::ErrorCode> errorOf(const Message& message);

/// Parses one line from the server; throws InvalidArgument when it is not a JSON-RPC 2.0 message.
Message parseMessage(const std::string& line);

/// The reverse of toJson(pid, change, time): {"new_ports", "closed_ports", "active_ports", "events"[, "exited"]}.
core::PortChange portChangeFromJson(const nlohmann::json& j);

}  // namespace porteye::protocol::rpc
