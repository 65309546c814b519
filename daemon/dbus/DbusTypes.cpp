// SPDX-License-Identifier: MIT
#include "dbus/DbusTypes.hpp"

#include "core/TimeFormat.hpp"
#include "protocol/Json.hpp"

namespace porteye::dbus {

RecordStruct toDbus(const core::SocketRecord& r) {
    return RecordStruct{r.pid,           r.process,      std::string(core::protocolName(r.protocol)),
                        r.family,        r.localAddress, r.localPort,
                        r.remoteAddress, r.remotePort,   std::string(core::stateName(r.state)),
                        r.inode,         r.uid,          r.cookie};
}

EventStruct toDbus(const core::PortEvent& e) {
    return EventStruct{e.sequence, std::string(core::actionName(e.action)), core::toEpochMicros(e.time),
                       toDbus(e.record)};
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
    return r;
}

core::PortEvent eventFromDbus(const EventStruct& s) {
    core::PortEvent e;
    e.sequence = s.get<0>();
    e.action = core::parseActionName(s.get<1>()).value_or(core::Action::Added);
    e.time = core::fromEpochMicros(s.get<2>());
    e.record = recordFromDbus(s.get<3>());
    return e;
}

nlohmann::json optionsToJson(const Options& options) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [key, value] : options) {
        const std::string type = value.peekValueType();
        if (type == "s")
            object[key] = value.get<std::string>();
        else if (type == "b")
            object[key] = value.get<bool>();
        else if (type == "d")
            object[key] = value.get<double>();
        else if (type == "y")
            object[key] = value.get<std::uint8_t>();
        else if (type == "q")
            object[key] = value.get<std::uint16_t>();
        else if (type == "u")
            object[key] = value.get<std::uint32_t>();
        else if (type == "t")
            object[key] = value.get<std::uint64_t>();
        else if (type == "n")
            object[key] = value.get<std::int16_t>();
        else if (type == "i")
            object[key] = value.get<std::int32_t>();
        else if (type == "x")
            object[key] = value.get<std::int64_t>();
        else
            throw protocol::InvalidArgument("option '" + key + "' has unsupported type '" + type + "'");
    }
    return object;
}

Options optionsFromJson(const nlohmann::json& object) {
    Options options;
    for (const auto& [key, value] : object.items()) {
        if (value.is_string())
            options[key] = sdbus::Variant(value.get<std::string>());
        else if (value.is_boolean())
            options[key] = sdbus::Variant(value.get<bool>());
        else if (value.is_number_float())
            options[key] = sdbus::Variant(value.get<double>());
        else if (key == "port")
            options[key] = sdbus::Variant(value.get<std::uint16_t>());
        else if (key == "since" || key == "after_sequence")
            options[key] = sdbus::Variant(value.get<std::uint64_t>());
        else if (value.is_number())
            options[key] = sdbus::Variant(value.get<std::uint32_t>());
    }
    return options;
}

}  // namespace porteye::dbus
