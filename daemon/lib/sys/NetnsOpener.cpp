// SPDX-License-Identifier: MIT
#include "sys/NetnsOpener.hpp"

#include "sys/NetnsHelperProtocol.hpp"

#include <cerrno>
#include <ctime>
#include <cstring>

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sched.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace porteye::sys {

std::unique_ptr<InProcessNetnsOpener> InProcessNetnsOpener::create(std::string& error) {
    const int own = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own < 0) {
        error = std::string("cannot open /proc/self/ns/net: ") + std::strerror(errno);
        return nullptr;
    }
    // Entering our own namespace is a no-op that still needs CAP_SYS_ADMIN: a cheap test.
    if (::setns(own, CLONE_NEWNET) != 0) {
        error = std::string("cannot enter network namespaces: ") + std::strerror(errno);
        ::close(own);
        return nullptr;
    }
    return std::unique_ptr<InProcessNetnsOpener>(new InProcessNetnsOpener(own));
}

InProcessNetnsOpener::~InProcessNetnsOpener() {
    ::close(m_ownNs);
}

int InProcessNetnsOpener::openSockDiag(int nsFd) {
    if (::setns(nsFd, CLONE_NEWNET) != 0) return -1;
    const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    const int saved = errno;
    // Only this thread moved (setns on a multi-threaded process moves the caller alone).
    if (::setns(m_ownNs, CLONE_NEWNET) != 0) std::abort();
    errno = saved;
    return fd;
}

namespace {

/// Bounds every send, connect and receive on the helper's socket.
void boundWaits(int sock) {
    timeval t{HelperNetnsOpener::kTimeoutMs / 1000, (HelperNetnsOpener::kTimeoutMs % 1000) * 1000};
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
    ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof(t));
}

std::int64_t nowMs() {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<std::int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1'000'000;
}

/// A socket connected to the helper at `path`, or -1 with `error` set.
int connectHelper(const std::string& path, std::string& error) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        error = "helper socket path too long: " + path;
        return -1;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int sock = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock >= 0) boundWaits(sock);  // before connect: a full backlog would block it too
    if (sock < 0 || ::connect(sock, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        const int saved = errno == EAGAIN ? ETIMEDOUT : errno;
        error = "cannot connect to the netns helper at " + path + ": " + std::strerror(saved);
        if (sock >= 0) ::close(sock);
        errno = saved;
        return -1;
    }
    return sock;
}

}  // namespace

std::unique_ptr<HelperNetnsOpener> HelperNetnsOpener::connect(const std::string& path, std::string& error) {
    const int sock = connectHelper(path, error);
    if (sock < 0) return nullptr;
    return std::unique_ptr<HelperNetnsOpener>(new HelperNetnsOpener(sock, -1, path, "helper " + path));
}

std::unique_ptr<HelperNetnsOpener> HelperNetnsOpener::spawn(const std::string& executable, std::string& error) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        error = std::string("socketpair: ") + std::strerror(errno);
        return nullptr;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pair[1], 3);  // dup2 clears close-on-exec
    char* const argv[] = {const_cast<char*>(executable.c_str()), const_cast<char*>("--fd"), const_cast<char*>("3"),
                          nullptr};
    pid_t child = -1;
    const int rc = ::posix_spawn(&child, executable.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pair[1]);
    if (rc != 0) {
        error = "cannot start " + executable + ": " + std::strerror(rc);
        ::close(pair[0]);
        return nullptr;
    }
    boundWaits(pair[0]);
    return std::unique_ptr<HelperNetnsOpener>(new HelperNetnsOpener(pair[0], child, {}, "helper " + executable));
}

HelperNetnsOpener::~HelperNetnsOpener() {
    if (m_sock >= 0) ::close(m_sock);  // the helper sees the end of its socket and exits
    if (m_child > 0) {
        int status = 0;
        while (::waitpid(m_child, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

int HelperNetnsOpener::openSockDiag(int nsFd) {
    if (m_sock < 0) {
        std::string ignored;
        if (m_path.empty() || nowMs() < m_retryAtMs || (m_sock = connectHelper(m_path, ignored)) < 0) {
            if (!m_path.empty() && nowMs() >= m_retryAtMs) m_retryAtMs = nowMs() + kRetryAfterMs;
            errno = ETIMEDOUT;
            return -1;
        }
    }
    std::int32_t code = 0;
    int fd = -1;
    int failed = sendWithFd(m_sock, nsFd, 0);
    if (failed == 0) failed = receiveWithFd(m_sock, code, fd);
    if (failed != 0) {
        // Out of step with the helper (or without one): a late answer would be taken for the
        // next request's, so this connection is done.
        ::close(m_sock);
        m_sock = -1;
        m_retryAtMs = nowMs() + kRetryAfterMs;
        errno = failed == EAGAIN ? ETIMEDOUT : failed;
        return -1;
    }
    if (code != 0 || fd < 0) {
        if (fd >= 0) ::close(fd);
        errno = code != 0 ? code : EPROTO;
        return -1;
    }
    return fd;
}

}  // namespace porteye::sys
