// SPDX-License-Identifier: MIT
// Request options as a JSON-RPC client sends them (the params of list, history, watch, events):
// any local user can connect. Each parse either throws InvalidArgument (or nlohmann's
// exception, which the dispatcher turns into an error) or yields options that survive the
// client's own encoding (toOptions, toJson) and parse to the same thing.
// Input: byte 0 chooses the request (socket filter, list, history, watch); the rest is JSON.
#include "wire/Json.hpp"
#include "wire/JsonRpc.hpp"
#include "wire/RequestOptions.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace porteye;
using nlohmann::json;

namespace {

template <typename Parse>
void roundTrip(const json& params, Parse&& parse) {
    try {
        const auto first = parse(params);
        const json encoded = protocol::toJson(first);
        const auto second = parse(encoded);
        if (protocol::toOptions(second) != protocol::toOptions(first)) {
            std::fprintf(stderr, "fuzz-request-options-json: %s does not parse back as itself\n",
                         encoded.dump().c_str());
            std::abort();
        }
    } catch (const protocol::InvalidArgument&) {
    } catch (const json::exception&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t which = data[0] % 5;
    const json params = json::parse(data + 1, data + size, nullptr, false);
    if (which == 4) {
        // The other direction: a line as porteyectl reads it from the daemon.
        try {
            (void)protocol::rpc::parseMessage(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
        } catch (const protocol::InvalidArgument&) {
        } catch (const json::exception&) {
        }
        return 0;
    }
    if (params.is_discarded()) return 0;
    switch (which) {
        case 0:
            roundTrip(params, [](const json& j) { return protocol::socketFilterFromJson(j); });
            break;
        case 1:
            roundTrip(params, [](const json& j) { return protocol::listQueryFromJson(j); });
            break;
        case 2:
            roundTrip(params, [](const json& j) { return protocol::historyFilterFromJson(j); });
            break;
        default:
            roundTrip(params, [](const json& j) { return protocol::watchParamsFromJson(j); });
            break;
    }
    return 0;
}
