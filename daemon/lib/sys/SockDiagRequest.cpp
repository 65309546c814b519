// SPDX-License-Identifier: MIT
#include "sys/SockDiagRequest.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

namespace porteye::sys {
namespace {

/// nlmsghdr + payload as bytes; both are multiples of 4 bytes, so no NLMSG_ALIGN padding.
template <typename Payload>
std::vector<std::byte> serialize(std::uint16_t type, std::uint32_t sequence, const Payload& payload,
                                 std::uint16_t flags = NLM_F_REQUEST | NLM_F_DUMP) {
    static_assert(sizeof(nlmsghdr) % 4 == 0 && sizeof(Payload) % 4 == 0);
    nlmsghdr header{};
    header.nlmsg_len = static_cast<std::uint32_t>(sizeof(nlmsghdr) + sizeof(Payload));
    header.nlmsg_type = type;
    header.nlmsg_flags = flags;
    header.nlmsg_seq = sequence;
    std::vector<std::byte> bytes(header.nlmsg_len);
    std::memcpy(bytes.data(), &header, sizeof(header));
    std::memcpy(bytes.data() + sizeof(nlmsghdr), &payload, sizeof(payload));
    return bytes;
}

}  // namespace

std::vector<std::byte> buildSockDiagDumpRequest(int family, int protocol, core::StateMask states,
                                                std::uint32_t sequence) {
    inet_diag_req_v2 request{};
    request.sdiag_family = static_cast<std::uint8_t>(family);
    request.sdiag_protocol = static_cast<std::uint8_t>(protocol);
    // No extensions: the base message has everything a SocketRecord needs, and
    // INET_DIAG_INFO would roughly triple the reply size.
    request.idiag_ext = 0;
    request.idiag_states = states;
    return serialize(SOCK_DIAG_BY_FAMILY, sequence, request);
}

std::vector<std::byte> buildLegacyTcpDumpRequest(core::StateMask states, std::uint32_t sequence) {
    inet_diag_req request{};
    request.idiag_family = AF_INET;  // ignored by the kernel's compat dump, which walks every family
    request.idiag_ext = 0;
    request.idiag_states = states;
    return serialize(TCPDIAG_GETSOCK, sequence, request);
}

std::vector<std::byte> buildSockDiagLookupRequest(const SocketEnds& ends, std::uint32_t sequence) {
    inet_diag_req_v2 request{};
    request.sdiag_family = static_cast<std::uint8_t>(ends.family);
    request.sdiag_protocol = static_cast<std::uint8_t>(ends.protocol);
    request.idiag_states = ~0U;
    request.id.idiag_sport = htons(ends.localPort);
    request.id.idiag_dport = htons(ends.remotePort);
    std::memcpy(request.id.idiag_src, ends.localAddress.data(), sizeof(request.id.idiag_src));
    std::memcpy(request.id.idiag_dst, ends.remoteAddress.data(), sizeof(request.id.idiag_dst));
    request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    return serialize(SOCK_DIAG_BY_FAMILY, sequence, request, NLM_F_REQUEST);
}

}  // namespace porteye::sys
