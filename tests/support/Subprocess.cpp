// SPDX-License-Identifier: MIT
#include "support/Subprocess.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace porteye::testing {
namespace {

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

/// Replaces every element that starts with `open` and ends at the next `close` (the whole of
/// `open` when `close` is empty) by `replacement`. Plain string search: the few tags of
/// dbus-daemon's system.conf need no regex (and std::regex trips -Wmaybe-uninitialized under ASan).
void replaceElements(std::string& text, const std::string& open, const std::string& close,
                     const std::string& replacement) {
    for (std::size_t from = 0; (from = text.find(open, from)) != std::string::npos;) {
        std::size_t end = from + open.size();
        if (!close.empty()) {
            end = text.find(close, end);
            if (end == std::string::npos) return;
            end += close.size();
        }
        text.replace(from, end - from, replacement);
        from += replacement.size();
    }
}

/// The processes whose process group is `pgid`, read from /proc (field 5 of /proc/PID/stat).
std::vector<pid_t> groupMembers(pid_t pgid) {
    std::vector<pid_t> members;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(entry.path() / "stat");
        std::string stat;
        std::getline(in, stat);
        const auto close = stat.rfind(')');  // comm may hold spaces and parentheses
        if (close == std::string::npos) continue;
        std::istringstream fields(stat.substr(close + 2));
        char state = 0;
        pid_t ppid = 0;
        pid_t group = 0;
        fields >> state >> ppid >> group;
        if (group == pgid) members.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return members;
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv, std::map<std::string, std::string> env,
                       const std::string& outputPrefix, bool ownProcessGroup)
    : m_ownGroup(ownProcessGroup) {
    int out[2];
    int err[2];
    if (outputPrefix.empty()) {
        if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    } else {
        // [0] is our reading end, [1] the child's writing end, as with the pipes.
        m_toFiles = true;
        for (auto [fds, suffix] : {std::pair{out, ".out"}, std::pair{err, ".err"}}) {
            const auto path = outputPrefix + suffix;
            fds[1] = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            fds[0] = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fds[0] < 0 || fds[1] < 0) throw std::runtime_error("cannot create " + path);
        }
    }
    m_pid = fork();
    if (m_pid < 0) throw std::runtime_error("fork failed");
    if (m_pid == 0) {
        if (ownProcessGroup) setpgid(0, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        // Children get a clean signal state whatever the test runner blocked.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        for (const auto& [key, value] : env)
            setenv(key.c_str(), value.c_str(), 1);
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        execvp(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        _exit(127);
    }
    // Both sides set the group, so it exists before either goes on (the child may not have run yet).
    if (ownProcessGroup) setpgid(m_pid, m_pid);
    ::close(out[1]);
    ::close(err[1]);
    m_outFd = out[0];
    m_errFd = err[0];
}

Subprocess::~Subprocess() {
    if (m_ownGroup)
        stopGroup(SIGKILL);
    else if (!m_status)
        stop(SIGKILL, std::chrono::seconds(5));
    if (m_outFd >= 0) ::close(m_outFd);
    if (m_errFd >= 0) ::close(m_errFd);
}

bool Subprocess::drain(int timeoutMs) {
    if (m_toFiles) {
        // A regular file is always "readable": read to its current end, and wait a little when
        // there was nothing new, as poll() would on a pipe.
        char buf[4096];
        bool got = false;
        for (auto [fd, text] : {std::pair{m_outFd, &m_out}, std::pair{m_errFd, &m_err}}) {
            for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
                text->append(buf, static_cast<std::size_t>(n));
                got = true;
            }
        }
        if (!got && timeoutMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(timeoutMs, 10)));
        return got;
    }
    pollfd fds[2] = {{m_outFd, POLLIN, 0}, {m_errFd, POLLIN, 0}};
    if (poll(fds, 2, timeoutMs) <= 0) return false;
    char buf[65536];
    bool got = false;
    for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
        const ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
            (i == 0 ? m_out : m_err).append(buf, static_cast<std::size_t>(n));
            got = true;
        }
    }
    return got;
}

void Subprocess::collect() {
    // The child has exited: read what its pipes still hold, however much (a large --json
    // list is tens of kilobytes), until a pass finds nothing more.
    while (drain(0)) {
    }
}

bool Subprocess::waitForOutput(const std::function<bool(const std::string&)>& predicate,
                               std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!predicate(m_out)) {
        if (Clock::now() >= deadline) return false;
        drain(std::min(remainingMs(deadline), 50));
        if (!m_status) {
            int status = 0;
            if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                drain(0);
                drain(0);
                return predicate(m_out);
            }
        }
    }
    return true;
}

