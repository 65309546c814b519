// SPDX-License-Identifier: MIT
#pragma once

#include "Transport.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <set>
#include <utility>
#include <vector>
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

struct WaitOptions {
    enum class Until { Listening, Free };
    Until until = Until::Listening;
    std::uint16_t port = 0;
    /// Numeric address: only sockets bound to it or to a wildcard address count (any when empty).
    std::optional<std::string> host;
    std::optional<core::Protocol> protocol;  ///< both when empty
    /// Gives up after this long (kExitTimeout); waits forever when empty.
    std::optional<std::chrono::duration<double>> timeout;
    /// How often to re-list when no event stream is available (D-Bus without the right to its
    /// broadcasts) and how often --local polls the kernel.
    std::chrono::duration<double> pollInterval{0.2};
};

/// Whether `record` is a socket `wait` counts for `options`: on the port (local side), of the
/// protocol and host asked for; for Listening a listener (TCP LISTEN, bound UDP), for Free any
/// socket but TIME_WAIT (which SO_REUSEADDR, set by servers, binds over).
bool waitCounts(const WaitOptions& options, const core::SocketRecord& record);

/// `porteyectl wait --listen|--free PORT`: subscribes to porteyed's events first, then lists the
/// port's sockets, then follows the events, so nothing between the two is missed. Returns kExitOk
/// when the port is (or becomes) listening or free, kExitTimeout after the timeout, kExitFailure on
/// a stop signal; porteyed going away is kExitUnavailable. Prints nothing but errors, or with
/// --json the outcome as one object.
int runWait(ITransport& transport, const WaitOptions& options, const OutputOptions& output, std::ostream& out,
            std::ostream& err);

/// `porteyectl who PORT`: one line per socket whose local port is PORT (listeners first, then
/// connections): process, user, unit and since when. kExitNotHeld when there is none.
int runWho(ITransport& transport, std::uint16_t port, std::optional<core::Protocol> protocol,
           const OutputOptions& output, std::ostream& out, std::ostream& err);

/// `porteyectl watch PID --exec CMD`: runs CMD through /bin/sh -c once per socket event of the
/// watch, one at a time and in order, with the event in PORTEYE_* environment variables and stdin
/// from /dev/null. The command's status does not end the watch.
int runWatchExec(ITransport& transport, std::uint32_t pid, WatchOptions options, const std::string& command,
                 std::ostream& err);

/// The PORTEYE_* variables `watch --exec` gives its command for one event (name, value).
std::vector<std::pair<std::string, std::string>> execEnvironment(std::uint32_t watchedPid, const core::PortEvent& event,
                                                                 const std::set<std::uint16_t>& active);

/// `porteyectl events --unexpected`: porteyed's unexpected-listener alerts, one line (or JSON line) each.
int runUnexpected(ITransport& transport, const core::SocketFilter& filter, const OutputOptions& output,
                  std::ostream& out);

/// `porteyectl expect --snapshot`: today's listeners as a starting allowlist (the expected.d format):
/// a header naming the host and time, then one rule per distinct listener, sorted.
int runExpectSnapshot(ITransport& transport, const std::string& host, core::WallTime now, std::ostream& out);

}  // namespace porteye::cli
