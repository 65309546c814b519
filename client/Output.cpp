// SPDX-License-Identifier: MIT
#include "Output.hpp"

#include "core/TimeFormat.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
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

// "docker:web", or with no name "docker:3f4e1c2b9a8d" (12 digits, as `docker ps`); "-" outside one.
std::string containerColumn(const core::SocketRecord& r) {
    const auto* d = r.details.get();
    if (d == nullptr || d->containerRuntime.empty()) return "-";
    return d->containerRuntime + ":" + (d->containerName.empty() ? d->containerId.substr(0, 12) : d->containerName);
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

std::string formatBytes(std::optional<std::uint64_t> bytes) {
    if (!bytes) return "-";
    constexpr std::array<const char*, 4> units{"K", "M", "G", "T"};
    double value = static_cast<double>(*bytes) / 1024.0;
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < units.size()) {
        value /= 1024.0;
        ++unit;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, value < 10 && unit > 0 ? "%.1f%s" : "%.0f%s", value, units[unit]);
    return buf;
}

std::string partialViewNotice(const std::string& view) {
    if (view.empty() || view == "all") return {};
    return "porteyectl: note: porteyed sees only its own user's processes (view: " + view +
           "); sockets of other users' processes are shown without their process";
}

namespace {

// Cuts a command line to `room` columns with a trailing "…"; it is escaped ASCII or UTF-8, so
// cutting counts code points, never splitting one.
std::string fitColumns(const std::string& text, std::size_t room) {
    std::size_t columns = 0;
    for (std::size_t i = 0; i < text.size(); ++i)
        if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) ++columns;
    if (columns <= room) return text;
    if (room == 0) return {};
    std::size_t kept = 0;
    std::size_t i = 0;
    for (; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) {
            if (kept == room - 1) break;
            ++kept;
        }
    }
    return text.substr(0, i) + "\u2026";
}

std::size_t displayWidth(const std::string& text) {
    std::size_t columns = 0;
    for (char c : text)
        if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++columns;
    return columns;
}

}  // namespace

void printSocketTable(std::ostream& out, const std::vector<core::SocketRecord>& records, bool color, bool extended,
                      std::size_t width) {
    // Columns: Netid State Local Peer Process [Container] [User Unit CPU% RSS Command]; the last one
    // is not padded. Container only when a record is in one (or with extended), so a host without
    // containers keeps ss's table.
    constexpr std::size_t kState = 1;
    const bool containers = extended || std::any_of(records.begin(), records.end(), [](const core::SocketRecord& r) {
                                return r.details && !r.details->containerRuntime.empty();
                            });
    std::vector<std::vector<std::string>> rows;
    rows.reserve(records.size() + 1);
    std::vector<std::string> header{"Netid", "State", "Local Address:Port", "Peer Address:Port", "Process"};
    if (containers) header.emplace_back("Container");
    if (extended) header.insert(header.end(), {"User", "Unit", "CPU%", "RSS", "Command"});
    rows.push_back(std::move(header));
    for (const auto& r : records) {
        // The table is ss's: its state names (ESTAB, UNCONN, TIME-WAIT), not the records' kernel names.
        std::vector<std::string> row{std::string(core::protocolName(r.protocol)),
                                     std::string(core::ssStateName(r.state)),
                                     formatEndpoint(r.localAddress, r.localPort, r.family, false),
                                     formatEndpoint(r.remoteAddress, r.remotePort, r.family, true), processColumn(r)};
        if (containers) row.push_back(containerColumn(r));
        if (extended) {
            const auto* d = r.details.get();
            char cpu[32] = "-";
            if (r.usage) std::snprintf(cpu, sizeof cpu, "%.1f", r.usage->cpuPercent);
            row.insert(row.end(), {d != nullptr && !d->user.empty() ? d->user : "-",
                                   d != nullptr && !d->unit.empty() ? d->unit : "-", cpu,
                                   formatBytes(r.usage ? std::optional(r.usage->memoryRssBytes) : std::nullopt),
                                   d != nullptr ? d->cmdline : std::string()});
        }
        rows.push_back(std::move(row));
    }
    const std::size_t columns = rows.front().size();
    std::vector<std::size_t> w(columns, 0);
    for (const auto& row : rows)
        for (std::size_t i = 0; i + 1 < columns; ++i)
            w[i] = std::max(w[i], displayWidth(row[i]));
    std::size_t used = 0;
    for (std::size_t i = 0; i + 1 < columns; ++i)
        used += w[i] + 2;
    for (std::size_t n = 0; n < rows.size(); ++n) {
        const auto& row = rows[n];
        const bool isHeader = n == 0;
        if (color && isHeader) out << "\033[1m";
        for (std::size_t i = 0; i < columns; ++i) {
            const bool last = i + 1 == columns;
            std::string cell = row[i];
            if (last && extended && width != 0) cell = fitColumns(cell, width > used ? width - used : 0);
            const auto colour =
                color && !isHeader && i == kState ? stateColor(records[n - 1].state) : std::string_view{};
            out << colour << cell << (colour.empty() ? "" : "\033[0m");
            if (!last) out << std::string(w[i] - displayWidth(cell) + 2, ' ');
        }
        if (color && isHeader) out << "\033[0m";
        out << '\n';
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

void printUnexpectedLine(std::ostream& out, const core::UnexpectedListener& alert, bool color) {
    const auto& e = alert.event;
    const auto& r = e.record;
    out << core::formatIsoLocal(e.time) << ' ';
    if (color) out << "\033[1;31m";
    out << "! ";
    if (color) out << "\033[0m";
    out << core::protocolName(r.protocol) << ' ' << core::stateName(r.protocol, r.state) << ' '
        << formatEndpoint(r.localAddress, r.localPort, r.family, false) << ' '
        << formatEndpoint(r.remoteAddress, r.remotePort, r.family, true) << ' ' << processColumn(r);
    if (r.details && !r.details->unit.empty()) out << " unit=" << r.details->unit;
    if (alert.present) out << " (present)";
    out << ": " << alert.reason << '\n';
    out.flush();
}

bool wantColor(int fd) {
    const char* noColor = std::getenv("NO_COLOR");
    if (noColor != nullptr && noColor[0] != '\0') return false;
    return isatty(fd) == 1;
}

}  // namespace porteye::cli
