// SPDX-License-Identifier: MIT
#include "sys/NetnsHelperProtocol.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

namespace porteye::sys {

int sendWithFd(int sock, int fd, std::int32_t code) {
    iovec iov{&code, sizeof(code)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    for (;;) {
        if (::sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(code))) return 0;
        if (errno != EINTR) return errno;
    }
}

int receiveWithFd(int sock, std::int32_t& code, int& fd) {
    fd = -1;
    code = 0;
    iovec iov{&code, sizeof(code)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))]{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    do {
        n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int received = -1;
            std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (fd < 0) {
                fd = received;
            } else {
                ::close(received);  // one descriptor per message; more is not ours to keep
            }
        }
    }
    if (n == 0) {
        // The end of the stream, or an empty message (SOCK_SEQPACKET has them) that may still
        // carry descriptors: found by fuzz-netns-helper, which saw them pile up to the fd limit.
        if (fd >= 0) ::close(fd);
        fd = -1;
        return ECONNRESET;
    }
    if (n != static_cast<ssize_t>(sizeof(code)) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
        if (fd >= 0) ::close(fd);
        fd = -1;
        return EBADMSG;
    }
    return 0;
}

void serveNetnsRequests(int sock) {
    const int ownNs = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ownNs < 0) return;
    for (;;) {
        std::int32_t code = 0;
        int nsFd = -1;
        const int received = receiveWithFd(sock, code, nsFd);
        if (received == ECONNRESET || received == EBADF || received == ENOTSOCK) break;
        int reply = 0;
        int diag = -1;
        if (received != 0 || nsFd < 0 || code != 0) {
            reply = received != 0 ? received : EINVAL;
        } else if (::setns(nsFd, CLONE_NEWNET) != 0) {
            reply = errno;  // EINVAL: not a network namespace; EPERM: not allowed
        } else {
            diag = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
            if (diag < 0) reply = errno;
            if (::setns(ownNs, CLONE_NEWNET) != 0) std::abort();
        }
        if (nsFd >= 0) ::close(nsFd);
        const int sent = sendWithFd(sock, diag, reply);
        if (diag >= 0) ::close(diag);
        if (sent != 0) break;
    }
    ::close(ownNs);
}

}  // namespace porteye::sys
