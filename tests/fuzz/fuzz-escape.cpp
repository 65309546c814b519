// SPDX-License-Identifier: MIT
// core::escapeUntrusted, applied to every comm, cmdline, exe, unit and container name: its
// result must be safe text whatever the bytes, isSafeText must agree with it, and the escape
// must be reversible (docs: every `\x` in the result stands for one byte).
#include "core/Escape.hpp"
#include "fuzz/SafeText.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

using namespace porteye;

namespace {

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/// The inverse of the documented rule; nullopt for text the escape cannot have written.
std::optional<std::string> unescape(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        if (i + 1 < s.size() && s[i + 1] == '\\') {
            out += '\\';
            ++i;
        } else if (i + 3 < s.size() && s[i + 1] == 'x' && hexDigit(s[i + 2]) >= 0 && hexDigit(s[i + 3]) >= 0) {
            out += static_cast<char>(hexDigit(s[i + 2]) * 16 + hexDigit(s[i + 3]));
            i += 3;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz-escape: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::string out = core::escapeUntrusted(in);
    if (!fuzz::isDisplaySafe(out)) fail("the escaped text is not valid UTF-8 without control characters");
    if (core::isSafeText(in) != (out == in)) fail("isSafeText disagrees with escapeUntrusted");
    const auto back = unescape(out);
    if (!back || *back != in) fail("the escape is not reversible");
    return 0;
}
