// SPDX-License-Identifier: MIT
#include "core/ExpectedListeners.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

namespace porteye::core {
namespace {

bool isBlank(char c) {
    return c == ' ' || c == '\t';
}

bool isControl(unsigned char c) {
    return c < 0x20 || c == 0x7f;
}

// `*` matches any run of characters (also none); everything else matches itself.
bool globMatch(std::string_view pattern, std::string_view text) {
    std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = t;
        } else if (p < pattern.size() && pattern[p] == text[t]) {
            ++p;
            ++t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*')
        ++p;
    return p == pattern.size();
}

bool allDigits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

template <typename T>
std::optional<T> parseNumber(std::string_view s) {
    T value{};
    if (!allDigits(s)) return std::nullopt;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
    return value;
}

// The text form inet_ntop gives, which is what records carry (sys/SockDiagParser).
std::optional<std::string> canonicalAddress(const std::string& text, int family) {
    std::array<unsigned char, 16> bytes{};
    if (inet_pton(family, text.c_str(), bytes.data()) != 1) return std::nullopt;
    std::array<char, INET6_ADDRSTRLEN> out{};
    if (inet_ntop(family, bytes.data(), out.data(), out.size()) == nullptr) return std::nullopt;
    return std::string(out.data());
}

bool containerMatches(const std::string& pattern, const ProcessDetails* d) {
    if (d == nullptr || (d->containerId.empty() && d->containerName.empty())) return false;
    if (!d->containerName.empty() && globMatch(pattern, d->containerName)) return true;
    if (pattern.find('*') != std::string::npos) return globMatch(pattern, d->containerId);
    return !d->containerId.empty() && d->containerId.rfind(pattern, 0) == 0;  // an id prefix, as docker ps shows
}

bool netnsMatches(const std::string& pattern, const SocketRecord& r) {
    if (allDigits(pattern)) return parseNumber<std::uint64_t>(pattern) == r.netns;
    return globMatch(pattern, r.netnsName);
}

std::string portText(std::uint16_t low, std::uint16_t high) {
    if (low <= 1 && high == 65535) return "*";
    if (low == high) return std::to_string(low);
    return std::to_string(low) + "-" + std::to_string(high);
}

std::string shown(std::string_view value) {
    return value.empty() ? "(none)" : std::string(value);
}

/// Splits one line into tokens; quotes may appear anywhere in a token. `#` outside quotes ends the line.
struct Tokens {
    std::vector<std::string> words;
    std::string error;
};

Tokens tokenize(std::string_view line) {
    Tokens out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && isBlank(line[i]))
            ++i;
        if (i >= line.size() || line[i] == '#') break;
        std::string word;
        while (i < line.size() && !isBlank(line[i]) && line[i] != '#') {
            if (line[i] != '"') {
                word += line[i++];
                continue;
            }
            ++i;  // opening quote
            bool closed = false;
            while (i < line.size()) {
                const char c = line[i++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\' && i < line.size() && (line[i] == '"' || line[i] == '\\')) {
                    word += line[i++];
                    continue;
                }
                word += c;
            }
            if (!closed) {
                out.error = "unterminated quote";
                return out;
            }
        }
        out.words.push_back(std::move(word));
    }
    return out;
}

