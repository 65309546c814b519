// SPDX-License-Identifier: MIT
#pragma once

#include "core/DaemonStatus.hpp"
#include "core/PortEvent.hpp"
#include "core/SocketRecord.hpp"
#include "wire/RequestOptions.hpp"

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <string>

/// Conversions between core types and the D-Bus wire types of org.porteye.PortEye1.xml, shared
/// by the daemon's front-end and porteyectl's proxy (so both read the XML's types one way).
namespace porteye::dbus {

inline constexpr const char* kBusName = "org.porteye.PortEye1";
inline constexpr const char* kObjectPath = "/org/porteye/PortEye1";
inline constexpr const char* kInterface = "org.porteye.PortEye1";
inline constexpr const char* kWatchInterface = "org.porteye.PortEye1.Watch";
inline constexpr const char* kWatchPathPrefix = "/org/porteye/PortEye1/watch/";
inline constexpr const char* kSubscriptionInterface = "org.porteye.PortEye1.Subscription";
inline constexpr const char* kSubscriptionPathPrefix = "/org/porteye/PortEye1/subscription/";
inline constexpr const char* kErrorPrefix = "org.porteye.PortEye1.Error.";

using Options = std::map<std::string, sdbus::Variant>;
/// record = (ussysqsqstuta{sv}): the fields of core::SocketRecord, then a{sv} details.
using RecordStruct =
    sdbus::Struct<std::uint32_t, std::string, std::string, std::uint8_t, std::string, std::uint16_t, std::string,
                  std::uint16_t, std::string, std::uint64_t, std::uint32_t, std::uint64_t, Options>;
/// event = (tst(record)s): sequence, action, timestamp, record, instance id.
using EventStruct = sdbus::Struct<std::uint64_t, std::string, std::uint64_t, RecordStruct, std::string, std::uint32_t>;

RecordStruct toDbus(const core::SocketRecord& record);
EventStruct toDbus(const core::PortEvent& event, const std::string& instanceId);
core::SocketRecord recordFromDbus(const RecordStruct& record);
core::PortEvent eventFromDbus(const EventStruct& event);

/// a{sv} -> neutral options, validated afterwards by protocol's parser. Integers of any width
/// become signed or unsigned 64-bit (ranges, not the type code, decide); strings, booleans and
/// doubles stay; anything else (containers, object paths, ...) becomes monostate, which the
/// parser refuses with the key's own message.
protocol::OptionMap optionsFromDbus(const Options& options);
/// The reverse, for porteyectl: ports become q, pids and limits u, since/after_sequence t.
Options optionsToDbus(const protocol::OptionMap& options);

/// GetStatus' a{sv}, keyed as the JSON status.
Options statusToDbus(const core::DaemonStatus& status);
core::DaemonStatus statusFromDbus(const Options& status);

}  // namespace porteye::dbus
