// SPDX-License-Identifier: MIT
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>

namespace porteye::http {

/// One request's view of a connection for cpp-httplib: every read of the request must end by one
/// deadline (a whole-request bound, where httplib's own stream bounds each read alone, so a peer
/// sending a byte a second could hold a worker forever); each write must make progress within
/// `writeTimeout`. Buffers reads (httplib reads a request line byte by byte).
class DeadlineStream : public httplib::Stream {
public:
    using Clock = std::chrono::steady_clock;
    DeadlineStream(int fd, Clock::time_point readDeadline, std::chrono::milliseconds writeTimeout);

    bool is_readable() const override;
    bool is_writable() const override;
    ssize_t read(char* ptr, std::size_t size) override;
    ssize_t write(const char* ptr, std::size_t size) override;
    void get_remote_ip_and_port(std::string& ip, int& port) const override;
    void get_local_ip_and_port(std::string& ip, int& port) const override;
    /// The socket, or 0 past FD_SETSIZE: Debian's library is built without CPPHTTPLIB_USE_POLL and
    /// answers 500 to any stream whose socket() select() could not watch; every wait of this
    /// stream uses poll(), so a high descriptor is fine and the check is told what it needs.
    ::socket_t socket() const override { return m_fd < FD_SETSIZE ? m_fd : 0; }

    /// True once a read failed because the deadline passed.
    bool expired() const { return m_expired; }

private:
    /// Waits for `events` until `until`; true when ready.
    bool waitFor(short events, Clock::time_point until) const;

    int m_fd;
    Clock::time_point m_readDeadline;
    std::chrono::milliseconds m_writeTimeout;
    char m_buffer[4096];
    std::size_t m_begin = 0;
    std::size_t m_end = 0;
    mutable bool m_expired = false;
};

}  // namespace porteye::http