/// Parses the words of one rule; on failure returns nullopt and sets `error`.
std::optional<ExpectedRule> parseRule(const std::vector<std::string>& words, std::string& error) {
    ExpectedRule rule;
    if (words.size() < 2) {
        error = "a rule needs a protocol and ADDRESS:PORT, e.g. 'tcp 0.0.0.0:22'";
        return std::nullopt;
    }
    auto protocol = parseProtocolName(words[0]);
    if (!protocol) {
        error = "unknown protocol '" + words[0] + "' (tcp or udp)";
        return std::nullopt;
    }
    rule.protocol = *protocol;

    const std::string& endpoint = words[1];
    std::string addressText;
    std::string portText;
    if (!endpoint.empty() && endpoint[0] == '[') {
        const auto close = endpoint.find(']');
        if (close == std::string::npos || close + 1 >= endpoint.size() || endpoint[close + 1] != ':') {
            error = "'" + endpoint + "' is not [IPV6]:PORT";
            return std::nullopt;
        }
        addressText = endpoint.substr(1, close - 1);
        portText = endpoint.substr(close + 2);
        auto canonical = canonicalAddress(addressText, AF_INET6);
        if (!canonical) {
            error = "'" + addressText + "' is not an IPv6 address";
            return std::nullopt;
        }
        rule.address = *canonical;
    } else {
        const auto colon = endpoint.rfind(':');
        if (colon == std::string::npos) {
            error = "'" + endpoint + "' has no port (ADDRESS:PORT, '*:PORT' for any address)";
            return std::nullopt;
        }
        addressText = endpoint.substr(0, colon);
        portText = endpoint.substr(colon + 1);
        if (addressText.find(':') != std::string::npos) {
            error = "write IPv6 addresses in brackets: '[" + addressText + "]:" + portText + "'";
            return std::nullopt;
        }
        if (addressText != "*") {
            auto canonical = canonicalAddress(addressText, AF_INET);
            if (!canonical) {
                error = "'" + addressText + "' is not an IPv4 address (or '*')";
                return std::nullopt;
            }
            rule.address = *canonical;
        }
    }
    if (portText == "*") {
        rule.portLow = 1;
        rule.portHigh = 65535;
    } else {
        const auto dash = portText.find('-');
        const auto low = parseNumber<std::uint16_t>(portText.substr(0, dash));
        const auto high =
            dash == std::string::npos ? low : parseNumber<std::uint16_t>(std::string_view(portText).substr(dash + 1));
        if (!low || !high || *low == 0 || *high < *low) {
            error = "'" + portText + "' is not a port (1-65535), a range N-M or '*'";
            return std::nullopt;
        }
        rule.portLow = *low;
        rule.portHigh = *high;
    }

    for (std::size_t i = 2; i < words.size(); ++i) {
        const auto& word = words[i];
        const auto eq = word.find('=');
        if (eq == std::string::npos) {
            error = "'" + word + "' is not KEY=VALUE";
            return std::nullopt;
        }
        const std::string key = word.substr(0, eq);
        std::string value = word.substr(eq + 1);
        std::optional<std::string>* slot = nullptr;
        if (key == "process")
            slot = &rule.process;
        else if (key == "unit")
            slot = &rule.unit;
        else if (key == "container")
            slot = &rule.container;
        else if (key == "netns")
            slot = &rule.netns;
        if (slot == nullptr) {
            error = key == "pid" ? "rules do not name PIDs (they change on every restart); use process or unit"
                                 : "unknown key '" + key + "' (process, unit, container, netns)";
            return std::nullopt;
        }
        if (*slot) {
            error = "'" + key + "' given twice";
            return std::nullopt;
        }
        if (value.empty()) {
            error = "'" + key + "' has an empty value";
            return std::nullopt;
        }
        *slot = std::move(value);
    }
    return rule;
}

}  // namespace

bool ExpectedRule::matches(const SocketRecord& r) const {
    if (r.protocol != protocol) return false;
    if (r.localPort < portLow || r.localPort > portHigh) return false;
    if (!address.empty() && r.localAddress != address) return false;
    const ProcessDetails* d = r.details.get();
    if (process && !globMatch(*process, r.process)) return false;
    if (unit && !globMatch(*unit, d ? std::string_view(d->unit) : std::string_view())) return false;
    if (container && !containerMatches(*container, d)) return false;
    if (netns && !netnsMatches(*netns, r)) return false;
    return true;
}

