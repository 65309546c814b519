// SPDX-License-Identifier: MIT
#pragma once

#include "core/DaemonStatus.hpp"
#include "core/ExpectedListeners.hpp"
#include "core/Filters.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortEvent.hpp"
#include "core/SocketRecord.hpp"
#include "wire/RequestOptions.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

/// The JSON shapes shared by porteyed and porteyectl: field names here are the
/// same as the D-Bus record's documented fields.
namespace porteye::protocol {

constexpr int kProtocolVersion = 1;

/// A record: the socket's keys, then its holder's details, always present and null when not
/// known (no owner, unreadable, not in a unit): cmdline, user, exe, start_time (µs since the
/// epoch), unit; and cpu_percent, memory_rss (bytes), set in list replies only.
nlohmann::json toJson(const core::SocketRecord& record);
core::SocketRecord recordFromJson(const nlohmann::json& j);

/// An event: {"sequence", "action", "timestamp" (local ISO-8601 µs), "time_us", "record"}.
nlohmann::json toJson(const core::PortEvent& event);
core::PortEvent eventFromJson(const nlohmann::json& j);

/// An unexpected-listener alert: the event's fields plus "reason" (s) and "present" (b).
nlohmann::json toJson(const core::UnexpectedListener& alert);
core::UnexpectedListener unexpectedFromJson(const nlohmann::json& j);

/// A watch step: {"pid", "new_ports", "closed_ports", "active_ports", "timestamp", "events"[, "exited"]}.
nlohmann::json toJson(std::uint32_t pid, const core::PortChange& change, core::WallTime time);

/// A JSON object (or null: no options) as the neutral option map; anything else throws
/// InvalidArgument("<what> must be an object").
OptionMap optionsFromJson(const nlohmann::json& j, const char* what);

/// Filters from JSON objects, validated by the neutral parser in RequestOptions.hpp (the same one
/// the D-Bus front-end uses): unknown keys and wrong types throw InvalidArgument.
core::SocketFilter socketFilterFromJson(const nlohmann::json& j);
/// A list request: the socket keys plus "offset" and "limit" (paging).
core::ListQuery listQueryFromJson(const nlohmann::json& j);
core::HistoryFilter historyFilterFromJson(const nlohmann::json& j);

/// Options of a watch: {"interval" (seconds), "children" (bool), "state", "protocol"}.
WatchParams watchParamsFromJson(const nlohmann::json& j);

/// `status`: {version, instance_id, host_wide, poll_interval, sockets, history_size, history_capacity,
/// history_dropped, next_sequence, watches, view ("all" or "own-user"), store}; polls and failed_polls when
/// non-zero. `store` is the persistent history's health: "ok", "disabled" or "failed: <reason>".
nlohmann::json toJson(const core::DaemonStatus& status);
core::DaemonStatus statusFromJson(const nlohmann::json& j);

/// The reverse of the parsers above, for clients building requests (unset fields are left out).
nlohmann::json toJson(const core::SocketFilter& filter);
nlohmann::json toJson(const core::HistoryFilter& filter);
nlohmann::json toJson(const core::ListQuery& query);
nlohmann::json toJson(const WatchParams& params);

}  // namespace porteye::protocol
