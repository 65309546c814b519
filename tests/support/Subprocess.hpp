// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace porteye::testing {

struct RunResult {
    int exitCode = -1;  ///< -1 when killed by a signal or timed out
    std::string out;
    std::string err;
};

/// A real program run as a child process, its stdout and stderr captured.
class Subprocess {
public:
    /// Starts argv[0] (searched in PATH) with extra environment variables. With `outputPrefix`,
    /// stdout and stderr go to the files PREFIX.out and PREFIX.err instead of pipes, so a chatty
    /// long-running child (a daemon) never blocks on a full pipe; out() and err() still read them.
    /// With `ownProcessGroup`, the child leads a process group of its own, which stopGroup() ends whole.
    Subprocess(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
               const std::string& outputPrefix = {}, bool ownProcessGroup = false);
    ~Subprocess();
    Subprocess(const Subprocess&) = delete;
    Subprocess& operator=(const Subprocess&) = delete;

    pid_t pid() const { return m_pid; }
    /// Reads stdout until `predicate(allOutputSoFar)` holds or the timeout passes.
    bool waitForOutput(const std::function<bool(const std::string&)>& predicate, std::chrono::milliseconds timeout);
    bool waitForOutput(const std::string& needle, std::chrono::milliseconds timeout);
    /// Reads stdout until `predicate` holds for one of its complete lines, earlier ones included,
    /// or the timeout passes. Each line is looked at once per call, however much arrives: for a
    /// child that prints a lot (a bus monitor on a busy host), where re-reading everything after
    /// each read falls behind it and the pipe, then the bus, hold its messages back.
    bool waitForLine(const std::function<bool(std::string_view)>& predicate, std::chrono::milliseconds timeout);
    /// Sends a signal and waits for the exit; returns the exit status (-1 if killed by a signal).
    int stop(int signal = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// stop(signal) for the leader, then SIGKILL for whatever else is left in its process group
    /// (children it forked and did not end), waiting until the group is empty. Needs ownProcessGroup.
    /// Returns the leader's exit status; `leftovers` (if given) counts the processes killed after it.
    int stopGroup(int signal = 15, int* leftovers = nullptr);
    /// Waits for the exit without signalling.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    /// Reads whatever output is available now, without waiting.
    void collect();
    const std::string& out() const { return m_out; }
    const std::string& err() const { return m_err; }

private:
    bool drain(int timeoutMs);  ///< true when it read something

    pid_t m_pid = -1;
    int m_outFd = -1;
    int m_errFd = -1;
    bool m_toFiles = false;
    bool m_ownGroup = false;
    std::string m_out;
    std::string m_err;
    std::optional<int> m_status;
};

/// Runs a command to completion (killed after the timeout).
RunResult run(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(20));

/// Runs useradd/userdel/groupadd... and retries while another process holds the passwd or
/// group lock (test executables run in parallel and make users too). "Already exists" (9) and
/// "does not exist" (6) are answers, not lock contention, and are returned at once.
RunResult runAccountTool(const std::vector<std::string>& argv);

/// Polls `condition` every few milliseconds until it holds or the timeout passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// A temporary directory removed (recursively) on destruction.
class TempDir {
public:
    /// `mode` 0755 lets unprivileged test clients reach what is inside (mkdtemp makes it 0700).
    explicit TempDir(mode_t mode = 0700);
    ~TempDir();
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

/// A private dbus-daemon with system-bus semantics (Debian's system.conf, our
/// policy file included), never the host's bus. Killed on destruction.
class PrivateBus {
public:
    /// `policyFile` is copied into the bus's include dir when non-empty.
    explicit PrivateBus(const std::string& policyFile = {});
    ~PrivateBus();
    const std::string& address() const { return m_address; }
    /// The address without the bus's guid, which stays valid across restart().
    std::string pathAddress() const { return "unix:path=" + m_dir.path() + "/bus"; }
    /// Stops the bus and starts a new one on the same socket path, as a system
    /// bus restart does (every connection is dropped; the guid changes).
    void restart();

private:
    void start();

