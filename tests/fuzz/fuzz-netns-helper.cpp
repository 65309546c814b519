// SPDX-License-Identifier: MIT
// The netns helper's protocol (sys/NetnsHelperProtocol.hpp) from both ends: requests of any
// size carrying zero to six descriptors (a network namespace, or something else) are served by
// the real serveNetnsRequests, and every reply is read back with receiveWithFd. No descriptor
// may leak on either side, and a reply carries a socket exactly when it says 0.
//
// Input, a sequence of requests: [length][flags][length bytes]; flags bits 0-2 = descriptors
// to attach (0-6), bit 3 = attach this process's own network namespace first (else /dev/null).
// Needs root (setns).
#include "sys/NetnsHelperProtocol.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace porteye;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz-netns-helper: %s\n", what);
    std::abort();
}

/// How many descriptors this process holds: the same before and after an input unless one
/// leaked. (The lowest free descriptor, checked before, misses a leak above a hole: the 2
/// sockets of an input close, and a leaked descriptor numbered above them stays unseen.)
int openDescriptors() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) fail("opendir /proc/self/fd (out of descriptors?)");
    int count = 0;
    while (const dirent* entry = ::readdir(dir))
        count += entry->d_name[0] != '.';
    ::closedir(dir);
    return count;
}

void sendRequest(int sock, const std::uint8_t* bytes, std::size_t length, std::uint8_t flags) {
    const int count = std::min(flags & 7, 6);
    std::vector<int> fds;
    for (int i = 0; i < count; ++i)
        fds.push_back(::open(i == 0 && (flags & 8) != 0 ? "/proc/self/ns/net" : "/dev/null", O_RDONLY | O_CLOEXEC));
    iovec iov{const_cast<std::uint8_t*>(bytes), length};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(6 * sizeof(int))]{};
    if (count > 0) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(count * sizeof(int));
        std::memcpy(CMSG_DATA(c), fds.data(), count * sizeof(int));
    }
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) fail(std::strerror(errno));  // EBADF: an open above failed
    for (int fd : fds)
        ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const int openBefore = openDescriptors();
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) fail("socketpair");
    const int daemonEnd = pair[0];
    const int helperEnd = pair[1];

    std::size_t requests = 0;
    for (std::size_t offset = 0; offset + 2 <= size && requests < 16; ++requests) {
        const std::size_t length = std::min<std::size_t>(data[offset], size - offset - 2);
        const std::uint8_t flags = data[offset + 1];
        sendRequest(daemonEnd, data + offset + 2, length, flags);
        offset += 2 + length;
    }
    ::shutdown(daemonEnd, SHUT_WR);
    sys::serveNetnsRequests(helperEnd);  // until it reads the end (or an empty request)
    ::close(helperEnd);

    std::size_t replies = 0;
    for (;;) {
        std::int32_t code = 0;
        int fd = -1;
        const int r = sys::receiveWithFd(daemonEnd, code, fd);
        if (r == ECONNRESET) break;
        if (r != 0) fail("a reply is malformed");
        if ((code == 0) != (fd >= 0)) fail("a reply's code and descriptor disagree");
        if (fd >= 0) ::close(fd);
        ++replies;
    }
    ::close(daemonEnd);
    if (replies > requests) fail("more replies than requests");
    if (openDescriptors() != openBefore) fail("a descriptor leaked");
    return 0;
}
