// SPDX-License-Identifier: MIT
#pragma once

#include "core/PortEvent.hpp"
#include "core/SocketRecord.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// Expected listeners: the allowlist of /etc/porteye/expected.d/*.conf (docs/expected-listeners.md).
///
/// One rule per line, `#` starts a comment:
///
///     PROTOCOL ADDRESS:PORT [KEY=VALUE ...]
///     tcp 0.0.0.0:22 process=sshd unit=ssh.service
///     udp *:53 container=dns
///     tcp [::]:8000-8099
///
/// PROTOCOL is tcp or udp; ADDRESS is `*` (any), an IPv4 address or a bracketed IPv6 address;
/// PORT is N, N-M or `*`. Keys (each at most once): process (comm), unit (systemd unit),
/// container (its name, or a prefix of its id), netns (its name, or its inode number). Every
/// part given must match; values may use `*` as a wildcard. A value with blanks, `"` or `#`
/// is written in double quotes, where `\"` and `\\` stand for `"` and `\`. Rules never name a
/// PID, so a restarted service keeps matching.
namespace porteye::core {

struct ExpectedRule {
    Protocol protocol = Protocol::Tcp;
    std::string address;  ///< canonical numeric form ("0.0.0.0", "::"); empty: any address
    std::uint16_t portLow = 0;
    std::uint16_t portHigh = 65535;
    std::optional<std::string> process;
    std::optional<std::string> unit;
    std::optional<std::string> container;
    std::optional<std::string> netns;
    std::string source;  ///< "file:line" it came from

    /// Same rule, wherever it was written.
    bool sameAs(const ExpectedRule& o) const {
        return protocol == o.protocol && address == o.address && portLow == o.portLow && portHigh == o.portHigh &&
               process == o.process && unit == o.unit && container == o.container && netns == o.netns;
    }
    /// Whether the record satisfies every part of the rule.
    bool matches(const SocketRecord& record) const;
};

/// What parsing one file gave: the good rules, and a "file:line: why" per skipped line.
struct ExpectedParseResult {
    std::vector<ExpectedRule> rules;
    std::vector<std::string> errors;    ///< lines skipped (malformed)
    std::vector<std::string> warnings;  ///< lines ignored on purpose (duplicates)
};

/// Longest line accepted; a longer one is an error and skipped (with the rest of its bytes).
constexpr std::size_t kMaxExpectedLineBytes = 4096;

/// Parses one file's text. Never throws; a malformed line is reported and skipped, so it can
/// only make more listeners unexpected, never fewer.
ExpectedParseResult parseExpectedRules(std::string_view text, std::string_view file);

/// The rule as a line of the file format (no source); parseExpectedRules reads it back.
std::string formatExpectedRule(const ExpectedRule& rule);
/// A value as the file format writes it: bare when it can be, quoted otherwise.
std::string quoteExpectedValue(std::string_view value);

/// The rule a listening record would need: protocol, address, port, process, and unit,
/// container and namespace name when known (`porteyectl expect --snapshot`).
ExpectedRule ruleForRecord(const SocketRecord& record);

/// The loaded allowlist (all files). Rules are kept in load order; duplicates dropped.
class ExpectedListeners {
public:
    /// Adds a file's rules; duplicates of earlier rules become warnings in `result`.
    void add(ExpectedParseResult& result);
    /// The first rule the record satisfies, or null.
    const ExpectedRule* match(const SocketRecord& record) const;
    /// Why no rule matches, for the alert: the nearest rule (same protocol and port) and what differs.
    std::string whyUnexpected(const SocketRecord& record) const;
    std::size_t size() const { return m_rules.size(); }
    const std::vector<ExpectedRule>& rules() const { return m_rules; }

private:
    std::vector<ExpectedRule> m_rules;
};

/// One alert: a listener no rule expects.
struct UnexpectedListener {
    /// The event that made it (Added or OwnerChanged); for a listener already there when the
    /// allowlist was loaded (start, reload) a synthetic "added" event with sequence 0.
    PortEvent event;
    std::string reason;
    bool present = false;  ///< already listening when the allowlist was loaded
};

/// Decides which listeners raise an alert, one per socket (by cookie): a socket is expected when
/// any of its current owners matches a rule. Pure: fed events and the snapshot they left.
class UnexpectedListenerTracker {
public:
    /// Replaces the rules (nullopt: the feature is off, nothing is unexpected). Call rescan() after.
    void setRules(std::optional<ExpectedListeners> rules);
    bool active() const { return m_rules.has_value(); }
    std::size_t ruleCount() const { return m_rules ? m_rules->size() : 0; }

    /// Alerts for the events of one poll; `snapshot` is the table after them (normalized).
    std::vector<UnexpectedListener> onEvents(const std::vector<PortEvent>& events,
                                             const std::vector<SocketRecord>& snapshot);
    /// Re-checks every listener of the snapshot (at start and after a reload): sockets now
    /// expected leave the set silently; unexpected ones not alerted yet raise one alert each,
    /// flagged present.
    std::vector<UnexpectedListener> rescan(const std::vector<SocketRecord>& snapshot, WallTime now);

    /// Alerts raised since start.
    std::uint64_t total() const { return m_total; }
    /// The unexpected listeners open now, one per socket.
    std::vector<UnexpectedListener> current() const;

private:
    /// The socket's records in the snapshot (all owners), by cookie and inode.
    std::optional<UnexpectedListener> check(const SocketRecord& record,
                                            const std::vector<SocketRecord>& snapshot) const;

    std::optional<ExpectedListeners> m_rules;
    std::map<std::uint64_t, UnexpectedListener> m_current;  // by cookie
    std::uint64_t m_total = 0;
};

}  // namespace porteye::core