bool Subprocess::waitForLine(const std::function<bool(std::string_view)>& predicate,
                             std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::size_t unread = 0;  // where the first line not yet given to `predicate` starts
    const auto anyNewLine = [&] {
        for (std::size_t end; (end = m_out.find('\n', unread)) != std::string::npos; unread = end + 1)
            if (predicate(std::string_view(m_out).substr(unread, end - unread))) return true;
        return false;
    };
    for (;;) {
        while (drain(0)) {  // all that is there now: the child never waits on a full pipe for us
        }
        if (anyNewLine()) return true;
        if (m_status) return false;
        if (Clock::now() >= deadline) return false;
        drain(std::min(remainingMs(deadline), 50));
        int status = 0;
        if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
            m_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            collect();
            return anyNewLine();
        }
    }
}

bool Subprocess::waitForOutput(const std::string& needle, std::chrono::milliseconds timeout) {
    return waitForOutput([&](const std::string& out) { return out.find(needle) != std::string::npos; }, timeout);
}

std::optional<int> Subprocess::wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!m_status) {
        int status = 0;
        const pid_t r = waitpid(m_pid, &status, WNOHANG);
        if (r == m_pid) {
            m_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        if (Clock::now() >= deadline) return std::nullopt;
        drain(20);
    }
    for (int i = 0; i < 4; ++i)
        drain(0);
    return m_status;
}

int Subprocess::stop(int signal, std::chrono::milliseconds timeout) {
    if (m_status) return *m_status;
    kill(m_pid, signal);
    if (auto status = wait(timeout)) return *status;
    kill(m_pid, SIGKILL);
    return wait(std::chrono::seconds(5)).value_or(-1);
}

int Subprocess::stopGroup(int signal, int* leftovers) {
    const int status = stop(signal);
    // The leader is reaped; its group id stays in use while any member lives. Whatever is left was
    // forked by the leader and outlived it (reparented, so not ours to wait for): kill it and wait
    // until the kernel says the group is gone.
    int left = 0;
    if (m_ownGroup && m_pid > 0) {
        for (pid_t pid : groupMembers(m_pid))
            if (::kill(pid, SIGKILL) == 0) ++left;
        ::kill(-m_pid, SIGKILL);  // one forked between the walk and now
        eventually([&] { return ::kill(-m_pid, 0) != 0 && errno == ESRCH; }, std::chrono::seconds(10));
    }
    if (leftovers) *leftovers = left;
    return status;
}

