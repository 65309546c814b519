// SPDX-License-Identifier: MIT
// `porteyectl wait`, `who` and `watch --exec` as scripts run them: the real binaries, a real
// porteyed over the Unix socket and over a private dbus-daemon, and ports this test owns
// (bound to port 0, so no fixed port is assumed free).
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

using namespace porteye::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kExitTimeout = 7;
constexpr int kExitNotHeld = 8;
constexpr int kExitUnavailable = 5;
constexpr int kExitProcessExited = 4;

/// A TCP socket of this process bound to 127.0.0.1 on a port of the kernel's choice; listen()
/// is a separate step, so a test can reserve the port before it starts to listen.
class OwnSocket {
public:
    OwnSocket() : m_fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (m_fd < 0 || bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            throw std::runtime_error("bind failed");
        socklen_t len = sizeof addr;
        getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len);
        m_port = ntohs(addr.sin_port);
    }
    ~OwnSocket() { close(); }
    OwnSocket(const OwnSocket&) = delete;
    OwnSocket& operator=(const OwnSocket&) = delete;
    void listen() {
        if (::listen(m_fd, 8) != 0) throw std::runtime_error("listen failed");
    }
    void close() {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = -1;
    }
    int fd() const { return m_fd; }
    std::uint16_t port() const { return m_port; }

private:
    int m_fd;
    std::uint16_t m_port = 0;
};

std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string userName() {
    const passwd* pw = getpwuid(geteuid());
    return pw != nullptr ? pw->pw_name : std::to_string(geteuid());
}

enum class Via { Socket, Dbus };

class PortCommandsTest : public porteye::testing::DaemonTest, public ::testing::WithParamInterface<Via> {
protected:
    void SetUp() override {
        if (GetParam() == Via::Dbus) {
            m_bus = std::make_unique<PrivateBus>(policyFilePath());
            startDaemon(
                {"--bus-address", m_bus->address(), "--interval", "0.1", "--socket", "", "--config", "/dev/null"});
        } else {
            startDaemon({"--no-bus", "--socket", m_socket, "--interval", "0.1", "--config", "/dev/null"});
        }
    }

