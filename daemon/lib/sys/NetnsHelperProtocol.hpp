// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>

namespace porteye::sys {

/// The netns helper's protocol, over a connected AF_UNIX SOCK_SEQPACKET socket. A request is
/// one message of 4 bytes (0) carrying one descriptor (SCM_RIGHTS) of a network namespace
/// (an open /proc/<pid>/ns/net or /run/netns/<name>). The reply is 4 bytes: 0 with one
/// descriptor, a NETLINK_SOCK_DIAG socket created inside that namespace, or an errno value
/// and no descriptor. That socket can dump the namespace's sockets and join its destroy
/// groups, nothing more: destroying sockets (SOCK_DESTROY) needs CAP_NET_ADMIN of the sender.

/// Sends `code` with `fd` attached (none when fd < 0). Returns 0 or an errno value.
int sendWithFd(int sock, int fd, std::int32_t code);

/// Receives one message: its code and the descriptor it carried (-1 when none; extra ones are
/// closed). Returns 0, ECONNRESET when the peer closed, or an errno value.
int receiveWithFd(int sock, std::int32_t& code, int& fd);

/// Serves requests on `sock` until the peer closes it or a reply cannot be sent. Needs
/// CAP_SYS_ADMIN (setns); returns to the caller's own namespace after each request, and
/// aborts the process if it cannot (it must never serve from inside a foreign one).
void serveNetnsRequests(int sock);

}  // namespace porteye::sys
