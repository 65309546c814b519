// SPDX-License-Identifier: MIT
#pragma once

#include "core/SocketRecord.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace porteye::core {

/// What happened to a socket, as the kernel event source reports it.
enum class KernelEventKind : std::uint8_t {
    Listen,    ///< TCP socket entered LISTEN (in the owner's context)
    Connect,   ///< outgoing TCP connection ESTABLISHED (owner recorded at connect())
    Accept,    ///< incoming TCP connection ESTABLISHED (owner: the acceptor with the full program,
               ///< else the listener's owner; inode 0 until accept() returned)
    Close,     ///< TCP socket reached CLOSE (from any state but CLOSE)
    UdpBind,   ///< UDP socket bound by bind() (full program only)
    UdpClose,  ///< UDP socket left the port hash (full program only)
    Accepted,  ///< accept() returned an ESTABLISHED socket (reported earlier as Accept, without an
               ///< owner): tgid, uid, comm and inode are the acceptor's, for certain
};

/// "listen", "connect", "accept", "close", "udp-bind", "udp-close", "accepted".
std::string_view kernelEventKindName(KernelEventKind kind);

/// One socket event from the kernel. Addresses and ports are formatted as sys::SockDiagParser
/// formats sock_diag's, and `cookie` is sock_diag's cookie, so events join dump records by cookie.
struct KernelSocketEvent {
    KernelEventKind kind = KernelEventKind::Listen;
    Protocol protocol = Protocol::Tcp;
    std::uint8_t family = 4;  ///< 4 or 6 (an IPv6 socket with a v4-mapped address is 6, as in sock_diag)
    std::string localAddress;
    std::uint16_t localPort = 0;  ///< 0 for a listen() without bind() (the port is picked after the event)
    std::string remoteAddress;
    std::uint16_t remotePort = 0;
    TcpState state = TcpState::Unknown;  ///< the state after the change (UDP: Close, i.e. "UNCONN")
    std::uint64_t cookie = 0;
    std::uint64_t inode = 0;  ///< 0 when the socket has no file (yet, or any more and not seen earlier)
    /// The owner: who called listen()/connect()/bind()/accept(), never the task the kernel ran the change
    /// on (closes often run in softirq). 0 when unknown: the socket predates the event source.
    std::uint32_t tgid = 0;
    std::uint32_t uid = 0;          ///< the owner's real uid; the socket's uid when tgid is 0
    std::string comm;               ///< the owner's comm (any bytes: escape before display); empty when tgid is 0
    std::uint64_t netns = 0;        ///< inode of the socket's network namespace (as /proc/<pid>/ns/net)
    std::uint64_t monotonicNs = 0;  ///< CLOCK_MONOTONIC time of the change

    bool operator==(const KernelSocketEvent&) const = default;
};

/// How far the kernel event source got; shown in `status`.
enum class EventSourceStage : std::uint8_t {
    Full,            ///< tracepoint and every optional hook (accept inode and acceptor, UDP bind/close)
    TracepointOnly,  ///< TCP state changes only: accepts name the listener's owner, no UDP events
    Polling,         ///< no events: the caller polls sock_diag as before
};

/// "full", "tracepoint", "polling".
std::string_view eventSourceStageName(EventSourceStage stage);

/// The admin's choice (`event_source = auto|tracepoint|off`).
enum class EventSourceMode : std::uint8_t {
    Auto,        ///< try Full, then TracepointOnly, then Polling
    Tracepoint,  ///< skip the optional hooks: TracepointOnly, else Polling
    Off,         ///< Polling without trying
};

std::string_view eventSourceModeName(EventSourceMode mode);
/// Parses "auto", "tracepoint", "off" (case-sensitive, as the config file spells them).
std::optional<EventSourceMode> parseEventSourceMode(std::string_view text);

/// Socket events pushed by the kernel. Single-threaded: one owner thread calls everything.
/// Usage: call consume() on a timer of a few milliseconds and whenever fd() is readable; when lost() grew since
/// the last look, some events are gone: resynchronise with a sock_diag dump.
class IKernelEventSource {
public:
    virtual ~IKernelEventSource() = default;
    /// Readable when many events are queued (wake-ups are batched: do not rely on it alone);
    /// -1 in the Polling stage.
    virtual int fd() const = 0;
    /// Appends the queued events to `out` in the order the kernel queued them (per CPU; across CPUs
    /// nearly ordered: sort by monotonicNs if it matters) and returns how many were appended.
    virtual std::size_t consume(std::vector<KernelSocketEvent>& out) = 0;
    /// Events dropped since the source was opened because the ring was full; never decreases.
    virtual std::uint64_t lost() const = 0;
    virtual EventSourceStage stage() const = 0;
};

}  // namespace porteye::core
