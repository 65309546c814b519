// SPDX-License-Identifier: MIT
// Real-kernel tests. The host is shared, so only sockets made here are asserted on.
#include "sys/DestroyListener.hpp"
#include "sys/NetlinkSocketSource.hpp"

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
#include <system_error>
#include <utility>
#include <vector>

namespace porteye::sys {
namespace {

using core::SocketRecord;
using core::TcpState;

class Fd {
public:
    explicit Fd(int fd = -1) : m_fd(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        reset();
        m_fd = std::exchange(other.m_fd, -1);
        return *this;
    }
    int get() const { return m_fd; }
    void reset() {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
        m_fd = -1;
    }

private:
    int m_fd;
};

std::uint64_t inodeOf(const Fd& fd) {
    struct stat st {};
    EXPECT_EQ(::fstat(fd.get(), &st), 0);
    return st.st_ino;
}

std::uint16_t localPortOf(const Fd& fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len), 0);
    if (ss.ss_family == AF_INET6) {
        sockaddr_in6 a{};
        std::memcpy(&a, &ss, sizeof(a));
        return ntohs(a.sin6_port);
    }
    sockaddr_in a{};
    std::memcpy(&a, &ss, sizeof(a));
    return ntohs(a.sin_port);
}

/// A TCP socket bound to the loopback of `family` on port 0; listening if asked. Empty if unsupported.
std::optional<Fd> loopbackSocket(int family, bool listening) {
    Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        return std::nullopt;
    }
    int rc = 0;
    if (family == AF_INET6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_addr = in6addr_loopback;
        rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
    if (rc != 0 || (listening && ::listen(fd.get(), 4) != 0)) {
        return std::nullopt;
    }
    return fd;
}

void connectTo(const Fd& client, int family, std::uint16_t port) {
    int rc = 0;
    if (family == AF_INET6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_addr = in6addr_loopback;
        a.sin6_port = htons(port);
        rc = ::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        rc = ::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
    ASSERT_EQ(rc, 0) << std::strerror(errno);
}

const SocketRecord* findByInode(const std::vector<SocketRecord>& records, std::uint64_t inode) {
    for (const auto& r : records) {
        if (r.inode == inode) {
            return &r;
        }
    }
    return nullptr;
}

core::DumpResult dumpOk(NetlinkSocketSource& source, const core::DumpRequest& request = {}) {
    auto result = source.dump(request);
    EXPECT_TRUE(result.ok()) << result.error << ": " << result.message;
    return result;
}

TEST(NetlinkSocketSource, FindsIpv4ListenerWithInodeAndUid) {
    auto listener = loopbackSocket(AF_INET, true);
    ASSERT_TRUE(listener);
    const auto port = localPortOf(*listener);
    const auto inode = inodeOf(*listener);

    NetlinkSocketSource source;
    const auto result = dumpOk(source);
    const SocketRecord* r = findByInode(result.sockets, inode);
    ASSERT_NE(r, nullptr) << "listener inode " << inode << " not in a dump of " << result.sockets.size();
    EXPECT_EQ(r->protocol, core::Protocol::Tcp);
    EXPECT_EQ(r->family, 4);
    EXPECT_EQ(r->localAddress, "127.0.0.1");
    EXPECT_EQ(r->localPort, port);
    EXPECT_EQ(r->remoteAddress, "0.0.0.0");
    EXPECT_EQ(r->remotePort, 0);
    EXPECT_EQ(r->state, TcpState::Listen);
    EXPECT_EQ(r->uid, ::geteuid());
    EXPECT_NE(r->cookie, 0U);
    EXPECT_EQ(r->pid, 0U) << "owners are resolved elsewhere";
}

TEST(NetlinkSocketSource, FindsBothSidesOfAConnectedPair) {
    auto listener = loopbackSocket(AF_INET, true);
    auto client = loopbackSocket(AF_INET, false);
    ASSERT_TRUE(listener && client);
    const auto serverPort = localPortOf(*listener);
    connectTo(*client, AF_INET, serverPort);
    Fd accepted(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_GE(accepted.get(), 0);
    const auto clientPort = localPortOf(*client);

    NetlinkSocketSource source;
    const auto result = dumpOk(source);
    const SocketRecord* c = findByInode(result.sockets, inodeOf(*client));
    const SocketRecord* s = findByInode(result.sockets, inodeOf(accepted));
    ASSERT_NE(c, nullptr);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(c->state, TcpState::Established);
    EXPECT_EQ(c->localPort, clientPort);
    EXPECT_EQ(c->remotePort, serverPort);
    EXPECT_EQ(c->remoteAddress, "127.0.0.1");
    EXPECT_EQ(s->state, TcpState::Established);
    EXPECT_EQ(s->localPort, serverPort);
    EXPECT_EQ(s->remotePort, clientPort);
    EXPECT_NE(c->cookie, s->cookie);
}

TEST(NetlinkSocketSource, FindsIpv6LoopbackListener) {
    auto listener = loopbackSocket(AF_INET6, true);
    if (!listener) {
        GTEST_SKIP() << "no IPv6 loopback here";
    }
    NetlinkSocketSource source;
    const auto result = dumpOk(source);
    const SocketRecord* r = findByInode(result.sockets, inodeOf(*listener));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->family, 6);
    EXPECT_EQ(r->localAddress, "::1");
    EXPECT_EQ(r->localPort, localPortOf(*listener));
    EXPECT_EQ(r->remoteAddress, "::");
    EXPECT_EQ(r->state, TcpState::Listen);
    EXPECT_EQ(r->uid, ::geteuid());
}

TEST(NetlinkSocketSource, HonoursFamilyAndStateFilters) {
    auto listener4 = loopbackSocket(AF_INET, true);
    auto listener6 = loopbackSocket(AF_INET6, true);
    ASSERT_TRUE(listener4);
    NetlinkSocketSource source;

    core::DumpRequest onlyV4;
    onlyV4.ipv6 = false;
    const auto v4 = dumpOk(source, onlyV4);
    EXPECT_NE(findByInode(v4.sockets, inodeOf(*listener4)), nullptr);
    for (const auto& r : v4.sockets) {
        ASSERT_EQ(r.family, 4);
    }
    if (listener6) {
        EXPECT_EQ(findByInode(v4.sockets, inodeOf(*listener6)), nullptr);
    }

    core::DumpRequest established;
    established.states = core::stateBit(TcpState::Established);
    const auto est = dumpOk(source, established);
    EXPECT_EQ(findByInode(est.sockets, inodeOf(*listener4)), nullptr);
    for (const auto& r : est.sockets) {
        ASSERT_EQ(r.state, TcpState::Established);
    }

    core::DumpRequest none;
    none.ipv4 = false;
    none.ipv6 = false;
    const auto empty = dumpOk(source, none);
    EXPECT_TRUE(empty.sockets.empty());
}

TEST(NetlinkSocketSource, ClosedSocketDisappears) {
    auto listener = loopbackSocket(AF_INET, true);
    ASSERT_TRUE(listener);
    const auto inode = inodeOf(*listener);
    const auto port = localPortOf(*listener);
    NetlinkSocketSource source;
    ASSERT_NE(findByInode(dumpOk(source).sockets, inode), nullptr);

    listener->reset();
    const auto after = dumpOk(source);
    EXPECT_EQ(findByInode(after.sockets, inode), nullptr);
    for (const auto& r : after.sockets) {
        EXPECT_FALSE(r.state == TcpState::Listen && r.localPort == port && r.localAddress == "127.0.0.1");
    }
}

TEST(NetlinkSocketSource, RepeatedDumpsStayInSync) {
    auto listener = loopbackSocket(AF_INET, true);
    ASSERT_TRUE(listener);
    const auto inode = inodeOf(*listener);
    NetlinkSocketSource source;
    for (int i = 0; i < 20; ++i) {
        const auto result = dumpOk(source);
        ASSERT_NE(findByInode(result.sockets, inode), nullptr) << "dump " << i;
    }
}

// --- DestroyListener: needs to join SKNLGRP_INET{,6}_TCP_DESTROY ---

std::optional<DestroyListener> openDestroyListener() {
    try {
        return std::optional<DestroyListener>(std::in_place);
    } catch (const std::system_error& e) {
        ADD_FAILURE() << "cannot subscribe to sock_diag destroy groups (needs a kernel with "
                         "CONFIG_INET_DIAG and permission to join): "
                      << e.what();
        return std::nullopt;
    }
}

/// Polls and drains until a record with `cookie` arrives or 5 s pass.
std::optional<SocketRecord> waitForDestroy(DestroyListener& listener, std::uint64_t cookie) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<SocketRecord> records;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{listener.fd(), POLLIN, 0};
        const int ready = ::poll(&p, 1, 100);
        if (ready < 0 && errno != EINTR) {
            ADD_FAILURE() << "poll: " << std::strerror(errno);
            return std::nullopt;
        }
        records.clear();
        const auto drained = listener.drain(records);
        EXPECT_EQ(drained.error, 0) << drained.message;
        EXPECT_EQ(drained.records, records.size());
        for (const auto& r : records) {
            if (r.cookie == cookie) {
                return r;
            }
        }
    }
    return std::nullopt;
}

