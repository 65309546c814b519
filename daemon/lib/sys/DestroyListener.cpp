// SPDX-License-Identifier: MIT
#include "sys/DestroyListener.hpp"

#include "sys/SockDiagParser.hpp"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

namespace porteye::sys {
namespace {

constexpr std::size_t kBufferSize = 64 * 1024;
// Destroy bursts (a server shutting down) can be large; a bigger queue makes ENOBUFS rarer.
constexpr int kReceiveBufferSize = 4 * 1024 * 1024;

}  // namespace

DestroyListener::DestroyListener(DestroyGroups groups)
    : DestroyListener(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG), groups) {}

DestroyListener::DestroyListener(int fd, DestroyGroups groups) : m_fd(fd), m_buffer(kBufferSize) {
    if (m_fd < 0) {
        throw std::system_error(errno, std::generic_category(), "socket(AF_NETLINK, NETLINK_SOCK_DIAG)");
    }
    const int flags = ::fcntl(m_fd, F_GETFL);
    if (flags < 0 || ::fcntl(m_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        const int code = errno;
        ::close(m_fd);
        m_fd = -1;
        throw std::system_error(code, std::generic_category(), "fcntl(O_NONBLOCK)");
    }
    int rcvbuf = kReceiveBufferSize;
    (void)::setsockopt(m_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

    // Bind first so the kernel assigns a port id: an unbound socket keeps port id 0,
    // which netlink_broadcast() takes for the (kernel) sender and skips, so
    // NETLINK_ADD_MEMBERSHIP alone succeeds but never delivers anything.
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (::bind(m_fd, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
        const int code = errno;
        ::close(m_fd);
        m_fd = -1;
        throw std::system_error(code, std::generic_category(), "bind(NETLINK_SOCK_DIAG)");
    }

    const struct {
        bool wanted;
        int group;
        const char* name;
    } table[] = {
        {groups.tcp4, SKNLGRP_INET_TCP_DESTROY, "SKNLGRP_INET_TCP_DESTROY"},
        {groups.udp4, SKNLGRP_INET_UDP_DESTROY, "SKNLGRP_INET_UDP_DESTROY"},
        {groups.tcp6, SKNLGRP_INET6_TCP_DESTROY, "SKNLGRP_INET6_TCP_DESTROY"},
        {groups.udp6, SKNLGRP_INET6_UDP_DESTROY, "SKNLGRP_INET6_UDP_DESTROY"},
    };
    for (const auto& entry : table) {
        if (!entry.wanted) {
            continue;
        }
        int group = entry.group;
        if (::setsockopt(m_fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) != 0) {
            const int code = errno;
            ::close(m_fd);
            m_fd = -1;
            throw std::system_error(code, std::generic_category(), std::string("joining ") + entry.name);
        }
    }
}

DestroyListener::~DestroyListener() {
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

DrainResult DestroyListener::drain(std::vector<core::SocketRecord>& out) {
    DrainResult result;
    try {
        // Bounded: on a busy host the kernel can broadcast closes faster than one loop iteration
        // ends, and an unbounded drain would never return (nor stop growing `out`). The fd is
        // level-triggered, so what is left is read on the next wake-up.
        for (std::size_t datagrams = 0; datagrams < kMaxDatagramsPerDrain; ++datagrams) {
            sockaddr_nl sender{};
            socklen_t senderLength = sizeof(sender);
            const auto received = ::recvfrom(m_fd, m_buffer.data(), m_buffer.size(), MSG_DONTWAIT | MSG_TRUNC,
                                             reinterpret_cast<sockaddr*>(&sender), &senderLength);
            if (received < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return result;
                }
                if (errno == ENOBUFS) {
                    // The queue overflowed and messages were dropped; the socket itself still works.
                    result.overrun = true;
                    continue;
                }
                result.error = errno;
                result.message = std::string("recvfrom(sock_diag destroy): ") + std::strerror(result.error);
                return result;
            }
            if (sender.nl_pid != 0 || received == 0) {
                continue;  // only the kernel broadcasts destroy events
            }
            if (static_cast<std::size_t>(received) > m_buffer.size()) {
                // One destroy message is a few hundred bytes; this is never expected, but don't parse half of it.
                m_buffer.resize(static_cast<std::size_t>(received));
                result.error = EMSGSIZE;
                result.message = "destroy datagram truncated";
                continue;
            }
            const auto bytes = std::span<const std::byte>(m_buffer.data(), static_cast<std::size_t>(received));
            const ParseResult parsed = parseSockDiagBuffer(bytes, out, 0);
            if (parsed.status == ParseStatus::Malformed || parsed.status == ParseStatus::Error) {
                result.error =
                    parsed.status == ParseStatus::Error && parsed.errorCode != 0 ? parsed.errorCode : EBADMSG;
                result.message = "bad destroy message: " + parsed.message;
                continue;
            }
            result.records += parsed.recordsParsed;
        }
    } catch (const std::bad_alloc&) {
        result.error = ENOMEM;
        result.message = "out of memory while draining destroy messages";
    }
    return result;
}

}  // namespace porteye::sys
