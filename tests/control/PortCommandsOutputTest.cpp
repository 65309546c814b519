// SPDX-License-Identifier: MIT
// `who` and `wait`'s matching rule on records from a fake transport: what a line says about a
// holder (container, since when) and which sockets count, without a daemon.
#include "Commands.hpp"
#include "ExitCode.hpp"
#include "core/TimeFormat.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <sstream>

namespace porteye::cli {
namespace {

class FakeTransport final : public ITransport {
public:
    std::vector<core::SocketRecord> records;
    std::vector<core::PortEvent> added;
    bool hasHistory = true;

    std::vector<core::SocketRecord> list(const core::SocketFilter& filter) override {
        std::vector<core::SocketRecord> out;
        for (const auto& r : records)
            if (filter.matches(r)) out.push_back(r);
        return out;
    }
    void watch(std::uint32_t, const WatchOptions&, const WatchCallback&) override {}
    std::vector<core::PortEvent> history(const core::HistoryFilter&) override {
        if (!hasHistory) throw CommandError(kExitUsage, "no history");
        return added;
    }
    DaemonStatus status() override { return {}; }
    StreamEnd events(const core::SocketFilter&, const EventCallback&, const StreamOptions&) override {
        return StreamEnd::Callback;
    }
};

core::SocketRecord record(std::uint16_t port, core::TcpState state, std::uint32_t pid,
                          std::string address = "0.0.0.0") {
    core::SocketRecord r;
    r.localAddress = std::move(address);
    r.localPort = port;
    r.remoteAddress = state == core::TcpState::Listen ? "0.0.0.0" : "10.0.0.9";
    r.remotePort = state == core::TcpState::Listen ? 0 : 51514;
    r.state = state;
    r.pid = pid;
    r.inode = 1000 + pid;
    r.cookie = 2000 + pid;
    r.process = "nginx";
    auto d = std::make_shared<core::ProcessDetails>();
    d->user = "www-data";
    d->unit = "nginx.service";
    d->startTimeUs = 1'700'000'000'000'000;
    r.details = d;
    return r;
}

TEST(WhoOutput, ListenersFirstWithUserUnitContainerAndSince) {
    FakeTransport t;
    auto conn = record(8080, core::TcpState::Established, 813);
    auto listener = record(8080, core::TcpState::Listen, 812);
    auto d = std::make_shared<core::ProcessDetails>(*listener.details);
    d->containerRuntime = "docker";
    d->containerId = "0123456789abcdef0123";
    listener.details = d;
    t.records = {conn, listener, record(9090, core::TcpState::Listen, 900)};
    core::PortEvent seen;
    seen.action = core::Action::Added;
    seen.record = listener;
    seen.time = core::fromEpochMicros(1'700'000'100'000'000);
    t.added = {seen};

    std::ostringstream out, err;
    ASSERT_EQ(runWho(t, 8080, std::nullopt, OutputOptions{}, out, err), kExitOk) << err.str();
    std::istringstream lines(out.str());
    std::string first, second, third;
    std::getline(lines, first);
    std::getline(lines, second);
    EXPECT_FALSE(std::getline(lines, third)) << "port 9090 is not 8080: " << out.str();
    EXPECT_NE(first.find("tcp LISTEN 0.0.0.0:8080  nginx (pid 812)  user www-data  unit nginx.service  container "
                         "docker:0123456789ab  since "),
              std::string::npos)
        << first;
    // No history entry for the connection: the holder's start time instead.
    EXPECT_NE(second.find("ESTAB 0.0.0.0:8080 <- 10.0.0.9:51514  nginx (pid 813)"), std::string::npos) << second;
    EXPECT_NE(second.find("process up since "), std::string::npos) << second;
    EXPECT_EQ(second.find("container"), std::string::npos) << second;
}

TEST(WhoOutput, NothingHoldingThePortIsExitEight) {
    FakeTransport t;
    t.records = {record(9090, core::TcpState::Listen, 900)};
    std::ostringstream out, err;
    EXPECT_EQ(runWho(t, 8080, std::nullopt, OutputOptions{}, out, err), kExitNotHeld);
    EXPECT_EQ(out.str(), "");
    EXPECT_NE(err.str().find("nothing holds port 8080"), std::string::npos) << err.str();
}

TEST(WaitCounts, ListenersForListenAnythingButTimeWaitForFree) {
    WaitOptions listen;
    listen.port = 8080;
    EXPECT_TRUE(waitCounts(listen, record(8080, core::TcpState::Listen, 1)));
    EXPECT_FALSE(waitCounts(listen, record(8080, core::TcpState::Established, 1)));
    EXPECT_FALSE(waitCounts(listen, record(8081, core::TcpState::Listen, 1)));
    auto udp = record(8080, core::TcpState::Close, 1);
    udp.protocol = core::Protocol::Udp;
    EXPECT_TRUE(waitCounts(listen, udp)) << "a bound UDP socket is what listening means for UDP";
    listen.protocol = core::Protocol::Tcp;
    EXPECT_FALSE(waitCounts(listen, udp));

    WaitOptions free = listen;
    free.until = WaitOptions::Until::Free;
    EXPECT_TRUE(waitCounts(free, record(8080, core::TcpState::Established, 1)));
    EXPECT_FALSE(waitCounts(free, record(8080, core::TcpState::TimeWait, 0)));
    // A connection to remote port 8080 does not hold local port 8080.
    auto client = record(40000, core::TcpState::Established, 1);
    client.remotePort = 8080;
    EXPECT_FALSE(waitCounts(free, client));
}

TEST(WaitCounts, HostMatchesItsAddressAndTheWildcards) {
    WaitOptions o;
    o.port = 8080;
    o.host = "127.0.0.1";
    EXPECT_TRUE(waitCounts(o, record(8080, core::TcpState::Listen, 1, "127.0.0.1")));
    EXPECT_TRUE(waitCounts(o, record(8080, core::TcpState::Listen, 1, "0.0.0.0")));
    EXPECT_TRUE(waitCounts(o, record(8080, core::TcpState::Listen, 1, "::")));
    EXPECT_TRUE(waitCounts(o, record(8080, core::TcpState::Listen, 1, "::ffff:127.0.0.1")));
    EXPECT_FALSE(waitCounts(o, record(8080, core::TcpState::Listen, 1, "10.0.0.5")));
    EXPECT_FALSE(waitCounts(o, record(8080, core::TcpState::Listen, 1, "::1")));
    o.host = "::";
    EXPECT_TRUE(waitCounts(o, record(8080, core::TcpState::Listen, 1, "10.0.0.5")));
}

}  // namespace
}  // namespace porteye::cli
