// SPDX-License-Identifier: MIT
#pragma once

#include "core/SocketRecord.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace porteye::sys {

/// Which SKNLGRP_*_DESTROY multicast groups to join (all by default: porteye dumps TCP and UDP).
struct DestroyGroups {
    bool tcp4 = true;
    bool tcp6 = true;
    bool udp4 = true;
    bool udp6 = true;
};

/// Outcome of one drain() call.
/// Datagrams read by one drain() at most; the rest wait for the next call (the fd stays readable).
constexpr std::size_t kMaxDatagramsPerDrain = 1024;

struct DrainResult {
    std::size_t records = 0;  ///< records appended to the output vector
    bool overrun = false;     ///< the kernel dropped messages (ENOBUFS): resynchronise with a full dump
    int error = 0;            ///< errno-style code of the last failure, 0 if none
    std::string message;      ///< human-readable cause when error != 0
    bool ok() const { return error == 0 && !overrun; }
};

/// Listens to sock_diag's socket-destroy broadcasts. Destroy messages carry addresses,
/// ports, state and cookie but no inode and no uid (both 0): match them by cookie. Each carries
/// INET_DIAG_PROTOCOL, so UDP records come out with Protocol::Udp.
/// Not thread-safe: one owner thread.
class DestroyListener {
public:
    /// Opens a non-blocking NETLINK_SOCK_DIAG socket and joins the groups;
    /// throws std::system_error if the socket cannot be opened or a group joined.
    explicit DestroyListener(DestroyGroups groups = {});
    /// The same on `fd`, a NETLINK_SOCK_DIAG socket made elsewhere (e.g. inside another network
    /// namespace, whose destroy notifications it then receives); takes ownership of it.
    DestroyListener(int fd, DestroyGroups groups);
    ~DestroyListener();
    DestroyListener(const DestroyListener&) = delete;
    DestroyListener& operator=(const DestroyListener&) = delete;

    /// Descriptor to poll() for POLLIN.
    int fd() const { return m_fd; }

    /// Reads every pending destroy message without blocking, appending one record per
    /// destroyed socket to `out`. Never throws; a malformed datagram is skipped and reported.
    DrainResult drain(std::vector<core::SocketRecord>& out);

private:
    int m_fd = -1;
    std::vector<std::byte> m_buffer;
};

}  // namespace porteye::sys
