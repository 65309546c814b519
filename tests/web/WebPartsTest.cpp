// SPDX-License-Identifier: MIT
// The parts of porteyectl web that need no daemon: query parsing, the event fan-out, the peer lookup.
#include "EventHub.hpp"
#include "sys/LoopbackPeer.hpp"
#include "Query.hpp"
#include "WebServer.hpp"
#include "wire/RequestOptions.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace porteye::web {
namespace {

using namespace std::chrono_literals;
using sys::isLoopbackAddress;
using sys::loopbackPeerUid;

TEST(WebQuery, PortsListenByDefaultAndEmptyValuesMeanNoFilter) {
    const auto filter = portsQuery({{"port", ""}, {"process", ""}});
    EXPECT_TRUE(filter.listeningOnly);
    EXPECT_FALSE(filter.port);
    EXPECT_FALSE(filter.process);
    const auto all = portsQuery({{"listening", "false"},
                                 {"port", "5000"},
                                 {"process", "py"},
                                 {"state", "listen"},
                                 {"protocol", "tcp"},
                                 {"pid", "42"}});
    EXPECT_FALSE(all.listeningOnly);
    EXPECT_EQ(all.port, 5000);
    EXPECT_EQ(all.process, "py");
    EXPECT_EQ(all.state, core::TcpState::Listen);
    EXPECT_EQ(all.pid, 42U);
}

TEST(WebQuery, HistoryLimitDefaultsTo100) {
    EXPECT_EQ(historyQuery({}).limit, 100U);
    EXPECT_EQ(historyQuery({{"limit", "5"}}).limit, 5U);
    EXPECT_FALSE(historyQuery({}).socket.listeningOnly);
}

TEST(WebQuery, BadValuesThrowWithTheKeyInTheMessage) {
    const std::vector<QueryParams> bad{{{"port", "x"}},         {{"port", "65536"}},   {{"port", "+1"}},
                                       {{"listening", "nah"}},  {{"bogus", "1"}},      {{"port", "1"}, {"port", "2"}},
                                       {{"state", "sleeping"}}, {{"protocol", "icmp"}}};
    for (const auto& params : bad)
        EXPECT_THROW(portsQuery(params), protocol::InvalidArgument) << params.begin()->first;
    try {
        historyQuery({{"limit", "ten"}});
        FAIL();
    } catch (const protocol::InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
    }
}

TEST(EventHub, EverySubscriberGetsEachMessageInOrder) {
    EventHub hub(4, 8, "resync");
    auto a = hub.subscribe();
    auto b = hub.subscribe();
    hub.publish("1");
    hub.publish("2");
    for (auto& s : {a, b}) {
        std::vector<std::string> got;
        EXPECT_EQ(s->next(0ms, got), EventHub::Subscriber::Wait::Messages);
        EXPECT_EQ(got, (std::vector<std::string>{"1", "2"}));
    }
}

TEST(EventHub, ASlowSubscriberIsToldToReloadWithoutHoldingUpTheOthersAndStaysLive) {
    EventHub hub(4, 3, "resync");
    auto slow = hub.subscribe();
    auto fast = hub.subscribe();
    std::vector<std::string> got;
    for (int i = 0; i < 10; ++i) {
        hub.publish(std::to_string(i));
        got.clear();
        ASSERT_EQ(fast->next(0ms, got), EventHub::Subscriber::Wait::Messages);
        EXPECT_EQ(got, std::vector<std::string>{std::to_string(i)});
    }
    // The slow one missed most: it reads one resync (reload) and what came after the last overflow,
    // never more than its queue holds, and it still gets what is published next.
    got.clear();
    ASSERT_EQ(slow->next(0ms, got), EventHub::Subscriber::Wait::Messages);
    EXPECT_EQ(got, (std::vector<std::string>{"resync", "9"}));
    hub.publish("10");
    got.clear();
    ASSERT_EQ(slow->next(0ms, got), EventHub::Subscriber::Wait::Messages);
    EXPECT_EQ(got, std::vector<std::string>{"10"});
    EXPECT_EQ(hub.subscribers(), 2U);
    EXPECT_EQ(hub.overflows(), 4U);  // 0 1 2, then resync 3 4, resync 5 6, resync 7 8, resync 9
}

TEST(EventHub, LimitsSubscribersAndEndsEveryStreamOnClose) {
    EventHub hub(1, 3, "resync");
    auto only = hub.subscribe();
    EXPECT_EQ(hub.subscribe(), nullptr);
    std::vector<std::string> got;
    EXPECT_EQ(only->next(0ms, got), EventHub::Subscriber::Wait::Timeout);
    hub.close();
    EXPECT_EQ(only->next(10s, got), EventHub::Subscriber::Wait::Closed);
    EXPECT_EQ(hub.subscribe(), nullptr);
}

TEST(LoopbackPeer, KnowsLoopbackAddresses) {
    EXPECT_TRUE(isLoopbackAddress("127.0.0.1"));
    EXPECT_TRUE(isLoopbackAddress("127.1.2.3"));
    EXPECT_TRUE(isLoopbackAddress("::1"));
    EXPECT_TRUE(isLoopbackAddress("::ffff:127.0.0.1"));
    EXPECT_FALSE(isLoopbackAddress("10.0.0.1"));
    EXPECT_FALSE(isLoopbackAddress("0.0.0.0"));
    EXPECT_FALSE(isLoopbackAddress("::"));
    EXPECT_FALSE(isLoopbackAddress("localhost"));
}

TEST(LoopbackPeer, FindsTheUidOfTheClientEndOfALoopbackConnection) {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    socklen_t length = sizeof(addr);
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &length);
    const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    sockaddr_in clientAddr{};
    length = sizeof(clientAddr);
    ::getsockname(client, reinterpret_cast<sockaddr*>(&clientAddr), &length);
    const auto serverPort = ntohs(addr.sin_port);
    const auto clientPort = ntohs(clientAddr.sin_port);

