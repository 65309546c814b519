// SPDX-License-Identifier: MIT
#include "http/DeadlineStream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace porteye::http {
namespace {

void endpoint(const sockaddr_storage& addr, std::string& ip, int& port) {
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
        ::inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text));
        port = ntohs(a.sin_port);
    } else if (addr.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
        ::inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof(text));
        port = ntohs(a.sin6_port);
    } else {
        port = 0;  // a Unix socket: no address to tell
    }
    ip = text;
}

}  // namespace

DeadlineStream::DeadlineStream(int fd, Clock::time_point readDeadline, std::chrono::milliseconds writeTimeout)
    : m_fd(fd), m_readDeadline(readDeadline), m_writeTimeout(writeTimeout) {}

bool DeadlineStream::waitFor(short events, Clock::time_point until) const {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        if (left <= 0) return false;
        pollfd fd{m_fd, events, 0};
        const int n = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left, 60'000)));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

bool DeadlineStream::is_readable() const {
    if (m_begin < m_end) return true;
    if (waitFor(POLLIN, m_readDeadline)) return true;
    m_expired = Clock::now() >= m_readDeadline;
    return false;
}

bool DeadlineStream::is_writable() const {
    return waitFor(POLLOUT, Clock::now() + m_writeTimeout);
}

ssize_t DeadlineStream::read(char* ptr, std::size_t size) {
    if (m_begin == m_end) {
        if (!is_readable()) return -1;
        ssize_t n;
        do {
            n = ::recv(m_fd, m_buffer, sizeof(m_buffer), 0);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) return n;
        m_begin = 0;
        m_end = static_cast<std::size_t>(n);
    }
    const std::size_t take = std::min(size, m_end - m_begin);
    std::memcpy(ptr, m_buffer + m_begin, take);
    m_begin += take;
    return static_cast<ssize_t>(take);
}

ssize_t DeadlineStream::write(const char* ptr, std::size_t size) {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
        n = ::send(m_fd, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
}

void DeadlineStream::get_remote_ip_and_port(std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t length = sizeof(addr);
    if (::getpeername(m_fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) addr.ss_family = AF_UNSPEC;
    endpoint(addr, ip, port);
}

void DeadlineStream::get_local_ip_and_port(std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t length = sizeof(addr);
    if (::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) addr.ss_family = AF_UNSPEC;
    endpoint(addr, ip, port);
}

}  // namespace porteye::http
