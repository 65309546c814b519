// SPDX-License-Identifier: MIT
#include "sys/SockDiagRequest.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <sys/socket.h>

#include <cstring>

namespace porteye::sys {

std::vector<std::byte> buildSockDiagDumpRequest(int family, int protocol, core::StateMask states,
                                                std::uint32_t sequence) {
    nlmsghdr header{};
    // Both structs are multiples of 4 bytes, so no NLMSG_ALIGN padding is needed.
    static_assert(sizeof(nlmsghdr) % 4 == 0 && sizeof(inet_diag_req_v2) % 4 == 0);
    constexpr std::size_t kLength = sizeof(nlmsghdr) + sizeof(inet_diag_req_v2);
    header.nlmsg_len = static_cast<std::uint32_t>(kLength);
    header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.nlmsg_seq = sequence;
    header.nlmsg_pid = 0;

    inet_diag_req_v2 request{};
    request.sdiag_family = static_cast<std::uint8_t>(family);
    request.sdiag_protocol = static_cast<std::uint8_t>(protocol);
    // No extensions: the base message has everything a SocketRecord needs, and
    // INET_DIAG_INFO would roughly triple the reply size.
    request.idiag_ext = 0;
    request.idiag_states = states;

    std::vector<std::byte> bytes(kLength);
    std::memcpy(bytes.data(), &header, sizeof(header));
    std::memcpy(bytes.data() + sizeof(nlmsghdr), &request, sizeof(request));
    return bytes;
}

std::vector<std::byte> buildLegacyTcpDumpRequest(core::StateMask states, std::uint32_t sequence) {
    static_assert(sizeof(inet_diag_req) % 4 == 0);
    constexpr std::size_t kLength = sizeof(nlmsghdr) + sizeof(inet_diag_req);
    nlmsghdr header{};
    header.nlmsg_len = static_cast<std::uint32_t>(kLength);
    header.nlmsg_type = TCPDIAG_GETSOCK;
    header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.nlmsg_seq = sequence;

    inet_diag_req request{};
    request.idiag_family = AF_INET;  // ignored by the kernel's compat dump, which walks every family
    request.idiag_ext = 0;
    request.idiag_states = states;

    std::vector<std::byte> bytes(kLength);
    std::memcpy(bytes.data(), &header, sizeof(header));
    std::memcpy(bytes.data() + sizeof(nlmsghdr), &request, sizeof(request));
    return bytes;
}

}  // namespace porteye::sys
