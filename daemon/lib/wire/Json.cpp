// SPDX-License-Identifier: MIT
#include "wire/Json.hpp"

#include "core/TimeFormat.hpp"
#include "wire/FieldTables.hpp"

#include <limits>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

namespace porteye::protocol {

using nlohmann::json;

namespace {

// Details are always present, null when not known, so every record has the same keys.
json stringOrNull(const core::ProcessDetails* d, const std::string core::ProcessDetails::*field) {
    if (d == nullptr || (d->*field).empty()) return nullptr;
    return d->*field;
}

}  // namespace

json toJson(const core::SocketRecord& r) {
    const core::ProcessDetails* d = r.details.get();
    json j{{"pid", r.pid},
           {"process", r.process},
           {"protocol", core::protocolName(r.protocol)},
           {"family", r.family},
           {"local_address", r.localAddress},
           {"local_port", r.localPort},
           {"remote_address", r.remoteAddress},
           {"remote_port", r.remotePort},
           {"state", core::stateName(r.protocol, r.state)},
           {"inode", r.inode},
           {"uid", r.uid},
           {"cookie", r.cookie},
           {"netns", r.netns != 0 ? json(r.netns) : json(nullptr)},
           {"netns_name", r.netnsName.empty() ? json(nullptr) : json(r.netnsName)},
           {"start_time", d != nullptr && d->startTimeUs != 0 ? json(d->startTimeUs) : json(nullptr)},
           {"cpu_percent", r.usage ? json(r.usage->cpuPercent) : json(nullptr)},
           {"memory_rss", r.usage ? json(r.usage->memoryRssBytes) : json(nullptr)}};
    for (const auto& field : detailStringFields())
        j[field.key] = stringOrNull(d, field.member);
    return j;
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

bool present(const json& j, const char* key) {
    return j.contains(key) && !j.at(key).is_null();
}

// The details keys, each optional (absent or null: not known). A record with none of them
// has no details, as it had none when it was written.
void detailsFromJson(const json& j, core::SocketRecord& r) {
    core::ProcessDetails d;
    bool any = false;
    for (const auto& field : detailStringFields()) {
        if (!present(j, field.key)) continue;
        d.*field.member = stringField(j, field.key);
        any = true;
    }
    if (present(j, "start_time")) {
        d.startTimeUs = unsignedField<std::uint64_t>(j, "start_time");
        any = true;
    }
    if (any) r.details = std::make_shared<const core::ProcessDetails>(std::move(d));
    if (present(j, "cpu_percent") || present(j, "memory_rss")) {
        core::UsageNow u;
        if (present(j, "cpu_percent")) {
            if (!j.at("cpu_percent").is_number()) throw InvalidArgument("'cpu_percent' must be a number");
            u.cpuPercent = j.at("cpu_percent").get<double>();
        }
        if (present(j, "memory_rss")) u.memoryRssBytes = unsignedField<std::uint64_t>(j, "memory_rss");
        r.usage = u;
    }
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
        if (present(j, "netns")) r.netns = unsignedField<std::uint64_t>(j, "netns");
        if (present(j, "netns_name")) r.netnsName = stringField(j, "netns_name");
        detailsFromJson(j, r);
        return r;
    } catch (const json::exception& e) {
        throw InvalidArgument(std::string("bad record: ") + e.what());
    }
}

json toJson(const core::PortEvent& e) {
    json j{{"sequence", e.sequence},
           {"action", core::actionName(e.action)},
           {"timestamp", core::formatIsoLocal(e.time)},
           {"time_us", core::toEpochMicros(e.time)},
           {"record", toJson(e.record)}};
    if (e.action == core::Action::OwnerChanged) j["previous_pid"] = e.previousPid;
    if (e.shortLived) j["short_lived"] = true;
    return j;
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
        if (j.contains("previous_pid")) e.previousPid = unsignedField<std::uint32_t>(j, "previous_pid");
        if (j.contains("short_lived")) {
            if (!j.at("short_lived").is_boolean()) throw InvalidArgument("'short_lived' must be a boolean");
            e.shortLived = j.at("short_lived").get<bool>();
        }
        return e;
    } catch (const json::exception& ex) {
        throw InvalidArgument(std::string("bad event: ") + ex.what());
    }
}

