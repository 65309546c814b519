// SPDX-License-Identifier: MIT
#include "core/CgroupUnit.hpp"

#include "core/Escape.hpp"

#include <optional>
#include <vector>

namespace porteye::core {
namespace {

struct CgroupLines {
    std::optional<std::string_view> v2;       // "0::/path"
    std::optional<std::string_view> systemd;  // "N:name=systemd:/path"
    std::vector<std::string_view> otherV1;    // every other "N:controllers:/path"
};

CgroupLines splitLines(std::string_view text) {
    CgroupLines out;
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
        std::string_view path = line.substr(second + 1);
        // The cgroup of a process that moved out of a removed cgroup ends in " (deleted)".
        constexpr std::string_view deleted = " (deleted)";
        if (path.ends_with(deleted)) path.remove_suffix(deleted.size());
        if (id == "0" && controllers.empty()) {
            if (!out.v2) out.v2 = path;
        } else if (controllers == "name=systemd") {
            if (!out.systemd) out.systemd = path;
        } else if (out.otherV1.size() < 32) {  // the kernel has at most ~16 hierarchies
            out.otherV1.push_back(path);
        }
    }
    return out;
}

std::vector<std::string_view> components(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos <= path.size()) {
        std::size_t slash = path.find('/', pos);
        if (slash == std::string_view::npos) slash = path.size();
        if (slash > pos) out.push_back(path.substr(pos, slash - pos));
        pos = slash + 1;
    }
    return out;
}

bool isUnitName(std::string_view component) {
    for (std::string_view suffix : {std::string_view(".service"), std::string_view(".scope")})
        if (component.size() > suffix.size() && component.ends_with(suffix)) return true;
    return false;
}

// "user@1000.service": a user's service manager, whose subtree the user names.
bool isUserManager(std::string_view component) {
    constexpr std::string_view prefix = "user@";
    constexpr std::string_view suffix = ".service";
    if (!component.starts_with(prefix) || !component.ends_with(suffix)) return false;
    const std::string_view uid = component.substr(prefix.size(), component.size() - prefix.size() - suffix.size());
    if (uid.empty() || uid.size() > 10) return false;
    for (const char c : uid)
        if (c < '0' || c > '9') return false;
    return true;
}

