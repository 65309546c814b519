// SPDX-License-Identifier: MIT
#include "core/Escape.hpp"

#include <cstdint>

namespace porteye::core {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] that encodes a printable
// (non-control) character, or 0 when the byte at s[i] must be escaped.
std::size_t acceptedLength(std::string_view s, std::size_t i) {
    const auto b0 = static_cast<std::uint8_t>(s[i]);
    if (b0 < 0x80) return (b0 < 0x20 || b0 == 0x7f || b0 == '\\') ? 0 : 1;
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2, cp = b0 & 0x1fu, min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3, cp = b0 & 0x0fu, min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4, cp = b0 & 0x07u, min = 0x10000;
    } else {
        return 0;  // a continuation byte out of place, or 0xc0/0xc1/0xf5..0xff (never valid)
    }
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<std::uint8_t>(s[i + k]);
        if ((b & 0xc0u) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3fu);
    }
    // Overlong forms would hide a byte ('\x1b' as c0 9b), surrogates and values past
    // U+10FFFF are not characters, and C1 controls act on terminals like C0 ones.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
    if (cp >= 0x80 && cp <= 0x9f) return 0;
    return len;
}

}  // namespace

std::string escapeUntrusted(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size());
    for (std::size_t i = 0; i < bytes.size();) {
        if (const std::size_t n = acceptedLength(bytes, i); n != 0) {
            out.append(bytes.data() + i, n);
            i += n;
            continue;
        }
        const auto b = static_cast<std::uint8_t>(bytes[i++]);
        if (b == '\\') {
            out += "\\\\";
        } else {
            out += "\\x";
            out += kHex[b >> 4];
            out += kHex[b & 0x0f];
        }
    }
    return out;
}

bool isSafeText(std::string_view bytes) {
    for (std::size_t i = 0; i < bytes.size();) {
        const std::size_t n = acceptedLength(bytes, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

}  // namespace porteye::core