ExpectedParseResult parseExpectedRules(std::string_view text, std::string_view file) {
    ExpectedParseResult result;
    std::size_t lineNumber = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        ++lineNumber;
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        const std::string where = std::string(file) + ":" + std::to_string(lineNumber);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > kMaxExpectedLineBytes) {
            result.errors.push_back(where + ": line longer than " + std::to_string(kMaxExpectedLineBytes) +
                                    " bytes; skipped");
            continue;
        }
        if (std::any_of(line.begin(), line.end(),
                        [](char c) { return isBlank(c) ? false : isControl(static_cast<unsigned char>(c)); })) {
            result.errors.push_back(where + ": control character in the line; skipped");
            continue;
        }
        auto tokens = tokenize(line);
        if (!tokens.error.empty()) {
            result.errors.push_back(where + ": " + tokens.error + "; skipped");
            continue;
        }
        if (tokens.words.empty()) continue;  // blank or comment
        std::string error;
        auto rule = parseRule(tokens.words, error);
        if (!rule) {
            result.errors.push_back(where + ": " + error + "; skipped");
            continue;
        }
        rule->source = where;
        result.rules.push_back(std::move(*rule));
    }
    return result;
}

std::string quoteExpectedValue(std::string_view value) {
    const bool bare = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
        return isBlank(c) || c == '"' || c == '#' || isControl(static_cast<unsigned char>(c));
    });
    if (bare) return std::string(value);
    std::string out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

std::string formatExpectedRule(const ExpectedRule& rule) {
    std::string out(protocolName(rule.protocol));
    out += ' ';
    if (rule.address.empty())
        out += '*';
    else if (rule.address.find(':') != std::string::npos)
        out += "[" + rule.address + "]";
    else
        out += rule.address;
    out += ":" + portText(rule.portLow, rule.portHigh);
    auto add = [&](const char* key, const std::optional<std::string>& value) {
        if (value) out += std::string(" ") + key + "=" + quoteExpectedValue(*value);
    };
    add("process", rule.process);
    add("unit", rule.unit);
    add("container", rule.container);
    add("netns", rule.netns);
    return out;
}

ExpectedRule ruleForRecord(const SocketRecord& r) {
    ExpectedRule rule;
    rule.protocol = r.protocol;
    rule.address = r.localAddress;
    rule.portLow = rule.portHigh = r.localPort;
    if (!r.process.empty()) rule.process = r.process;
    if (const auto* d = r.details.get()) {
        if (!d->unit.empty()) rule.unit = d->unit;
        if (!d->containerName.empty())
            rule.container = d->containerName;
        else if (!d->containerId.empty())
            rule.container = d->containerId.substr(0, 12);
    }
    if (!r.netnsName.empty()) rule.netns = r.netnsName;
    return rule;
}

void ExpectedListeners::add(ExpectedParseResult& result) {
    for (auto& rule : result.rules) {
        auto same = std::find_if(m_rules.begin(), m_rules.end(), [&](const ExpectedRule& r) { return r.sameAs(rule); });
        if (same != m_rules.end()) {
            result.warnings.push_back(rule.source + ": duplicate of " + same->source + "; ignored");
            continue;
        }
        m_rules.push_back(rule);
    }
}

const ExpectedRule* ExpectedListeners::match(const SocketRecord& record) const {
    for (const auto& rule : m_rules)
        if (rule.matches(record)) return &rule;
    return nullptr;
}

std::string ExpectedListeners::whyUnexpected(const SocketRecord& r) const {
    const std::string what = std::string(protocolName(r.protocol)) + " port " + std::to_string(r.localPort);
    for (const auto& rule : m_rules) {
        if (rule.protocol != r.protocol || r.localPort < rule.portLow || r.localPort > rule.portHigh) continue;
        const auto* d = r.details.get();
        std::string differs;
        if (!rule.address.empty() && r.localAddress != rule.address)
            differs = "address " + r.localAddress + " is not " + rule.address;
        else if (rule.process && !globMatch(*rule.process, r.process))
            differs = "process " + shown(r.process) + " is not " + *rule.process;
        else if (rule.unit && !globMatch(*rule.unit, d ? std::string_view(d->unit) : std::string_view()))
            differs = "unit " + shown(d ? d->unit : std::string()) + " is not " + *rule.unit;
        else if (rule.container && !containerMatches(*rule.container, d))
            differs = "container " + shown(d ? (d->containerName.empty() ? d->containerId : d->containerName) : "") +
                      " is not " + *rule.container;
        else if (rule.netns)
            differs =
                "netns " + (r.netnsName.empty() ? std::to_string(r.netns) : r.netnsName) + " is not " + *rule.netns;
        return "no rule matches " + what + ": " + differs + " (" + rule.source + ")";
    }
    return "no rule for " + what;
}

