// SPDX-License-Identifier: MIT
#include "Commands.hpp"

#include "ExitCode.hpp"
#include "Output.hpp"
#include "core/IClock.hpp"
#include "core/TimeFormat.hpp"
#include "wire/Json.hpp"

#include <algorithm>
#include <tuple>

namespace porteye::cli {

namespace {

/// The partial-view notice, when porteyed says its view is partial. Best effort: a transport
/// without a daemon (--local) or a failed status call prints nothing.
void noticePartialView(ITransport& transport, std::ostream& err) {
    std::string view;
    try {
        view = transport.status().view;
    } catch (const std::exception&) {
        return;
    }
    if (const auto notice = partialViewNotice(view); !notice.empty()) err << notice << '\n';
}

}  // namespace

int runList(ITransport& transport, const core::SocketFilter& filter, const OutputOptions& output, std::ostream& out,
            std::ostream& err) {
    auto records = transport.list(filter);
    if (output.json) {
        nlohmann::json array = nlohmann::json::array();
        for (const auto& r : records)
            array.push_back(protocol::toJson(r));
        out << array.dump(2) << '\n';
    } else {
        printSocketTable(out, records, output.color, output.extended, output.width);
    }
    noticePartialView(transport, err);
    return kExitOk;
}

int runWatch(ITransport& transport, std::uint32_t pid, WatchOptions options, const std::string& intervalText,
             const OutputOptions& output, std::ostream& out, std::ostream& err) {
    const auto interval = formatInterval(intervalText).value_or(intervalText);
    // The header promises a watch: print it only once the PID has been checked.
    if (!output.json) options.onStarted = [&] { printWatchHeader(out, pid, interval); };
    bool exited = false;
    core::SystemClock clock;
    transport.watch(pid, options, [&](const core::PortChange& change) {
        if (output.json) {
            out << protocol::toJson(pid, change, clock.now()).dump() << '\n';
            out.flush();
        } else {
            printWatchChange(out, change);
        }
        exited = change.processExited;
        return true;
    });
    if (exited) {
        err << "Process " << pid << " exited; stopped monitoring.\n";
        return kExitProcessExited;
    }
    // The callback above never asks to stop, and a lost daemon throws: a watch that
    // returns otherwise was ended by SIGINT or SIGTERM. Say so as ProcessPortMonitor
    // does on Ctrl+C; JSON lines stay JSON.
    if (!output.json) printWatchStopped(out);
    return kExitOk;
}

int runUnexpected(ITransport& transport, const core::SocketFilter& filter, const OutputOptions& output,
                  std::ostream& out) {
    transport.unexpected(
        filter,
        [&](const core::UnexpectedListener& alert) {
            if (output.json) {
                out << protocol::toJson(alert).dump() << '\n';
                out.flush();
            } else {
                printUnexpectedLine(out, alert, output.color);
            }
            return static_cast<bool>(out);
        },
        StreamOptions{});
    return kExitOk;
}

int runExpectSnapshot(ITransport& transport, const std::string& host, core::WallTime now, std::ostream& out) {
    core::SocketFilter filter;
    filter.listeningOnly = true;
    struct Line {
        core::ExpectedRule rule;
        std::string text;
    };
    std::vector<Line> lines;
    for (const auto& record : transport.list(filter)) {
        auto rule = core::ruleForRecord(record);
        lines.push_back({rule, core::formatExpectedRule(rule)});
    }
    std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
        return std::tie(a.rule.protocol, a.rule.portLow, a.rule.address, a.text) <
               std::tie(b.rule.protocol, b.rule.portLow, b.rule.address, b.text);
    });
    lines.erase(std::unique(lines.begin(), lines.end(), [](const Line& a, const Line& b) { return a.text == b.text; }),
                lines.end());
    out << "# Expected listeners of " << host << ", written by `porteyectl expect --snapshot` at "
        << core::formatIsoLocal(now) << ".\n"
        << "# Every listener open then is here: review it, then install it as /etc/porteye/expected.d/NAME.conf\n"
        << "# and reload porteyed (systemctl reload porteyed). Format: PROTOCOL ADDRESS:PORT [process=NAME]\n"
        << "# [unit=UNIT] [container=NAME|ID] [netns=NAME|INODE]; '*' is any address, port or text (porteyed(8)).\n";
    for (const auto& line : lines)
        out << line.text << '\n';
    out.flush();
    if (!out) throw CommandError(kExitFailure, "cannot write the allowlist");
    return kExitOk;
}

}  // namespace porteye::cli

namespace porteye::cli {

int runHistory(ITransport& transport, const core::HistoryFilter& filter, const OutputOptions& output,
               std::ostream& out) {
    const auto events = transport.history(filter);
    if (output.json) {
        nlohmann::json array = nlohmann::json::array();
        for (const auto& e : events)
            array.push_back(protocol::toJson(e));
        out << array.dump(2) << '\n';
    } else {
        printHistoryTable(out, events, output.color);
    }
    return kExitOk;
}

int runStatus(ITransport& transport, const OutputOptions& output, std::ostream& out, std::ostream& err) {
    const auto s = transport.status();
    if (const auto notice = partialViewNotice(s.view); !notice.empty()) err << notice << '\n';
    if (output.json) {
        out << protocol::toJson(s).dump(2) << '\n';
        return kExitOk;
    }
    out << "porteyed " << s.version << '\n'
        << "  poll interval:  " << s.pollIntervalSeconds << " s\n"
        << "  sockets:        " << s.sockets << '\n'
        << "  history:        " << s.historySize << " of " << s.historyCapacity << " events (" << s.historyDropped
        << " dropped)\n"
        << "  history store:  " << s.store
        << (s.storeDropped ? " (" + std::to_string(s.storeDropped) + " events never written: see the log)" : "") << '\n'
        << "  namespaces:     " << s.networkNamespaces << '\n'
        << "  event source:   " << s.eventSource << '\n'
        << "  short-lived:    " << s.shortLived << " seen by events, " << s.unattributedShortLived
        << " only by their close; " << s.resyncs << " resyncs"
        << (s.eventSourceLost ? ", " + std::to_string(s.eventSourceLost) + " kernel events lost" : "") << '\n'
        << "  next sequence:  " << s.nextSequence << '\n'
        << "  active watches: " << s.watches << '\n'
        << "  expected:       "
        << (s.expectedActive
                ? std::to_string(s.expectedRules) + " rules, " + std::to_string(s.unexpectedListeners) +
                      " unexpected listeners open, " + std::to_string(s.unexpectedTotal) + " alerts since start"
                : std::string("no allowlist (no alerts)"))
        << '\n'
        << "  view:           " << (s.view == "all" ? "all processes" : "only its own user's processes") << '\n';
    return kExitOk;
}

int runEvents(ITransport& transport, const core::SocketFilter& filter, const OutputOptions& output, std::ostream& out) {
    transport.events(
        filter,
        [&](const core::PortEvent& event) {
            if (output.json) {
                out << protocol::toJson(event).dump() << '\n';
                out.flush();
            } else {
                printEventLine(out, event, output.color);
            }
            return static_cast<bool>(out);
        },
        StreamOptions{});
    return kExitOk;
}

}  // namespace porteye::cli
