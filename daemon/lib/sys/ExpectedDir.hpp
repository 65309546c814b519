// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"

#include <optional>
#include <string>
#include <vector>

namespace porteye::sys {

/// The allowlist as read from a directory of `*.conf` files (core/ExpectedListeners.hpp).
struct LoadedExpected {
    /// nullopt: no allowlist (the directory is missing, or holds no `*.conf` entry), so the
    /// feature is off and nothing is unexpected. An allowlist of files without rules expects
    /// nothing, and so does one whose every `*.conf` is unusable: alerts stay on.
    std::optional<core::ExpectedListeners> rules;
    std::size_t files = 0;              ///< `*.conf` files read
    std::size_t unusable = 0;           ///< `*.conf` entries refused (symlinks, FIFOs, devices, unreadable...)
    std::vector<std::string> errors;    ///< "file:line: why", lines skipped; files that could not be read
    std::vector<std::string> warnings;  ///< duplicates, one line per file
};

/// Largest file read; the rest of a longer one is ignored (and said so).
constexpr std::size_t kMaxExpectedFileBytes = 4 * 1024 * 1024;

/// Reads `dir/*.conf` in name order, each relative to the directory (no symlink followed, only
/// regular files on local filesystems, non-blocking, size-bounded). Never throws, never blocks.
LoadedExpected loadExpectedDir(const std::string& dir);

}  // namespace porteye::sys
