// SPDX-License-Identifier: MIT
#pragma once

#include "core/Escape.hpp"

#include <string>
#include <string_view>

namespace porteye::fuzz {

/// Whether text may go to D-Bus, JSON and a terminal as it is: valid UTF-8 without control
/// characters. Backslashes are allowed (core::escapeUntrusted writes them), so they are taken out
/// before core::isSafeText, which refuses them because the escape would double them.
inline bool isDisplaySafe(std::string_view text) {
    std::string stripped;
    stripped.reserve(text.size());
    for (char c : text)
        if (c != '\\') stripped += c;
    return core::isSafeText(stripped);
}

}  // namespace porteye::fuzz