void UnexpectedListenerTracker::setRules(std::optional<ExpectedListeners> rules) {
    m_rules = std::move(rules);
    if (!m_rules) m_current.clear();
}

std::optional<UnexpectedListener> UnexpectedListenerTracker::check(const SocketRecord& record,
                                                                   const std::vector<SocketRecord>& snapshot) const {
    // Expected when any owner of the socket matches: a service that forks workers, or
    // systemd holding a socket it activated, is one listener.
    auto it = std::lower_bound(snapshot.begin(), snapshot.end(), record.cookie,
                               [](const SocketRecord& r, std::uint64_t cookie) { return r.cookie < cookie; });
    for (; it != snapshot.end() && it->cookie == record.cookie; ++it)
        if (it->inode == record.inode && m_rules->match(*it)) return std::nullopt;
    if (m_rules->match(record)) return std::nullopt;
    UnexpectedListener alert;
    alert.reason = m_rules->whyUnexpected(record);
    return alert;
}

std::vector<UnexpectedListener> UnexpectedListenerTracker::onEvents(const std::vector<PortEvent>& events,
                                                                    const std::vector<SocketRecord>& snapshot) {
    std::vector<UnexpectedListener> out;
    if (!m_rules) return out;
    std::set<std::uint64_t> checked;  // one verdict per socket per batch
    for (const auto& event : events) {
        const std::uint64_t key = event.record.cookie;
        if (event.action == Action::Removed) {
            m_current.erase(key);
            continue;
        }
        if (!event.record.listening()) continue;
        // An owner we cannot see says nothing about who holds it now: keep the verdict.
        if (event.action == Action::OwnerChanged && event.record.pid == 0) continue;
        if (!checked.insert(key).second) continue;
        auto verdict = check(event.record, snapshot);
        if (!verdict) {
            m_current.erase(key);  // handed to an expected owner (or a rule now covers it)
            continue;
        }
        auto known = m_current.find(key);
        if (known != m_current.end()) {
            known->second.event.record = event.record;  // same socket, another owner: no second alert
            continue;
        }
        verdict->event = event;
        m_current.emplace(key, *verdict);
        ++m_total;
        out.push_back(std::move(*verdict));
    }
    return out;
}

std::vector<UnexpectedListener> UnexpectedListenerTracker::rescan(const std::vector<SocketRecord>& snapshot,
                                                                  WallTime now) {
    std::vector<UnexpectedListener> out;
    if (!m_rules) {
        m_current.clear();
        return out;
    }
    std::map<std::uint64_t, UnexpectedListener> next;
    for (auto first = snapshot.begin(); first != snapshot.end();) {
        auto last = first;
        const SocketRecord* shownRecord = &*first;  // the socket's first owner with a pid
        bool expected = false;
        // Connections are most of a busy host's table: only listeners are matched against the rules.
        const bool listening = first->listening();
        for (; last != snapshot.end() && last->cookie == first->cookie && last->inode == first->inode; ++last) {
            if (shownRecord->pid == 0 && last->pid != 0) shownRecord = &*last;
            expected = expected || (listening && m_rules->match(*last) != nullptr);
        }
        const auto& record = *shownRecord;
        first = last;
        if (!listening || expected) continue;
        auto known = m_current.find(record.cookie);
        if (known != m_current.end()) {
            next.emplace(record.cookie, known->second);
            continue;
        }
        UnexpectedListener alert;
        alert.event = PortEvent{0, Action::Added, now, record};
        alert.reason = m_rules->whyUnexpected(record);
        alert.present = true;
        next.emplace(record.cookie, alert);
        ++m_total;
        out.push_back(std::move(alert));
    }
    m_current = std::move(next);
    return out;
}

std::vector<UnexpectedListener> UnexpectedListenerTracker::current() const {
    std::vector<UnexpectedListener> out;
    out.reserve(m_current.size());
    for (const auto& [cookie, alert] : m_current)
        out.push_back(alert);
    return out;
}

}  // namespace porteye::core
