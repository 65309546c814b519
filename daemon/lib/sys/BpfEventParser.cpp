// SPDX-License-Identifier: MIT
#include "sys/BpfEventParser.hpp"

#include "sys/SockDiagParser.hpp"
#include "sys/bpf/porteye_sockets.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string_view>

namespace porteye::sys {

std::size_t bpfEventRecordSize() {
    return sizeof(porteye_sock_event);
}

std::optional<core::KernelSocketEvent> parseBpfSocketEvent(std::span<const std::byte> record) {
    if (record.size() < sizeof(porteye_sock_event)) {
        return std::nullopt;
    }
    // The ring's records are 8-byte aligned, but copying keeps this independent of the caller's buffer.
    porteye_sock_event raw{};
    std::memcpy(&raw, record.data(), sizeof(raw));
    if (raw.kind > PORTEYE_EV_ACCEPTED || (raw.family != AF_INET && raw.family != AF_INET6) ||
        (raw.protocol != IPPROTO_TCP && raw.protocol != IPPROTO_UDP)) {
        return std::nullopt;
    }
    core::KernelSocketEvent e;
    e.kind = static_cast<core::KernelEventKind>(raw.kind);
    e.protocol = raw.protocol == IPPROTO_UDP ? core::Protocol::Udp : core::Protocol::Tcp;
    e.family = raw.family == AF_INET6 ? 6 : 4;
    e.localAddress = formatInetAddress(raw.family, raw.saddr);
    e.remoteAddress = formatInetAddress(raw.family, raw.daddr);
    e.localPort = raw.sport;
    e.remotePort = raw.dport;
    e.state = raw.state <= static_cast<std::uint8_t>(core::TcpState::BoundInactive)
                  ? static_cast<core::TcpState>(raw.state)
                  : core::TcpState::Unknown;
    e.cookie = raw.cookie;
    e.inode = raw.inode;
    e.tgid = raw.tgid;
    e.uid = raw.uid;
    e.netns = raw.netns;
    e.monotonicNs = raw.ts_ns;
    if (raw.tgid != 0) {
        // comm is NUL-terminated by the kernel, but never trust that: stop at the array's end.
        const std::string_view comm(raw.comm, sizeof(raw.comm));
        e.comm = std::string(comm.substr(0, comm.find('\0')));
    }
    return e;
}

}  // namespace porteye::sys
