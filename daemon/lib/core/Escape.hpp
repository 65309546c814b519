// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>

namespace porteye::core {

/// Makes bytes from the system (a process's comm or cmdline, anything a local user can set)
/// safe to carry anywhere: the result is valid UTF-8 with no control characters, so D-Bus,
/// JSON and terminals take it as it is. Applied once, where the bytes are read.
///
/// The rule, systemd-style and unambiguous (reversible):
///   - a backslash becomes `\\`;
///   - each byte of a control character (C0 0x00-0x1f, DEL 0x7f, C1 U+0080-U+009F) and each
///     byte that is not part of a well-formed UTF-8 sequence (stray continuation bytes,
///     truncated or overlong sequences, surrogates U+D800-U+DFFF, code points above
///     U+10FFFF, 0xc0/0xc1/0xf5-0xff) becomes `\xNN` (two lowercase hex digits);
///   - every other byte, including well-formed multibyte characters, is kept.
/// Since a literal backslash is always doubled, every `\x` in the result stands for one byte.
std::string escapeUntrusted(std::string_view bytes);

/// Whether `escapeUntrusted(bytes)` would return `bytes` unchanged.
bool isSafeText(std::string_view bytes);

}  // namespace porteye::core
