// SPDX-License-Identifier: MIT
#pragma once

#include "Transport.hpp"

#include <ostream>
#include <string>

namespace porteye::cli {

struct OutputOptions {
    bool json = false;
    bool color = false;
};

/// `porteyectl list`: the table or a JSON array of records.
int runList(ITransport& transport, const core::SocketFilter& filter, const OutputOptions& output, std::ostream& out);

/// `porteyectl watch PID`: the seed's lines, or one JSON object per change.
/// `intervalText` is the interval as the user typed it (printed back as Python would).
int runWatch(ITransport& transport, std::uint32_t pid, const WatchOptions& options, const std::string& intervalText,
             const OutputOptions& output, std::ostream& out, std::ostream& err);

}  // namespace porteye::cli
