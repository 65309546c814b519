// SPDX-License-Identifier: MIT
#include "sys/BpfEventParser.hpp"
#include "sys/bpf/porteye_sockets.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace porteye::sys {
namespace {

std::vector<std::byte> bytesOf(const porteye_sock_event& raw) {
    std::vector<std::byte> bytes(sizeof(raw));
    std::memcpy(bytes.data(), &raw, sizeof(raw));
    return bytes;
}

porteye_sock_event ipv4Listen() {
    porteye_sock_event raw{};
    raw.kind = PORTEYE_EV_LISTEN;
    raw.protocol = IPPROTO_TCP;
    raw.family = AF_INET;
    raw.state = 10;
    raw.oldstate = 7;
    const in_addr local{htonl(INADDR_LOOPBACK)};
    std::memcpy(raw.saddr, &local, sizeof(local));
    raw.sport = 8080;
    raw.cookie = 0x1122334455667788ULL;
    raw.inode = 4242;
    raw.netns = 4026531840ULL;
    raw.ts_ns = 123456789;
    raw.tgid = 77;
    raw.uid = 1000;
    std::strcpy(raw.comm, "nginx");
    return raw;
}

TEST(BpfEventParser, ParsesAnIpv4ListenLikeSockDiag) {
    const auto event = parseBpfSocketEvent(bytesOf(ipv4Listen()));
    ASSERT_TRUE(event);
    EXPECT_EQ(event->kind, core::KernelEventKind::Listen);
    EXPECT_EQ(event->protocol, core::Protocol::Tcp);
    EXPECT_EQ(event->family, 4);
    EXPECT_EQ(event->localAddress, "127.0.0.1");
    EXPECT_EQ(event->remoteAddress, "0.0.0.0");
    EXPECT_EQ(event->localPort, 8080);
    EXPECT_EQ(event->remotePort, 0);
    EXPECT_EQ(event->state, core::TcpState::Listen);
    EXPECT_EQ(event->cookie, 0x1122334455667788ULL);
    EXPECT_EQ(event->inode, 4242U);
    EXPECT_EQ(event->netns, 4026531840ULL);
    EXPECT_EQ(event->monotonicNs, 123456789U);
    EXPECT_EQ(event->tgid, 77U);
    EXPECT_EQ(event->uid, 1000U);
    EXPECT_EQ(event->comm, "nginx");
}

TEST(BpfEventParser, FormatsIpv6AndV4MappedAddressesAsSockDiagDoes) {
    auto raw = ipv4Listen();
    raw.kind = PORTEYE_EV_CONNECT;
    raw.family = AF_INET6;
    raw.state = 1;
    std::memset(raw.saddr, 0, sizeof(raw.saddr));
    ASSERT_EQ(inet_pton(AF_INET6, "::ffff:10.0.0.1", raw.saddr), 1);
    ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", raw.daddr), 1);
    raw.dport = 443;
    const auto event = parseBpfSocketEvent(bytesOf(raw));
    ASSERT_TRUE(event);
    EXPECT_EQ(event->family, 6);
    EXPECT_EQ(event->localAddress, "::ffff:10.0.0.1");
    EXPECT_EQ(event->remoteAddress, "2001:db8::1");
    EXPECT_EQ(event->remotePort, 443);
    EXPECT_EQ(event->kind, core::KernelEventKind::Connect);
}

TEST(BpfEventParser, UnknownOwnerHasNoCommAndACommWithoutNulStopsAtTheArray) {
    auto raw = ipv4Listen();
    std::memset(raw.comm, 'x', sizeof(raw.comm));  // no NUL at all
    auto event = parseBpfSocketEvent(bytesOf(raw));
    ASSERT_TRUE(event);
    EXPECT_EQ(event->comm, std::string(PORTEYE_COMM_LEN, 'x'));
    raw.tgid = 0;
    event = parseBpfSocketEvent(bytesOf(raw));
    ASSERT_TRUE(event);
    EXPECT_TRUE(event->comm.empty());
}

TEST(BpfEventParser, RejectsShortRecordsAndUnknownKindsFamiliesProtocols) {
    auto bytes = bytesOf(ipv4Listen());
    EXPECT_FALSE(parseBpfSocketEvent(std::span(bytes).first(bytes.size() - 1)));
    EXPECT_FALSE(parseBpfSocketEvent({}));
    auto raw = ipv4Listen();
    raw.kind = PORTEYE_EV_ACCEPTED + 1;
    EXPECT_FALSE(parseBpfSocketEvent(bytesOf(raw)));
    raw = ipv4Listen();
    raw.family = AF_UNIX;
    EXPECT_FALSE(parseBpfSocketEvent(bytesOf(raw)));
    raw = ipv4Listen();
    raw.protocol = IPPROTO_SCTP;
    EXPECT_FALSE(parseBpfSocketEvent(bytesOf(raw)));
    raw = ipv4Listen();
    raw.state = 200;
    ASSERT_TRUE(parseBpfSocketEvent(bytesOf(raw)));
    EXPECT_EQ(parseBpfSocketEvent(bytesOf(raw))->state, core::TcpState::Unknown);
    // A longer record (a newer program) still parses: only the known prefix is read.
    bytes.resize(bytes.size() + 16);
    EXPECT_TRUE(parseBpfSocketEvent(bytes));
    EXPECT_EQ(bpfEventRecordSize(), sizeof(porteye_sock_event));
}

}  // namespace
}  // namespace porteye::sys
