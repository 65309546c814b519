// SPDX-License-Identifier: MIT
#pragma once

#include "core/IProcessTable.hpp"
#include "sys/ContainerNames.hpp"
#include "sys/ProcText.hpp"  // parseSocketLink, for the tests that used to find it here

#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace porteye::sys {

/// IProcessTable over a /proc tree. The root is injectable so tests can feed
/// a fake tree of `socket:[N]` symlinks. Vanishing processes and fds are counted
/// in WalkStats, never thrown.
class ProcProcessTable final : public core::IProcessTable {
public:
    /// Test-only: called by findOwners() with each pid after the root has been
    /// listed and before that pid is read, so a test can make it vanish mid-walk.
    using BeforePidHook = std::function<void(std::uint32_t pid)>;

    /// `beforePidForTest` is a test seam; production code leaves it empty. `runtimeStateRoot`
    /// stands for /var/lib, where container runtimes keep the files that name their containers
    /// (sys::ContainerNames); tests point it at a fake tree.
    explicit ProcProcessTable(std::filesystem::path root = "/proc", BeforePidHook beforePidForTest = {},
                              std::filesystem::path runtimeStateRoot = "/var/lib");

    /// One walk of <root>/<pid>/fd for every process. A process whose info cannot
    /// be read after its fds were (it exited meanwhile) is counted as vanished and
    /// not reported as an owner.
    core::OwnerScan findOwners(const std::unordered_set<std::uint64_t>& wanted) override;
    core::OwnerScan findOwnersAmong(const std::vector<std::uint32_t>& pids,
                                    const std::function<bool(std::uint64_t)>& wanted) override;
    /// Inodes are sorted and unique. A fd table that may not be read (Denied) or could not be
    /// opened now (Transient: EMFILE, ENFILE, ENOMEM) is reported as such, never as an empty
    /// set; a zombie leader with live threads is read through one of them; comm and cmdline
    /// are escaped (core::escapeUntrusted).
    core::ProcessSockets socketsOf(std::uint32_t pid, core::WalkStats* stats = nullptr) override;
    /// One listing of the root; the generation is the inode number of /proc/<pid>.
    std::optional<std::vector<core::ProcessId>> listProcesses() override;
    bool exists(std::uint32_t pid) override;
    std::optional<core::ProcessInfo> info(std::uint32_t pid) override;
    /// Sorted and unique; empty when the children files are unavailable.
    std::vector<std::uint32_t> childrenOf(std::uint32_t pid) override;
    std::optional<core::ProcessUsage> usage(std::uint32_t pid) override;
    /// cmdline (at most 4 KiB of it), the real uid's name (getpwuid_r, remembered per uid), the
    /// exe link (empty when it may not be read), the start time as wall clock (the boot time
    /// from <root>/stat, read once; 0 when that is missing), and from one read of the cgroup file
    /// the systemd unit and container (core::ownerFromCgroup) with the container's name
    /// (sys::ContainerNames, read once per container).
    /// The start time is checked again after the reads, so a PID reused meanwhile yields nullopt.
    std::optional<core::ProcessDetails> details(std::uint32_t pid, std::uint64_t startTimeTicks) override;
    /// A pidfd on the real /proc; on another root (tests) a handle that checks the directory.
    /// A thread id is refused with NotAProcess naming its thread group.
    core::PinResult pin(std::uint32_t pid) override;
    /// The inode `stat` gives for /proc/<pid>/ns/net (the link's target, an nsfs inode).
    std::uint64_t netnsOf(std::uint32_t pid) override;

private:
    std::string userName(std::uint32_t uid);
    std::uint64_t bootTimeSeconds();

    std::filesystem::path m_root;
    BeforePidHook m_beforePid;
    std::mutex m_mutex;  // guards the two caches below (a table may serve several threads)
    std::unordered_map<std::uint32_t, std::string> m_userNames;
    std::optional<std::uint64_t> m_bootTime;
    ContainerNames m_containerNames;  // thread-safe on its own
};

}  // namespace porteye::sys
