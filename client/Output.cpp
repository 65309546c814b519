// SPDX-License-Identifier: MIT
#include "Output.hpp"

#include "core/TimeFormat.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <unistd.h>

namespace porteye::cli {

std::optional<std::string> formatInterval(std::string_view given) {
    double value = 0;
    auto [end, ec] = std::from_chars(given.data(), given.data() + given.size(), value);
    if (ec != std::errc{} || end != given.data() + given.size()) return std::nullopt;
    char buf[64];
    auto [p, ec2] = std::to_chars(buf, buf + sizeof buf, value);  // shortest round-trip form, like Python's repr
    if (ec2 != std::errc{}) return std::nullopt;
    std::string text(buf, p);
    if (text.find_first_of(".en") == std::string::npos) text += ".0";
    return text;
}

std::string formatPortSet(const std::set<std::uint16_t>& ports) {
    if (ports.empty()) return "set()";
    std::string out = "{";
    bool first = true;
    for (auto port : ports) {
        if (!first) out += ", ";
        out += std::to_string(port);
        first = false;
    }
    return out + "}";
}

void printWatchHeader(std::ostream& out, std::uint32_t pid, std::string_view interval) {
    out << "Monitoring active ports for PID " << pid << " every " << interval << " second(s). Press Ctrl+C to stop.\n";
    out.flush();
}

void printWatchChange(std::ostream& out, const core::PortChange& change) {
    if (!change.opened.empty()) out << "New ports opened: " << formatPortSet(change.opened) << '\n';
    if (!change.closed.empty()) out << "Ports closed: " << formatPortSet(change.closed) << '\n';
    if (change.changed()) out << "Active ports: " << formatPortSet(change.active) << '\n';
    out.flush();
}

void printWatchStopped(std::ostream& out) {
    out << "Stopping monitoring.\n";
    out.flush();
}

std::string formatEndpoint(const std::string& address, std::uint16_t port, std::uint8_t family, bool peer) {
    std::string host = address.empty() ? "*" : address;
    if (family == 6 && !address.empty()) host = "[" + address + "]";
    return host + ":" + (peer && port == 0 ? std::string("*") : std::to_string(port));
}

namespace {

std::string processColumn(const core::SocketRecord& r) {
    return r.pid == 0 ? std::string() : "users:((\"" + r.process + "\",pid=" + std::to_string(r.pid) + "))";
}

std::string_view stateColor(core::TcpState state) {
    switch (state) {
        case core::TcpState::Listen:
            return "\033[32m";
        case core::TcpState::Established:
            return "\033[36m";
        case core::TcpState::TimeWait:
        case core::TcpState::CloseWait:
        case core::TcpState::FinWait1:
        case core::TcpState::FinWait2:
        case core::TcpState::LastAck:
        case core::TcpState::Closing:
            return "\033[2m";
        default:
            return "";
    }
}

}  // namespace

void printSocketTable(std::ostream& out, const std::vector<core::SocketRecord>& records, bool color) {
    struct Row {
        std::string netid, state, local, peer, process;
        core::TcpState rawState;
    };
    std::vector<Row> rows;
    rows.reserve(records.size());
    for (const auto& r : records) {
        std::string process = processColumn(r);
        // The table is ss's: its state names (ESTAB, UNCONN, TIME-WAIT), not the records' kernel names.
        rows.push_back({std::string(core::protocolName(r.protocol)), std::string(core::ssStateName(r.state)),
                        formatEndpoint(r.localAddress, r.localPort, r.family, false),
                        formatEndpoint(r.remoteAddress, r.remotePort, r.family, true), std::move(process), r.state});
    }
    const Row header{"Netid", "State", "Local Address:Port", "Peer Address:Port", "Process", core::TcpState::Unknown};
    std::size_t w[4] = {header.netid.size(), header.state.size(), header.local.size(), header.peer.size()};
    for (const auto& row : rows) {
        w[0] = std::max(w[0], row.netid.size());
        w[1] = std::max(w[1], row.state.size());
        w[2] = std::max(w[2], row.local.size());
        w[3] = std::max(w[3], row.peer.size());
    }
    const auto pad = [](const std::string& s, std::size_t width) { return s + std::string(width - s.size() + 2, ' '); };
    if (color) out << "\033[1m";
    out << pad(header.netid, w[0]) << pad(header.state, w[1]) << pad(header.local, w[2]) << pad(header.peer, w[3])
        << header.process;
    if (color) out << "\033[0m";
    out << '\n';
    for (const auto& row : rows) {
        out << pad(row.netid, w[0]);
        const auto colour = color ? stateColor(row.rawState) : std::string_view{};
        out << colour << pad(row.state, w[1]) << (colour.empty() ? "" : "\033[0m");
        out << pad(row.local, w[2]) << pad(row.peer, w[3]) << row.process << '\n';
    }
}

void printHistoryTable(std::ostream& out, const std::vector<core::PortEvent>& events, bool color) {
    std::vector<std::array<std::string, 6>> rows;
    rows.push_back({"Time", "Action", "State", "Local Address:Port", "Peer Address:Port", "Process"});
    for (const auto& e : events) {
        const auto& r = e.record;
        rows.push_back({core::formatIsoLocal(e.time), std::string(core::actionName(e.action)),
                        std::string(core::stateName(r.protocol, r.state)),
                        formatEndpoint(r.localAddress, r.localPort, r.family, false),
                        formatEndpoint(r.remoteAddress, r.remotePort, r.family, true), processColumn(r)});
    }
    std::array<std::size_t, 6> width{};
    for (const auto& row : rows)
        for (std::size_t i = 0; i < row.size(); ++i)
            width[i] = std::max(width[i], row[i].size());
    for (std::size_t n = 0; n < rows.size(); ++n) {
        const auto& row = rows[n];
        const bool header = n == 0;
        if (color && header) out << "\033[1m";
        for (std::size_t i = 0; i < row.size(); ++i) {
            const bool actionCell = color && !header && i == 1;
            if (actionCell) out << (row[i] == "added" ? "\033[32m" : "\033[31m");
            out << row[i];
            if (actionCell) out << "\033[0m";
            if (i + 1 < row.size()) out << std::string(width[i] - row[i].size() + 2, ' ');
        }
        if (color && header) out << "\033[0m";
        out << '\n';
    }
}

void printEventLine(std::ostream& out, const core::PortEvent& e, bool color) {
    const auto& r = e.record;
    out << core::formatIsoLocal(e.time) << ' ';
    // + opened, - closed, ~ changed hands (the socket stays open).
    const char* mark = e.action == core::Action::Added ? "+ " : e.action == core::Action::Removed ? "- " : "~ ";
    const char* hue = e.action == core::Action::Added     ? "\033[32m"
                      : e.action == core::Action::Removed ? "\033[31m"
                                                          : "\033[33m";
    if (color) out << hue;
    out << mark;
    if (color) out << "\033[0m";
    out << core::protocolName(r.protocol) << ' ' << core::stateName(r.protocol, r.state) << ' '
        << formatEndpoint(r.localAddress, r.localPort, r.family, false) << ' '
        << formatEndpoint(r.remoteAddress, r.remotePort, r.family, true) << ' ' << processColumn(r);
    if (e.action == core::Action::OwnerChanged && e.previousPid != 0) out << " (from pid=" << e.previousPid << ')';
    out << '\n';
    out.flush();
}

bool wantColor(int fd) {
    const char* noColor = std::getenv("NO_COLOR");
    if (noColor != nullptr && noColor[0] != '\0') return false;
    return isatty(fd) == 1;
}

}  // namespace porteye::cli
