// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace porteye::http {

/// Who is at the other end of an accepted stream socket, found from the socket alone before a byte
/// of it is read: SO_PEERCRED for a Unix socket, one exact sock_diag lookup of the client end for a
/// loopback TCP connection (both ends are sockets of this host), nothing for a remote address.
struct PeerIdentity {
    std::optional<std::uint32_t> uid;  ///< nullopt: remote, or the client end is already gone
    std::string address;               ///< numeric peer address ("" for a Unix socket)
    bool loopback = false;             ///< a loopback TCP peer (then a missing uid means "gone")
    bool unixSocket = false;
};

/// Identifies the peer of `fd` (an accepted socket); never throws.
PeerIdentity identifyPeer(int fd);

}  // namespace porteye::http
