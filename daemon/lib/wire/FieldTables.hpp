// SPDX-License-Identifier: MIT
#pragma once

#include "core/DaemonStatus.hpp"
#include "core/ProcessInfo.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <variant>

/// The field tables of the wire types: one row per field, with its key (the same in JSON and in
/// D-Bus a{sv}), the member it reads and writes, and its rules for absence and visibility. JSON
/// (wire/Json.cpp) and D-Bus (wire/DbusTypes.cpp) both read them, both ways, so a field is added
/// in one place. Standard library only.
namespace porteye::protocol {

/// When a JSON status carries a field (D-Bus GetStatus always carries every field).
enum class StatusPresence {
    Always,
    NonZero,   ///< only when it is not 0 (counters an unprivileged caller never sees)
    HostWide,  ///< only for a caller that sees the whole host (DaemonStatus::hostWide)
};

/// One field of core::DaemonStatus.
struct StatusField {
    using Member = std::variant<std::string core::DaemonStatus::*, bool core::DaemonStatus::*,
                                double core::DaemonStatus::*, std::uint64_t core::DaemonStatus::*>;
    const char* key;
    Member member;
    StatusPresence presence = StatusPresence::Always;
    /// Reading JSON: a status without it is refused (the fields of the first protocol version).
    /// Absent optional fields, and absent or mistyped D-Bus fields, keep DaemonStatus's default.
    bool required = false;
};

/// Every field of `status` (JSON and GetStatus), in the order JSON writes them.
std::span<const StatusField> statusFields();

/// One string detail of a record's owner (ProcessDetails): in JSON always present, null when
/// empty; in the D-Bus record's a{sv} present only when not empty.
struct DetailField {
    const char* key;
    std::string core::ProcessDetails::*member;
};

/// The record's string details, in the order JSON writes them (start_time, a number, sits
/// between exe and unit: see Json.cpp).
std::span<const DetailField> detailStringFields();

}  // namespace porteye::protocol
