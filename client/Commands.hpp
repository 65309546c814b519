// SPDX-License-Identifier: MIT
#pragma once

#include "Transport.hpp"

#include <cstddef>
#include <ostream>
#include <string>

namespace porteye::cli {

struct OutputOptions {
    bool json = false;
    bool color = false;
    bool extended = false;  ///< list -e: the holders' user, unit, CPU, memory and command line
    std::size_t width = 0;  ///< terminal columns to fit the command line into (0: no terminal)
};

/// `porteyectl list`: the table or a JSON array of records (JSON carries every detail, with or
/// without -e). When porteyed sees only its own user's processes, a one-line notice goes to `err`.
int runList(ITransport& transport, const core::SocketFilter& filter, const OutputOptions& output, std::ostream& out,
            std::ostream& err);

/// `porteyectl watch PID`: the seed's lines, or one JSON object per change; ends with
/// "Stopping monitoring." (text only) when a stop signal ended it.
/// `intervalText` is the interval as the user typed it (printed back as Python would).
int runWatch(ITransport& transport, std::uint32_t pid, WatchOptions options, const std::string& intervalText,
             const OutputOptions& output, std::ostream& out, std::ostream& err);

/// `porteyectl history`: a table or a JSON array of events, oldest first.
int runHistory(ITransport& transport, const core::HistoryFilter& filter, const OutputOptions& output,
               std::ostream& out);

/// `porteyectl status`: the daemon's counters; the partial-view notice on `err` as for list.
int runStatus(ITransport& transport, const OutputOptions& output, std::ostream& out, std::ostream& err);

/// `porteyectl events`: every host change, one line (or JSON line) each, until Ctrl+C.
int runEvents(ITransport& transport, const core::SocketFilter& filter, const OutputOptions& output, std::ostream& out);

}  // namespace porteye::cli