    /// porteyectl over this test's transport.
    std::vector<std::string> ctl(std::vector<std::string> args) const {
        std::vector<std::string> argv{porteyectlPath()};
        if (GetParam() == Via::Dbus)
            argv.insert(argv.end(), {"--bus-address", m_bus->address()});
        else
            argv.insert(argv.end(), {"--socket", m_socket});
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    /// Waits until porteyed lists `port` (so a later change is a change it sees, not its first poll).
    bool daemonSees(std::uint16_t port) {
        return eventually([&] {
            auto r = run(ctl({"who", std::to_string(port)}));
            return r.exitCode == 0;
        });
    }

    TempDir m_dir{0755};
    const std::string m_socket = m_dir.path() + "/s.sock";
    std::unique_ptr<PrivateBus> m_bus;
};

TEST_P(PortCommandsTest, WaitListenReturnsOnceTheTestListens) {
    OwnSocket own;  // the port is ours, bound but not listening: nobody listens on it yet
    Subprocess wait(ctl({"wait", "--listen", std::to_string(own.port()), "--timeout", "30"}));
    EXPECT_FALSE(wait.wait(300ms)) << "returned before anything listened: " << wait.err();
    own.listen();
    const auto status = wait.wait(20s);
    ASSERT_TRUE(status) << "never returned";
    EXPECT_EQ(*status, 0) << wait.err();
    EXPECT_EQ(wait.out(), "") << "a script's wait prints nothing";
    EXPECT_EQ(wait.err(), "");
}

TEST_P(PortCommandsTest, WaitListenReturnsAtOnceForAListenerOpenedBefore) {
    OwnSocket own;
    own.listen();
    // --json: the listener it found, which is this process's.
    auto result = run(ctl({"wait", "--listen", std::to_string(own.port()), "--timeout", "20", "--json"}));
    ASSERT_EQ(result.exitCode, 0) << result.err;
    const auto outcome = nlohmann::json::parse(result.out);
    EXPECT_EQ(outcome["until"], "listening");
    EXPECT_EQ(outcome["port"], own.port());
    EXPECT_EQ(outcome["record"]["pid"], static_cast<std::uint32_t>(getpid()));
    EXPECT_EQ(outcome["record"]["state"], "LISTEN");
}

TEST_P(PortCommandsTest, WaitFreeReturnsOnceTheTestCloses) {
    OwnSocket own;
    own.listen();
    ASSERT_TRUE(daemonSees(own.port()));
    Subprocess wait(ctl({"wait", "--free", std::to_string(own.port()), "--timeout", "30"}));
    EXPECT_FALSE(wait.wait(300ms)) << "returned while the port was held: " << wait.err();
    own.close();
    const auto status = wait.wait(20s);
    ASSERT_TRUE(status) << "never returned";
    EXPECT_EQ(*status, 0) << wait.err();
    EXPECT_EQ(wait.out(), "");
}

TEST_P(PortCommandsTest, WaitTimesOutWithItsOwnExitStatus) {
    OwnSocket reserved;  // bound, never listening: the port stays unused for the test's life
    auto result = run(ctl({"wait", "--listen", std::to_string(reserved.port()), "--timeout", "0.3"}));
    EXPECT_EQ(result.exitCode, kExitTimeout) << result.err;
    EXPECT_NE(result.err.find("is not listening after 0.3 s"), std::string::npos) << result.err;
    EXPECT_EQ(result.out, "");
}

TEST_P(PortCommandsTest, WaitEndsWithUnavailableWhenPorteydGoesAway) {
    OwnSocket reserved;
    Subprocess wait(ctl({"wait", "--listen", std::to_string(reserved.port())}));
    EXPECT_FALSE(wait.wait(300ms)) << wait.err();
    m_daemon->stop();
    const auto status = wait.wait(20s);
    ASSERT_TRUE(status) << "still waiting for a daemon that is gone";
    EXPECT_EQ(*status, kExitUnavailable) << wait.err();
}

TEST_P(PortCommandsTest, WaitAsAnotherUserGoesByTheSocketsItMaySee) {
    // The visibility rule: nobody sees only nobody's sockets, so root's listener is invisible to it.
    // Over D-Bus its stream is a Subscribe subscription, which the same rule filters.
    OwnSocket own;
    own.listen();
    ASSERT_TRUE(daemonSees(own.port()));
    auto asNobody = [&](std::vector<std::string> args) {
        auto argv = ctl(std::move(args));
        argv.insert(argv.begin(), {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"});
        return run(argv);
    };
    auto free = asNobody({"wait", "--free", std::to_string(own.port()), "--timeout", "20"});
    EXPECT_EQ(free.exitCode, 0) << "free as far as nobody can see: " << free.err;
    auto listening = asNobody({"wait", "--listen", std::to_string(own.port()), "--timeout", "0.3"});
    EXPECT_EQ(listening.exitCode, kExitTimeout) << listening.err;
    EXPECT_NE(listening.err.find("another user's listener is invisible to you"), std::string::npos) << listening.err;
}

TEST_P(PortCommandsTest, WhoNamesThisProcessAndItsUserListenerFirst) {
    OwnSocket own;
    own.listen();
    // A connection to it: the accepted end holds the port too, and comes after the listener.
    OwnSocket client;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(own.port());
    ASSERT_EQ(connect(client.fd(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    const int accepted = accept(own.fd(), nullptr, nullptr);
    ASSERT_GE(accepted, 0);

    RunResult who;
    ASSERT_TRUE(eventually([&] {
        who = run(ctl({"who", std::to_string(own.port())}));
        return who.exitCode == 0 && who.out.find("ESTAB") != std::string::npos;
    })) << who.out
        << who.err;
    std::istringstream lines(who.out);
    std::string first, second;
    std::getline(lines, first);
    std::getline(lines, second);
    const std::string self = "(pid " + std::to_string(getpid()) + ")";
    EXPECT_NE(first.find("tcp LISTEN 127.0.0.1:" + std::to_string(own.port())), std::string::npos) << who.out;
    EXPECT_NE(first.find(self), std::string::npos) << who.out;
    EXPECT_NE(first.find("user " + userName()), std::string::npos) << who.out;
    EXPECT_NE(first.find("since "), std::string::npos) << who.out;
    EXPECT_NE(second.find("ESTAB"), std::string::npos) << who.out;
    EXPECT_NE(second.find(self), std::string::npos) << who.out;
    // The client end's local port is another: it is not a holder of this port.
    EXPECT_EQ(who.out.find("ESTAB 127.0.0.1:" + std::to_string(client.port())), std::string::npos) << who.out;

    auto json = run(ctl({"who", std::to_string(own.port()), "--json"}));
    ASSERT_EQ(json.exitCode, 0) << json.err;
    const auto holders = nlohmann::json::parse(json.out);
    ASSERT_GE(holders.size(), 2U);
    EXPECT_EQ(holders[0]["state"], "LISTEN");
    EXPECT_EQ(holders[0]["pid"], static_cast<std::uint32_t>(getpid()));
    EXPECT_EQ(holders[0]["user"], userName());
    EXPECT_TRUE(holders[0]["since"].is_number_unsigned()) << holders[0];
    ::close(accepted);
}

TEST_P(PortCommandsTest, WhoExitsEightWhenNothingHoldsThePort) {
    OwnSocket reserved;  // bound without listening: in no table porteyed dumps
    auto result = run(ctl({"who", std::to_string(reserved.port())}));
    EXPECT_EQ(result.exitCode, kExitNotHeld) << result.out << result.err;
    EXPECT_NE(result.err.find("nothing holds port " + std::to_string(reserved.port())), std::string::npos)
        << result.err;
    EXPECT_EQ(result.out, "");
}

TEST_P(PortCommandsTest, WatchExecRunsTheCommandWithTheChangeInItsEnvironment) {
    PortHolder holder;
    const auto pid = std::to_string(holder.pid());
    const std::string log = m_dir.path() + "/env.log";
    Subprocess watch(ctl({"watch", pid, "--interval", "0.1", "--exec",
                          "env | grep ^PORTEYE_ | LC_ALL=C sort >> " + log + "; echo END >> " + log}));
    // The watch is up once porteyed counts it; changes before that would be its seed, not a change.
    ASSERT_TRUE(eventually([&] {
        auto status = run(ctl({"--json", "status"}));
        return status.exitCode == 0 && nlohmann::json::parse(status.out).value("watches", 0) == 1;
    })) << watch.err();
    const auto port = std::to_string(holder.open());
    ASSERT_TRUE(eventually([&] { return readFile(log).find("PORTEYE_ACTION=added\n") != std::string::npos; }))
        << readFile(log) << watch.err();
    holder.close();
    ASSERT_TRUE(eventually([&] { return readFile(log).find("PORTEYE_ACTION=removed\n") != std::string::npos; }))
        << readFile(log) << watch.err();

    const auto text = readFile(log);
    const auto added = text.substr(0, text.find("END\n"));
    for (const std::string& expected : std::vector<std::string>{
             "PORTEYE_PID=" + pid + "\n", "PORTEYE_WATCHED_PID=" + pid + "\n", "PORTEYE_PROTOCOL=tcp\n",
             "PORTEYE_FAMILY=4\n", "PORTEYE_STATE=LISTEN\n", "PORTEYE_LOCAL_ADDRESS=127.0.0.1\n",
             "PORTEYE_PORT=" + port + "\n", "PORTEYE_REMOTE_PORT=0\n", "PORTEYE_ACTIVE_PORTS=" + port + "\n"})
        EXPECT_NE(added.find(expected), std::string::npos) << expected << " missing from:\n" << added;
    for (const std::string present :
         {"PORTEYE_PROCESS=", "PORTEYE_SEQUENCE=", "PORTEYE_TIME=", "PORTEYE_REMOTE_ADDRESS="})
        EXPECT_NE(added.find(present), std::string::npos) << present << " missing from:\n" << added;
    const auto removed = text.substr(text.find("END\n") + 4);
    EXPECT_NE(removed.find("PORTEYE_ACTION=removed\nPORTEYE_ACTIVE_PORTS=\n"), std::string::npos) << removed;
    EXPECT_NE(removed.find("PORTEYE_PORT=" + port + "\n"), std::string::npos) << removed;

    holder.exit();
    const auto status = watch.wait(20s);
    ASSERT_TRUE(status);
    EXPECT_EQ(*status, kExitProcessExited) << watch.err();
    EXPECT_EQ(watch.out(), "") << "with --exec, porteyectl itself prints nothing";
}

TEST_P(PortCommandsTest, WatchExecRunsCommandsOneAtATimeInOrderAndGoesOnAfterAFailure) {
    PortHolder holder;
    const std::string log = m_dir.path() + "/order.log";
    const std::string lock = m_dir.path() + "/lock";
    // Slow, failing, and it notes any overlap: a second run while one holds the lock directory.
    Subprocess watch(
        ctl({"watch", std::to_string(holder.pid()), "--interval", "0.1", "--exec",
             "mkdir " + lock + " 2>/dev/null || echo OVERLAP >> " + log + "; read x && echo STDIN >> " + log +
                 "; echo $PORTEYE_SEQUENCE $PORTEYE_ACTION >> " + log + "; sleep 0.2; rmdir " + lock + "; exit 3"}));
    ASSERT_TRUE(eventually([&] {
        auto status = run(ctl({"--json", "status"}));
        return status.exitCode == 0 && nlohmann::json::parse(status.out).value("watches", 0) == 1;
    }));
    for (int i = 0; i < 3; ++i) {
        holder.open();
        ASSERT_TRUE(eventually([&] {
            const auto t = readFile(log);
            return std::count(t.begin(), t.end(), '\n') >= 2 * i + 1;
        })) << readFile(log);
        holder.close();
    }
    ASSERT_TRUE(eventually([&] {
        const auto t = readFile(log);
        return std::count(t.begin(), t.end(), '\n') >= 6;
    })) << readFile(log);
    const auto text = readFile(log);
    EXPECT_EQ(text.find("OVERLAP"), std::string::npos) << text;
    EXPECT_EQ(text.find("STDIN"), std::string::npos) << "stdin is /dev/null:\n" << text;
    std::istringstream lines(text);
    std::uint64_t last = 0;
    int n = 0;
    for (std::string line; std::getline(lines, line); ++n) {
        std::istringstream fields(line);
        std::uint64_t sequence = 0;
        std::string action;
        fields >> sequence >> action;
        EXPECT_GT(sequence, last) << text;
        EXPECT_EQ(action, n % 2 == 0 ? "added" : "removed") << text;
        last = sequence;
    }
    EXPECT_EQ(n, 6) << text;
    EXPECT_EQ(watch.stop(SIGTERM), 0) << watch.err();
}

INSTANTIATE_TEST_SUITE_P(Transports, PortCommandsTest, ::testing::Values(Via::Socket, Via::Dbus),
                         [](const auto& param) { return param.param == Via::Socket ? "Socket" : "Dbus"; });

// Without a daemon: --local polls the kernel for wait, and names the holder for who.
TEST(LocalPortCommands, WaitListenAndFreeAndTimeoutWithoutADaemon) {
    OwnSocket own;
    Subprocess wait({porteyectlPath(), "--local", "wait", "--listen", std::to_string(own.port()), "--interval", "0.05",
                     "--timeout", "30"});
    EXPECT_FALSE(wait.wait(300ms)) << wait.err();
    own.listen();
    auto status = wait.wait(20s);
    ASSERT_TRUE(status);
    EXPECT_EQ(*status, 0) << wait.err();

    Subprocess free({porteyectlPath(), "--local", "wait", "--free", std::to_string(own.port()), "--interval", "0.05",
                     "--timeout", "30"});
    EXPECT_FALSE(free.wait(300ms)) << free.err();
    own.close();
    status = free.wait(20s);
    ASSERT_TRUE(status);
    EXPECT_EQ(*status, 0) << free.err();

    OwnSocket reserved;
    auto timedOut =
        run({porteyectlPath(), "--local", "wait", "--listen", std::to_string(reserved.port()), "--timeout", "0.3"});
    EXPECT_EQ(timedOut.exitCode, kExitTimeout) << timedOut.err;

    OwnSocket held;
    held.listen();
    auto who = run({porteyectlPath(), "--local", "who", std::to_string(held.port())});
    EXPECT_EQ(who.exitCode, 0) << who.err;
    EXPECT_NE(who.out.find("(pid " + std::to_string(getpid()) + ")"), std::string::npos) << who.out;
}

TEST(PortCommandsUsage, WaitNeedsListenOrFreeAndOnlyOne) {
    EXPECT_EQ(run({porteyectlPath(), "--local", "wait"}).exitCode, 2);
    EXPECT_EQ(run({porteyectlPath(), "--local", "wait", "--listen", "1", "--free", "1"}).exitCode, 2);
    EXPECT_EQ(run({porteyectlPath(), "--local", "wait", "--listen", "1", "--host", "localhost"}).exitCode, 2);
    EXPECT_EQ(run({porteyectlPath(), "--local", "wait", "--listen", "1", "--timeout", "soon"}).exitCode, 2);
    const auto help = run({porteyectlPath(), "wait", "--help"});
    EXPECT_NE(help.out.find("7 on timeout"), std::string::npos) << help.out;
}

}  // namespace
