// SPDX-License-Identifier: MIT
// porteyectl: composition root. Parses the command line, picks a transport,
// runs one subcommand and maps errors to the documented exit codes.
#include "Commands.hpp"
#include "ExitCode.hpp"
#include "LocalTransport.hpp"
#include "Output.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>
#include <memory>

using namespace porteye;

namespace {

struct FilterArgs {
    std::optional<std::uint32_t> pid;
    std::optional<std::uint16_t> port;
    std::optional<std::string> process;
    std::optional<std::string> state;
    bool listening = false;
};

void addFilterOptions(CLI::App* cmd, FilterArgs& args) {
    cmd->add_option("--pid", args.pid, "Only sockets of this process");
    cmd->add_option("--port", args.port, "Only sockets with this local or remote port");
    cmd->add_option("--process", args.process, "Only processes whose name contains this (case-insensitive)");
    cmd->add_option("--state", args.state, "Only sockets in this TCP state (LISTEN, ESTABLISHED, time-wait, ...)");
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
    f.listeningOnly = args.listening;
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"porteyectl - which process holds which port, what changed, and when"};
    app.require_subcommand(1);
    app.fallthrough();  // global options may follow the subcommand

    bool local = false;
    bool json = false;
    app.add_flag("--local", local, "Read the kernel directly instead of asking porteyed");
    app.add_flag("--json", json, "Machine-readable output (JSON; JSON lines for streams)");

    FilterArgs listArgs;
    auto* list = app.add_subcommand("list", "Show sockets and the processes holding them");
    addFilterOptions(list, listArgs);
    list->add_flag("--listening,-l", listArgs.listening, "Only listening sockets");

    std::uint32_t watchPid = 0;
    std::string intervalText = "1.0";
    bool children = false;
    std::optional<std::string> watchState;
    auto* watch = app.add_subcommand("watch", "Print the ports a process opens and closes, live");
    watch->add_option("pid", watchPid, "Process to watch")->required();
    watch->add_option("--interval,-i", intervalText, "Seconds between polls (default 1.0)");
    watch->add_flag("--children", children, "Include the process's descendants");
    watch->add_option("--state", watchState, "Only count sockets in this TCP state");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? cli::kExitOk : cli::kExitUsage;
    }

    // Blocked so the watch loop can wait on them and end cleanly (exit status 0).
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stopSignals, nullptr);

    const cli::OutputOptions output{json, cli::wantColor(1)};
    try {
        if (!local)
            throw cli::CommandError(cli::kExitUnavailable,
                                    "talking to porteyed is not built yet; use --local to read the kernel directly");
        std::unique_ptr<cli::ITransport> transport = std::make_unique<cli::LocalTransport>(stopSignals);

        if (*list) return cli::runList(*transport, toFilter(listArgs), output, std::cout);
        if (*watch) {
            cli::WatchOptions options;
            try {
                const double seconds = std::stod(intervalText);
                if (!(seconds >= 0.01 && seconds <= 86400)) throw std::out_of_range("interval");
                options.interval = std::chrono::duration<double>(seconds);
            } catch (const std::exception&) {
                throw cli::CommandError(cli::kExitUsage, "--interval must be a number of seconds between 0.01 and 86400");
            }
            options.includeChildren = children;
            FilterArgs stateOnly;
            stateOnly.state = watchState;
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
