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

}  // namespace porteye::sys
