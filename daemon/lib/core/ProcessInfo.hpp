// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>

namespace porteye::core {

/// What PortEye knows of a socket's owning process.
struct ProcessInfo {
    std::uint32_t pid = 0;
    std::string name;     ///< /proc/<pid>/comm
    std::string cmdline;  ///< /proc/<pid>/cmdline, NULs turned into spaces
    std::uint32_t uid = 0;
    /// Field 22 of /proc/<pid>/stat (clock ticks after boot); with pid it names one process
    /// across PID reuse, and keys the details cache. 0 when unknown.
    std::uint64_t startTimeTicks = 0;

    bool operator==(const ProcessInfo&) const = default;
};

/// What the host view shows of a socket's holder beyond its pid and name. Read once per
/// process and cached by (pid, start time); shared by every record of that process, so a
/// steady poll copies a pointer, not strings. Strings are escaped (core/Escape.hpp).
struct ProcessDetails {
    std::string cmdline;            ///< NULs turned into spaces
    std::string user;               ///< name of the real uid; the number when it has no name
    std::string exe;                ///< /proc/<pid>/exe target; empty when unreadable
    std::uint64_t startTimeUs = 0;  ///< wall clock, µs since the epoch
    std::string unit;               ///< systemd unit from the cgroup ("nginx.service"); empty when none
    /// The container the process runs in, from its cgroup; all empty when none.
    std::string containerRuntime;  ///< "docker", "podman", "containerd", "crio", "nspawn", ...
    std::string containerId;       ///< the runtime's id (64 hex digits for OCI runtimes, the machine name for nspawn)
    std::string containerName;     ///< the runtime's name for it, where its own files give it cheaply

    bool operator==(const ProcessDetails&) const = default;
};

/// CPU and memory of a process at the time a reply is built (not stored in history).
struct UsageNow {
    double cpuPercent = 0;  ///< over the time since the previous sample of this process, like psutil
    std::uint64_t memoryRssBytes = 0;
    bool operator==(const UsageNow&) const = default;
};

/// Resource usage of a process, read on demand (the seed's CPU and memory columns).
struct ProcessUsage {
    double cpuSeconds = 0;  ///< utime + stime
    std::uint64_t rssBytes = 0;
    std::uint64_t startTimeTicks = 0;  ///< field 22 of /proc/<pid>/stat
};

}  // namespace porteye::core
