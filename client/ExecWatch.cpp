// SPDX-License-Identifier: MIT
// `porteyectl watch PID --exec CMD`: a hook per socket event, run in order, one at a time.
#include "Commands.hpp"

#include "ExitCode.hpp"
#include "core/TimeFormat.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace porteye::cli {
namespace {

constexpr std::string_view kPrefix = "PORTEYE_";

/// Runs `command` through /bin/sh -c with `variables` added to (and replacing any PORTEYE_* of)
/// porteyectl's environment; waits for it. Returns its wait status, or -1 (and says why) when it
/// could not be started.
int runHook(const std::string& command, const std::vector<std::pair<std::string, std::string>>& variables,
            std::ostream& err) {
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e)
        if (std::string_view(*e).substr(0, kPrefix.size()) != kPrefix) env.emplace_back(*e);
    for (const auto& [name, value] : variables)
        env.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string sh = "sh", dashC = "-c", script = command;
    char* argv[] = {sh.data(), dashC.data(), script.data(), nullptr};

    // porteyectl blocks SIGINT and SIGTERM to read them from a signalfd; the hook gets them back
    // (unblocked, default action), so Ctrl+C reaches it as it would any foreground command.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

    pid_t child = -1;
    const int failed = posix_spawn(&child, "/bin/sh", &actions, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (failed != 0) {
        err << "porteyectl: cannot run /bin/sh for --exec: " << std::strerror(failed) << '\n';
        return -1;
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return status;
}

std::string portList(const std::set<std::uint16_t>& ports) {
    std::string text;
    for (auto port : ports) {
        if (!text.empty()) text += ' ';
        text += std::to_string(port);
    }
    return text;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> execEnvironment(std::uint32_t watchedPid, const core::PortEvent& event,
                                                                 const std::set<std::uint16_t>& active) {
    const auto& r = event.record;
    std::vector<std::pair<std::string, std::string>> v{
        {"PORTEYE_ACTION", std::string(core::actionName(event.action))},
        {"PORTEYE_WATCHED_PID", std::to_string(watchedPid)},
        {"PORTEYE_PID", std::to_string(r.pid)},
        {"PORTEYE_PROCESS", r.process},
        {"PORTEYE_PROTOCOL", std::string(core::protocolName(r.protocol))},
        {"PORTEYE_FAMILY", std::to_string(r.family)},
        {"PORTEYE_STATE", std::string(core::stateName(r.protocol, r.state))},
        {"PORTEYE_LOCAL_ADDRESS", r.localAddress},
        {"PORTEYE_PORT", std::to_string(r.localPort)},
        {"PORTEYE_REMOTE_ADDRESS", r.remoteAddress},
        {"PORTEYE_REMOTE_PORT", std::to_string(r.remotePort)},
        {"PORTEYE_SEQUENCE", std::to_string(event.sequence)},
        {"PORTEYE_TIME", core::formatIsoUtc(event.time)},
        {"PORTEYE_ACTIVE_PORTS", portList(active)},
    };
    if (event.action == core::Action::OwnerChanged)
        v.emplace_back("PORTEYE_PREVIOUS_PID", std::to_string(event.previousPid));
    return v;
}

int runWatchExec(ITransport& transport, std::uint32_t pid, WatchOptions options, const std::string& command,
                 std::ostream& err) {
    bool exited = false;
    // Run from the transport's callback: the next change is read only after the hook returned, so
    // hooks never overlap and keep the events' order. What arrives meanwhile waits in the socket.
    transport.watch(pid, options, [&](const core::PortChange& change) {
        for (const auto& event : change.events)
            runHook(command, execEnvironment(pid, event, change.active), err);
        exited = change.processExited;
        return true;
    });
    if (exited) {
        err << "Process " << pid << " exited; stopped monitoring.\n";
        return kExitProcessExited;
    }
    return kExitOk;
}

}  // namespace porteye::cli
