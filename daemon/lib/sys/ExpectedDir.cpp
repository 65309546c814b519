// SPDX-License-Identifier: MIT
#include "sys/ExpectedDir.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace porteye::sys {

LoadedExpected loadExpectedDir(const std::string& dir) {
    namespace fs = std::filesystem;
    LoadedExpected out;
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto& path = it->path();
        // Backups and package leftovers (x.conf~, x.conf.dpkg-old) do not count, as in systemd's .d dirs.
        if (path.extension() == ".conf" && it->is_regular_file(ec)) files.push_back(path);
    }
    if (ec && ec != std::errc::no_such_file_or_directory)
        out.errors.push_back(dir + ": " + ec.message() + "; no allowlist loaded");
    if (files.empty()) return out;
    std::sort(files.begin(), files.end());
    core::ExpectedListeners rules;
    for (const auto& path : files) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            out.errors.push_back(path.string() + ": cannot be read; its rules are missing");
            continue;
        }
        std::string text(kMaxExpectedFileBytes + 1, '\0');
        in.read(text.data(), static_cast<std::streamsize>(text.size()));
        text.resize(static_cast<std::size_t>(in.gcount()));
        if (text.size() > kMaxExpectedFileBytes) {
            text.resize(kMaxExpectedFileBytes);
            text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n'));
            out.errors.push_back(path.string() + ": longer than " + std::to_string(kMaxExpectedFileBytes) +
                                 " bytes; the rest is ignored");
        }
        auto parsed = core::parseExpectedRules(text, path.string());
        rules.add(parsed);
        out.errors.insert(out.errors.end(), parsed.errors.begin(), parsed.errors.end());
        out.warnings.insert(out.warnings.end(), parsed.warnings.begin(), parsed.warnings.end());
        ++out.files;
    }
    out.rules = std::move(rules);
    return out;
}

}  // namespace porteye::sys