    EXPECT_EQ(loopbackPeerUid("127.0.0.1", clientPort, "127.0.0.1", serverPort), ::geteuid());
    // Not the listener the kernel's lookup falls back to, nor a socket that is not there.
    EXPECT_EQ(loopbackPeerUid("127.0.0.1", serverPort, "127.0.0.1", static_cast<std::uint16_t>(clientPort + 1)),
              std::nullopt);
    EXPECT_EQ(loopbackPeerUid("127.0.0.1", static_cast<std::uint16_t>(clientPort + 1), "127.0.0.1", serverPort),
              std::nullopt);
    EXPECT_EQ(loopbackPeerUid("not an address", clientPort, "127.0.0.1", serverPort), std::nullopt);
    ::close(client);
    ::close(listener);
}

TEST(LoopbackPeer, FindsTheUidOverIpv6Too) {
    const int listener = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    socklen_t length = sizeof(addr);
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &length);
    const int client = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    sockaddr_in6 clientAddr{};
    length = sizeof(clientAddr);
    ::getsockname(client, reinterpret_cast<sockaddr*>(&clientAddr), &length);
    EXPECT_EQ(loopbackPeerUid("::1", ntohs(clientAddr.sin6_port), "::1", ntohs(addr.sin6_port)), ::geteuid());
    ::close(client);
    ::close(listener);
}

TEST(WebListen, ParsesHostAndPort) {
    EXPECT_EQ(parseListen("127.0.0.1:5000").host, "127.0.0.1");
    EXPECT_EQ(parseListen("127.0.0.1:5000").port, 5000);
    EXPECT_EQ(parseListen("8080").host, "127.0.0.1");
    EXPECT_EQ(parseListen("8080").port, 8080);
    EXPECT_EQ(parseListen("[::1]:0").host, "::1");
    EXPECT_EQ(parseListen("[::1]:0").port, 0);
    for (const char* bad : {"", ":5000", "localhost:", "127.0.0.1:65536", "127.0.0.1:http", "127.0.0.1:-1"})
        EXPECT_THROW(parseListen(bad), cli::CommandError) << bad;
}

}  // namespace
}  // namespace porteye::web
