// SPDX-License-Identifier: MIT
#include "control/RpcDispatcher.hpp"

#include "wire/Json.hpp"
#include "wire/JsonRpc.hpp"
#include "service/PortService.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace porteye::control {

using nlohmann::json;
namespace rpc = protocol::rpc;

namespace {

/// A JSON-RPC protocol error (not a service error) raised while checking a request.
struct ProtocolError {
    int code;
    std::string message;
};

}  // namespace

std::uint64_t unsignedParam(const json& params, const char* key, std::uint64_t max) {
    const json& v = params.at(key);
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() > max)
        throw protocol::InvalidArgument(std::string("'") + key + "' must be a non-negative integer");
    return v.get<std::uint64_t>();
}

RpcDispatcher::RpcDispatcher(std::vector<RpcMethod> methods) {
    for (auto& method : methods) {
        if (!m_names.empty()) m_names += ", ";
        m_names += method.name;
        std::string name = method.name;
        m_methods.emplace(std::move(name), std::move(method));
    }
}

std::string RpcDispatcher::overlongLine(std::size_t maxBytes) {
    return rpc::toLine(rpc::error(
        nullptr, rpc::kInvalidRequest,
        "request line longer than " + std::to_string(maxBytes) + " bytes; discarded up to the next newline"));
}

std::string RpcDispatcher::refusalLine(const std::string& why) {
    return rpc::toLine(rpc::error(nullptr, core::ErrorCode::LimitExceeded, why));
}

json RpcDispatcher::checkParams(const RpcMethod& method, const json& params) const {
    const std::string shape = method.usage.empty() ? std::string() : " " + method.usage;
    if (params.is_null()) {
        if (method.params == ParamsRule::Required)
            throw protocol::InvalidArgument(method.name + " needs params" + shape);
        return params;
    }
    if (!params.is_object())
        throw ProtocolError{rpc::kInvalidParams,
                            "'params' must be an object (positional parameters are not supported)"};
    if (method.params == ParamsRule::None && !params.empty())
        throw protocol::InvalidArgument(method.name + " takes no parameters");
    for (const auto& key : method.required)
        if (!params.contains(key))
            throw protocol::InvalidArgument("'" + key + "' is required; " + method.name + " takes" + shape);
    if (!method.allowed.empty())
        for (const auto& [key, value] : params.items())
            if (std::find(method.allowed.begin(), method.allowed.end(), key) == method.allowed.end())
                throw protocol::InvalidArgument("unknown parameter '" + key + "'; " + method.name + " takes" + shape);
    return params;
}

std::string RpcDispatcher::handle(ConnectionId connection, std::string_view text) const {
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) return {};  // blank lines are ignored

    json request;
    try {
        request = json::parse(text);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
        return rpc::toLine(rpc::error(nullptr, rpc::kParseError, std::string("parse error: ") + e.what()));
    }
    if (request.is_array())
        return rpc::toLine(
            rpc::error(nullptr, rpc::kInvalidRequest, "batch requests are not supported; send one request per line"));
    if (!request.is_object())
        return rpc::toLine(rpc::error(nullptr, rpc::kInvalidRequest, "a request must be a JSON object"));
    const bool hasId = request.contains("id");
    const json id = hasId ? request["id"] : json();
    if (hasId && !id.is_string() && !id.is_number() && !id.is_null())
        return rpc::toLine(rpc::error(nullptr, rpc::kInvalidRequest, "'id' must be a string, number or null"));
    // A notification (no id) gets no reply, not even an error.
    auto fail = [&](int code, const std::string& message) {
        return hasId ? rpc::toLine(rpc::error(id, code, message)) : std::string();
    };
    if (!request.contains("jsonrpc") || request["jsonrpc"] != "2.0")
        return fail(rpc::kInvalidRequest, "'jsonrpc' must be \"2.0\"");
    if (!request.contains("method") || !request["method"].is_string())
        return fail(rpc::kInvalidRequest, "'method' must be a string");
    for (const auto& [key, value] : request.items())
        if (key != "jsonrpc" && key != "id" && key != "method" && key != "params")
            return fail(rpc::kInvalidRequest, "unknown request member '" + key + "'");

    const std::string name = request["method"].get<std::string>();
    const auto found = m_methods.find(name);
    if (found == m_methods.end())
        return fail(rpc::kMethodNotFound, "method '" + name + "' not found; methods: " + m_names);
    const RpcMethod& method = found->second;
    try {
        const json params = checkParams(method, request.contains("params") ? request["params"] : json());
        json result = method.handler(connection, params);
        return hasId ? rpc::toLine(rpc::result(id, result)) : std::string();
    } catch (const ProtocolError& e) {
        return fail(e.code, e.message);
    } catch (const service::ServiceError& e) {
        return fail(core::errorSpec(e.code()).rpcCode, e.what());
    } catch (const protocol::InvalidArgument& e) {
        return fail(rpc::kInvalidParams, e.what());
    } catch (const json::exception& e) {
        return fail(rpc::kInvalidParams, std::string("invalid params: ") + e.what());
    } catch (const std::exception& e) {
        spdlog::warn("control socket: {} failed for client {}: {}", name, connection, e.what());
        return fail(rpc::kFailed, e.what());
    }
}

}  // namespace porteye::control
