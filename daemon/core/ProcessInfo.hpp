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

    bool operator==(const ProcessInfo&) const = default;
};

/// Resource usage of a process, read on demand (the seed's CPU and memory columns).
struct ProcessUsage {
    double cpuSeconds = 0;  ///< utime + stime
    std::uint64_t rssBytes = 0;
    std::uint64_t startTimeTicks = 0;  ///< field 22 of /proc/<pid>/stat
};

}  // namespace porteye::core
