// SPDX-License-Identifier: MIT
#include "Query.hpp"

#include "wire/RequestOptions.hpp"

#include <charconv>
#include <set>

namespace porteye::web {
namespace {

using protocol::InvalidArgument;

/// Text → the typed option the shared parser (RequestOptions) expects, so the keys, ranges and
/// messages are those of the D-Bus and JSON-RPC front-ends; only the text decoding is HTTP's.
protocol::OptionMap toOptions(const QueryParams& params) {
    static const std::set<std::string> kNumbers{"port", "pid", "limit", "after_sequence"};
    protocol::OptionMap options;
    for (const auto& [key, value] : params) {
        if (params.count(key) > 1) throw InvalidArgument("'" + key + "' is given more than once");
        if (value.empty()) continue;
        if (kNumbers.count(key) != 0 ||
            (key == "since" && value.find_first_not_of("0123456789") == std::string::npos)) {
            std::uint64_t number = 0;
            const auto* end = value.data() + value.size();
            const auto [ptr, ec] = std::from_chars(value.data(), end, number);
            if (ec != std::errc() || ptr != end)
                throw InvalidArgument("'" + key + "' must be a non-negative integer, not '" + value + "'");
            options[key] = number;
        } else if (key == "listening") {
            if (value == "true" || value == "1" || value == "yes" || value == "on")
                options[key] = true;
            else if (value == "false" || value == "0" || value == "no" || value == "off")
                options[key] = false;
            else
                throw InvalidArgument("'listening' must be true or false, not '" + value + "'");
        } else {
            options[key] = value;
        }
    }
    return options;
}

}  // namespace

core::SocketFilter portsQuery(const QueryParams& params) {
    auto options = toOptions(params);
    options.try_emplace("listening", true);
    return protocol::socketFilterFromOptions(options);
}

core::HistoryFilter historyQuery(const QueryParams& params) {
    return protocol::historyFilterFromOptions(toOptions(params));
}

}  // namespace porteye::web
