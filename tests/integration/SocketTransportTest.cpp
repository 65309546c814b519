// SPDX-License-Identifier: MIT
// porteyectl's socket transport against the real porteyed (--no-bus --socket).
// The host is shared: only sockets and processes made here are asserted on.
#include "ExitCode.hpp"
#include "SocketTransport.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace porteye::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTimeout = std::chrono::seconds(20);

/// porteyed --no-bus --socket DIR/s.sock --interval 0.1, started and stopped by the test.
class Daemon {
public:
    Daemon() {
        char dirTemplate[] = "/tmp/porteye-sock-XXXXXX";
        m_dir = ::mkdtemp(dirTemplate);
        m_path = m_dir + "/s.sock";
    }
    ~Daemon() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
        std::error_code ignored;
        std::filesystem::remove_all(m_dir, ignored);
    }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;
    const std::string& path() const { return m_path; }

    ::testing::AssertionResult start() {
        std::vector<std::string> args{PORTEYE_BINARY_DIR "/daemon/porteyed", "--no-bus", "--socket", m_path,
                                      "--interval", "0.1", "--config", "/dev/null"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const int logFd = ::open((m_dir + "/log").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        m_pid = ::fork();
        if (m_pid == 0) {
            ::dup2(logFd, 1);
            ::dup2(logFd, 2);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(logFd);
        // Ready when the transport itself gets a status (bounded retries; no fixed sleep).
        const auto deadline = Clock::now() + kTimeout;
        while (Clock::now() < deadline) {
            try {
                SocketTransport probe(m_path);
                probe.status();
                return ::testing::AssertionSuccess();
            } catch (const CommandError&) {
                ::usleep(20'000);
            }
        }
        return ::testing::AssertionFailure() << "porteyed did not answer on " << m_path;
    }
    int stop() {
        ::kill(m_pid, SIGTERM);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
        m_pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    std::string m_dir;
    std::string m_path;
    pid_t m_pid = -1;
};

int openListener(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    ::listen(fd, 4);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    return fd;
}

template <typename T>
T eventually(const std::function<T()>& get, const std::function<bool(const T&)>& done) {
    const auto deadline = Clock::now() + kTimeout;
    T value = get();
    while (!done(value) && Clock::now() < deadline) {
        ::usleep(20'000);
        value = get();
    }
    return value;
}

class SocketTransportTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(m_daemon.start()); }
    void TearDown() override { EXPECT_EQ(m_daemon.stop(), 0); }
    Daemon m_daemon;
};

TEST_F(SocketTransportTest, ListShowsAListenerWithItsPid) {
    SocketTransport transport(m_daemon.path());
    std::uint16_t port = 0;
    const int fd = openListener(port);
    core::SocketFilter filter;
    filter.port = port;
    const auto records = eventually<std::vector<core::SocketRecord>>(
        [&] { return transport.list(filter); }, [](const auto& r) { return !r.empty(); });
    ::close(fd);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(records[0].localPort, port);
    EXPECT_EQ(records[0].state, core::TcpState::Listen);
}

TEST_F(SocketTransportTest, HistoryShowsAddedAndRemoved) {
    SocketTransport transport(m_daemon.path());
    std::uint16_t port = 0;
    const int fd = openListener(port);
    core::SocketFilter byPort;
    byPort.port = port;
    eventually<std::vector<core::SocketRecord>>([&] { return transport.list(byPort); },
                                                [](const auto& r) { return !r.empty(); });
    ::close(fd);
    core::HistoryFilter filter;
    filter.socket.port = port;
    const auto events = eventually<std::vector<core::PortEvent>>(
        [&] { return transport.history(filter); }, [](const auto& e) { return e.size() >= 2; });
    ASSERT_EQ(events.size(), 2U);
    EXPECT_EQ(events[0].action, core::Action::Added);
    EXPECT_EQ(events[1].action, core::Action::Removed);
    EXPECT_EQ(events[1].record.localPort, port);
}

TEST_F(SocketTransportTest, StatusReportsTheDaemonsSettings) {
    SocketTransport transport(m_daemon.path());
    const auto status = transport.status();
    EXPECT_FALSE(status.version.empty());
    EXPECT_DOUBLE_EQ(status.pollIntervalSeconds, 0.1);
    EXPECT_EQ(status.historyCapacity, 10000U);
    EXPECT_EQ(status.watches, 0U);
    EXPECT_GT(status.nextSequence, 0U);
}

TEST_F(SocketTransportTest, WatchReportsAChildsPortsAndEndsWhenItExits) {
    int toChild[2];
    int toParent[2];
    ASSERT_EQ(::pipe2(toChild, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(toParent, O_CLOEXEC), 0);
    const pid_t child = ::fork();
    if (child == 0) {
        // Opens a listener, closes it, exits: each on a byte from the parent.
        char command = 0;
        int fd = -1;
        while (::read(toChild[0], &command, 1) == 1) {
            if (command == 'o') {
                std::uint16_t port = 0;
                fd = openListener(port);
                if (::write(toParent[1], &port, sizeof(port)) < 0) {}
            } else if (command == 'c') {
                ::close(fd);
            } else {
                break;
            }
        }
        ::_exit(0);
    }
    ASSERT_GT(child, 0);
    ::close(toChild[0]);
    ::close(toParent[1]);
    if (::write(toChild[1], "o", 1) < 0) {}
    std::uint16_t port = 0;
    ASSERT_EQ(::read(toParent[0], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));

    SocketTransport transport(m_daemon.path());
    WatchOptions options;
    options.interval = std::chrono::duration<double>(0.1);
    std::vector<core::PortChange> changes;
    bool reaped = false;
    transport.watch(static_cast<std::uint32_t>(child), options, [&](const core::PortChange& change) {
        changes.push_back(change);
        if (change.opened.contains(port)) {
            if (::write(toChild[1], "c", 1) < 0) {}
        } else if (change.closed.contains(port)) {
            if (::write(toChild[1], "x", 1) < 0) {}
            ::waitpid(child, nullptr, 0);  // a zombie would still look alive
            reaped = true;
        }
        return true;
    });
    if (!reaped) ::waitpid(child, nullptr, 0);
    ::close(toChild[1]);
    ::close(toParent[0]);
    ASSERT_GE(changes.size(), 3U);
    EXPECT_TRUE(changes[0].opened.contains(port));
    EXPECT_TRUE(changes[0].active.contains(port));
    EXPECT_TRUE(changes[1].closed.contains(port));
    EXPECT_TRUE(changes.back().processExited);
    EXPECT_EQ(transport.status().watches, 0U);
}

TEST_F(SocketTransportTest, WatchOfAMissingPidThrowsNoSuchProcess) {
    SocketTransport transport(m_daemon.path());
    try {
        transport.watch(0x7ffffff0, WatchOptions{}, [](const core::PortChange&) { return true; });
        FAIL() << "no error";
    } catch (const CommandError& e) {
        EXPECT_EQ(e.exitCode(), kExitNoSuchProcess) << e.what();
    }
    // An invalid interval is the user's mistake, as over D-Bus.
    try {
        WatchOptions tooFast;
        tooFast.interval = std::chrono::duration<double>(0.0);
        transport.watch(static_cast<std::uint32_t>(::getpid()), tooFast, [](const core::PortChange&) { return true; });
        FAIL() << "no error";
    } catch (const CommandError& e) {
        EXPECT_EQ(e.exitCode(), kExitUsage) << e.what();
    }
}

TEST_F(SocketTransportTest, WatchReturnsNormallyOnAStopSignal) {
    // The stop signals are blocked, as porteyectl's main() does; one raised mid-watch ends it.
    sigset_t previous;
    ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &stopSignals(), &previous), 0);
    std::uint16_t port = 0;
    const int fd = openListener(port);
    SocketTransport transport(m_daemon.path());
    WatchOptions options;
    options.interval = std::chrono::duration<double>(0.1);
    int calls = 0;
    transport.watch(static_cast<std::uint32_t>(::getpid()), options, [&](const core::PortChange&) {
        if (++calls == 1) ::raise(SIGTERM);  // the first step reports the listener already held
        return true;
    });
    ::close(fd);
    EXPECT_EQ(calls, 1);
    sigset_t pending;
    ::sigpending(&pending);
    EXPECT_FALSE(sigismember(&pending, SIGTERM)) << "the stop signal was left pending";
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    // The watch was ended for us.
    const auto status = eventually<DaemonStatus>([&] { return transport.status(); },
                                                  [](const DaemonStatus& s) { return s.watches == 0; });
    EXPECT_EQ(status.watches, 0U);
}

TEST_F(SocketTransportTest, EventsStreamUntilTheCallbackSaysStop) {
    SocketTransport transport(m_daemon.path());
    core::SocketFilter filter;
    filter.pid = static_cast<std::uint32_t>(::getpid());
    filter.listeningOnly = true;
    // Another thread keeps opening listeners until the stream reports one, so it does not
    // matter when the subscription becomes active.
    std::mutex mutex;
    std::vector<std::uint16_t> ports;
    std::vector<int> fds;
    std::atomic<bool> done{false};
    std::thread opener([&] {
        const auto deadline = Clock::now() + kTimeout;
        while (!done && Clock::now() < deadline) {
            std::uint16_t port = 0;
            const int fd = openListener(port);
            {
                std::lock_guard lock(mutex);
                ports.push_back(port);
                fds.push_back(fd);
            }
            ::usleep(100'000);
        }
    });
    core::PortEvent first;
    transport.events(filter, [&](const core::PortEvent& e) {
        first = e;
        return e.action != core::Action::Added;
    });
    done = true;
    opener.join();
    for (int fd : fds) ::close(fd);
    EXPECT_EQ(first.action, core::Action::Added);
    EXPECT_EQ(first.record.pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_NE(std::find(ports.begin(), ports.end(), first.record.localPort), ports.end());
}

TEST(SocketTransportUnreachable, NamesPorteydAndSuggestsLocal) {
    SocketTransport transport("/tmp/porteye-no-such-dir/porteyed.sock");
    try {
        transport.status();
        FAIL() << "no error";
    } catch (const CommandError& e) {
        EXPECT_EQ(e.exitCode(), kExitUnavailable);
        const std::string message = e.what();
        EXPECT_NE(message.find("cannot reach porteyed at /tmp/porteye-no-such-dir/porteyed.sock"), std::string::npos)
            << message;
        EXPECT_NE(message.find("systemctl start porteyed"), std::string::npos) << message;
        EXPECT_NE(message.find("--local"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace porteye::cli