json toJson(const core::UnexpectedListener& alert) {
    json j = toJson(alert.event);
    j["reason"] = alert.reason;
    j["present"] = alert.present;
    return j;
}

core::UnexpectedListener unexpectedFromJson(const json& j) {
    core::UnexpectedListener alert;
    alert.event = eventFromJson(j);
    try {
        alert.reason = stringField(j, "reason");
        if (j.contains("present")) {
            if (!j.at("present").is_boolean()) throw InvalidArgument("'present' must be a boolean");
            alert.present = j.at("present").get<bool>();
        }
    } catch (const json::exception& ex) {
        throw InvalidArgument(std::string("bad unexpected-listener alert: ") + ex.what());
    }
    return alert;
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

/// A JSON value as a neutral option; numbers keep their sign class, not their width.
OptionValue optionValue(const json& v) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float()) return v.get<double>();
    if (v.is_string()) return v.get<std::string>();
    return std::monostate{};  // refused by the parser with the key's own message
}

}  // namespace

OptionMap optionsFromJson(const json& j, const char* what) {
    OptionMap options;
    if (j.is_null()) return options;
    if (!j.is_object()) throw InvalidArgument(std::string(what) + " must be an object");
    for (const auto& [key, value] : j.items())
        options.emplace(key, optionValue(value));
    return options;
}

core::SocketFilter socketFilterFromJson(const json& j) {
    return socketFilterFromOptions(optionsFromJson(j, "filter"));
}

core::ListQuery listQueryFromJson(const json& j) {
    return listQueryFromOptions(optionsFromJson(j, "filter"));
}

core::HistoryFilter historyFilterFromJson(const json& j) {
    return historyFilterFromOptions(optionsFromJson(j, "filter"));
}

json toJson(const core::DaemonStatus& s) {
    json j = json::object();
    for (const auto& field : statusFields()) {
        if (field.presence == StatusPresence::HostWide && !s.hostWide) continue;
        std::visit(
            [&](auto member) {
                const auto& value = s.*member;
                if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::uint64_t>)
                    if (field.presence == StatusPresence::NonZero && value == 0) return;
                j[field.key] = value;
            },
            field.member);
    }
    return j;
}

namespace {

void statusFieldFromJson(const json& j, const StatusField& field, core::DaemonStatus& s) {
    std::visit(
        [&](auto member) {
            using T = std::decay_t<decltype(s.*member)>;
            if constexpr (std::is_same_v<T, std::string>) {
                s.*member = stringField(j, field.key);
            } else if constexpr (std::is_same_v<T, bool>) {
                if (!j.at(field.key).is_boolean())
                    throw InvalidArgument(std::string("'") + field.key + "' must be a boolean");
                s.*member = j.at(field.key).get<bool>();
            } else if constexpr (std::is_same_v<T, double>) {
                if (!j.at(field.key).is_number())
                    throw InvalidArgument(std::string("'") + field.key + "' must be a number");
                s.*member = j.at(field.key).get<double>();
            } else {
                s.*member = unsignedField<std::uint64_t>(j, field.key);
            }
        },
        field.member);
}

}  // namespace

core::DaemonStatus statusFromJson(const json& j) {
    try {
        core::DaemonStatus s;
        for (const auto& field : statusFields())
            if (field.required || j.contains(field.key)) statusFieldFromJson(j, field, s);
        return s;
    } catch (const json::exception& e) {
        throw InvalidArgument(std::string("bad status: ") + e.what());
    }
}

namespace {

json toJson(const OptionMap& options) {
    json j = json::object();
    for (const auto& [key, value] : options)
        std::visit(
            [&j, &key = key](const auto& v) {
                if constexpr (!std::is_same_v<std::decay_t<decltype(v)>, std::monostate>) j[key] = v;
            },
            value);
    return j;
}

}  // namespace

json toJson(const core::SocketFilter& f) {
    return toJson(toOptions(f));
}

json toJson(const core::ListQuery& q) {
    return toJson(toOptions(q));
}

json toJson(const core::HistoryFilter& f) {
    return toJson(toOptions(f));
}

json toJson(const WatchParams& p) {
    return toJson(toOptions(p));
}

WatchParams watchParamsFromJson(const json& j) {
    return watchParamsFromOptions(optionsFromJson(j, "watch options"));
}

}  // namespace porteye::protocol
