// SPDX-License-Identifier: MIT
#pragma once

#include "core/ProcessInfo.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace porteye::core {

enum class Protocol : std::uint8_t { Tcp, Udp };

/// Kernel TCP states, numbered as in include/net/tcp_states.h.
enum class TcpState : std::uint8_t {
    Unknown = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    NewSynRecv = 12,
    BoundInactive = 13,
};

/// Bit mask for sock_diag's idiag_states: bit N selects TcpState N.
using StateMask = std::uint32_t;
constexpr StateMask stateBit(TcpState s) {
    return StateMask{1} << static_cast<unsigned>(s);
}
/// The classic states 1..12 (0x1ffe); TCP_BOUND_INACTIVE is left out on purpose (PLATFORM.md: bind-table walk).
constexpr StateMask kAllClassicStates = 0x1ffe;
/// The states a UDP socket reports in sock_diag: TCP_ESTABLISHED once connect()ed, TCP_CLOSE when only
/// bound (an unbound UDP socket is in no hash table and is never dumped).
constexpr StateMask kUdpStates = stateBit(TcpState::Established) | stateBit(TcpState::Close);

/// Kernel name of a state ("ESTABLISHED", "LISTEN", "TIME_WAIT", ...).
std::string_view stateName(TcpState state);
/// A socket's state as records carry it (JSON, D-Bus): the kernel name, except that a UDP socket
/// in TCP_CLOSE (bound, not connected) is "UNCONN", as ss shows it.
std::string_view stateName(Protocol protocol, TcpState state);
/// ss's spelling of a state for tables ("ESTAB", "LISTEN", "TIME-WAIT", "UNCONN", ...).
std::string_view ssStateName(TcpState state);
/// Parses kernel names and ss-style names ("time-wait", "listen", "UNCONN"), case-insensitive.
std::optional<TcpState> parseStateName(std::string_view name);

std::string_view protocolName(Protocol protocol);
std::optional<Protocol> parseProtocolName(std::string_view name);

/// One socket as the kernel reports it, joined with one owning process.
/// A socket with several owners (after fork) yields one record per owner;
/// a socket with no visible owner (TIME_WAIT, other namespaces) has pid 0.
struct SocketRecord {
    Protocol protocol = Protocol::Tcp;
    std::uint8_t family = 4;  ///< 4 or 6
    std::string localAddress;
    std::uint16_t localPort = 0;
    std::string remoteAddress;
    std::uint16_t remotePort = 0;
    TcpState state = TcpState::Unknown;
    std::uint64_t inode = 0;
    std::uint32_t uid = 0;
    std::uint64_t cookie = 0;  ///< kernel socket cookie, unique for the kernel's lifetime
    /// Inode of the network namespace the socket lives in (`/proc/<pid>/ns/net`); 0 when unknown.
    std::uint64_t netns = 0;
    /// That namespace's name where one exists (`ip netns` name, container name); empty for the
    /// daemon's own namespace and unnamed ones.
    std::string netnsName;

    std::uint32_t pid = 0;
    std::string process;         ///< comm of the owner, empty when pid is 0
    std::uint32_t ownerUid = 0;  ///< real uid of the owning process; meaningless when pid is 0

    /// The owner's details (cmdline, user, exe, start time, unit); null when pid is 0 or unknown.
    std::shared_ptr<const ProcessDetails> details;
    /// CPU and memory, filled when a list reply is built; empty elsewhere (history, events).
    std::optional<UsageNow> usage;

    /// What `ss -l` lists: a TCP listener, or a UDP socket bound but not connected.
    bool listening() const {
        return state == TcpState::Listen || (protocol == Protocol::Udp && state == TcpState::Close);
    }

    /// The uid the visibility rule goes by: the owning process's, or the socket's when it has no owner.
    std::uint32_t visibleUid() const { return pid != 0 ? ownerUid : uid; }

    bool operator==(const SocketRecord& o) const {
        return protocol == o.protocol && family == o.family && localAddress == o.localAddress &&
               localPort == o.localPort && remoteAddress == o.remoteAddress && remotePort == o.remotePort &&
               state == o.state && inode == o.inode && uid == o.uid && cookie == o.cookie && netns == o.netns &&
               netnsName == o.netnsName && pid == o.pid && process == o.process && ownerUid == o.ownerUid &&
               usage == o.usage && (details == o.details || (details && o.details && *details == *o.details));
    }
};

/// An upper bound of the bytes one record takes on the wire (JSON may double a backslash of an
/// escaped string; D-Bus takes less), so replies can be bounded by size, not only by count.
inline std::size_t approximateWireSize(const SocketRecord& r) {
    std::size_t strings = r.process.size() + r.localAddress.size() + r.remoteAddress.size() + r.netnsName.size();
    if (const auto* d = r.details.get())
        strings += d->cmdline.size() + d->user.size() + d->exe.size() + d->unit.size() + d->containerRuntime.size() +
                   d->containerId.size() + d->containerName.size();
    return 400 + 2 * strings;
}

/// Identity of a record across snapshots: same kernel socket, same owner.
struct SocketKey {
    std::uint64_t cookie = 0;
    std::uint64_t inode = 0;
    std::uint32_t pid = 0;
    auto operator<=>(const SocketKey&) const = default;
};

inline SocketKey keyOf(const SocketRecord& r) {
    return SocketKey{r.cookie, r.inode, r.pid};
}

}  // namespace porteye::core