    TempDir m_dir;
    std::string m_address;
    pid_t m_pid = -1;
};

/// Whether `monitor`, a `busctl --address=ADDRESS monitor …` that receives GetStatus calls
/// (a service name or a --match rule for them), is live: it has shown a call of ours. Seeing
/// the name on the bus is not enough. Calls GetStatus until it shows one, for up to 10 s.
bool busMonitorIsLive(Subprocess& monitor, const std::string& address);

/// A forked child that opens and closes a TCP listener on command, so tests
/// control exactly when "another process" changes its ports.
class PortHolder {
public:
    PortHolder();
    ~PortHolder();
    pid_t pid() const { return m_pid; }
    /// Opens a listener on 127.0.0.1 (port 0 = any) and returns its port.
    std::uint16_t open(std::uint16_t port = 0);
    /// Binds a UDP socket on 127.0.0.1 (unconnected: ss's UNCONN) and returns its port.
    std::uint16_t openUdp(std::uint16_t port = 0);
    /// Closes the most recent socket.
    void close();
    /// Makes the child exit and reaps it.
    void exit();

private:
    std::uint16_t openSocket(char command, std::uint16_t port);

    pid_t m_pid = -1;
    int m_commands = -1;
    int m_replies = -1;
};

/// The daemon binary and the client binary from this build.
std::string porteyedPath();
std::string porteyectlPath();
std::string netnsHelperPath();
/// The shipped policy file.
std::string policyFilePath();
/// `setpriv` arguments that run the command after them as nobody:nogroup, no other groups.
std::vector<std::string> asNobody(std::vector<std::string> argv);
/// argv of a TCP listener on 127.0.0.1 (a free port) run as nobody: it prints its port and a
/// newline once listening, and closes when it is stopped.
std::vector<std::string> nobodyListenerArgv();

/// The one way tests start a real porteyed: on a bus and/or socket, in a process group of its own,
/// waited for through sd_notify READY=1 and then its control socket answering a connect.
/// Unless `args` name them, it runs with `--network-namespaces host --event-source off` (only the
/// tests of namespaces and of the event source want the host's namespaces and the kernel's events),
/// and with a state directory of its own. stop() ends the whole process group (a forked netns helper
/// too). Its output goes to files in its own temporary directory (see Subprocess), so however much
/// it logs it never blocks on a pipe nobody reads.
class DaemonProcess {
public:
    /// `launcher` (e.g. unshare ... sh -c '... exec "$0" "$@"') runs in front of porteyed and must exec it.
    DaemonProcess(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                  std::vector<std::string> launcher = {});
    ~DaemonProcess();
    DaemonProcess(const DaemonProcess&) = delete;
    DaemonProcess& operator=(const DaemonProcess&) = delete;
    Subprocess& process() { return *m_process; }
    bool ready() const { return m_ready; }
    /// Every sd_notify datagram received so far, in order (a background thread keeps reading them).
    std::vector<std::string> notifications();
    /// Sends `signal` (SIGTERM by default) to porteyed, waits for it, then kills and waits for
    /// anything left in its process group; returns porteyed's exit status (-1 if killed by a signal).
    int stop(int signal = 15);
    /// How many processes stop() found left in the group after porteyed exited (they are a bug).
    int leftovers() const { return m_leftovers; }
    /// Everything the daemon wrote so far, stderr (its log) first, then stdout.
    std::string log();
    /// The daemon's private temporary directory (notify socket and output files live here).
    const std::string& dir() const { return m_dir.path(); }

private:
    void readNotifications();

    TempDir m_dir;
    int m_notifyFd = -1;
    std::mutex m_mutex;
    std::vector<std::string> m_notifications;  ///< guarded by m_mutex
    std::atomic<bool> m_stopReading{false};
    std::thread m_reader;  ///< drains the notify socket for the daemon's whole life
    std::unique_ptr<Subprocess> m_process;
    bool m_ready = false;
    int m_leftovers = 0;
};

}  // namespace porteye::testing
