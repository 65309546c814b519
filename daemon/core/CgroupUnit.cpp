// SPDX-License-Identifier: MIT
#include "core/CgroupUnit.hpp"

#include "core/Escape.hpp"

#include <optional>

namespace porteye::core {
namespace {

// The path of the line whose hierarchy id and controller list are `prefix` ("0::",
// "name=systemd" after the id): everything after the second ':'.
std::optional<std::string_view> pathOfLine(std::string_view text, bool v2) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        const std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        const auto first = line.find(':');
        if (first == std::string_view::npos) continue;
        const auto second = line.find(':', first + 1);
        if (second == std::string_view::npos) continue;
        const std::string_view id = line.substr(0, first);
        const std::string_view controllers = line.substr(first + 1, second - first - 1);
        // v2: "0::/path"; v1 systemd's own hierarchy: "N:name=systemd:/path".
        if (v2 ? (id == "0" && controllers.empty()) : controllers == "name=systemd") return line.substr(second + 1);
    }
    return std::nullopt;
}

bool isUnitName(std::string_view component) {
    for (std::string_view suffix : {std::string_view(".service"), std::string_view(".scope")})
        if (component.size() > suffix.size() && component.ends_with(suffix)) return true;
    return false;
}

}  // namespace

std::string unitFromCgroup(std::string_view cgroupFile) {
    auto path = pathOfLine(cgroupFile, true);
    if (!path) path = pathOfLine(cgroupFile, false);
    if (!path) return {};
    // The cgroup of a process that moved out of a removed cgroup ends in " (deleted)".
    constexpr std::string_view deleted = " (deleted)";
    if (path->ends_with(deleted)) path->remove_suffix(deleted.size());
    std::string_view unit;
    std::size_t pos = 0;
    while (pos <= path->size()) {
        std::size_t slash = path->find('/', pos);
        if (slash == std::string_view::npos) slash = path->size();
        const std::string_view component = path->substr(pos, slash - pos);
        if (isUnitName(component)) unit = component;
        pos = slash + 1;
    }
    return escapeUntrusted(unit);
}

}  // namespace porteye::core
