// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortEvent.hpp"
#include "core/SocketRecord.hpp"

#include <cstdint>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace porteye::cli {

/// An interval as Python prints a float, as the seed does: "1" -> "1.0", "0.20" -> "0.2".
std::optional<std::string> formatInterval(std::string_view given);
/// A port set as Python prints it: "{22, 80}", or "set()" when empty.
std::string formatPortSet(const std::set<std::uint16_t>& ports);

/// "Monitoring active ports for PID 16609 every 1.0 second(s). Press Ctrl+C to stop."
void printWatchHeader(std::ostream& out, std::uint32_t pid, std::string_view interval);
/// The seed's lines for one change: "New ports opened: {..}", "Ports closed: {..}", "Active ports: {..}".
void printWatchChange(std::ostream& out, const core::PortChange& change);

/// "Stopping monitoring.": ProcessPortMonitor's last line when Ctrl+C ends a watch.
void printWatchStopped(std::ostream& out);

/// An ss-like table of sockets; `color` adds ANSI colours (callers decide: TTY and no NO_COLOR).
/// A Container column ("docker:web", "podman:<12 id digits>") when any record is in a container or
/// with `extended`; `extended` (list -e) adds the holder's User, Unit, CPU% and RSS columns and its command line,
/// cut to fit `width` columns (0: never cut).
void printSocketTable(std::ostream& out, const std::vector<core::SocketRecord>& records, bool color,
                      bool extended = false, std::size_t width = 0);
/// Bytes as ps and top show them: "812K", "12.3M", "1.1G"; "-" when unknown.
std::string formatBytes(std::optional<std::uint64_t> bytes);
/// The one-line notice for a partial view (status "view" "own-user"); empty for "all".
std::string partialViewNotice(const std::string& view);
/// "addr:port" as ss shows it: IPv6 in brackets, port 0 of a peer as "*".
std::string formatEndpoint(const std::string& address, std::uint16_t port, std::uint8_t family, bool peer);

/// A history table: time, action, then the socket columns.
void printHistoryTable(std::ostream& out, const std::vector<core::PortEvent>& events, bool color);
/// One line per host event, for `porteyectl events`.
void printEventLine(std::ostream& out, const core::PortEvent& event, bool color);

/// One line per unexpected-listener alert, for `porteyectl events --unexpected`:
/// "TIME ! tcp LISTEN 0.0.0.0:8080 * pid=…: REASON" ("present" when it was open before the allowlist).
void printUnexpectedLine(std::ostream& out, const core::UnexpectedListener& alert, bool color);

/// Whether stdout should get colours: a terminal, and NO_COLOR unset or empty.
bool wantColor(int fd);

}  // namespace porteye::cli