void expectDestroyReported(int family, const char* address) {
    auto destroyListener = openDestroyListener();
    if (!destroyListener) {
        return;
    }
    auto listener = loopbackSocket(family, true);
    if (!listener) {
        GTEST_SKIP() << "no loopback for family " << family;
    }
    const auto port = localPortOf(*listener);
    NetlinkSocketSource source;
    const auto result = dumpOk(source);
    const SocketRecord* live = findByInode(result.sockets, inodeOf(*listener));
    ASSERT_NE(live, nullptr);
    const auto cookie = live->cookie;

    listener->reset();
    const auto destroyed = waitForDestroy(*destroyListener, cookie);
    ASSERT_TRUE(destroyed) << "no destroy message for cookie " << cookie << " within 5 s";
    EXPECT_EQ(destroyed->family, family == AF_INET6 ? 6 : 4);
    EXPECT_EQ(destroyed->localAddress, address);
    EXPECT_EQ(destroyed->localPort, port);
    EXPECT_EQ(destroyed->protocol, core::Protocol::Tcp);
    EXPECT_EQ(destroyed->inode, 0U) << "destroy messages carry no inode";
}

TEST(DestroyListener, ReportsClosedIpv4ListenerByCookie) {
    expectDestroyReported(AF_INET, "127.0.0.1");
}

TEST(DestroyListener, ReportsClosedIpv6ListenerByCookie) {
    expectDestroyReported(AF_INET6, "::1");
}

TEST(DestroyListener, DrainWithNothingPendingReturnsImmediately) {
    auto destroyListener = openDestroyListener();
    if (!destroyListener) {
        return;
    }
    std::vector<SocketRecord> records;
    // Other sockets on the shared host may be closing; only the non-blocking contract is checked.
    const auto start = std::chrono::steady_clock::now();
    const auto drained = destroyListener->drain(records);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    EXPECT_EQ(drained.error, 0) << drained.message;
}

}  // namespace
}  // namespace porteye::sys
