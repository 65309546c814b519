// SPDX-License-Identifier: MIT
#include "core/Escape.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

using porteye::core::escapeUntrusted;
using porteye::core::isSafeText;

TEST(Escape, KeepsPrintableAsciiAndValidMultibyte) {
    EXPECT_EQ(escapeUntrusted("nginx: worker"), "nginx: worker");
    // 2-, 3- and 4-byte characters: é, €, 😀 and the last code point U+10FFFF.
    const std::string multi = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
    EXPECT_EQ(escapeUntrusted(multi), multi);
    EXPECT_TRUE(isSafeText(multi));
}

TEST(Escape, DoublesBackslashSoEscapesAreUnambiguous) {
    EXPECT_EQ(escapeUntrusted("a\\b"), "a\\\\b");
    // A name that spells an escape is not mistaken for one.
    EXPECT_EQ(escapeUntrusted("\\x1b"), "\\\\x1b");
    EXPECT_FALSE(isSafeText("a\\b"));
}

TEST(Escape, EscapesTerminalSequencesAndControls) {
    EXPECT_EQ(escapeUntrusted("ev\x1b[31m"), "ev\\x1b[31m");
    EXPECT_EQ(escapeUntrusted(std::string("a\0b", 3)), "a\\x00b");
    EXPECT_EQ(escapeUntrusted("\t\n\r\x7f"), "\\x09\\x0a\\x0d\\x7f");
    // C1 controls (CSI U+009B, NEL U+0085) are controls too, even when well-formed.
    EXPECT_EQ(escapeUntrusted("\xc2\x9b"
                              "31m"),
              "\\xc2\\x9b31m");
    EXPECT_EQ(escapeUntrusted("\xc2\x85"), "\\xc2\\x85");
}

TEST(Escape, EscapesInvalidUtf8ByteByByte) {
    EXPECT_EQ(escapeUntrusted("ev\xff"), "ev\\xff");
    EXPECT_EQ(escapeUntrusted("\x80"), "\\x80");             // stray continuation byte
    EXPECT_EQ(escapeUntrusted("\xc3"), "\\xc3");             // truncated at the end
    EXPECT_EQ(escapeUntrusted("\xe2\x82x"), "\\xe2\\x82x");  // truncated in the middle
    EXPECT_EQ(escapeUntrusted("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
    EXPECT_EQ(escapeUntrusted("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
}

TEST(Escape, EscapesOverlongForms) {
    // ESC and '/' spelled in two and three bytes must not slip through as characters.
    EXPECT_EQ(escapeUntrusted("\xc0\x9b"), "\\xc0\\x9b");
    EXPECT_EQ(escapeUntrusted("\xc1\xbf"), "\\xc1\\xbf");
    EXPECT_EQ(escapeUntrusted("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");
    EXPECT_EQ(escapeUntrusted("\xf0\x8f\xbf\xbf"), "\\xf0\\x8f\\xbf\\xbf");
}

TEST(Escape, EscapesSurrogates) {
    EXPECT_EQ(escapeUntrusted("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // U+D800
    EXPECT_EQ(escapeUntrusted("\xed\xbf\xbf"), "\\xed\\xbf\\xbf");  // U+DFFF
    EXPECT_EQ(escapeUntrusted("\xed\x9f\xbf"), "\xed\x9f\xbf");     // U+D7FF is fine
}

namespace {

// Valid UTF-8 without control characters (backslashes aside, which the rule doubles).
bool cleanText(std::string s) {
    std::erase(s, '\\');
    return isSafeText(s);
}

// The inverse of the rule, to show it loses nothing.
std::string unescape(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
        } else if (s[i + 1] == '\\') {
            out += '\\';
            ++i;
        } else {
            out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
            i += 3;
        }
    }
    return out;
}

}  // namespace

TEST(Escape, OutputIsAlwaysValidUtf8WithoutControls) {
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            const std::string two{static_cast<char>(a), static_cast<char>(b)};
            ASSERT_TRUE(cleanText(escapeUntrusted(two))) << a << ' ' << b;
            ASSERT_TRUE(cleanText(escapeUntrusted(two + "\xe2\x82")));
        }
    }
}

TEST(Escape, IsReversible) {
    std::mt19937 rng(8);
    for (int n = 0; n < 2000; ++n) {
        std::string bytes(rng() % 24, '\0');
        for (auto& c : bytes)
            c = static_cast<char>(rng() % 4 == 0 ? "\\\x1b\xc3\xa9"[rng() % 4] : rng() % 256);
        ASSERT_EQ(unescape(escapeUntrusted(bytes)), bytes);
    }
}
