// SPDX-License-Identifier: MIT
#include "sys/ContainerNames.hpp"

#include "core/Escape.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <optional>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace porteye::sys {
namespace {

// The file at `path` when it is a regular file of at most `cap` bytes, with its stamp. O_NONBLOCK:
// a FIFO planted there must not hang the reader; O_NOFOLLOW: the path is the runtime's own.
std::optional<std::string> readBounded(const std::filesystem::path& path, std::size_t cap, std::int64_t& mtimeNs,
                                       std::int64_t& size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return std::nullopt;
    struct stat st {};
    std::optional<std::string> out;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) <= cap) {
        mtimeNs = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        size = st.st_size;
        std::string text;
        text.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < text.size()) {
            const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        text.resize(got);  // a file that shrank meanwhile parses as what was read, or fails
        out = std::move(text);
    }
    ::close(fd);
    return out;
}

// Stamp of a path without reading it; {-1, -1} when missing.
std::pair<std::int64_t, std::int64_t> stampOf(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {-1, -1};
    return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
            static_cast<std::int64_t>(st.st_size)};
}

bool isHexId(const std::string& id) {
    if (id.size() != 64) return false;
    for (const char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

ContainerNames::ContainerNames(std::filesystem::path root) : m_root(std::move(root)) {}

std::string ContainerNames::nameOf(const core::CgroupOwner& owner) {
    if (owner.containerRuntime.empty() || owner.userDelegated) return {};
    const std::string& runtime = owner.containerRuntime;
    if (runtime == "nspawn" || runtime == "machine" || runtime == "lxc") return owner.containerId;
    // Only a 64-hex id ever becomes part of a path: no traversal, whatever a cgroup said.
    if (!isHexId(owner.containerId)) return {};
    try {
        if (runtime == "docker") return dockerName(owner.containerId);
        if (runtime == "podman" || runtime == "crio") return storageName(owner.containerId);
    } catch (const std::exception&) {
        // std::bad_alloc or a JSON surprise: no name, never a failed details read.
    }
    return {};
}

std::string ContainerNames::dockerName(const std::string& id) {
    const std::filesystem::path path = m_root / "docker" / "containers" / id / "config.v2.json";
    const auto [mtime, size] = stampOf(path);
    std::lock_guard lock(m_mutex);
    if (auto it = m_docker.find(id); it != m_docker.end() && it->second.stamp == Stamp{mtime, size})
        return it->second.name;
    DockerEntry entry;
    if (const auto text = readBounded(path, kMaxConfigBytes, entry.stamp.mtimeNs, entry.stamp.size)) {
        // config.v2.json also holds the container's environment: only "Name" is kept.
        const auto json = nlohmann::json::parse(*text, nullptr, false);
        if (json.is_object()) {
            const auto name = json.find("Name");
            if (name != json.end() && name->is_string()) {
                std::string_view n = name->get_ref<const std::string&>();
                if (n.starts_with('/')) n.remove_prefix(1);
                entry.name = core::escapeUntrusted(n);
            }
        }
    } else {
        entry.stamp = Stamp{mtime, size};  // missing or refused: remembered until it changes
    }
    if (m_docker.size() >= 4096) m_docker.clear();  // bounded, however many containers come and go
    m_docker[id] = entry;
    return entry.name;
}

std::string ContainerNames::storageName(const std::string& id) {
    const std::filesystem::path path = m_root / "containers" / "storage" / "overlay-containers" / "containers.json";
    const auto [mtime, size] = stampOf(path);
    std::lock_guard lock(m_mutex);
    if (!(m_storageStamp == Stamp{mtime, size})) {
        m_storage.clear();
        Stamp stamp{mtime, size};
        if (const auto text = readBounded(path, kMaxContainersJsonBytes, stamp.mtimeNs, stamp.size)) {
            const auto json = nlohmann::json::parse(*text, nullptr, false);
            if (json.is_array()) {
                for (const auto& c : json) {
                    if (!c.is_object()) continue;
                    const auto cid = c.find("id");
                    const auto names = c.find("names");
                    if (cid == c.end() || !cid->is_string() || names == c.end() || !names->is_array() ||
                        names->empty() || !names->front().is_string())
                        continue;
                    m_storage.emplace(cid->get<std::string>(),
                                      core::escapeUntrusted(names->front().get<std::string>()));
                }
            }
        }
        m_storageStamp = stamp;
    }
    const auto it = m_storage.find(id);
    return it == m_storage.end() ? std::string() : it->second;
}

}  // namespace porteye::sys
