// SPDX-License-Identifier: MIT
// porteyectl: composition root. Parses the command line, picks a transport,
// runs one subcommand and maps errors to the documented exit codes.
#include "Commands.hpp"
#include "DbusTransport.hpp"
#include "ExitCode.hpp"
#include "LocalTransport.hpp"
#include "Output.hpp"
#include "SocketTransport.hpp"
#include "core/TimeFormat.hpp"
#include "web/WebServer.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

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
    bool listening = false;
};

void addFilterOptions(CLI::App* cmd, FilterArgs& args) {
    cmd->add_option("--pid", args.pid, "Only sockets of this process");
    cmd->add_option("--port", args.port, "Only sockets with this local or remote port");
    cmd->add_option("--process", args.process, "Only processes whose name contains this (case-insensitive)");
    cmd->add_option("--state", args.state,
                    "Only sockets in this state (LISTEN, ESTABLISHED, time-wait, ...; UNCONN: bound UDP)");
    cmd->add_option("--protocol", args.protocol, "Only tcp or udp sockets")->check(CLI::IsMember({"tcp", "udp"}));
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
    f.listeningOnly = args.listening;
    return f;
}

std::chrono::duration<double> parseInterval(const std::string& text, double minimum) {
    try {
        std::size_t used = 0;
        const double seconds = std::stod(text, &used);
        if (used != text.size() || !(seconds >= minimum && seconds <= 86400)) throw std::out_of_range("interval");
        return std::chrono::duration<double>(seconds);
    } catch (const std::exception&) {
        throw cli::CommandError(cli::kExitUsage, "--interval must be a number of seconds between " +
                                                     std::to_string(minimum) + " and 86400, not '" + text + "'");
    }
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
    watch->footer(
        "Ctrl+C or SIGTERM ends the watch with \"Stopping monitoring.\" and exit status 0; the exit of "
        "the process ends it with status 4, porteyed stopping with status 5.");

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
        const auto interval = local ? parseInterval(eventsInterval, 0.01) : std::chrono::duration<double>(1.0);
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
        if (*events) return cli::runEvents(*transport, toFilter(eventArgs), output, std::cout);
        if (*watch) {
            cli::WatchOptions options;
            options.interval = parseInterval(intervalText, local ? 0.01 : 0.05);
            options.includeChildren = children;
            FilterArgs stateOnly;
            stateOnly.state = watchState;
            stateOnly.protocol = watchProtocol;
            options.filter = toFilter(stateOnly);
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
