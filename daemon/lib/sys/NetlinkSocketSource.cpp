// SPDX-License-Identifier: MIT
#include "sys/NetlinkSocketSource.hpp"

#include "sys/SockDiagParser.hpp"
#include "sys/SockDiagRequest.hpp"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

namespace porteye::sys {
namespace {

// The kernel caps one dump datagram at ~32 KiB, so this is enough; peek sizing covers the rest.
constexpr std::size_t kInitialBufferSize = 64 * 1024;
constexpr int kReceiveBufferSize = 1024 * 1024;
// A dump reply is produced synchronously; a silent kernel for this long means something is broken.
constexpr time_t kReceiveTimeoutSeconds = 5;

std::string errnoText(const char* what, int code) {
    return std::string(what) + ": " + std::strerror(code);
}

}  // namespace

NetlinkSocketSource::NetlinkSocketSource()
    : NetlinkSocketSource([] { return ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG); }) {}

NetlinkSocketSource::NetlinkSocketSource(SocketFactory factory)
    : m_factory(std::move(factory)), m_buffer(kInitialBufferSize) {
    openSocket();
    if (m_fd < 0) {
        throw std::system_error(errno, std::generic_category(), "socket(AF_NETLINK, NETLINK_SOCK_DIAG)");
    }
}

NetlinkSocketSource::~NetlinkSocketSource() {
    closeSocket();
}

