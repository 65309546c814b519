// SPDX-License-Identifier: MIT
// The kernel event source inside the real porteyed, against the real kernel: sockets too short
// for any poll, the fallback stages forced from the command line, and a resync after lost events.
// Runs as root (CAP_BPF); the host is shared: only sockets made here are asserted on.
#include "support/RpcClient.hpp"
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::eventually;
using porteye::testing::RpcClient;
using porteye::testing::TempDir;
constexpr auto kTimeout = std::chrono::seconds(20);

/// A listener on 127.0.0.1 that lives `life`; returns its port.
std::uint16_t briefListener(std::chrono::milliseconds life) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd, 8);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::this_thread::sleep_for(life);  // the life of the socket under test, not a wait for a condition
    ::close(fd);
    return ntohs(addr.sin_port);
}

class EventSource : public porteye::testing::DaemonTest {
protected:
    void start(std::vector<std::string> extra) {
        std::vector<std::string> args{"--no-bus", "--socket", m_path, "--config", "/dev/null", "--state-dir", ""};
        // The kernel's events are what these tests are about (the fixture turns them off otherwise).
        if (std::find(extra.begin(), extra.end(), "--event-source") == extra.end())
            args.insert(args.end(), {"--event-source", "auto"});
        args.insert(args.end(), extra.begin(), extra.end());
        startDaemon(args);
    }
    json status() { return RpcClient(m_path).call("status").value("result", json::object()); }
    json historyOf(std::uint16_t port) {
        return RpcClient(m_path).call("history", {{"port", port}}).value("result", json::array());
    }

    TempDir m_dir{0755};
    const std::string m_path = m_dir.path() + "/s.sock";
};

TEST_F(EventSource, AListenerThatLivesFiftyMillisecondsBetweenPollsIsInTheHistoryWithItsPid) {
    start({"--interval", "5"});
    ASSERT_EQ(status()["event_source"].get<std::string>().rfind("polling", 0), std::string::npos)
        << "this machine loads the tracepoint program: " << status().dump();
    const auto port = briefListener(std::chrono::milliseconds(50));
    json events;
    ASSERT_TRUE(eventually(
        [&] {
            events = historyOf(port);
            return events.size() >= 2;
        },
        kTimeout))
        << events.dump() << "\n"
        << m_daemon->log();
    EXPECT_EQ(events[0]["action"], "added");
    EXPECT_EQ(events[0]["record"]["pid"], ::getpid());
    EXPECT_EQ(events[1]["action"], "removed");
    EXPECT_EQ(events[1]["record"]["pid"], ::getpid());
    EXPECT_EQ(events[1].value("short_lived", false), true);
    EXPECT_GE(status()["short_lived"].get<std::uint64_t>(), 1u);
}

TEST_F(EventSource, ForcedTracepointStageReportsListenersAtOnce) {
    start({"--interval", "30", "--event-source", "tracepoint"});
    EXPECT_EQ(status()["event_source"].get<std::string>().rfind("tracepoint", 0), 0u) << status().dump();
    porteye::testing::PortHolder holder;
    const auto port = holder.open();
    RpcClient client(m_path);
    ASSERT_TRUE(eventually(
        [&] {
            const json r = client.call("list", {{"port", port}}).value("result", json::array());
            return !r.empty() && r[0]["pid"] == holder.pid();
        },
        kTimeout))
        << "listed long before the next poll, 30 s away";
}

TEST_F(EventSource, WithTheSourceOffPorteydPollsSaysSoAndCountsWhatItCouldNotAttribute) {
    start({"--interval", "5", "--event-source", "off"});
    EXPECT_EQ(status()["event_source"].get<std::string>().rfind("polling", 0), 0u) << status().dump();
    const auto before = status()["unattributed_short_lived"].get<std::uint64_t>();
    const auto port = briefListener(std::chrono::milliseconds(50));
    ASSERT_TRUE(
        eventually([&] { return status()["unattributed_short_lived"].get<std::uint64_t>() > before; }, kTimeout))
        << "its close was announced by the kernel, for a socket no dump had seen";
    EXPECT_TRUE(historyOf(port).empty()) << "nothing can say whose it was";
}

TEST_F(EventSource, EventsLostToAFullRingAreFollowedByAResync) {
    // A one-page ring drained every 20 ms: a burst of connections overflows it.
    start({"--interval", "30", "--event-ring-bytes", "4096"});
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener, 1024), 0);  // the kernel completes every handshake: connect() never waits
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    const std::uint16_t port = ntohs(addr.sin_port);
    std::vector<int> clients;
    for (int i = 0; i < 500; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) clients.push_back(fd);
    }
    ASSERT_TRUE(eventually([&] { return status()["resyncs"].get<std::uint64_t>() >= 1; }, kTimeout))
        << status().dump() << "\n"
        << m_daemon->log();
    RpcClient client(m_path);
    const json r = client.call("list", {{"port", port}, {"state", "LISTEN"}}).value("result", json::array());
    ASSERT_EQ(r.size(), 1u) << "the table is whole after the resync";
    EXPECT_EQ(r[0]["pid"], ::getpid());
    // Events lost after that first resync are followed by another: in the end every connection is there.
    json all;
    EXPECT_TRUE(eventually(
        [&] {
            all = client.call("list", {{"port", port}, {"state", "ESTABLISHED"}}).value("result", json::array());
            return all.size() >= 2 * clients.size();  // both ends of each
        },
        kTimeout))
        << all.size() << " of " << 2 * clients.size() << "; " << status().dump();
    for (int fd : clients)
        ::close(fd);
    ::close(listener);
}

}  // namespace
}  // namespace porteye::control
