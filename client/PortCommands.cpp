// SPDX-License-Identifier: MIT
// `porteyectl wait` and `porteyectl who`: questions about one port, for scripts and people.
#include "Commands.hpp"

#include "ExitCode.hpp"
#include "Output.hpp"
#include "core/TimeFormat.hpp"
#include "wire/Json.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <ctime>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

namespace porteye::cli {
namespace {

using Clock = std::chrono::steady_clock;

/// An address as 16 bytes, IPv4 as its IPv4-mapped IPv6 form, so "::ffff:127.0.0.1" and
/// "127.0.0.1" compare equal.
std::optional<std::array<unsigned char, 16>> parseAddress(const std::string& text) {
    std::array<unsigned char, 16> bytes{};
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        bytes[10] = bytes[11] = 0xff;
        std::memcpy(bytes.data() + 12, &v4, 4);
        return bytes;
    }
    if (inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) return bytes;
    return std::nullopt;
}

bool isWildcard(const std::array<unsigned char, 16>& a) {
    static const std::array<unsigned char, 16> v6any{};
    static const std::array<unsigned char, 16> v4any{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    return a == v6any || a == v4any;
}

/// A socket bound to the wildcard address serves every address (`::` serves IPv4 too unless
/// IPV6_V6ONLY, which a dump does not show: counted, as being the likelier); asking about a
/// wildcard address matches any socket on the port.
bool hostMatches(const std::optional<std::string>& host, const std::string& address) {
    if (!host) return true;
    const auto wanted = parseAddress(*host);
    const auto bound = parseAddress(address);
    if (!wanted || !bound) return false;
    return isWildcard(*wanted) || isWildcard(*bound) || *wanted == *bound;
}

/// "2026-11-30 04:12:03" in local time.
std::string shortTime(core::WallTime time) {
    auto text = core::formatIsoLocal(time);
    if (const auto dot = text.find('.'); dot != std::string::npos) text.erase(dot);
    if (const auto t = text.find('T'); t != std::string::npos) text[t] = ' ';
    return text;
}

std::string portDescription(const WaitOptions& options) {
    std::string text = "port " + std::to_string(options.port);
    if (options.protocol) text = std::string(core::protocolName(*options.protocol)) + " " + text;
    if (options.host) text += " on " + *options.host;
    return text;
}

}  // namespace

bool waitCounts(const WaitOptions& options, const core::SocketRecord& record) {
    if (record.localPort != options.port) return false;
    if (options.protocol && record.protocol != *options.protocol) return false;
    if (!hostMatches(options.host, record.localAddress)) return false;
    if (options.until == WaitOptions::Until::Listening) return record.listening();
    return record.state != core::TcpState::TimeWait;
}

int runWait(ITransport& transport, const WaitOptions& options, const OutputOptions& output, std::ostream& out,
            std::ostream& err) {
    const bool untilListening = options.until == WaitOptions::Until::Listening;
    core::SocketFilter filter;
    filter.port = options.port;  // local or remote: waitCounts keeps the local side
    filter.protocol = options.protocol;
    std::optional<Clock::time_point> deadline;
    if (options.timeout) deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(*options.timeout);

    // The sockets that count, as the client keeps a table from events (core/PortEvent.hpp).
    std::map<core::SocketKey, core::SocketRecord> held;
    std::optional<core::SocketRecord> lastRemoved;
    auto satisfied = [&] { return untilListening ? !held.empty() : held.empty(); };
    auto apply = [&](const core::PortEvent& e) {
        if (e.action == core::Action::OwnerChanged)
            held.erase(core::SocketKey{e.record.cookie, e.record.inode, e.previousPid});
        if (e.action == core::Action::Removed) {
            if (held.erase(core::keyOf(e.record)) > 0) lastRemoved = e.record;
        } else if (waitCounts(options, e.record)) {
            held[core::keyOf(e.record)] = e.record;
        } else {
            held.erase(core::keyOf(e.record));  // an owner change to a state that no longer counts
        }
    };
    auto listNow = [&] {
        held.clear();
        for (auto& r : transport.list(filter))
            if (waitCounts(options, r)) held[core::keyOf(r)] = std::move(r);
    };

    StreamEnd end = StreamEnd::Callback;
    bool polled = false;
    try {
        // Subscribed first, listed second: a socket that appears in between is in the list or in
        // the stream (both, at worst, and the table above takes that twice without harm).
        end = transport.events(
            filter,
            [&](const core::PortEvent& e) {
                apply(e);
                return !satisfied();
            },
            StreamOptions{[&] {
                              listNow();
                              return !satisfied();
                          },
                          deadline});
    } catch (const CommandError& e) {
        // A porteyed or bus policy that refuses this user Subscribe: ask again and again.
        if (e.exitCode() != kExitAccessDenied) throw;
        polled = true;
    }
    if (polled) {
        for (;;) {
            listNow();
            if (satisfied()) {
                end = StreamEnd::Callback;
                break;
            }
            auto pause = options.pollInterval;
            if (deadline) {
                const auto left = std::chrono::duration<double>(*deadline - Clock::now());
                if (left.count() <= 0) {
                    end = StreamEnd::Deadline;
                    break;
                }
                pause = std::min(pause, left);
            }
            if (waitForStop(pause)) {
                end = StreamEnd::Signal;
                break;
            }
        }
    }

    const std::string what = portDescription(options);
    if (end == StreamEnd::Signal) {
        err << "porteyectl: interrupted before " << what << " was " << (untilListening ? "listening" : "free") << '\n';
        return kExitFailure;
    }
    if (end == StreamEnd::Deadline) {
        err << "porteyectl: " << what << " is " << (untilListening ? "not listening" : "still in use") << " after "
            << options.timeout->count() << " s";
        // The visibility rule, said where it matters: another user's sockets are not in the view.
        if (!seesEveryonesSockets())
            err << " (porteyed shows you only your own sockets"
                << (untilListening ? "; another user's listener is invisible to you)" : ")");
        err << '\n';
        return kExitTimeout;
    }
    if (output.json) {
        nlohmann::json result{{"until", untilListening ? "listening" : "free"}, {"port", options.port}};
        const core::SocketRecord* record = untilListening ? &held.begin()->second : nullptr;
        if (!untilListening && lastRemoved) record = &*lastRemoved;
        result["record"] = record != nullptr ? protocol::toJson(*record) : nlohmann::json(nullptr);
        out << result.dump() << '\n';
    }
    return kExitOk;
}

int runWho(ITransport& transport, std::uint16_t port, std::optional<core::Protocol> protocol,
           const OutputOptions& output, std::ostream& out, std::ostream& err) {
    core::SocketFilter filter;
    filter.port = port;
    filter.protocol = protocol;
    std::vector<core::SocketRecord> holders;
    for (auto& r : transport.list(filter))
        if (r.localPort == port) holders.push_back(std::move(r));
    // Listeners first, then connections; within each, by protocol, address and pid.
    std::stable_sort(holders.begin(), holders.end(), [](const auto& a, const auto& b) {
        return std::tuple(!a.listening(), a.protocol, a.localAddress, a.remoteAddress, a.remotePort, a.pid) <
               std::tuple(!b.listening(), b.protocol, b.localAddress, b.remoteAddress, b.remotePort, b.pid);
    });
    if (holders.empty()) {
        err << "porteyectl: nothing holds port " << port;
        if (!seesEveryonesSockets()) err << " that you may see (porteyed shows you only your own sockets)";
        err << '\n';
        return kExitNotHeld;
    }

    // Since when: the socket's `added` event in porteyed's history, when it still holds it; else
    // (--local keeps no history, or the event rotated out) the holder's start time.
    std::map<core::SocketKey, core::WallTime> since;
    try {
        core::HistoryFilter added;
        added.socket = filter;
        added.action = core::Action::Added;
        added.limit = 1000;
        for (const auto& e : transport.history(added))
            since[core::keyOf(e.record)] = e.time;
    } catch (const CommandError&) {
    }

    if (output.json) {
        nlohmann::json array = nlohmann::json::array();
        for (const auto& r : holders) {
            auto j = protocol::toJson(r);
            const auto it = since.find(core::keyOf(r));
            j["since"] = it != since.end() ? nlohmann::json(core::toEpochMicros(it->second)) : nlohmann::json(nullptr);
            array.push_back(std::move(j));
        }
        out << array.dump(2) << '\n';
        return kExitOk;
    }
    for (const auto& r : holders) {
        std::ostringstream line;
        line << core::protocolName(r.protocol) << ' ' << core::ssStateName(r.state) << ' '
             << formatEndpoint(r.localAddress, r.localPort, r.family, false);
        if (!r.listening() && !r.remoteAddress.empty())
            line << " <- " << formatEndpoint(r.remoteAddress, r.remotePort, r.family, true);
        if (r.pid == 0) {
            line << "  no visible process (kernel-held, or another user's)";
        } else {
            line << "  " << r.process << " (pid " << r.pid << ")";
            const core::ProcessDetails* d = r.details.get();
            line << "  user " << (d != nullptr && !d->user.empty() ? d->user : std::to_string(r.ownerUid));
            line << "  unit " << (d != nullptr && !d->unit.empty() ? d->unit : "-");
            if (d != nullptr && (!d->containerRuntime.empty() || !d->containerId.empty())) {
                // "docker:web-1"; a container without a known name by its short id, as docker ps shows it.
                const auto name = !d->containerName.empty() ? d->containerName : d->containerId.substr(0, 12);
                line << "  container " << (d->containerRuntime.empty() ? "" : d->containerRuntime + ":") << name;
            }
            if (const auto it = since.find(core::keyOf(r)); it != since.end())
                line << "  since " << shortTime(it->second);
            else if (d != nullptr && d->startTimeUs != 0)
                line << "  process up since " << shortTime(core::fromEpochMicros(d->startTimeUs));
        }
        out << line.str() << '\n';
    }
    return kExitOk;
}

}  // namespace porteye::cli
