// SPDX-License-Identifier: MIT
#include "wire/DbusTypes.hpp"

#include "core/TimeFormat.hpp"
#include "wire/FieldTables.hpp"

#include <limits>
#include <memory>
#include <utility>

namespace porteye::dbus {

namespace {

// The record's a{sv}: the JSON record's detail keys, each present only when known.
Options detailsToDbus(const core::SocketRecord& r) {
    Options out;
    if (const auto* d = r.details.get()) {
        for (const auto& field : protocol::detailStringFields())
            if (!(d->*field.member).empty()) out.emplace(field.key, sdbus::Variant(d->*field.member));
        if (d->startTimeUs != 0) out.emplace("start_time", sdbus::Variant(d->startTimeUs));
    }
    if (r.netns != 0) out.emplace("netns", sdbus::Variant(r.netns));
    if (!r.netnsName.empty()) out.emplace("netns_name", sdbus::Variant(r.netnsName));
    if (r.usage) {
        out.emplace("cpu_percent", sdbus::Variant(r.usage->cpuPercent));
        out.emplace("memory_rss", sdbus::Variant(r.usage->memoryRssBytes));
    }
    return out;
}

// One detail of the type this version writes; a key of another type (a newer daemon's) is skipped.
template <typename T>
bool detail(const Options& details, const char* key, T& out) {
    auto it = details.find(key);
    if (it == details.end()) return false;
    try {
        out = it->second.get<T>();
        return true;
    } catch (const sdbus::Error&) {
        return false;
    }
}

void detailsFromDbus(const Options& details, core::SocketRecord& r) {
    core::ProcessDetails d;
    bool any = false;
    for (const auto& field : protocol::detailStringFields())
        any |= detail(details, field.key, d.*field.member);
    any |= detail(details, "start_time", d.startTimeUs);
    if (any) r.details = std::make_shared<const core::ProcessDetails>(std::move(d));
    detail(details, "netns", r.netns);
    detail(details, "netns_name", r.netnsName);
    core::UsageNow u;
    bool usage = false;
    usage |= detail(details, "cpu_percent", u.cpuPercent);
    usage |= detail(details, "memory_rss", u.memoryRssBytes);
    if (usage) r.usage = u;
}

}  // namespace

RecordStruct toDbus(const core::SocketRecord& r) {
    return RecordStruct{r.pid,           r.process,      std::string(core::protocolName(r.protocol)),
                        r.family,        r.localAddress, r.localPort,
                        r.remoteAddress, r.remotePort,   std::string(core::stateName(r.protocol, r.state)),
                        r.inode,         r.uid,          r.cookie,
                        detailsToDbus(r)};
}

EventStruct toDbus(const core::PortEvent& e, const std::string& instanceId) {
    RecordStruct record = toDbus(e.record);
    // The event struct has no member for it: a short-lived removal says so among the record's options.
    if (e.shortLived) record.get<12>().emplace("short_lived", sdbus::Variant(true));
    return EventStruct{e.sequence,
                       std::string(core::actionName(e.action)),
                       core::toEpochMicros(e.time),
                       std::move(record),
                       instanceId,
                       e.previousPid};
}

core::SocketRecord recordFromDbus(const RecordStruct& s) {
    core::SocketRecord r;
    r.pid = s.get<0>();
    r.process = s.get<1>();
    r.protocol = core::parseProtocolName(s.get<2>()).value_or(core::Protocol::Tcp);
    r.family = s.get<3>();
    r.localAddress = s.get<4>();
    r.localPort = s.get<5>();
    r.remoteAddress = s.get<6>();
    r.remotePort = s.get<7>();
    r.state = core::parseStateName(s.get<8>()).value_or(core::TcpState::Unknown);
    r.inode = s.get<9>();
    r.uid = s.get<10>();
    r.cookie = s.get<11>();
    detailsFromDbus(s.get<12>(), r);  // keys this version does not know are ignored
    return r;
}

core::PortEvent eventFromDbus(const EventStruct& s) {
    core::PortEvent e;
    e.sequence = s.get<0>();
    e.action = core::parseActionName(s.get<1>()).value_or(core::Action::Added);
    e.time = core::fromEpochMicros(s.get<2>());
    e.record = recordFromDbus(s.get<3>());
    e.previousPid = s.get<5>();
    detail(s.get<3>().get<12>(), "short_lived", e.shortLived);
    return e;
}

protocol::OptionMap optionsFromDbus(const Options& options) {
    protocol::OptionMap out;
    for (const auto& [key, value] : options) {
        const std::string type = value.peekValueType();
        protocol::OptionValue v;
        if (type == "s")
            v = value.get<std::string>();
        else if (type == "b")
            v = value.get<bool>();
        else if (type == "d")
            v = value.get<double>();
        else if (type == "y")
            v = std::uint64_t{value.get<std::uint8_t>()};
        else if (type == "q")
            v = std::uint64_t{value.get<std::uint16_t>()};
        else if (type == "u")
            v = std::uint64_t{value.get<std::uint32_t>()};
        else if (type == "t")
            v = value.get<std::uint64_t>();
        else if (type == "n")
            v = std::int64_t{value.get<std::int16_t>()};
        else if (type == "i")
            v = std::int64_t{value.get<std::int32_t>()};
        else if (type == "x")
            v = value.get<std::int64_t>();
        out.emplace(key, std::move(v));  // other types stay monostate: the parser names the key
    }
    return out;
}

namespace {

sdbus::Variant unsignedVariant(const std::string& key, std::uint64_t value) {
    if (key == "port" && value <= std::numeric_limits<std::uint16_t>::max())
        return sdbus::Variant(static_cast<std::uint16_t>(value));
    if (key == "since" || key == "after_sequence" || value > std::numeric_limits<std::uint32_t>::max())
        return sdbus::Variant(value);
    return sdbus::Variant(static_cast<std::uint32_t>(value));
}

}  // namespace

Options optionsToDbus(const protocol::OptionMap& options) {
    Options out;
    for (const auto& [key, value] : options) {
        if (const auto* s = std::get_if<std::string>(&value))
            out[key] = sdbus::Variant(*s);
        else if (const auto* b = std::get_if<bool>(&value))
            out[key] = sdbus::Variant(*b);
        else if (const auto* d = std::get_if<double>(&value))
            out[key] = sdbus::Variant(*d);
        else if (const auto* u = std::get_if<std::uint64_t>(&value))
            out[key] = unsignedVariant(key, *u);
        else if (const auto* i = std::get_if<std::int64_t>(&value))
            out[key] = sdbus::Variant(*i);
    }
    return out;
}

Options statusToDbus(const core::DaemonStatus& s) {
    // Every field, whoever asks: a{sv} readers look keys up, and 0 says "not yours to see".
    Options out;
    for (const auto& field : protocol::statusFields())
        std::visit([&](auto member) { out.emplace(field.key, sdbus::Variant(s.*member)); }, field.member);
    return out;
}

core::DaemonStatus statusFromDbus(const Options& status) {
    core::DaemonStatus s;
    for (const auto& field : protocol::statusFields())
        std::visit(
            [&](auto member) {
                // Absent, or typed otherwise by a newer daemon: keep the default, use what we understand.
                detail(status, field.key, s.*member);
            },
            field.member);
    return s;
}

}  // namespace porteye::dbus
