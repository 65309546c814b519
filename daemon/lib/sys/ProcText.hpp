// SPDX-License-Identifier: MIT
#pragma once

#include "core/ProcessInfo.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

/// The text of /proc files, parsed apart from reading them (ProcProcessTable reads, these parse).
/// Any process chooses part of these bytes: its comm (prctl(PR_SET_NAME)), its argv. Pure, never
/// throw, never read past the text.
namespace porteye::sys {

/// First number of a /proc/<pid>/status line such as "Uid:" (the real uid) or "Tgid:".
std::optional<std::uint32_t> parseStatusField(std::string_view status, std::string_view key);
/// The real uid of a status file.
std::optional<std::uint32_t> parseStatusUid(std::string_view status);

/// The comm of a stat file (between the first '(' and the last ')', so a name holding ") " stays
/// whole), escaped (core::escapeUntrusted); nullopt without both parentheses.
std::optional<std::string> commFromStat(std::string_view stat);
/// Whether field 3 (the state) of a stat file says zombie.
bool statSaysZombie(std::string_view stat);
/// Field `n` (1-based, as proc(5) numbers them; n >= 3) of a stat file, counted after the comm.
std::optional<std::uint64_t> statField(std::string_view stat, int n);
/// Field 22: when the process started, in clock ticks after boot.
std::optional<std::uint64_t> statStartTime(std::string_view stat);
/// CPU time, start time (stat) and resident memory (statm's second field).
std::optional<core::ProcessUsage> usageFromStat(std::string_view stat, std::string_view statm, long clkTck,
                                                long pageSize);

/// A cmdline file as one line: trailing NULs dropped, the NULs between arguments made spaces,
/// escaped (core::escapeUntrusted).
std::string cmdlineFromBytes(std::string_view cmdline);

/// Parses the target of an fd symlink: "socket:[12345]" -> 12345; anything else -> 0.
std::uint64_t parseSocketLink(std::string_view target);

}  // namespace porteye::sys
