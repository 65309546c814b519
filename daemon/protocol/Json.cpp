// SPDX-License-Identifier: MIT
#include "protocol/Json.hpp"

#include "core/TimeFormat.hpp"

#include <limits>
#include <set>

namespace porteye::protocol {

using nlohmann::json;

json toJson(const core::SocketRecord& r) {
    return json{{"pid", r.pid},
                {"process", r.process},
                {"protocol", core::protocolName(r.protocol)},
                {"family", r.family},
                {"local_address", r.localAddress},
                {"local_port", r.localPort},
                {"remote_address", r.remoteAddress},
                {"remote_port", r.remotePort},
                {"state", core::stateName(r.state)},
                {"inode", r.inode},
                {"uid", r.uid},
                {"cookie", r.cookie}};
}

namespace {

template <typename T>
T unsignedField(const json& j, const char* key, T max = std::numeric_limits<T>::max()) {
    const json& v = j.at(key);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
        throw InvalidArgument(std::string("'") + key + "' must be a non-negative integer");
    const auto value = v.get<std::uint64_t>();
    if (value > max) throw InvalidArgument(std::string("'") + key + "' is out of range");
    return static_cast<T>(value);
}

std::string stringField(const json& j, const char* key) {
    const json& v = j.at(key);
    if (!v.is_string()) throw InvalidArgument(std::string("'") + key + "' must be a string");
    return v.get<std::string>();
}

}  // namespace

core::SocketRecord recordFromJson(const json& j) {
    try {
        core::SocketRecord r;
        r.pid = unsignedField<std::uint32_t>(j, "pid");
        r.process = stringField(j, "process");
        auto protocol = core::parseProtocolName(stringField(j, "protocol"));
        if (!protocol) throw InvalidArgument("unknown protocol");
        r.protocol = *protocol;
        r.family = unsignedField<std::uint8_t>(j, "family");
        r.localAddress = stringField(j, "local_address");
        r.localPort = unsignedField<std::uint16_t>(j, "local_port");
        r.remoteAddress = stringField(j, "remote_address");
        r.remotePort = unsignedField<std::uint16_t>(j, "remote_port");
        auto state = core::parseStateName(stringField(j, "state"));
        if (!state) throw InvalidArgument("unknown state");
        r.state = *state;
        r.inode = unsignedField<std::uint64_t>(j, "inode");
        r.uid = unsignedField<std::uint32_t>(j, "uid");
        if (j.contains("cookie")) r.cookie = unsignedField<std::uint64_t>(j, "cookie");
        return r;
    } catch (const json::exception& e) {
        throw InvalidArgument(std::string("bad record: ") + e.what());
    }
}

json toJson(const core::PortEvent& e) {
    return json{{"sequence", e.sequence},
                {"action", core::actionName(e.action)},
                {"timestamp", core::formatIsoLocal(e.time)},
                {"time_us", core::toEpochMicros(e.time)},
                {"record", toJson(e.record)}};
}

core::PortEvent eventFromJson(const json& j) {
    try {
        core::PortEvent e;
        e.sequence = unsignedField<std::uint64_t>(j, "sequence");
        auto action = core::parseActionName(stringField(j, "action"));
        if (!action) throw InvalidArgument("unknown action");
        e.action = *action;
        e.time = core::fromEpochMicros(unsignedField<std::uint64_t>(j, "time_us"));
        e.record = recordFromJson(j.at("record"));
        return e;
    } catch (const json::exception& ex) {
        throw InvalidArgument(std::string("bad event: ") + ex.what());
    }
}

json toJson(std::uint32_t pid, const core::PortChange& change, core::WallTime time) {
    json events = json::array();
    for (const auto& e : change.events)
        events.push_back(toJson(e));
    json j{{"pid", pid},
           {"timestamp", core::formatIsoLocal(time)},
           {"new_ports", change.opened},
           {"closed_ports", change.closed},
           {"active_ports", change.active},
           {"events", std::move(events)}};
    if (change.processExited) j["exited"] = true;
    return j;
}

namespace {

const std::set<std::string> kSocketKeys{"pid", "port", "process", "state", "protocol", "listening"};
const std::set<std::string> kHistoryKeys{"action", "since", "after_sequence", "limit"};
const std::set<std::string> kListKeys{"offset", "limit"};

void parseSocketKeys(const json& j, core::SocketFilter& f) {
    if (j.contains("pid")) f.pid = unsignedField<std::uint32_t>(j, "pid");
    if (j.contains("port")) f.port = unsignedField<std::uint16_t>(j, "port");
    if (j.contains("process")) f.process = stringField(j, "process");
    if (j.contains("state")) {
        auto state = core::parseStateName(stringField(j, "state"));
        if (!state) throw InvalidArgument("unknown state '" + j["state"].get<std::string>() + "'");
        f.state = state;
    }
    if (j.contains("protocol")) {
        auto protocol = core::parseProtocolName(stringField(j, "protocol"));
        if (!protocol) throw InvalidArgument("unknown protocol '" + j["protocol"].get<std::string>() + "'");
        f.protocol = protocol;
    }
    if (j.contains("listening")) {
        if (!j["listening"].is_boolean()) throw InvalidArgument("'listening' must be a boolean");
        f.listeningOnly = j["listening"].get<bool>();
    }
}

void rejectUnknownKeys(const json& j, const std::set<std::string>* extra) {
    if (!j.is_object()) throw InvalidArgument("filter must be an object");
    for (const auto& [key, value] : j.items()) {
        if (kSocketKeys.contains(key) || (extra != nullptr && extra->contains(key))) continue;
        throw InvalidArgument("unknown filter key '" + key + "'");
    }
}

}  // namespace

core::SocketFilter socketFilterFromJson(const json& j) {
    core::SocketFilter f;
    if (j.is_null()) return f;
    rejectUnknownKeys(j, nullptr);
    parseSocketKeys(j, f);
    return f;
}

core::ListQuery listQueryFromJson(const json& j) {
    core::ListQuery q;
    if (j.is_null()) return q;
    rejectUnknownKeys(j, &kListKeys);
    parseSocketKeys(j, q.filter);
    if (j.contains("offset")) q.offset = unsignedField<std::size_t>(j, "offset");
    if (j.contains("limit")) q.limit = unsignedField<std::size_t>(j, "limit");
    return q;
}

core::HistoryFilter historyFilterFromJson(const json& j) {
    core::HistoryFilter f;
    if (j.is_null()) return f;
    rejectUnknownKeys(j, &kHistoryKeys);
    parseSocketKeys(j, f.socket);
    if (j.contains("action")) {
        auto action = core::parseActionName(stringField(j, "action"));
        if (!action) throw InvalidArgument("'action' must be \"added\" or \"removed\"");
        f.action = action;
    }
    if (j.contains("since")) {
        const json& v = j["since"];
        std::optional<core::WallTime> since;
        if (v.is_string())
            since = core::parseTime(v.get<std::string>());
        else if (v.is_number_unsigned())
            since = core::checkedFromEpochMicros(v.get<std::uint64_t>());
        if (!since) throw InvalidArgument("'since' must be µs since the epoch or an ISO-8601 time");
        f.since = since;
    }
    if (j.contains("after_sequence")) f.afterSequence = unsignedField<std::uint64_t>(j, "after_sequence");
    if (j.contains("limit")) f.limit = unsignedField<std::size_t>(j, "limit", kMaxHistoryLimit);
    return f;
}

json toJson(const core::DaemonStatus& s) {
    json j{{"version", s.version},
           {"instance_id", s.instanceId},
           {"host_wide", s.hostWide},
           {"poll_interval", s.pollIntervalSeconds},
           {"sockets", s.sockets},
           {"history_size", s.historySize},
           {"history_capacity", s.historyCapacity},
           {"history_dropped", s.historyDropped},
           {"next_sequence", s.nextSequence},
           {"watches", s.watches}};
    if (s.polls != 0) j["polls"] = s.polls;
    if (s.failedPolls != 0) j["failed_polls"] = s.failedPolls;
    return j;
}

core::DaemonStatus statusFromJson(const json& j) {
    try {
        core::DaemonStatus s;
        s.version = stringField(j, "version");
        if (j.contains("instance_id")) s.instanceId = stringField(j, "instance_id");
        if (j.contains("host_wide")) {
            if (!j["host_wide"].is_boolean()) throw InvalidArgument("'host_wide' must be a boolean");
            s.hostWide = j["host_wide"].get<bool>();
        }
        const json& interval = j.at("poll_interval");
        if (!interval.is_number()) throw InvalidArgument("'poll_interval' must be a number");
        s.pollIntervalSeconds = interval.get<double>();
        s.sockets = unsignedField<std::uint64_t>(j, "sockets");
        s.historySize = unsignedField<std::uint64_t>(j, "history_size");
        s.historyCapacity = unsignedField<std::uint64_t>(j, "history_capacity");
        s.historyDropped = unsignedField<std::uint64_t>(j, "history_dropped");
        s.nextSequence = unsignedField<std::uint64_t>(j, "next_sequence");
        s.watches = unsignedField<std::uint64_t>(j, "watches");
        if (j.contains("polls")) s.polls = unsignedField<std::uint64_t>(j, "polls");
        if (j.contains("failed_polls")) s.failedPolls = unsignedField<std::uint64_t>(j, "failed_polls");
        return s;
    } catch (const json::exception& e) {
        throw InvalidArgument(std::string("bad status: ") + e.what());
    }
}

json toJson(const core::SocketFilter& f) {
    json j = json::object();
    if (f.pid) j["pid"] = *f.pid;
    if (f.port) j["port"] = *f.port;
    if (f.process) j["process"] = *f.process;
    if (f.state) j["state"] = core::stateName(*f.state);
    if (f.protocol) j["protocol"] = core::protocolName(*f.protocol);
    if (f.listeningOnly) j["listening"] = true;
    return j;
}

json toJson(const core::ListQuery& q) {
    json j = toJson(q.filter);
    if (q.offset != 0) j["offset"] = q.offset;
    if (q.limit != 0) j["limit"] = q.limit;
    return j;
}

json toJson(const core::HistoryFilter& f) {
    json j = toJson(f.socket);
    if (f.action) j["action"] = core::actionName(*f.action);
    if (f.since) j["since"] = core::toEpochMicros(*f.since);
    if (f.afterSequence) j["after_sequence"] = *f.afterSequence;
    j["limit"] = f.limit;
    return j;
}

json toJson(const WatchParams& p) {
    json j{{"interval", p.intervalSeconds}, {"children", p.includeChildren}};
    if (p.filter.state) j["state"] = core::stateName(*p.filter.state);
    if (p.filter.protocol) j["protocol"] = core::protocolName(*p.filter.protocol);
    return j;
}

WatchParams watchParamsFromJson(const json& j) {
    WatchParams params;
    if (j.is_null()) return params;
    if (!j.is_object()) throw InvalidArgument("watch options must be an object");
    for (const auto& [key, value] : j.items()) {
        if (key == "interval") {
            if (!value.is_number()) throw InvalidArgument("'interval' must be a number of seconds");
            params.intervalSeconds = value.get<double>();
        } else if (key == "children") {
            if (!value.is_boolean()) throw InvalidArgument("'children' must be a boolean");
            params.includeChildren = value.get<bool>();
        } else if (key == "state" || key == "protocol") {
            json one = json::object();
            one[key] = value;
            auto f = socketFilterFromJson(one);
            if (f.state) params.filter.state = f.state;
            if (f.protocol) params.filter.protocol = f.protocol;
        } else {
            throw InvalidArgument("unknown watch option '" + key + "'");
        }
    }
    return params;
}

}  // namespace porteye::protocol
