// SPDX-License-Identifier: MIT
#pragma once

#include "core/SocketRecord.hpp"

#include <array>
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

/// One socket named by its two ends, as inet_diag_sockid holds them: addresses in network order
/// (IPv4 in the first word), ports in host order.
struct SocketEnds {
    int family = 0;    ///< AF_INET or AF_INET6
    int protocol = 0;  ///< IPPROTO_TCP or IPPROTO_UDP
    std::array<std::uint32_t, 4> localAddress{};
    std::uint16_t localPort = 0;
    std::array<std::uint32_t, 4> remoteAddress{};
    std::uint16_t remotePort = 0;
};

/// Bytes of one exact SOCK_DIAG_BY_FAMILY lookup (no NLM_F_DUMP): the kernel answers with the one
/// socket with these ends, found in its hash (no walk of the table), or NLMSG_ERROR ENOENT.
/// It may answer with a listener on the local port instead: check the ends of what comes back.
std::vector<std::byte> buildSockDiagLookupRequest(const SocketEnds& ends, std::uint32_t sequence);

}  // namespace porteye::sys
