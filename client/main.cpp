// SPDX-License-Identifier: MIT
// porteyectl: composition root. Parses the command line, picks a transport,
// runs one subcommand and maps errors to the documented exit codes.
#include "Commands.hpp"
#include "core/Limits.hpp"
#include "DbusTransport.hpp"
#include "ExitCode.hpp"
#include "LocalTransport.hpp"
#include "Output.hpp"
#include "SocketTransport.hpp"
#include "core/TimeFormat.hpp"
#include "web/WebServer.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <unistd.h>

using namespace porteye;

namespace {

struct FilterArgs {
    std::optional<std::uint32_t> pid;
    std::optional<std::uint16_t> port;
    std::optional<std::string> process;
    std::optional<std::string> state;
    std::optional<std::string> protocol;
    std::optional<std::string> unit;
    std::optional<std::string> container;
    std::optional<std::string> netns;
    bool listening = false;
};

void addFilterOptions(CLI::App* cmd, FilterArgs& args) {
    cmd->add_option("--pid", args.pid, "Only sockets of this process");
    cmd->add_option("--port", args.port, "Only sockets with this local or remote port");
    cmd->add_option("--process", args.process, "Only processes whose name contains this (case-insensitive)");
    cmd->add_option("--state", args.state,
                    "Only sockets in this state (LISTEN, ESTABLISHED, time-wait, ...; UNCONN: bound UDP)");
    cmd->add_option("--protocol", args.protocol, "Only tcp or udp sockets")->check(CLI::IsMember({"tcp", "udp"}));
    cmd->add_option("--unit", args.unit,
                    "Only holders in this systemd unit (exact: nginx.service; a user's app.service or "
                    "user@1000.service matches user@1000.service/app.service)");
    cmd->add_option("--container", args.container,
                    "Only holders in this container: its name, or an id prefix of at least 4 characters");
    cmd->add_option("--netns", args.netns, "Only sockets of this network namespace: its inode number or name");
    cmd->add_flag("--listening,-l", args.listening, "Only listening sockets: TCP LISTEN and bound UDP, as ss -l");
}

core::SocketFilter toFilter(const FilterArgs& args) {
    core::SocketFilter f;
    f.pid = args.pid;
    f.port = args.port;
    f.process = args.process;
    if (args.state) {
        f.state = core::parseStateName(*args.state);
        if (!f.state) throw cli::CommandError(cli::kExitUsage, "unknown TCP state '" + *args.state + "'");
    }
    if (args.protocol) f.protocol = core::parseProtocolName(*args.protocol);
    for (const auto& [value, name] : {std::pair{&args.unit, "--unit"}, std::pair{&args.container, "--container"},
                                      std::pair{&args.netns, "--netns"}})
        if (*value && (*value)->empty())
            throw cli::CommandError(cli::kExitUsage, std::string(name) + " must not be empty");
    f.unit = args.unit;
    f.container = args.container;
    f.netns = args.netns;
    f.listeningOnly = args.listening;
    return f;
}

/// `wait --timeout` bounds only the client's own wait: a day.
constexpr double kMaxWaitTimeoutSeconds = 86400;

std::string showSeconds(double seconds) {
    std::ostringstream out;
    out << seconds;
    return out.str();
}

/// Ranges come from core/Limits.hpp, the ones porteyed enforces, so a value porteyectl accepts is
/// never refused by the daemon afterwards.
std::chrono::duration<double> parseSeconds(const std::string& option, const std::string& text, double minimum,
                                           double maximum) {
    try {
        std::size_t used = 0;
        const double seconds = std::stod(text, &used);
        // !(a && b) refuses NaN too, which every comparison answers false to.
        if (used != text.size() || !(seconds >= minimum && seconds <= maximum)) throw std::out_of_range("interval");
        return std::chrono::duration<double>(seconds);
    } catch (const std::exception&) {
        throw cli::CommandError(cli::kExitUsage, option + " must be a number of seconds between " +
                                                     showSeconds(minimum) + " and " + showSeconds(maximum) + ", not '" +
                                                     text + "'");
    }
}

/// A watch's (or wait's) step: porteyed's range, or a finer minimum in local mode.
std::chrono::duration<double> parseInterval(const std::string& text, bool local) {
    namespace limits = core::limits;
    return parseSeconds("--interval", text,
                        local ? limits::kMinLocalWatchIntervalSeconds : limits::kMinWatchIntervalSeconds,
                        limits::kMaxWatchIntervalSeconds);
}

/// `expect --snapshot`: to stdout, or to FILE through a temporary file renamed over it, so a
/// failed run never leaves half an allowlist where porteyed reads it.
int writeSnapshot(cli::ITransport& transport, const std::string& path) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "this host");
    const auto now = core::SystemClock().now();
    if (path.empty() || path == "-") return cli::runExpectSnapshot(transport, host, now, std::cout);
    const std::string temporary = path + ".tmp";
    {
        std::ofstream file(temporary, std::ios::trunc);
        if (!file) throw cli::CommandError(cli::kExitFailure, "cannot write " + temporary);
        cli::runExpectSnapshot(transport, host, now, file);
    }
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        std::remove(temporary.c_str());
        throw cli::CommandError(cli::kExitFailure, "cannot write " + path);
    }
    return cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"porteyectl - which process holds which port, what changed, and when"};
    app.require_subcommand(1);
    app.fallthrough();  // global options may follow the subcommand

    bool local = false;
    bool json = false;
    std::string socketPath;
    std::string bus = "system";
    std::string busAddress;
    app.add_flag("--local", local, "Read the kernel directly instead of asking porteyed");
    app.add_flag("--json", json, "Machine-readable output (JSON; JSON lines for streams)");
    app.add_option("--socket", socketPath, "Talk to porteyed over this Unix socket instead of D-Bus")
        ->expected(0, 1)
        ->default_str("/run/porteye/porteyed.sock");
    app.add_option("--bus", bus, "D-Bus bus: system (default) or session")->check(CLI::IsMember({"system", "session"}));
    app.add_option("--bus-address", busAddress, "D-Bus address to use instead of --bus");

    auto* status = app.add_subcommand("status", "Show the daemon's state");

    FilterArgs listArgs;
    bool extended = false;
    auto* list = app.add_subcommand("list", "Show sockets and the processes holding them");
    addFilterOptions(list, listArgs);
    list->add_flag("--extended,-e", extended,
                   "Also show each holder's user, systemd unit, CPU%, RSS and command line (as ss -e adds details)");

    std::uint32_t watchPid = 0;
    std::string intervalText = "1.0";
    bool children = false;
    std::optional<std::string> watchState;
    std::optional<std::string> watchProtocol;
    auto* watch = app.add_subcommand("watch", "Print the ports a process opens and closes, live");
    watch->add_option("pid", watchPid, "Process to watch")->required();
    watch->add_option("--interval,-i", intervalText, "Seconds between polls (default 1.0)");
    watch->add_flag("--children", children, "Include the process's descendants");
    watch->add_option("--state", watchState,
                      "Only count sockets in this TCP state. ProcessPortMonitor counted only ESTABLISHED "
                      "sockets: --state ESTABLISHED reproduces it");
    watch
        ->add_option("--protocol", watchProtocol,
                     "Only count tcp or udp sockets (default both). ProcessPortMonitor counted only TCP: "
                     "--protocol tcp --state ESTABLISHED reproduces it exactly")
        ->check(CLI::IsMember({"tcp", "udp"}));
    std::optional<std::string> execCommand;
    watch->add_option("--exec", execCommand,
                      "Run CMD (with /bin/sh -c) once per socket opened or closed, one at a time and in order, "
                      "the change in PORTEYE_* variables (see porteyectl(1)), stdin from /dev/null; prints "
                      "nothing itself. Its exit status does not stop the watch");
    watch->footer(
        "Ctrl+C or SIGTERM ends the watch with \"Stopping monitoring.\" and exit status 0; the exit of "
        "the process ends it with status 4, porteyed stopping with status 5.\n"
        "--exec sets PORTEYE_ACTION (added, removed, owner-changed), PORTEYE_PID, PORTEYE_PROCESS, "
        "PORTEYE_PROTOCOL, PORTEYE_FAMILY, PORTEYE_STATE, PORTEYE_LOCAL_ADDRESS, PORTEYE_PORT, "
        "PORTEYE_REMOTE_ADDRESS, PORTEYE_REMOTE_PORT, PORTEYE_SEQUENCE, PORTEYE_TIME, PORTEYE_ACTIVE_PORTS, "
        "PORTEYE_WATCHED_PID (and PORTEYE_PREVIOUS_PID for owner-changed).");

    FilterArgs historyArgs;
    std::optional<std::string> action;
    std::optional<std::string> since;
    std::size_t limit = core::kDefaultHistoryLimit;
    auto* history = app.add_subcommand("history", "Show past opens and closes, oldest first");
    addFilterOptions(history, historyArgs);
    history->add_option("--action", action, "added or removed")->check(CLI::IsMember({"added", "removed"}));
    history->add_option("--since", since, "Only events at or after this time (ISO-8601, or µs since the epoch)");
    history->add_option("--limit,-n", limit, "Newest N events (default 100; 0 = all kept)");

    FilterArgs eventArgs;
    std::string eventsInterval = "1.0";
    auto* events = app.add_subcommand("events", "Print every port change on the host, live");
    addFilterOptions(events, eventArgs);
    events->add_option("--interval,-i", eventsInterval, "With --local: seconds between polls (default 1.0)");
    bool unexpectedOnly = false;
    events->add_flag("--unexpected", unexpectedOnly,
                     "Only porteyed's alerts for listeners its allowlist (/etc/porteye/expected.d) does not expect");

    bool expectSnapshot = false;
    std::string expectOutput;
    auto* expect = app.add_subcommand("expect", "Expected listeners: write today's listeners as an allowlist");
    expect->add_flag("--snapshot", expectSnapshot, "Write one rule per listener open now (required)")->required();
    expect->add_option("--output,-o", expectOutput, "Write to this file instead of stdout");

    std::optional<std::uint16_t> waitListen;
    std::optional<std::uint16_t> waitFree;
    std::optional<std::string> waitHost;
    std::optional<std::string> waitProtocol;
    std::optional<std::string> waitTimeout;
    std::string waitInterval = "0.2";
    auto* waitCmd =
        app.add_subcommand("wait", "Wait until a port is listening, or free; for scripts and ExecStartPost=");
    auto* listenOpt = waitCmd->add_option("--listen", waitListen, "Return once something listens on PORT");
    auto* freeOpt = waitCmd->add_option("--free", waitFree, "Return once nothing is bound on PORT (TIME_WAIT aside)");
    listenOpt->excludes(freeOpt);
    waitCmd->add_option("--host", waitHost,
                        "Only sockets bound to this numeric address or to the wildcard address (default: any)");
    waitCmd
        ->add_option("--protocol", waitProtocol,
                     "Only tcp or udp sockets (default both; a listening udp socket "
                     "is a bound one)")
        ->check(CLI::IsMember({"tcp", "udp"}));
    waitCmd->add_option("--timeout", waitTimeout, "Give up after S seconds with exit status 7 (default: wait forever)");
    waitCmd->add_option("--interval,-i", waitInterval,
                        "With --local, or D-Bus without the right to host-wide signals: seconds between looks "
                        "(default 0.2)");
    waitCmd->footer(
        "Exit status 0 as soon as the port is listening (--listen) or free (--free), at once when it already is; "
        "7 on timeout; 5 if porteyed cannot be reached or goes away; 1 on Ctrl+C. Prints nothing but errors "
        "(--json: the outcome and the socket as one JSON object).\n"
        "It subscribes to porteyed's events before it lists the port, so a change in between is not missed. "
        "As a user other than root you see only your own sockets: another user's listener is invisible to "
        "--listen, and --free means free of the sockets you can see. With --local it polls the kernel every "
        "--interval.");

    std::uint16_t whoPort = 0;
    std::optional<std::string> whoProtocol;
    auto* whoCmd = app.add_subcommand("who", "Which process, user, unit and container hold a port, and since when");
    whoCmd->add_option("port", whoPort, "Local port")->required();
    whoCmd->add_option("--protocol", whoProtocol, "Only tcp or udp sockets")->check(CLI::IsMember({"tcp", "udp"}));
    whoCmd->footer(
        "One line per socket whose local port is PORT: listeners first, then connections. Exit status 8 when "
        "nothing you may see holds it (as a user other than root, porteyed shows you only your own sockets).");

    std::string listenAddress = "127.0.0.1:5000";
    auto* webCmd = app.add_subcommand("web", "Serve the ports and their history as a live web page (and /api/*)");
    webCmd->add_option("--listen", listenAddress,
                       "HOST:PORT to serve on (default 127.0.0.1:5000; port 0 = any free port)");
    webCmd->footer(
        "Prints the page's address with this start's secret token. Every request needs that token, and "
        "connections from loopback sockets of other users are refused (see porteyectl(1)).");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? cli::kExitOk : cli::kExitUsage;
    }

    // Blocked so streaming commands can wait on them and end cleanly (exit status 0).
    sigprocmask(SIG_BLOCK, &cli::stopSignals(), nullptr);

    cli::OutputOptions output{json, cli::wantColor(1)};
    output.extended = extended;
    if (winsize ws{}; isatty(1) == 1 && ioctl(1, TIOCGWINSZ, &ws) == 0) output.width = ws.ws_col;
    try {
        const bool useSocket = app.get_option("--socket")->count() > 0;
        if (local && useSocket) throw cli::CommandError(cli::kExitUsage, "--local and --socket exclude each other");
        const auto interval =
            local ? parseInterval(*waitCmd ? waitInterval : eventsInterval, true) : std::chrono::duration<double>(1.0);
        // A factory, because `web` needs one transport per thread (transports are not thread-safe).
        const web::TransportFactory makeTransport = [&]() -> std::unique_ptr<cli::ITransport> {
            if (local) {
                auto localTransport = std::make_unique<cli::LocalTransport>();
                localTransport->setEventsInterval(interval);
                return localTransport;
            }
            if (useSocket)
                return std::make_unique<cli::SocketTransport>(socketPath.empty() ? "/run/porteye/porteyed.sock"
                                                                                 : socketPath);
            dbus::BusSpec spec;
            spec.kind = dbus::parseBusKind(bus);
            spec.address = busAddress;
            return std::make_unique<cli::DbusTransport>(spec);
        };
        if (*webCmd) return web::runWeb(web::parseListen(listenAddress), makeTransport, std::cout, std::cerr);
        const auto transport = makeTransport();

        if (*status) return cli::runStatus(*transport, output, std::cout, std::cerr);
        if (*list) return cli::runList(*transport, toFilter(listArgs), output, std::cout, std::cerr);
        if (*history) {
            core::HistoryFilter filter;
            filter.socket = toFilter(historyArgs);
            if (action) filter.action = core::parseActionName(*action);
            if (since) {
                filter.since = core::parseTime(*since);
                if (!filter.since)
                    throw cli::CommandError(cli::kExitUsage, "--since wants an ISO-8601 time or µs since the epoch");
            }
            filter.limit = limit;
            return cli::runHistory(*transport, filter, output, std::cout);
        }
        if (*events && unexpectedOnly) return cli::runUnexpected(*transport, toFilter(eventArgs), output, std::cout);
        if (*events) return cli::runEvents(*transport, toFilter(eventArgs), output, std::cout);
        if (*waitCmd) {
            if (!waitListen && !waitFree)
                throw cli::CommandError(cli::kExitUsage, "wait needs --listen PORT or --free PORT");
            cli::WaitOptions options;
            options.until = waitListen ? cli::WaitOptions::Until::Listening : cli::WaitOptions::Until::Free;
            options.port = waitListen ? *waitListen : *waitFree;
            if (waitHost) {
                in6_addr any{};
                if (inet_pton(AF_INET, waitHost->c_str(), &any) != 1 &&
                    inet_pton(AF_INET6, waitHost->c_str(), &any) != 1)
                    throw cli::CommandError(cli::kExitUsage,
                                            "--host wants a numeric IPv4 or IPv6 address, not '" + *waitHost + "'");
                options.host = waitHost;
            }
            if (waitProtocol) options.protocol = core::parseProtocolName(*waitProtocol);
            if (waitTimeout) {
                options.timeout = parseSeconds("--timeout", *waitTimeout, 0, kMaxWaitTimeoutSeconds);
            }
            options.pollInterval = parseInterval(waitInterval, true);
            return cli::runWait(*transport, options, output, std::cout, std::cerr);
        }
        if (*whoCmd) {
            std::optional<core::Protocol> protocol;
            if (whoProtocol) protocol = core::parseProtocolName(*whoProtocol);
            return cli::runWho(*transport, whoPort, protocol, output, std::cout, std::cerr);
        }
        if (*expect) return writeSnapshot(*transport, expectOutput);
        if (*watch) {
            cli::WatchOptions options;
            options.interval = parseInterval(intervalText, local);
            options.includeChildren = children;
            FilterArgs stateOnly;
            stateOnly.state = watchState;
            stateOnly.protocol = watchProtocol;
            options.filter = toFilter(stateOnly);
            if (execCommand) return cli::runWatchExec(*transport, watchPid, options, *execCommand, std::cerr);
            return cli::runWatch(*transport, watchPid, options, intervalText, output, std::cout, std::cerr);
        }
    } catch (const cli::CommandError& e) {
        std::cerr << "porteyectl: " << e.what() << '\n';
        return e.exitCode();
    } catch (const std::exception& e) {
        std::cerr << "porteyectl: " << e.what() << '\n';
        return cli::kExitFailure;
    }
    return cli::kExitUsage;
}
