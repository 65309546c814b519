// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"
#include "core/PortEvent.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// Journal entries for port events, as pure functions: an event in, the entry's "KEY=value"
/// fields out. No I/O here (JournalEventLog sends them), so every field is unit-tested.
namespace porteye::journal {

/// Which events become journal entries (porteyed.conf `journal_events`).
enum class JournalEvents : std::uint8_t {
    Off,        ///< none
    Listeners,  ///< listeners opening and closing, and their owner changes (the default)
    All,        ///< connections too, at debug priority
};
std::optional<JournalEvents> parseJournalEvents(std::string_view name);
std::string_view journalEventsName(JournalEvents setting);

/// syslog priorities (PRIORITY=): listeners at info, connections at debug.
constexpr int kPriorityWarning = 4;
constexpr int kPriorityInfo = 6;
constexpr int kPriorityDebug = 7;

/// Whether `setting` journals this event.
bool journalled(JournalEvents setting, const core::PortEvent& event);
/// The event's MESSAGE_ID (journal/MessageIds.hpp): one per kind of event.
std::string_view messageIdOf(const core::PortEvent& event);
int priorityOf(const core::PortEvent& event);
/// The human line (MESSAGE=): "nginx[1234] started listening on tcp 0.0.0.0:80 (nginx.service)".
std::string messageOf(const core::PortEvent& event);
/// The whole entry: MESSAGE, MESSAGE_ID, PRIORITY, SYSLOG_IDENTIFIER and the PORTEYE_* fields.
/// Fields without a value (no unit, no owner) are left out, not sent empty, so
/// `journalctl PORTEYE_UNIT=…` matches only entries that have one. Values are the record's
/// strings as they are: the core escaped them where they were read (core/Escape.hpp).
std::vector<std::string> entryFields(const core::PortEvent& event);
/// The same fields under another MESSAGE_ID, PRIORITY and MESSAGE: for entries about an event
/// that are not the event itself (the UnexpectedListener warning: message_id::kUnexpectedListener,
/// kPriorityWarning).
std::vector<std::string> entryFields(const core::PortEvent& event, std::string_view messageId, int priority,
                                     const std::string& message);
/// The unexpected-listener warning's line: "unexpected listener: tcp 127.0.0.1:8080 by 4242 (nc); no rule …".
std::string alertMessageOf(const core::UnexpectedListener& alert);
/// The warning's entry: the event's fields (entryFields) under message_id::kUnexpectedListener at
/// kPriorityWarning, PORTEYE_ACTION=unexpected, and PORTEYE_PRESENT, PORTEYE_REASON.
std::vector<std::string> alertFields(const core::UnexpectedListener& alert);
/// "N unexpected-listener alerts for uid U held back in the last S s" (the per-uid alert limit).
std::vector<std::string> heldBackAlertsFields(std::uint32_t uid, std::uint64_t count, double seconds);
/// The entry porteyed writes when its own rate limit held `suppressed` entries back.
std::vector<std::string> suppressedFields(std::uint64_t suppressed, std::string_view kind, double seconds);

}  // namespace porteye::journal
