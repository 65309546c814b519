// SPDX-License-Identifier: MIT
#pragma once

#include <string_view>

/// MESSAGE_IDs of porteyed's journal entries: fixed forever (a saved `journalctl MESSAGE_ID=…`
/// query and the catalog, systemd/porteye.catalog, depend on them). Made once with
/// `systemd-id128 new`; never reuse one for a different meaning. 32 lowercase hex digits, as
/// the journal stores them.
namespace porteye::journal::message_id {

/// A socket started listening (TCP LISTEN, or a bound, unconnected UDP socket).
inline constexpr std::string_view kListenerAdded = "d15ff3b49c784e7eac0811ff0ff1a53e";
/// A listener closed.
inline constexpr std::string_view kListenerRemoved = "16aa06fd230a44beaaf4cad0165e41b3";
/// A connection appeared (any non-listening state: ESTABLISHED, SYN_SENT, TIME_WAIT, connected UDP).
inline constexpr std::string_view kConnectionAdded = "025af71c9bb641c9b6ea8aecff01d486";
/// A connection closed.
inline constexpr std::string_view kConnectionRemoved = "cfc7b724287b437c97cf4c72fafa5278";
/// An open socket changed hands (PORTEYE_PREVIOUS_PID let go of it, PORTEYE_PID holds it).
inline constexpr std::string_view kOwnerChanged = "5ba2af581b9a4ff8840b88e2d73185e7";
/// A listener nobody expected (/etc/porteye/expected.d): the UnexpectedListener warning.
/// Sent by journal/JournalEventLog (alertFields) at PRIORITY=4; its catalog entry is in porteye.catalog.
inline constexpr std::string_view kUnexpectedListener = "f2171843a52249f9a437052bbbf08f86";
/// porteyed's own rate limit held entries back (PORTEYE_SUPPRESSED says how many).
inline constexpr std::string_view kSuppressed = "0d03758693584b9682a3f965821d22bf";

}  // namespace porteye::journal::message_id
