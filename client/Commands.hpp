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

/// `porteyectl watch PID`: the seed's lines, or one JSON object per change; ends with
/// "Stopping monitoring." (text only) when a stop signal ended it.
/// `intervalText` is the interval as the user typed it (printed back as Python would).
int runWatch(ITransport& transport, std::uint32_t pid, WatchOptions options, const std::string& intervalText,
             const OutputOptions& output, std::ostream& out, std::ostream& err);

/// `porteyectl history`: a table or a JSON array of events, oldest first.
int runHistory(ITransport& transport, const core::HistoryFilter& filter, const OutputOptions& output,
               std::ostream& out);

/// `porteyectl status`: the daemon's counters.
int runStatus(ITransport& transport, const OutputOptions& output, std::ostream& out);

/// `porteyectl events`: every host change, one line (or JSON line) each, until Ctrl+C.
int runEvents(ITransport& transport, const core::SocketFilter& filter, const OutputOptions& output, std::ostream& out);

}  // namespace porteye::cli
