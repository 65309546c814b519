// SPDX-License-Identifier: MIT
#pragma once

#include "core/Filters.hpp"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>

/// Request options (filters, paging, watch options) as a transport-neutral key → value map, and
/// the one parser that validates them. The JSON-RPC front-end (a JSON object) and the D-Bus
/// front-end (an a{sv}) both translate their options to an OptionMap and call the same functions
/// here, so keys, types, ranges and error messages are the same on both transports. Standard
/// library only: neither JSON nor D-Bus is linked.
namespace porteye::protocol {

/// Thrown by the parsers for an unknown key, or a value of the wrong type or range.
class InvalidArgument : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// One option's value. Integers keep their sign class, not their width: range checks, not the wire
/// type code, decide (a D-Bus `u` port of 70000 and a JSON 70000 get the same error). monostate
/// stands for a value of any other kind (array, object, null, nested container), refused with the
/// key's own message.
using OptionValue = std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string>;
using OptionMap = std::map<std::string, OptionValue>;

/// Filters by keys pid, port, process, state, protocol, unit, container, netns (text; an inode may
/// also come as an unsigned number), listening. unit, container and netns must not be empty.
core::SocketFilter socketFilterFromOptions(const OptionMap& options);
/// A list request: the socket keys plus offset and limit (paging).
core::ListQuery listQueryFromOptions(const OptionMap& options);
/// A history request: the socket keys plus action, since (µs since the epoch, or ISO-8601 text),
/// after_sequence and limit (at most kMaxHistoryLimit).
core::HistoryFilter historyFilterFromOptions(const OptionMap& options);

/// Options of a watch: interval (seconds), children (bool), state, protocol.
struct WatchParams {
    double intervalSeconds = 1.0;
    bool includeChildren = false;
    core::SocketFilter filter;
};
WatchParams watchParamsFromOptions(const OptionMap& options);

/// The reverse, for clients building requests: unset fields are left out; ports, pids and
/// limits are unsigned, since and after_sequence too.
OptionMap toOptions(const core::SocketFilter& filter);
OptionMap toOptions(const core::ListQuery& query);
OptionMap toOptions(const core::HistoryFilter& filter);
OptionMap toOptions(const WatchParams& params);

/// Largest history `limit` a caller may ask for.
constexpr std::size_t kMaxHistoryLimit = 1'000'000;

}  // namespace porteye::protocol
