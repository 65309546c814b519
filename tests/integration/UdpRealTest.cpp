// SPDX-License-Identifier: MIT
// UDP on the real kernel: sock_diag dumps, destroy broadcasts, owners and per-PID watches.
// The host is shared, so only sockets made here are asserted on.
#include "core/PidPortTracker.hpp"
#include "core/PortMonitor.hpp"
#include "sys/DestroyListener.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/ProcProcessTable.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace porteye::sys {
namespace {

using core::Protocol;
using core::SocketRecord;
using core::TcpState;

/// A UDP socket bound to the loopback of `family` on an ephemeral port; -1 if the family is missing.
class UdpSocket {
public:
    explicit UdpSocket(int family) : m_family(family) {
        m_fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (m_fd < 0) return;
        sockaddr_storage ss{};
        const socklen_t len = loopback(0, ss);
        if (::bind(m_fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) close();
    }
    ~UdpSocket() { close(); }
    UdpSocket(const UdpSocket&) = delete;
    UdpSocket& operator=(const UdpSocket&) = delete;

    bool ok() const { return m_fd >= 0; }
    void close() {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = -1;
    }
    std::uint64_t inode() const {
        struct stat st {};
        EXPECT_EQ(::fstat(m_fd, &st), 0);
        return st.st_ino;
    }
    std::uint16_t port() const {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        EXPECT_EQ(::getsockname(m_fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
        return m_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }
    void connectTo(std::uint16_t port) {
        sockaddr_storage ss{};
        const socklen_t len = loopback(port, ss);
        ASSERT_EQ(::connect(m_fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << std::strerror(errno);
    }

private:
    socklen_t loopback(std::uint16_t port, sockaddr_storage& ss) const {
        if (m_family == AF_INET6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_addr = in6addr_loopback;
            a->sin6_port = htons(port);
            return sizeof(sockaddr_in6);
        }
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons(port);
        return sizeof(sockaddr_in);
    }

    int m_family;
    int m_fd = -1;
};

const SocketRecord* findByInode(const std::vector<SocketRecord>& records, std::uint64_t inode) {
    for (const auto& r : records)
        if (r.inode == inode) return &r;
    return nullptr;
}

core::DumpResult dumpOk(NetlinkSocketSource& source, const core::DumpRequest& request = {}) {
    auto result = source.dump(request);
    EXPECT_TRUE(result.ok()) << result.error << ": " << result.message;
    return result;
}

void expectBoundThenConnected(int family, const char* address) {
    UdpSocket server(family);
    UdpSocket client(family);
    if (!server.ok() || !client.ok()) GTEST_SKIP() << "no loopback for family " << family;
    NetlinkSocketSource source;

    const auto bound = dumpOk(source);
    const SocketRecord* r = findByInode(bound.sockets, client.inode());
    ASSERT_NE(r, nullptr) << "bound UDP socket not in a default dump of " << bound.sockets.size();
    EXPECT_EQ(r->protocol, Protocol::Udp);
    EXPECT_EQ(r->family, family == AF_INET6 ? 6 : 4);
    EXPECT_EQ(r->localAddress, address);
    EXPECT_EQ(r->localPort, client.port());
    EXPECT_EQ(r->remotePort, 0);
    EXPECT_EQ(r->state, TcpState::Close) << "the kernel reports a bound UDP socket as TCP_CLOSE";
    EXPECT_EQ(core::stateName(r->protocol, r->state), "UNCONN");
    EXPECT_TRUE(r->listening()) << "ss -l lists bound UDP sockets";
    EXPECT_EQ(r->uid, ::geteuid());
    EXPECT_NE(r->cookie, 0U);
    const auto cookie = r->cookie;

    client.connectTo(server.port());
    const auto connected = dumpOk(source);
    r = findByInode(connected.sockets, client.inode());
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->state, TcpState::Established);
    EXPECT_EQ(core::stateName(r->protocol, r->state), "ESTABLISHED");
    EXPECT_EQ(r->remoteAddress, address);
    EXPECT_EQ(r->remotePort, server.port());
    EXPECT_FALSE(r->listening());
    EXPECT_EQ(r->cookie, cookie) << "connect() keeps the socket, and its cookie";
}

TEST(UdpDump, BoundIpv4SocketIsUnconnUntilConnectMakesItEstablished) {
    expectBoundThenConnected(AF_INET, "127.0.0.1");
}

TEST(UdpDump, BoundIpv6SocketIsUnconnUntilConnectMakesItEstablished) {
    expectBoundThenConnected(AF_INET6, "::1");
}

TEST(UdpDump, ProtocolsAndStatesOfTheRequestAreHonoured) {
    UdpSocket udp4(AF_INET);
    UdpSocket udp6(AF_INET6);
    ASSERT_TRUE(udp4.ok());
    NetlinkSocketSource source;

    core::DumpRequest tcpOnly;
    tcpOnly.udp = false;
    for (const auto& r : dumpOk(source, tcpOnly).sockets)
        ASSERT_EQ(r.protocol, Protocol::Tcp);

    core::DumpRequest udpOnly;
    udpOnly.tcp = false;
    const auto udp = dumpOk(source, udpOnly);
    for (const auto& r : udp.sockets)
        ASSERT_EQ(r.protocol, Protocol::Udp);
    EXPECT_NE(findByInode(udp.sockets, udp4.inode()), nullptr);
    if (udp6.ok()) {
        EXPECT_NE(findByInode(udp.sockets, udp6.inode()), nullptr);
    }

    core::DumpRequest onlyV6 = udpOnly;
    onlyV6.ipv4 = false;
    const auto v6 = dumpOk(source, onlyV6);
    EXPECT_EQ(findByInode(v6.sockets, udp4.inode()), nullptr);
    for (const auto& r : v6.sockets)
        ASSERT_EQ(r.family, 6);

    core::DumpRequest listenersOnly;  // no UDP socket is ever in LISTEN: nothing to dump
    listenersOnly.states = core::stateBit(TcpState::Listen);
    for (const auto& r : dumpOk(source, listenersOnly).sockets)
        ASSERT_EQ(r.protocol, Protocol::Tcp);

    core::DumpRequest unconn;
    unconn.states = core::stateBit(TcpState::Close);
    EXPECT_NE(findByInode(dumpOk(source, unconn).sockets, udp4.inode()), nullptr);
}

std::optional<SocketRecord> waitForDestroy(DestroyListener& listener, std::uint64_t cookie,
                                           std::vector<SocketRecord>* all = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<SocketRecord> records;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{listener.fd(), POLLIN, 0};
        if (::poll(&p, 1, 100) < 0 && errno != EINTR) return std::nullopt;
        records.clear();
        const auto drained = listener.drain(records);
        EXPECT_EQ(drained.error, 0) << drained.message;
        if (all != nullptr) all->insert(all->end(), records.begin(), records.end());
        for (const auto& r : records)
            if (r.cookie == cookie) return r;
    }
    return std::nullopt;
}

void expectUdpDestroyReported(int family, const char* address, bool connected) {
    DestroyListener listener;  // default groups: TCP and UDP, both families
    UdpSocket server(family);
    UdpSocket socket(family);
    if (!server.ok() || !socket.ok()) GTEST_SKIP() << "no loopback for family " << family;
    if (connected) socket.connectTo(server.port());
    const auto port = socket.port();
    NetlinkSocketSource source;
    const auto dump = dumpOk(source);  // kept: `live` points into it
    const SocketRecord* live = findByInode(dump.sockets, socket.inode());
    ASSERT_NE(live, nullptr);
    const auto cookie = live->cookie;

    socket.close();
    const auto destroyed = waitForDestroy(listener, cookie);
    ASSERT_TRUE(destroyed) << "no UDP destroy message for cookie " << cookie << " within 5 s";
    EXPECT_EQ(destroyed->protocol, Protocol::Udp);
    EXPECT_EQ(destroyed->family, family == AF_INET6 ? 6 : 4);
    EXPECT_EQ(destroyed->localAddress, address);
    EXPECT_EQ(destroyed->localPort, port);
    EXPECT_EQ(destroyed->inode, 0U);
    EXPECT_EQ(destroyed->state, connected ? TcpState::Established : TcpState::Close);
}

TEST(UdpDestroy, ClosedBoundIpv4SocketIsReportedByCookie) {
    expectUdpDestroyReported(AF_INET, "127.0.0.1", false);
}

TEST(UdpDestroy, ClosedConnectedIpv4SocketIsReportedByCookie) {
    expectUdpDestroyReported(AF_INET, "127.0.0.1", true);
}

TEST(UdpDestroy, ClosedBoundIpv6SocketIsReportedByCookie) {
    expectUdpDestroyReported(AF_INET6, "::1", false);
}

TEST(UdpDestroy, ClosedConnectedIpv6SocketIsReportedByCookie) {
    expectUdpDestroyReported(AF_INET6, "::1", true);
}

std::vector<SocketRecord> recordsOf(const core::PortMonitor& monitor, std::uint64_t inode) {
    std::vector<SocketRecord> out;
    for (const auto& r : monitor.snapshot())
        if (r.inode == inode) out.push_back(r);
    return out;
}

TEST(UdpMonitor, BoundSocketHasItsOwnerAndItsCloseIsAnEventAtOnce) {
    DestroyListener listener;
    NetlinkSocketSource source;
    ProcProcessTable table;
    core::SystemClock clock;
    core::PortMonitor monitor(source, table, clock);
    std::vector<core::PortEvent> events;
    monitor.addListener(
        [&](const std::vector<core::PortEvent>& batch) { events.insert(events.end(), batch.begin(), batch.end()); });
    ASSERT_TRUE(monitor.poll().ok);  // the baseline

    UdpSocket socket(AF_INET);
    ASSERT_TRUE(socket.ok());
    const auto inode = socket.inode();
    ASSERT_TRUE(monitor.poll().ok);
    const auto mine = recordsOf(monitor, inode);
    ASSERT_EQ(mine.size(), 1U);
    EXPECT_EQ(mine[0].protocol, Protocol::Udp);
    EXPECT_EQ(mine[0].pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(mine[0].ownerUid, ::getuid());
    core::SocketFilter listening;
    listening.listeningOnly = true;
    listening.pid = static_cast<std::uint32_t>(::getpid());
    EXPECT_EQ(monitor.list(listening).size(), 1U) << "bound UDP counts as listening";
    bool added = false;
    for (const auto& e : events)
        added = added || (e.action == core::Action::Added && e.record.inode == inode);
    EXPECT_TRUE(added);

    const auto cookie = mine[0].cookie;
    socket.close();
    std::vector<SocketRecord> destroyed;
    ASSERT_TRUE(waitForDestroy(listener, cookie, &destroyed));
    events.clear();
    EXPECT_GE(monitor.applyDestroyed(destroyed), 1U);
    ASSERT_FALSE(events.empty());
    bool removed = false;
    for (const auto& e : events)
        removed = removed || (e.action == core::Action::Removed && e.record.cookie == cookie &&
                              e.record.protocol == Protocol::Udp && e.record.pid == mine[0].pid);
    EXPECT_TRUE(removed) << "the close is reported from the destroy broadcast, before any poll";
    EXPECT_TRUE(recordsOf(monitor, inode).empty());
}

TEST(UdpWatch, PerPidTrackerPlacesUdpInodesFromTheDefaultDump) {
    NetlinkSocketSource source;
    ProcProcessTable table;
    core::SystemClock clock;
    const auto self = static_cast<std::uint32_t>(::getpid());
    core::PidPortTracker tracker(self, false, table, clock);
    core::DumpResult dump;
    const core::DumpProvider dumpNow = [&]() -> const std::vector<SocketRecord>* {
        dump = source.dump({});  // what PortService::runWatches and porteyectl --local ask for
        return dump.ok() ? &dump.sockets : nullptr;
    };
    (void)tracker.step(dumpNow);

    UdpSocket socket(AF_INET);
    ASSERT_TRUE(socket.ok());
    const auto port = socket.port();
    const auto change = tracker.step(dumpNow);
    EXPECT_TRUE(change.opened.contains(port)) << "a new UDP port is an opened port";
    EXPECT_TRUE(change.active.contains(port));

    core::SocketFilter tcp;
    tcp.protocol = Protocol::Tcp;
    core::PidPortTracker tcpOnly(self, false, table, clock, tcp);
    EXPECT_FALSE(tcpOnly.step(dumpNow).active.contains(port)) << "--protocol tcp leaves it out";

    socket.close();
    const auto closed = tracker.step(dumpNow);
    EXPECT_TRUE(closed.closed.contains(port));
    EXPECT_FALSE(closed.active.contains(port));
}

}  // namespace
}  // namespace porteye::sys
