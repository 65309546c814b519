// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"

#include <optional>
#include <string>
#include <vector>

namespace porteye::sys {

/// The allowlist as read from a directory of `*.conf` files (core/ExpectedListeners.hpp).
struct LoadedExpected {
    /// nullopt: no allowlist (the directory is missing, or holds no `*.conf` file), so the
    /// feature is off and nothing is unexpected. An allowlist of files without rules expects nothing.
    std::optional<core::ExpectedListeners> rules;
    std::size_t files = 0;
    std::vector<std::string> errors;    ///< "file:line: why", lines skipped; files that could not be read
    std::vector<std::string> warnings;  ///< duplicates
};

/// Largest file read; the rest of a longer one is ignored (and said so).
constexpr std::size_t kMaxExpectedFileBytes = 4 * 1024 * 1024;

/// Reads `dir/*.conf` in name order. Never throws.
LoadedExpected loadExpectedDir(const std::string& dir);

}  // namespace porteye::sys