void NetlinkSocketSource::openSocket() {
    m_fd = m_factory();
    if (m_fd < 0) {
        return;
    }
    const int savedErrno = errno;
    // Best effort: these only improve throughput and error messages.
    int rcvbuf = kReceiveBufferSize;
    (void)::setsockopt(m_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    int one = 1;
    (void)::setsockopt(m_fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    (void)::setsockopt(m_fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    timeval timeout{};
    timeout.tv_sec = kReceiveTimeoutSeconds;
    (void)::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    errno = savedErrno;
}

void NetlinkSocketSource::closeSocket() {
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
}

std::uint32_t NetlinkSocketSource::nextSequence() {
    // 0 means "don't check" to the parser, so skip it on wrap-around.
    if (++m_sequence == 0) {
        ++m_sequence;
    }
    return m_sequence;
}

core::DumpResult NetlinkSocketSource::dump(const core::DumpRequest& request) {
    core::DumpResult result;
    try {
        if (m_fd < 0) {
            // An earlier failure dropped the socket; try to get a fresh one.
            openSocket();
            if (m_fd < 0) {
                result.error = errno;
                result.message = errnoText("socket(AF_NETLINK, NETLINK_SOCK_DIAG)", result.error);
                return result;
            }
        }
        int error = 0;
        if (request.tcp) {
            // Both families at once go through the legacy request: one hash walk instead of two.
            if (request.ipv4 && request.ipv6) {
                error = dumpFamily(AF_UNSPEC, IPPROTO_TCP, request.states, result.sockets, result.message);
            } else if (request.ipv4) {
                error = dumpFamily(AF_INET, IPPROTO_TCP, request.states, result.sockets, result.message);
            } else if (request.ipv6) {
                error = dumpFamily(AF_INET6, IPPROTO_TCP, request.states, result.sockets, result.message);
            }
        }
        // UDP has no request that walks both families: one inet_diag_req_v2 dump each. A UDP socket
        // is only ever ESTABLISHED or CLOSE, so a request for other states (LISTEN...) skips them.
        const core::StateMask udpStates = request.states & core::kUdpStates;
        if (error == 0 && request.udp && udpStates != 0) {
            if (request.ipv4) error = dumpFamily(AF_INET, IPPROTO_UDP, udpStates, result.sockets, result.message);
            if (error == 0 && request.ipv6)
                error = dumpFamily(AF_INET6, IPPROTO_UDP, udpStates, result.sockets, result.message);
        }
        if (error != 0) {
            result.error = error;
            result.sockets.clear();
            // The kernel may still be mid-dump on this socket (a new dump would get EBUSY): start afresh.
            closeSocket();
            openSocket();
        }
    } catch (const std::bad_alloc&) {
        result = core::DumpResult{};
        result.error = ENOMEM;
        result.message = "out of memory while dumping sockets";
    } catch (const std::exception& e) {
        result = core::DumpResult{};
        result.error = EIO;
        result.message = e.what();
    }
    return result;
}

int NetlinkSocketSource::dumpFamily(int family, int protocol, core::StateMask states,
                                    std::vector<core::SocketRecord>& out, std::string& message) {
    const std::uint32_t sequence = nextSequence();
    const auto requestBytes = family == AF_UNSPEC ? buildLegacyTcpDumpRequest(states, sequence)
                                                  : buildSockDiagDumpRequest(family, protocol, states, sequence);
    const auto recordProtocol = protocol == IPPROTO_UDP ? core::Protocol::Udp : core::Protocol::Tcp;

    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    for (;;) {
        const auto sent = ::sendto(m_fd, requestBytes.data(), requestBytes.size(), 0,
                                   reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
        if (sent >= 0) {
            break;
        }
        if (errno != EINTR) {
            const int code = errno;
            message = errnoText("sendto(sock_diag)", code);
            return code;
        }
    }

    for (;;) {
        const long length = receive(message);
        if (length < 0) {
            return static_cast<int>(-length);
        }
        const auto bytes = std::span<const std::byte>(m_buffer.data(), static_cast<std::size_t>(length));
        const ParseResult parsed = parseSockDiagBuffer(bytes, out, sequence, recordProtocol);
        switch (parsed.status) {
            case ParseStatus::More:
                continue;
            case ParseStatus::Done:
                return 0;
            case ParseStatus::Error:
                message = parsed.message;
                return parsed.errorCode != 0 ? parsed.errorCode : EIO;
            case ParseStatus::Malformed:
                message = "malformed sock_diag reply: " + parsed.message;
                return EBADMSG;
        }
    }
}

std::optional<core::SocketRecord> NetlinkSocketSource::lookup(const SocketEnds& ends, std::string& message) {
    const std::uint32_t sequence = nextSequence();
    const auto requestBytes = buildSockDiagLookupRequest(ends, sequence);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t sent = 0;
    do {
        sent = ::sendto(m_fd, requestBytes.data(), requestBytes.size(), 0, reinterpret_cast<const sockaddr*>(&kernel),
                        sizeof(kernel));
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        message = errnoText("sendto(sock_diag)", errno);
        return std::nullopt;
    }
    // One datagram: the socket's inet_diag_msg (no NLMSG_DONE follows), or NLMSG_ERROR.
    const long length = receive(message);
    if (length < 0) return std::nullopt;
    std::vector<core::SocketRecord> found;
    const auto parsed =
        parseSockDiagBuffer(std::span<const std::byte>(m_buffer.data(), static_cast<std::size_t>(length)), found,
                            sequence, ends.protocol == IPPROTO_UDP ? core::Protocol::Udp : core::Protocol::Tcp);
    if (parsed.status == ParseStatus::Error || parsed.status == ParseStatus::Malformed) message = parsed.message;
    if (found.size() != 1) return std::nullopt;
    return found.front();
}

long NetlinkSocketSource::receive(std::string& message) {
    for (;;) {
        // Peek the datagram's real size first so a large one is never truncated.
        const auto pending = ::recv(m_fd, nullptr, 0, MSG_PEEK | MSG_TRUNC);
        if (pending < 0) {
            if (errno == EINTR) {
                continue;
            }
            const int code = errno;
            message = code == ENOBUFS ? "sock_diag receive queue overrun (ENOBUFS): dump incomplete"
                      : (code == EAGAIN || code == EWOULDBLOCK) ? "timed out waiting for the sock_diag reply"
                                                                : errnoText("recv(sock_diag)", code);
            return -code;
        }
        if (static_cast<std::size_t>(pending) > m_buffer.size()) {
            m_buffer.resize(static_cast<std::size_t>(pending));
        }
        sockaddr_nl sender{};
        socklen_t senderLength = sizeof(sender);
        const auto received = ::recvfrom(m_fd, m_buffer.data(), m_buffer.size(), MSG_TRUNC,
                                         reinterpret_cast<sockaddr*>(&sender), &senderLength);
        if (received < 0) {
            if (errno == EINTR) {
                continue;
            }
            const int code = errno;
            message = errnoText("recvfrom(sock_diag)", code);
            return -code;
        }
        if (sender.nl_pid != 0) {
            continue;  // only the kernel answers dumps; ignore anything another process unicast to us
        }
        if (received == 0) {
            message = "empty datagram from sock_diag";
            return -EBADMSG;
        }
        if (static_cast<std::size_t>(received) > m_buffer.size()) {
            message = "sock_diag datagram truncated";
            return -EMSGSIZE;
        }
        return static_cast<long>(received);
    }
}

}  // namespace porteye::sys
