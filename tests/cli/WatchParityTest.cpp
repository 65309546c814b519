// SPDX-License-Identifier: MIT
// `porteyectl watch` next to ProcessPortMonitor: the same last line on Ctrl+C, and
// `--state ESTABLISHED` counting what ProcessPortMonitor counted (only connected TCP
// sockets, no listeners). --local, so no daemon is needed.
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>
#include <algorithm>
#include <string>

using namespace porteye::testing;
using namespace std::chrono_literals;

namespace {

/// A file descriptor closed on scope exit.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

std::uint16_t localPort(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
}

int loopbackSocket() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    return fd;
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
}

/// A listener on 127.0.0.1 (any port), held by this process.
int listenOnLoopback() {
    const int fd = loopbackSocket();
    auto any = loopback(0);
    if (bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 || listen(fd, 8) != 0)
        throw std::runtime_error("listen failed");
    return fd;
}

/// Watches this test process (which holds only the sockets a test makes) without a daemon.
std::vector<std::string> watchSelf(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{porteyectlPath(), "watch",      std::to_string(::getpid()),
                                  "--local",        "--interval", "0.1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

void expectStoppingMonitoringOn(int signal) {
    Subprocess watch(watchSelf());
    ASSERT_TRUE(watch.waitForOutput("Press Ctrl+C to stop.\n", 5s)) << watch.err();
    EXPECT_EQ(watch.stop(signal), 0) << "a stop signal is a normal end: " << watch.err();
    const std::string tail = "Stopping monitoring.\n";
    ASSERT_GE(watch.out().size(), tail.size()) << watch.out();
    EXPECT_EQ(watch.out().substr(watch.out().size() - tail.size()), tail) << watch.out();
}

}  // namespace

TEST(WatchParity, CtrlCPrintsStoppingMonitoringAsProcessPortMonitorDoes) {
    expectStoppingMonitoringOn(SIGINT);
}

TEST(WatchParity, SigtermPrintsStoppingMonitoringToo) {
    expectStoppingMonitoringOn(SIGTERM);
}

TEST(WatchParity, JsonLinesStayJsonWhenStopped) {
    Subprocess watch(watchSelf({"--json"}));
    // JSON has no header: a change shows the watch is running (and the signals handled).
    Fd listener{listenOnLoopback()};
    ASSERT_TRUE(watch.waitForOutput("\"new_ports\"", 5s)) << watch.err();
    EXPECT_EQ(watch.stop(SIGINT), 0);
    EXPECT_EQ(watch.out().find("Stopping"), std::string::npos) << watch.out();
}

TEST(WatchParity, StateEstablishedCountsConnectionsButNotListenersAsProcessPortMonitorDid) {
    // This process holds a listener and the client end of a connection to it; the server
    // end stays in the accept queue, owned by nobody.
    Fd listener{listenOnLoopback()};
    const auto port = std::to_string(localPort(listener.fd));
    Fd client{loopbackSocket()};
    auto to = loopback(localPort(listener.fd));
    ASSERT_EQ(connect(client.fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    const auto clientPort = std::to_string(localPort(client.fd));

    Subprocess established(watchSelf({"--state", "ESTABLISHED"}));
    EXPECT_TRUE(
        established.waitForOutput("New ports opened: {" + clientPort + "}\nActive ports: {" + clientPort + "}\n", 5s))
        << established.out() << established.err();
    EXPECT_EQ(established.stop(SIGINT), 0);

    // Without --state the listener counts too.
    Subprocess every(watchSelf());
    const auto both = std::min(port, clientPort, [](auto& a, auto& b) { return std::stoi(a) < std::stoi(b); }) + ", " +
                      std::max(port, clientPort, [](auto& a, auto& b) { return std::stoi(a) < std::stoi(b); });
    EXPECT_TRUE(every.waitForOutput("Active ports: {" + both + "}\n", 5s)) << every.out() << every.err();
    EXPECT_EQ(every.stop(SIGINT), 0);

    // The help says so, for whoever comes from ProcessPortMonitor.
    const auto help = run({porteyectlPath(), "watch", "--help"});
    EXPECT_NE(help.out.find("ProcessPortMonitor counted only ESTABLISHED"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("--state ESTABLISHED"), std::string::npos) << help.out;
}
