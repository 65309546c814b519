// SPDX-License-Identifier: MIT
#pragma once

#include "core/PortEvent.hpp"
#include "core/SocketRecord.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace porteye::core {

/// Which sockets a caller wants. Every set field must match.
struct SocketFilter {
    std::optional<std::uint32_t> pid;
    std::optional<std::uint16_t> port;   ///< local or remote port
    std::optional<std::string> process;  ///< case-insensitive substring of the process name
    std::optional<TcpState> state;
    std::optional<Protocol> protocol;
    /// The owner's systemd unit, exactly as records name it ("nginx.service"); below a nested
    /// manager either part alone matches too: "app.service" and "user@1000.service" both match
    /// "user@1000.service/app.service". Case-sensitive, as systemd's names are; no globs.
    std::optional<std::string> unit;
    /// The owner's container: its exact name, or a prefix of its id of at least 4 characters
    /// (as `docker ps` shows 12). Shorter text matches names only.
    std::optional<std::string> container;
    /// The socket's network namespace: its inode number in decimal, or its exact name.
    std::optional<std::string> netns;
    /// Set by the access rule, not by callers: records whose visibleUid() is this uid.
    std::optional<std::uint32_t> uid;
    bool listeningOnly = false;  ///< TCP LISTEN and bound, unconnected UDP (as `ss -l`)

    bool matches(const SocketRecord& record) const;
};

/// One page of the current sockets: the records at [offset, offset + limit) of those that
/// match, in the table's stable order (socket cookie, inode, pid).
struct ListQuery {
    SocketFilter filter;
    std::size_t offset = 0;
    std::size_t limit = 0;  ///< 0 = every match (refused when more than a reply may carry)
};

constexpr std::size_t kDefaultHistoryLimit = 100;

/// Which history events a caller wants; results are oldest first: the newest `limit` that match,
/// or with afterSequence the oldest `limit` after it (paging forward without gaps).
struct HistoryFilter {
    SocketFilter socket;
    std::optional<Action> action;
    std::optional<WallTime> since;               ///< events at or after this time
    std::optional<std::uint64_t> afterSequence;  ///< events with a larger sequence number
    std::size_t limit = kDefaultHistoryLimit;    ///< 0 = no limit

    bool matches(const PortEvent& event) const;
};

/// The shortest container id prefix SocketFilter::container takes as an id.
constexpr std::size_t kMinContainerIdPrefix = 4;

/// SocketFilter::unit's rule for one record's unit.
bool unitMatches(std::string_view recordUnit, std::string_view wanted);
/// SocketFilter::container's rule for one record's container id and name.
bool containerMatches(std::string_view id, std::string_view name, std::string_view wanted);
/// SocketFilter::netns's rule: the inode when `wanted` is all digits, else the name.
bool netnsMatches(std::uint64_t inode, std::string_view name, std::string_view wanted);

/// Case-insensitive substring test used by the process filters.
bool containsIgnoreCase(std::string_view haystack, std::string_view needle);

}  // namespace porteye::core
