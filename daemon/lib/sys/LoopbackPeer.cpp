// SPDX-License-Identifier: MIT
#include "sys/LoopbackPeer.hpp"

#include "sys/NetlinkSocketSource.hpp"
#include "sys/SockDiagParser.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace porteye::sys {
namespace {

/// An address as sock_diag wants it: family plus four 32-bit words in network order.
struct DiagAddress {
    int family = 0;
    std::uint32_t words[4] = {};
};

std::optional<DiagAddress> parseAddress(std::string text) {
    // httplib gives IPv6 peers without brackets; accept them with, too.
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    DiagAddress out;
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        out.family = AF_INET;
        out.words[0] = v4.s_addr;
        return out;
    }
    if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
        out.family = AF_INET6;
        std::memcpy(out.words, &v6, sizeof(v6));
        return out;
    }
    return std::nullopt;
}

}  // namespace

bool isLoopbackAddress(const std::string& address) {
    const auto parsed = parseAddress(address);
    if (!parsed) return false;
    if (parsed->family == AF_INET) return (ntohl(parsed->words[0]) >> 24) == 127;
    const auto* bytes = reinterpret_cast<const unsigned char*>(parsed->words);
    static const unsigned char kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::memcmp(bytes, kLoopback6, 16) == 0) return true;
    // ::ffff:127.x.y.z, as a dual-stack listener sees IPv4 clients.
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes, kMapped, 12) == 0 && bytes[12] == 127;
}

std::optional<std::uint32_t> loopbackPeerUid(const std::string& peerAddress, std::uint16_t peerPort,
                                             const std::string& localAddress, std::uint16_t localPort) {
    const auto peer = parseAddress(peerAddress);
    const auto local = parseAddress(localAddress);
    if (!peer || !local || peer->family != local->family) return std::nullopt;

    // An exact lookup (no dump): the kernel finds the one socket whose local end is the peer's
    // address and port and whose remote end is ours. This is a lookup in the established hash,
    // not a walk of the table, so it costs the same on a host with 100k sockets.
    sys::SocketEnds ends;
    ends.family = peer->family;
    ends.protocol = IPPROTO_TCP;
    std::memcpy(ends.localAddress.data(), peer->words, sizeof(peer->words));
    ends.localPort = peerPort;
    std::memcpy(ends.remoteAddress.data(), local->words, sizeof(local->words));
    ends.remotePort = localPort;
    std::optional<core::SocketRecord> found;
    try {
        sys::NetlinkSocketSource netlink;
        std::string why;
        found = netlink.lookup(ends, why);
    } catch (const std::exception&) {
        return std::nullopt;  // no sock_diag socket: the peer cannot be vouched for
    }
    // The lookup falls back to a listener on the port; only the exact connected socket counts.
    if (!found || found->localPort != peerPort || found->remotePort != localPort ||
        found->localAddress != sys::formatInetAddress(peer->family, peer->words) ||
        found->remoteAddress != sys::formatInetAddress(local->family, local->words))
        return std::nullopt;
    return found->uid;
}

}  // namespace porteye::sys
