// SPDX-License-Identifier: MIT
#include "wire/JsonRpc.hpp"

#include "wire/Json.hpp"

namespace porteye::protocol::rpc {

using nlohmann::json;

json request(std::uint64_t id, const std::string& method, const json& params) {
    json j{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    if (!params.is_null()) j["params"] = params;
    return j;
}

json notification(const std::string& method, const json& params) {
    json j{{"jsonrpc", "2.0"}, {"method", method}};
    if (!params.is_null()) j["params"] = params;
    return j;
}

json result(const json& id, const json& value) {
    return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", value}};
}

std::string_view errorName(int code) {
    switch (code) {
        case kParseError:
            return "ParseError";
        case kInvalidRequest:
            return "InvalidRequest";
        case kMethodNotFound:
            return "MethodNotFound";
        default:
            break;
    }
    if (auto known = core::errorByRpcCode(code)) return core::errorSpec(*known).name;
    return core::errorSpec(core::ErrorCode::Failed).name;
}

json error(const json& id, int code, const std::string& message) {
    return json{{"jsonrpc", "2.0"},
                {"id", id},
                {"error", {{"code", code}, {"message", message}, {"data", {{"name", std::string(errorName(code))}}}}}};
}

json error(const json& id, core::ErrorCode code, const std::string& message) {
    return error(id, core::errorSpec(code).rpcCode, message);
}

std::optional<core::ErrorCode> errorOf(const Message& message) {
    if (!message.errorCode) return std::nullopt;
    if (auto byName = core::errorByName(message.errorName)) return byName;
    return core::errorByRpcCode(*message.errorCode);
}

std::string toLine(const json& message) {
    // Process names and paths come from the kernel and need not be UTF-8: replace, never throw.
    std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace);
    line.push_back('\n');
    return line;
}

Message parseMessage(const std::string& line) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) throw InvalidArgument("the reply is not JSON");
    if (!j.is_object() || j.value("jsonrpc", json()) != "2.0") throw InvalidArgument("the reply is not JSON-RPC 2.0");
    Message m;
    if (j.contains("method")) {
        if (!j["method"].is_string()) throw InvalidArgument("notification method must be a string");
        m.method = j["method"].get<std::string>();
        m.params = j.value("params", json());
        return m;
    }
    if (j.contains("id") && j["id"].is_number_unsigned()) m.id = j["id"].get<std::uint64_t>();
    if (j.contains("error")) {
        const json& e = j["error"];
        if (!e.is_object() || !e.contains("code") || !e["code"].is_number_integer())
            throw InvalidArgument("malformed error object");
        m.errorCode = e["code"].get<int>();
        m.errorMessage = e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
        if (e.contains("data") && e["data"].is_object() && e["data"].contains("name") && e["data"]["name"].is_string())
            m.errorName = e["data"]["name"].get<std::string>();
    } else if (j.contains("result")) {
        m.result = j["result"];
    } else {
        throw InvalidArgument("reply has neither result nor error");
    }
    return m;
}

namespace {

std::set<std::uint16_t> portSet(const json& j, const char* key) {
    std::set<std::uint16_t> out;
    if (!j.contains(key)) return out;
    const json& a = j[key];
    if (!a.is_array()) throw InvalidArgument(std::string("'") + key + "' must be an array of ports");
    for (const auto& p : a) {
        if (!p.is_number_unsigned() || p.get<std::uint64_t>() > 65535)
            throw InvalidArgument(std::string("'") + key + "' must be an array of ports");
        out.insert(p.get<std::uint16_t>());
    }
    return out;
}

}  // namespace

core::PortChange portChangeFromJson(const json& j) {
    if (!j.is_object()) throw InvalidArgument("a watch change must be an object");
    core::PortChange change;
    change.opened = portSet(j, "new_ports");
    change.closed = portSet(j, "closed_ports");
    change.active = portSet(j, "active_ports");
    if (j.contains("events")) {
        if (!j["events"].is_array()) throw InvalidArgument("'events' must be an array");
        for (const auto& e : j["events"])
            change.events.push_back(eventFromJson(e));
    }
    if (j.contains("exited")) {
        if (!j["exited"].is_boolean()) throw InvalidArgument("'exited' must be a boolean");
        change.processExited = j["exited"].get<bool>();
    }
    return change;
}

}  // namespace porteye::protocol::rpc
