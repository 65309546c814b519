// SPDX-License-Identifier: MIT
#pragma once

#include "core/PortEvent.hpp"
#include "core/SocketRecord.hpp"

#include <nlohmann/json.hpp>
#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <string>

/// Conversions between core types and the D-Bus wire types of org.porteye.PortEye1.xml,
/// shared by the daemon's adaptor and porteyectl's proxy.
namespace porteye::dbus {

inline constexpr const char* kBusName = "org.porteye.PortEye1";
inline constexpr const char* kObjectPath = "/org/porteye/PortEye1";
inline constexpr const char* kInterface = "org.porteye.PortEye1";
inline constexpr const char* kWatchInterface = "org.porteye.PortEye1.Watch";
inline constexpr const char* kWatchPathPrefix = "/org/porteye/PortEye1/watch/";
inline constexpr const char* kErrorPrefix = "org.porteye.PortEye1.Error.";

using RecordStruct =
    sdbus::Struct<std::uint32_t, std::string, std::string, std::uint8_t, std::string, std::uint16_t, std::string,
                  std::uint16_t, std::string, std::uint64_t, std::uint32_t, std::uint64_t>;
using EventStruct = sdbus::Struct<std::uint64_t, std::string, std::uint64_t, RecordStruct>;
using Options = std::map<std::string, sdbus::Variant>;

RecordStruct toDbus(const core::SocketRecord& record);
EventStruct toDbus(const core::PortEvent& event);
core::SocketRecord recordFromDbus(const RecordStruct& record);
core::PortEvent eventFromDbus(const EventStruct& event);

/// a{sv} -> JSON object so D-Bus filters go through the same validating parser as
/// the JSON protocol. Integers of any width become numbers, so range checks (not
/// the D-Bus type code) decide; containers and other types throw protocol::InvalidArgument.
nlohmann::json optionsToJson(const Options& options);
/// The reverse, for porteyectl: numbers become u/q/t by key, strings s, booleans b, doubles d.
Options optionsFromJson(const nlohmann::json& object);

}  // namespace porteye::dbus
