// SPDX-License-Identifier: MIT
#include "sys/LoopbackPeer.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
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

class Fd {
public:
    explicit Fd(int fd) : m_fd(fd) {}
    ~Fd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return m_fd; }

private:
    int m_fd;
};

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

    // An exact lookup (no NLM_F_DUMP): the kernel finds the one socket whose local end is the
    // peer's address and port and whose remote end is ours. This is a lookup in the established
    // hash, not a walk of the table, so it costs the same on a host with 100k sockets.
    struct {
        nlmsghdr header;
        inet_diag_req_v2 request;
    } message{};
    message.header.nlmsg_len = sizeof(message);
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST;
    message.header.nlmsg_seq = 1;
    message.request.sdiag_family = static_cast<std::uint8_t>(peer->family);
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = ~0U;
    message.request.id.idiag_sport = htons(peerPort);
    message.request.id.idiag_dport = htons(localPort);
    std::memcpy(message.request.id.idiag_src, peer->words, sizeof(peer->words));
    std::memcpy(message.request.id.idiag_dst, local->words, sizeof(local->words));
    message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

    // The daemon's netlink code (daemon/lib/sys) dumps tables; this is a single request/reply
    // exchange of a few dozen bytes, kept here so the web page depends on nothing of the daemon.
    Fd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (fd.get() < 0) return std::nullopt;
    timeval timeout{2, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd.get(), &message, sizeof(message), 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel)) !=
        static_cast<ssize_t>(sizeof(message)))
        return std::nullopt;

    char buffer[8192];
    ssize_t n = 0;
    do {
        n = ::recv(fd.get(), buffer, sizeof(buffer), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return std::nullopt;
    // One reply: the socket's inet_diag_msg, or NLMSG_ERROR (ENOENT: no such socket).
    nlmsghdr header{};
    if (static_cast<std::size_t>(n) < sizeof(header)) return std::nullopt;
    std::memcpy(&header, buffer, sizeof(header));
    if (header.nlmsg_type != SOCK_DIAG_BY_FAMILY || header.nlmsg_len > static_cast<std::size_t>(n) ||
        header.nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
        return std::nullopt;
    inet_diag_msg diag{};
    std::memcpy(&diag, buffer + NLMSG_HDRLEN, sizeof(diag));
    // The lookup falls back to a listener on the port; only the exact connected socket counts.
    if (diag.id.idiag_sport != htons(peerPort) || diag.id.idiag_dport != htons(localPort) ||
        std::memcmp(diag.id.idiag_src, peer->words, sizeof(peer->words)) != 0 ||
        std::memcmp(diag.id.idiag_dst, local->words, sizeof(local->words)) != 0)
        return std::nullopt;
    return diag.idiag_uid;
    return std::nullopt;
}

}  // namespace porteye::sys
