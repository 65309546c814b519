// SPDX-License-Identifier: MIT
#include "wire/RequestOptions.hpp"

#include "core/TimeFormat.hpp"

#include <cmath>
#include <limits>
#include <set>

namespace porteye::protocol {

namespace {

template <typename T>
T unsignedOption(const OptionValue& value, const std::string& key, T max = std::numeric_limits<T>::max()) {
    std::uint64_t number = 0;
    if (const auto* u = std::get_if<std::uint64_t>(&value))
        number = *u;
    else if (const auto* i = std::get_if<std::int64_t>(&value); i != nullptr && *i >= 0)
        number = static_cast<std::uint64_t>(*i);
    else
        throw InvalidArgument("'" + key + "' must be a non-negative integer");
    if (number > max) throw InvalidArgument("'" + key + "' is out of range");
    return static_cast<T>(number);
}

const std::string& stringOption(const OptionValue& value, const std::string& key) {
    const auto* s = std::get_if<std::string>(&value);
    if (s == nullptr) throw InvalidArgument("'" + key + "' must be a string");
    return *s;
}

bool boolOption(const OptionValue& value, const std::string& key) {
    const auto* b = std::get_if<bool>(&value);
    if (b == nullptr) throw InvalidArgument("'" + key + "' must be a boolean");
    return *b;
}

std::optional<double> numberOption(const OptionValue& value) {
    // D-Bus carries NaN and infinities in a double; none of them is a number of anything.
    if (const auto* d = std::get_if<double>(&value))
        return std::isfinite(*d) ? std::optional<double>(*d) : std::nullopt;
    if (const auto* u = std::get_if<std::uint64_t>(&value)) return static_cast<double>(*u);
    if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
    return std::nullopt;
}

const std::set<std::string> kSocketKeys{"pid",  "port",      "process", "state",    "protocol",
                                        "unit", "container", "netns",   "listening"};

const std::string& nonEmptyStringOption(const OptionValue& value, const std::string& key) {
    const auto& s = stringOption(value, key);
    if (s.empty()) throw InvalidArgument("'" + key + "' must not be empty");
    return s;
}
const std::set<std::string> kHistoryKeys{"action", "since", "after_sequence", "limit"};
const std::set<std::string> kListKeys{"offset", "limit"};

/// Parses one socket key; false when `key` is not one.
bool parseSocketKey(const std::string& key, const OptionValue& value, core::SocketFilter& f) {
    if (key == "pid") {
        f.pid = unsignedOption<std::uint32_t>(value, key);
    } else if (key == "port") {
        f.port = unsignedOption<std::uint16_t>(value, key);
    } else if (key == "process") {
        f.process = stringOption(value, key);
    } else if (key == "state") {
        const auto& text = stringOption(value, key);
        auto state = core::parseStateName(text);
        if (!state) throw InvalidArgument("unknown state '" + text + "'");
        f.state = state;
    } else if (key == "protocol") {
        const auto& text = stringOption(value, key);
        auto protocol = core::parseProtocolName(text);
        if (!protocol) throw InvalidArgument("unknown protocol '" + text + "'");
        f.protocol = protocol;
    } else if (key == "unit") {
        f.unit = nonEmptyStringOption(value, key);
    } else if (key == "container") {
        f.container = nonEmptyStringOption(value, key);
    } else if (key == "netns") {
        // An inode (a D-Bus `t`, a JSON number) or a name; kept as text, digits meaning the inode.
        if (const auto* u = std::get_if<std::uint64_t>(&value))
            f.netns = std::to_string(*u);
        else if (const auto* i = std::get_if<std::int64_t>(&value); i != nullptr && *i >= 0)
            f.netns = std::to_string(*i);
        else if (std::get_if<std::string>(&value) != nullptr)
            f.netns = nonEmptyStringOption(value, key);
        else
            throw InvalidArgument("'netns' must be a namespace inode number or name");
    } else if (key == "listening") {
        f.listeningOnly = boolOption(value, key);
    } else {
        return false;
    }
    return true;
}

void rejectUnknownKeys(const OptionMap& options, const std::set<std::string>* extra) {
    for (const auto& [key, value] : options) {
        if (kSocketKeys.contains(key) || (extra != nullptr && extra->contains(key))) continue;
        throw InvalidArgument("unknown filter key '" + key + "'");
    }
}

void parseSocketKeys(const OptionMap& options, core::SocketFilter& f) {
    for (const auto& [key, value] : options)
        parseSocketKey(key, value, f);
}

}  // namespace

core::SocketFilter socketFilterFromOptions(const OptionMap& options) {
    core::SocketFilter f;
    rejectUnknownKeys(options, nullptr);
    parseSocketKeys(options, f);
    return f;
}

core::ListQuery listQueryFromOptions(const OptionMap& options) {
    core::ListQuery q;
    rejectUnknownKeys(options, &kListKeys);
    parseSocketKeys(options, q.filter);
    if (auto it = options.find("offset"); it != options.end())
        q.offset = unsignedOption<std::size_t>(it->second, it->first);
    if (auto it = options.find("limit"); it != options.end())
        q.limit = unsignedOption<std::size_t>(it->second, it->first);
    return q;
}

core::HistoryFilter historyFilterFromOptions(const OptionMap& options) {
    core::HistoryFilter f;
    rejectUnknownKeys(options, &kHistoryKeys);
    parseSocketKeys(options, f.socket);
    if (auto it = options.find("action"); it != options.end()) {
        auto action = core::parseActionName(stringOption(it->second, it->first));
        if (!action) throw InvalidArgument("'action' must be \"added\" or \"removed\"");
        f.action = action;
    }
    if (auto it = options.find("since"); it != options.end()) {
        std::optional<core::WallTime> since;
        if (const auto* text = std::get_if<std::string>(&it->second))
            since = core::parseTime(*text);
        else if (const auto* us = std::get_if<std::uint64_t>(&it->second))
            since = core::checkedFromEpochMicros(*us);
        else if (const auto* signedUs = std::get_if<std::int64_t>(&it->second); signedUs != nullptr && *signedUs >= 0)
            since = core::checkedFromEpochMicros(static_cast<std::uint64_t>(*signedUs));
        if (!since) throw InvalidArgument("'since' must be µs since the epoch or an ISO-8601 time");
        f.since = since;
    }
    if (auto it = options.find("after_sequence"); it != options.end())
        f.afterSequence = unsignedOption<std::uint64_t>(it->second, it->first);
    if (auto it = options.find("limit"); it != options.end())
        f.limit = unsignedOption<std::size_t>(it->second, it->first, kMaxHistoryLimit);
    return f;
}

WatchParams watchParamsFromOptions(const OptionMap& options) {
    WatchParams params;
    for (const auto& [key, value] : options) {
        if (key == "interval") {
            const auto seconds = numberOption(value);
            if (!seconds) throw InvalidArgument("'interval' must be a finite number of seconds");
            params.intervalSeconds = *seconds;
        } else if (key == "children") {
            params.includeChildren = boolOption(value, key);
        } else if (key == "state" || key == "protocol") {
            parseSocketKey(key, value, params.filter);
        } else {
            throw InvalidArgument("unknown watch option '" + key + "'");
        }
    }
    return params;
}

OptionMap toOptions(const core::SocketFilter& f) {
    OptionMap o;
    if (f.pid) o["pid"] = std::uint64_t{*f.pid};
    if (f.port) o["port"] = std::uint64_t{*f.port};
    if (f.process) o["process"] = *f.process;
    if (f.state) o["state"] = std::string(core::stateName(*f.state));
    if (f.protocol) o["protocol"] = std::string(core::protocolName(*f.protocol));
    if (f.unit) o["unit"] = *f.unit;
    if (f.container) o["container"] = *f.container;
    if (f.netns) o["netns"] = *f.netns;
    if (f.listeningOnly) o["listening"] = true;
    return o;
}

OptionMap toOptions(const core::ListQuery& q) {
    OptionMap o = toOptions(q.filter);
    if (q.offset != 0) o["offset"] = std::uint64_t{q.offset};
    if (q.limit != 0) o["limit"] = std::uint64_t{q.limit};
    return o;
}

OptionMap toOptions(const core::HistoryFilter& f) {
    OptionMap o = toOptions(f.socket);
    if (f.action) o["action"] = std::string(core::actionName(*f.action));
    if (f.since) o["since"] = core::toEpochMicros(*f.since);
    if (f.afterSequence) o["after_sequence"] = *f.afterSequence;
    o["limit"] = std::uint64_t{f.limit};
    return o;
}

OptionMap toOptions(const WatchParams& p) {
    OptionMap o{{"interval", p.intervalSeconds}, {"children", p.includeChildren}};
    if (p.filter.state) o["state"] = std::string(core::stateName(*p.filter.state));
    if (p.filter.protocol) o["protocol"] = std::string(core::protocolName(*p.filter.protocol));
    return o;
}

}  // namespace porteye::protocol
