// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace porteye::sys {

/// True when `address` (text, IPv4 or IPv6, IPv4-mapped included) is a loopback address.
bool isLoopbackAddress(const std::string& address);

/// The uid that owns the client end of a loopback TCP connection: the socket at
/// peerAddress:peerPort connected to localAddress:localPort, found with one exact
/// sock_diag lookup (no dump). This works because both ends of a loopback connection are
/// sockets of this host, each with its creator's uid: an identd for loopback.
/// nullopt when the socket is not found (already closed) or the lookup fails.
std::optional<std::uint32_t> loopbackPeerUid(const std::string& peerAddress, std::uint16_t peerPort,
                                             const std::string& localAddress, std::uint16_t localPort);

}  // namespace porteye::sys