bool isHex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (const char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// systemd escapes unit-name characters as \xNN ("my-box" is "my\x2dbox" in machine-my\x2dbox.scope).
std::string unescapeUnitName(std::string_view s) {
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && hex(s[i + 2]) >= 0 && hex(s[i + 3]) >= 0) {
            out.push_back(static_cast<char>(hex(s[i + 2]) * 16 + hex(s[i + 3])));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

struct Found {
    std::string_view runtime;
    std::string id;  // raw, escaped by the caller
};

// "<prefix><64 hex>" with an optional ".scope": the scopes of Docker's, Podman's, containerd's
// and CRI-O's systemd drivers (Podman's cgroupfs driver leaves the ".scope" off).
std::optional<std::string_view> hexAfter(std::string_view c, std::string_view prefix) {
    if (!c.starts_with(prefix)) return std::nullopt;
    c.remove_prefix(prefix.size());
    if (c.ends_with(".scope")) c.remove_suffix(6);
    if (!isHex64(c)) return std::nullopt;
    return c;
}

// The container that component i of `parts` names, looking at the components below it where a
// cgroupfs layout spreads it over several (/docker/<id>, /kubepods/<qos>/pod<uid>/<id>).
std::optional<Found> containerAt(const std::vector<std::string_view>& parts, std::size_t i) {
    const std::string_view c = parts[i];
    static constexpr std::pair<std::string_view, std::string_view> kScopes[] = {
        {"docker-", "docker"}, {"libpod-", "podman"}, {"cri-containerd-", "containerd"}, {"crio-", "crio"}};
    for (const auto& [prefix, runtime] : kScopes)
        if (const auto id = hexAfter(c, prefix)) return Found{runtime, std::string(*id)};

    const auto between = [&](std::string_view prefix, std::string_view suffix) -> std::optional<std::string_view> {
        if (c.size() <= prefix.size() + suffix.size() || !c.starts_with(prefix) || !c.ends_with(suffix))
            return std::nullopt;
        return c.substr(prefix.size(), c.size() - prefix.size() - suffix.size());
    };
    if (const auto name = between("systemd-nspawn@", ".service")) return Found{"nspawn", unescapeUnitName(*name)};
    if (const auto name = between("machine-", ".scope")) return Found{"machine", unescapeUnitName(*name)};
    if (const auto name = between("lxc.payload.", "")) return Found{"lxc", std::string(*name)};
    // LXC before 4.0: /lxc/NAME at the top.
    if (i == 0 && c == "lxc" && parts.size() > 1) return Found{"lxc", std::string(parts[1])};
    // Docker's cgroupfs driver: /docker/<id>.
    if (c == "docker" && i + 1 < parts.size() && isHex64(parts[i + 1]))
        return Found{"docker", std::string(parts[i + 1])};
    // The kubelet's cgroupfs driver: /kubepods[/besteffort|burstable]/pod<uid>/<id>; which
    // runtime made the container is not in the path.
    if (c == "kubepods") {
        for (std::size_t j = i + 1; j + 1 < parts.size() && j <= i + 2; ++j)
            if (parts[j].starts_with("pod") && isHex64(parts[j + 1]))
                return Found{"kubernetes", std::string(parts[j + 1])};
    }
    return std::nullopt;
}

std::optional<Found> containerIn(std::string_view path, bool& userDelegated) {
    const auto parts = components(path);
    bool underUser = false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (auto found = containerAt(parts, i)) {
            userDelegated = underUser;
            return found;
        }
        if (isUnitName(parts[i])) {
            // Below a unit other than a user's manager, cgroups are named by that unit's service
            // (Delegate=yes): not trusted to name a container of the host.
            if (!underUser && isUserManager(parts[i])) {
                underUser = true;
                continue;
            }
            return std::nullopt;
        }
    }
    return std::nullopt;
}

std::string unitOf(std::string_view path) {
    std::string_view outer;
    std::string_view inner;
    for (const std::string_view c : components(path)) {
        if (!isUnitName(c)) continue;
        if (outer.empty()) outer = c;
        inner = c;
    }
    if (outer.data() == inner.data()) return escapeUntrusted(outer);
    std::string both;
    both.reserve(outer.size() + 1 + inner.size());
    both.append(outer).append("/").append(inner);
    return escapeUntrusted(both);
}

}  // namespace

CgroupOwner ownerFromCgroup(std::string_view cgroupFile) {
    CgroupOwner owner;
    const CgroupLines lines = splitLines(cgroupFile);
    // v2 first; v1's name=systemd when the v2 path names no unit (systemd on a legacy or hybrid
    // host tracks services there, and the unified line may only say where the container is).
    if (lines.v2) owner.unit = unitOf(*lines.v2);
    if (owner.unit.empty() && lines.systemd) owner.unit = unitOf(*lines.systemd);

    std::vector<std::string_view> candidates;
    if (lines.v2) candidates.push_back(*lines.v2);
    if (lines.systemd) candidates.push_back(*lines.systemd);
    candidates.insert(candidates.end(), lines.otherV1.begin(), lines.otherV1.end());
    for (const std::string_view path : candidates) {
        bool userDelegated = false;
        if (auto found = containerIn(path, userDelegated)) {
            owner.containerRuntime = std::string(found->runtime);
            owner.containerId = escapeUntrusted(found->id);
            owner.userDelegated = userDelegated;
            break;
        }
    }
    return owner;
}

std::string unitFromCgroup(std::string_view cgroupFile) {
    return ownerFromCgroup(cgroupFile).unit;
}

}  // namespace porteye::core
