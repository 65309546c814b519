// SPDX-License-Identifier: MIT
#include "core/SocketRecord.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace porteye::core {
namespace {

struct StateName {
    TcpState state;
    std::string_view kernel;
    std::string_view ss;  // iproute2's spelling (lower case here), accepted on input
};

constexpr std::array<StateName, 14> kStateNames{{
    {TcpState::Unknown, "UNKNOWN", "unknown"},
    {TcpState::Established, "ESTABLISHED", "estab"},
    {TcpState::SynSent, "SYN_SENT", "syn-sent"},
    {TcpState::SynRecv, "SYN_RECV", "syn-recv"},
    {TcpState::FinWait1, "FIN_WAIT1", "fin-wait-1"},
    {TcpState::FinWait2, "FIN_WAIT2", "fin-wait-2"},
    {TcpState::TimeWait, "TIME_WAIT", "time-wait"},
    {TcpState::Close, "CLOSE", "unconn"},
    {TcpState::CloseWait, "CLOSE_WAIT", "close-wait"},
    {TcpState::LastAck, "LAST_ACK", "last-ack"},
    {TcpState::Listen, "LISTEN", "listen"},
    {TcpState::Closing, "CLOSING", "closing"},
    {TcpState::NewSynRecv, "NEW_SYN_RECV", "new-syn-recv"},
    {TcpState::BoundInactive, "BOUND_INACTIVE", "bound-inactive"},
}};

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::string_view stateName(TcpState state) {
    for (const auto& entry : kStateNames)
        if (entry.state == state) return entry.kernel;
    return "UNKNOWN";
}

std::string_view stateName(Protocol protocol, TcpState state) {
    // A bound UDP socket sits in TCP_CLOSE: "CLOSE" would read as a socket going away.
    if (protocol == Protocol::Udp && state == TcpState::Close) return "UNCONN";
    return stateName(state);
}

std::string_view ssStateName(TcpState state) {
    // iproute2's sstate_name[], upper case; the short forms differ from the kernel's names.
    switch (state) {
        case TcpState::Established:
            return "ESTAB";
        case TcpState::SynSent:
            return "SYN-SENT";
        case TcpState::SynRecv:
            return "SYN-RECV";
        case TcpState::FinWait1:
            return "FIN-WAIT-1";
        case TcpState::FinWait2:
            return "FIN-WAIT-2";
        case TcpState::TimeWait:
            return "TIME-WAIT";
        case TcpState::Close:
            return "UNCONN";
        case TcpState::CloseWait:
            return "CLOSE-WAIT";
        case TcpState::LastAck:
            return "LAST-ACK";
        case TcpState::Listen:
            return "LISTEN";
        case TcpState::Closing:
            return "CLOSING";
        case TcpState::NewSynRecv:
            return "NEW-SYN-RECV";
        case TcpState::BoundInactive:
            return "BOUND-INACTIVE";
        case TcpState::Unknown:
            break;
    }
    return "UNKNOWN";
}

std::optional<TcpState> parseStateName(std::string_view name) {
    for (const auto& entry : kStateNames) {
        if (equalsIgnoreCase(name, entry.kernel) || equalsIgnoreCase(name, entry.ss)) return entry.state;
    }
    if (equalsIgnoreCase(name, "established")) return TcpState::Established;
    return std::nullopt;
}

std::string_view protocolName(Protocol protocol) {
    return protocol == Protocol::Udp ? "udp" : "tcp";
}

std::optional<Protocol> parseProtocolName(std::string_view name) {
    if (equalsIgnoreCase(name, "tcp")) return Protocol::Tcp;
    if (equalsIgnoreCase(name, "udp")) return Protocol::Udp;
    return std::nullopt;
}

}  // namespace porteye::core