RunResult run(std::vector<std::string> argv, std::map<std::string, std::string> env,
              std::chrono::milliseconds timeout) {
    Subprocess process(std::move(argv), std::move(env));
    RunResult result;
    auto status = process.wait(timeout);
    result.exitCode = status ? *status : process.stop(SIGKILL);
    result.out = process.out();
    result.err = process.err();
    return result;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!condition()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

TempDir::TempDir(mode_t mode) {
    char pattern[] = "/tmp/porteye-test-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    m_path = pattern;
    if (mode != 0700 && ::chmod(m_path.c_str(), mode) != 0) throw std::runtime_error("chmod " + m_path + " failed");
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

PrivateBus::PrivateBus(const std::string& policyFile) {
    // Debian's system.conf, minus what would touch the host: its own socket, no
    // service activation, no pid file, no user switch, no host policy includes.
    std::ifstream in("/usr/share/dbus-1/system.conf");
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string conf = buffer.str();
    const auto socket = m_dir.path() + "/bus";
    replaceElements(conf, "<listen>", "</listen>", "<listen>unix:path=" + socket + "</listen>");
    for (const std::string tag : {"servicedir", "pidfile", "user", "includedir", "servicehelper"})
        replaceElements(conf, "<" + tag + ">", "</" + tag + ">", "");
    replaceElements(conf, "<standard_system_servicedirs", "/>", "");
    replaceElements(conf, "<include ", "</include>", "");
    replaceElements(conf, "<syslog", "/>", "");
    const auto policyDir = m_dir.path() + "/system.d";
    std::filesystem::create_directories(policyDir);
    if (!policyFile.empty())
        std::filesystem::copy_file(policyFile, policyDir + "/" + std::filesystem::path(policyFile).filename().string());
    replaceElements(conf, "</busconfig>", "", "<includedir>" + policyDir + "</includedir></busconfig>");
    std::ofstream(m_dir.path() + "/system.conf") << conf;
    // Let unprivileged test clients (setpriv nobody) reach the socket.
    std::filesystem::permissions(m_dir.path(), std::filesystem::perms::all);
    start();
}

void PrivateBus::start() {
    auto result = run({"dbus-daemon", "--config-file=" + m_dir.path() + "/system.conf", "--fork", "--print-address=1",
                       "--print-pid=1"});
    std::istringstream lines(result.out);
    std::string pidLine;
    std::getline(lines, m_address);
    std::getline(lines, pidLine);
    if (result.exitCode != 0 || m_address.empty() || pidLine.empty())
        throw std::runtime_error("cannot start dbus-daemon: " + result.err);
    m_pid = static_cast<pid_t>(std::stol(pidLine));
}

void PrivateBus::restart() {
    kill(m_pid, SIGTERM);
    // Not our child (it forked itself): wait until it is gone, boundedly.
    eventually([&] { return kill(m_pid, 0) != 0 && errno == ESRCH; }, std::chrono::seconds(10));
    std::error_code ec;
    std::filesystem::remove(m_dir.path() + "/bus", ec);
    start();
}

PrivateBus::~PrivateBus() {
    if (m_pid > 0) kill(m_pid, SIGTERM);
}

bool busMonitorIsLive(Subprocess& monitor, const std::string& address) {
    return eventually(
        [&] {
            run({"busctl", "--address=" + address, "call", "org.porteye.PortEye1", "/org/porteye/PortEye1",
                 "org.porteye.PortEye1", "GetStatus"});
            return monitor.waitForLine(
                [](std::string_view line) { return line.find("\"GetStatus\"") != std::string_view::npos; },
                std::chrono::milliseconds(200));
        },
        std::chrono::seconds(10));
}

PortHolder::PortHolder() {
    int commands[2];
    int replies[2];
    if (pipe2(commands, O_CLOEXEC) != 0 || pipe2(replies, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    m_pid = fork();
    if (m_pid == 0) {
        ::close(commands[1]);
        ::close(replies[0]);
        std::vector<int> listeners;
        char command = 0;
        while (read(commands[0], &command, 1) == 1) {
            if (command == 'o' || command == 'u') {
                std::uint16_t port = 0;
                if (read(commands[0], &port, sizeof port) != sizeof port) break;
                const bool udp = command == 'u';
                int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
                int one = 1;
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                sockaddr_in addr{};
                addr.sin_family = AF_INET;
                addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                addr.sin_port = htons(port);
                std::uint16_t bound = 0;
                if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && (udp || listen(fd, 16) == 0)) {
                    socklen_t len = sizeof addr;
                    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
                    bound = ntohs(addr.sin_port);
                    listeners.push_back(fd);
                }
                if (write(replies[1], &bound, sizeof bound) != sizeof bound) break;
            } else if (command == 'c') {
                if (!listeners.empty()) {
                    ::close(listeners.back());
                    listeners.pop_back();
                }
                char ok = 1;
                if (write(replies[1], &ok, 1) != 1) break;
            } else {
                break;
            }
        }
        _exit(0);
    }
    ::close(commands[0]);
    ::close(replies[1]);
    m_commands = commands[1];
    m_replies = replies[0];
}

PortHolder::~PortHolder() {
    exit();
}

std::uint16_t PortHolder::open(std::uint16_t port) {
    return openSocket('o', port);
}

std::uint16_t PortHolder::openUdp(std::uint16_t port) {
    return openSocket('u', port);
}

std::uint16_t PortHolder::openSocket(char command, std::uint16_t port) {
    std::uint16_t bound = 0;
    if (write(m_commands, &command, 1) != 1 || write(m_commands, &port, sizeof port) != sizeof port ||
        read(m_replies, &bound, sizeof bound) != sizeof bound || bound == 0)
        throw std::runtime_error("port holder could not open a listener");
    return bound;
}

void PortHolder::close() {
    char command = 'c';
    char ok = 0;
    if (write(m_commands, &command, 1) != 1 || read(m_replies, &ok, 1) != 1)
        throw std::runtime_error("port holder did not answer");
}

void PortHolder::exit() {
    if (m_pid <= 0) return;
    char command = 'q';
    (void)!write(m_commands, &command, 1);
    ::close(m_commands);
    ::close(m_replies);
    waitpid(m_pid, nullptr, 0);
    m_pid = -1;
}

std::string porteyedPath() {
    return PORTEYE_BINARY_DIR "/daemon/porteyed";
}
std::string netnsHelperPath() {
    return PORTEYE_BINARY_DIR "/daemon/porteye-netns-helper";
}
std::string porteyectlPath() {
    return PORTEYE_BINARY_DIR "/client/porteyectl";
}
std::vector<std::string> asNobody(std::vector<std::string> argv) {
    std::vector<std::string> out{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

std::vector<std::string> nobodyListenerArgv() {
    // Debian's python3 by its path: nobody cannot reach a python under /root.
    return asNobody({"/usr/bin/python3", "-c",
                     "import signal, socket\n"
                     "s = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
                     "print(s.getsockname()[1], flush=True)\nsignal.pause()"});
}

std::string policyFilePath() {
    return PORTEYE_SOURCE_DIR "/dbus/org.porteye.PortEye1.conf";
}

DaemonProcess::DaemonProcess(std::vector<std::string> args, std::map<std::string, std::string> env,
                             std::vector<std::string> launcher) {
    // Stand in for systemd's notify socket: READY=1 tells us when clients may call.
    m_notifyFd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const auto path = m_dir.path() + "/notify";
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (bind(m_notifyFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(m_notifyFd);
        throw std::runtime_error("cannot bind the notify socket");
    }
    env["NOTIFY_SOCKET"] = path;
    std::vector<std::string> argv = std::move(launcher);
    argv.push_back(porteyedPath());
    // A persistent history of its own unless the test names one: never the host's /var/lib/porteye.
    if (std::find(args.begin(), args.end(), "--state-dir") == args.end()) {
        argv.push_back("--state-dir");
        argv.push_back(m_dir.path() + "/state");
    }
    const auto named = [&](const std::string& option) {
        return std::any_of(args.begin(), args.end(),
                           [&](const std::string& a) { return a == option || a.rfind(option + "=", 0) == 0; });
    };
    // Every namespace of a busy host and the eBPF source make a daemon slow and timing-sensitive,
    // and only the tests of those two features need them: those name the options.
    for (const auto& [option, value] : {std::pair{"--network-namespaces", "host"}, {"--event-source", "off"}}) {
        if (named(option)) continue;
        argv.push_back(option);
        argv.push_back(value);
    }
    // A control socket of its own unless the test names one (or "" for none): two test daemons
    // on the default /run/porteye/porteyed.sock refuse each other, and the host's porteyed them.
    if (!named("--socket")) {
        argv.push_back("--socket");
        argv.push_back(m_dir.path() + "/porteyed.sock");
    }
    std::string socketPath;
    for (std::size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == "--socket") socketPath = argv[i + 1];
    if (auto it = std::find(args.begin(), args.end(), "--socket"); it != args.end() && it + 1 != args.end())
        socketPath = *(it + 1);
    for (auto& a : args)
        argv.push_back(std::move(a));
    try {
        m_process = std::make_unique<Subprocess>(std::move(argv), std::move(env), m_dir.path() + "/porteyed",
                                                 /*ownProcessGroup=*/true);
    } catch (...) {
        ::close(m_notifyFd);
        throw;
    }
    // Read the notify socket all the time, as systemd does: porteyed sends STATUS= after every
    // batch of changes, and sd_notify() blocks once a datagram socket holds
    // net.unix.max_dgram_qlen (often 10) unread messages, which would freeze the daemon.
    m_reader = std::thread([this] { readNotifications(); });
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (!m_ready && Clock::now() < deadline) {
        for (const auto& n : notifications())
            if (n.find("READY=1") != std::string::npos) m_ready = true;
        if (!m_ready && m_process->wait(std::chrono::milliseconds(10))) break;
    }
    // READY=1 comes after the bus name and the control socket; a connect proves the socket, which
    // a launcher's mount namespace could hide from this test.
    if (m_ready && !socketPath.empty()) {
        m_ready = eventually(
            [&] {
                const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                sockaddr_un to{};
                to.sun_family = AF_UNIX;
                std::strncpy(to.sun_path, socketPath.c_str(), sizeof to.sun_path - 1);
                const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
                ::close(fd);
                return ok;
            },
            std::chrono::seconds(5));
    }
}

DaemonProcess::~DaemonProcess() {
    m_process.reset();
    m_stopReading = true;
    m_reader.join();
    ::close(m_notifyFd);
}

int DaemonProcess::stop(int signal) {
    int left = 0;
    const int status = m_process->stopGroup(signal, &left);
    m_leftovers += left;
    if (left > 0) std::fprintf(stderr, "porteyed left %d process(es) in its group: killed\n", left);
    return status;
}

std::string DaemonProcess::log() {
    m_process->collect();
    return m_process->err() + m_process->out();
}

void DaemonProcess::readNotifications() {
    char buf[4096];
    while (!m_stopReading) {
        pollfd fd{m_notifyFd, POLLIN, 0};
        if (poll(&fd, 1, 20) <= 0) continue;
        const ssize_t n = recv(m_notifyFd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) continue;
        std::lock_guard lock(m_mutex);
        m_notifications.emplace_back(buf, static_cast<std::size_t>(n));
    }
}

std::vector<std::string> DaemonProcess::notifications() {
    std::lock_guard lock(m_mutex);
    return m_notifications;
}

RunResult runAccountTool(const std::vector<std::string>& argv) {
    RunResult result;
    eventually(
        [&] {
            result = run(argv);
            return result.exitCode == 0 || result.exitCode == 6 || result.exitCode == 9;
        },
        std::chrono::seconds(30));
    return result;
}

}  // namespace porteye::testing
