// SPDX-License-Identifier: MIT
#pragma once

#include "core/CgroupUnit.hpp"

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <unordered_map>

namespace porteye::sys {

/// A container's name from its runtime's own state files, where they give it cheaply:
///   - Docker: "Name" of <root>/docker/containers/<id>/config.v2.json, without its leading '/';
///   - Podman and CRI-O (containers/storage): the first of "names" of the entry with "id" in
///     <root>/containers/storage/overlay-containers/containers.json, one file for all containers;
///   - nspawn, machined machines and LXC: the id is the name.
/// containerd and the kubelet's cgroupfs layout give none (their names live behind the CRI API).
/// A container below a user's manager (rootless) gets none: its state is in the user's home,
/// and the cgroup that named it is the user's own.
///
/// Each file is read at most once per change (its size and mtime are checked on every lookup, a
/// stat), bounded (1 MiB per config.v2.json, 8 MiB for containers.json), only when it is a
/// regular file, and parsed without exceptions escaping: a missing, oversized or garbled file
/// means no name. Names are escaped (core/Escape.hpp). Thread-safe.
class ContainerNames {
public:
    /// `root` stands for /var/lib; tests point it at a fake tree.
    explicit ContainerNames(std::filesystem::path root = "/var/lib");

    /// The name of `owner`'s container; "" when unknown or not in a container.
    std::string nameOf(const core::CgroupOwner& owner);

    static constexpr std::size_t kMaxConfigBytes = 1024 * 1024;
    static constexpr std::size_t kMaxContainersJsonBytes = 8 * 1024 * 1024;

private:
    struct Stamp {
        std::int64_t mtimeNs = -1;
        std::int64_t size = -1;
        bool operator==(const Stamp&) const = default;
    };
    struct DockerEntry {
        Stamp stamp;
        std::string name;
    };

    std::string dockerName(const std::string& id);
    std::string storageName(const std::string& id);

    std::filesystem::path m_root;
    std::mutex m_mutex;
    std::unordered_map<std::string, DockerEntry> m_docker;   // by container id, bounded
    Stamp m_storageStamp;                                    // of the containers.json m_storage came from
    std::unordered_map<std::string, std::string> m_storage;  // container id -> name
};

}  // namespace porteye::sys
