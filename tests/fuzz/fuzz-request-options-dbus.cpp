// SPDX-License-Identifier: MIT
// Request options as a D-Bus caller sends them: an a{sv} of any keys, any variant types (basic,
// containers, nested variants) and any values, unmarshalled by sd-bus into the map the adaptor
// gets, then optionsFromDbus and the neutral parsers, exactly the path of ListPorts, GetHistory
// and Watch. A parse either throws InvalidArgument or yields options that survive the client's
// encoding (optionsToDbus) and parse to the same thing.
//
// Input, read as a stream: byte 0 chooses the request (socket filter, list, history, watch);
// then entries of [key][type][value]. A key byte with bit 7 set names a known key, else its low
// five bits are the length of the key's bytes that follow; a type byte picks one of kTypes.
#include "wire/DbusTypes.hpp"
#include "wire/RequestOptions.hpp"

#include <sdbus-c++/sdbus-c++.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace porteye;
using dbus::Options;

namespace {

constexpr std::array kKeys = {"pid",       "port",           "process",   "state",   "protocol", "unit",
                              "container", "netns",          "listening", "offset",  "limit",    "action",
                              "since",     "after_sequence", "interval",  "children"};

class Reader {
public:
    Reader(const std::uint8_t* data, std::size_t size) : m_data(data), m_size(size) {}
    bool empty() const { return m_offset >= m_size; }
    std::uint8_t byte() { return empty() ? 0 : m_data[m_offset++]; }
    template <typename T>
    T number() {
        T value{};
        const std::size_t n = std::min(sizeof(T), m_size - std::min(m_offset, m_size));
        std::memcpy(&value, m_data + m_offset, n);
        m_offset += n;
        return value;
    }
    std::string text(std::size_t length) {
        const std::size_t n = std::min(length, m_size - std::min(m_offset, m_size));
        std::string s(reinterpret_cast<const char*>(m_data + m_offset), n);
        m_offset += n;
        return s;
    }
    /// A string of up to 31 bytes, or (bit 7 of the length byte) a long one of repeated bytes.
    std::string shortOrHuge() {
        const std::uint8_t length = byte();
        if ((length & 0x80) != 0) return std::string(std::size_t{1} << (8 + (length & 7)), static_cast<char>(byte()));
        return text(length & 0x1f);
    }

private:
    const std::uint8_t* m_data;
    std::size_t m_size;
    std::size_t m_offset = 0;
};

/// One variant of the type `type` picks, its value from the stream. Throws sdbus::Error for a
/// value sd-bus refuses to marshal (a string that is not UTF-8), as a client's library would.
sdbus::Variant variantFrom(std::uint8_t type, Reader& in, int depth) {
    switch (type % 17) {
        case 0:
            return sdbus::Variant(in.shortOrHuge());
        case 1:
            return sdbus::Variant((in.byte() & 1) != 0);
        case 2:
            return sdbus::Variant(in.number<double>());
        case 3:
            return sdbus::Variant(in.number<std::uint8_t>());
        case 4:
            return sdbus::Variant(in.number<std::uint16_t>());
        case 5:
            return sdbus::Variant(in.number<std::uint32_t>());
        case 6:
            return sdbus::Variant(in.number<std::uint64_t>());
        case 7:
            return sdbus::Variant(in.number<std::int16_t>());
        case 8:
            return sdbus::Variant(in.number<std::int32_t>());
        case 9:
            return sdbus::Variant(in.number<std::int64_t>());
        case 10:
            return sdbus::Variant(sdbus::ObjectPath("/org/porteye/" + std::to_string(in.byte())));
        case 11:
            return sdbus::Variant(sdbus::Signature("a{sv}"));
        case 12: {
            std::vector<std::string> list;
            for (std::uint8_t n = in.byte() % 8; n > 0; --n)
                list.push_back(in.shortOrHuge());
            return sdbus::Variant(list);
        }
        case 13:
            // A variant in a variant: the parser must not look through it.
            return depth > 3 ? sdbus::Variant(in.byte()) : sdbus::Variant(variantFrom(in.byte(), in, depth + 1));
        case 14:
            return sdbus::Variant(
                sdbus::Struct<std::int32_t, std::string>(in.number<std::int32_t>(), in.shortOrHuge()));
        case 15: {
            Options nested;
            if (depth <= 3) nested.emplace("pid", variantFrom(in.byte(), in, depth + 1));
            return sdbus::Variant(nested);
        }
        default:
            return sdbus::Variant(std::vector<std::uint8_t>(in.byte(), in.byte()));
    }
}

template <typename Parse>
void roundTrip(const Options& options, Parse&& parse) {
    try {
        const auto first = parse(dbus::optionsFromDbus(options));
        const protocol::OptionMap encoded = protocol::toOptions(first);
        const auto second = parse(dbus::optionsFromDbus(dbus::optionsToDbus(encoded)));
        if (protocol::toOptions(second) != encoded) {
            std::fprintf(stderr, "fuzz-request-options-dbus: options do not parse back as themselves\n");
            std::abort();
        }
    } catch (const protocol::InvalidArgument&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    Reader in(data + 1, size - 1);
    Options sent;
    for (int entries = 0; !in.empty() && entries < 16; ++entries) {
        const std::uint8_t keyByte = in.byte();
        std::string key = (keyByte & 0x80) != 0 ? kKeys[keyByte % kKeys.size()] : in.text(keyByte & 0x1f);
        const std::uint8_t type = in.byte();
        try {
            (void)sdbus::Variant(key);  // sd-bus marshals keys as it does strings
            sent.insert_or_assign(std::move(key), variantFrom(type, in, 0));
        } catch (const sdbus::Error&) {
            // Not UTF-8: no client library sends it, and sd-bus would refuse to read it.
        }
    }
    // Through a message and back, as the adaptor receives it: sd-bus reads every variant's type.
    Options received;
    try {
        received = sdbus::Variant(sent).get<Options>();
    } catch (const sdbus::Error&) {
        return 0;  // a key sd-bus refuses to marshal
    }
    switch (data[0] % 4) {
        case 0:
            roundTrip(received, [](const protocol::OptionMap& o) { return protocol::socketFilterFromOptions(o); });
            break;
        case 1:
            roundTrip(received, [](const protocol::OptionMap& o) { return protocol::listQueryFromOptions(o); });
            break;
        case 2:
            roundTrip(received, [](const protocol::OptionMap& o) { return protocol::historyFilterFromOptions(o); });
            break;
        default:
            roundTrip(received, [](const protocol::OptionMap& o) { return protocol::watchParamsFromOptions(o); });
            break;
    }
    return 0;
}
