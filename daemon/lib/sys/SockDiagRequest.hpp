// SPDX-License-Identifier: MIT
#pragma once

#include "core/SocketRecord.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace porteye::sys {

/// Bytes of one SOCK_DIAG_BY_FAMILY dump request (nlmsghdr + inet_diag_req_v2).
/// family: AF_INET or AF_INET6; protocol: IPPROTO_TCP or IPPROTO_UDP.
std::vector<std::byte> buildSockDiagDumpRequest(int family, int protocol, core::StateMask states,
                                                std::uint32_t sequence);

/// Bytes of one legacy TCPDIAG_GETSOCK dump request (nlmsghdr + inet_diag_req).
/// The kernel answers it with IPv4 and IPv6 sockets in ONE walk of the TCP hash
/// tables, instead of one walk per family: on this kernel each walk costs ~1 ms
/// even with few sockets (the hash has 262144 buckets), so this halves a dump's floor.
std::vector<std::byte> buildLegacyTcpDumpRequest(core::StateMask states, std::uint32_t sequence);

}  // namespace porteye::sys
