// SPDX-License-Identifier: MIT
#pragma once

#include "core/ProcessInfo.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace porteye::core {

/// Counters of one walk; vanished/denied entries are normal on a live host.
struct WalkStats {
    std::uint64_t processesScanned = 0;
    std::uint64_t fdsRead = 0;
    std::uint64_t processesVanished = 0;  ///< ENOENT/ESRCH between readdir and read
    std::uint64_t accessDenied = 0;       ///< EACCES/EPERM
    /// EMFILE/ENFILE/ENOMEM and other errors that say nothing about the process: the walk
    /// missed what it could not open, so its result is incomplete.
    std::uint64_t transientErrors = 0;
    WalkStats& operator+=(const WalkStats& o) {
        processesScanned += o.processesScanned;
        fdsRead += o.fdsRead;
        processesVanished += o.processesVanished;
        accessDenied += o.accessDenied;
        transientErrors += o.transientErrors;
        return *this;
    }
};

/// Owners of socket inodes found by one walk of every process.
struct OwnerScan {
    std::unordered_map<std::uint64_t, std::vector<ProcessInfo>> owners;
    WalkStats stats;
    /// Processes that could not be read for a transient reason (counted in stats.transientErrors);
    /// only findOwnersAmong() fills it.
    std::vector<std::uint32_t> retry;
};

/// How a read of one process went. Only Gone means the process is gone: a read that
/// failed for any other reason says nothing about its sockets.
enum class ReadStatus : std::uint8_t {
    Ok,
    Gone,       ///< no such process (ENOENT/ESRCH), or every one of its threads has exited
    Denied,     ///< EACCES/EPERM: it exists, but its fd table may not be read
    Transient,  ///< EMFILE/ENFILE/ENOMEM and the like: it could not be read now; try again
};

/// Socket inodes held by one process, or why they could not be read.
struct ProcessSockets {
    ProcessInfo info;                   ///< set when ok()
    std::vector<std::uint64_t> inodes;  ///< sorted and unique; meaningful only when ok()
    ReadStatus status = ReadStatus::Ok;
    int error = 0;  ///< the errno behind a status other than Ok (0 for a zombie)
    bool ok() const { return status == ReadStatus::Ok; }
};

/// One entry of the process list: a PID and a token that changes when the PID is reused
/// (the inode number of /proc/<pid> in production), so "the same process" is cheap to tell.
struct ProcessId {
    std::uint32_t pid = 0;
    std::uint64_t generation = 0;
    auto operator<=>(const ProcessId&) const = default;
};

/// Keeps naming one process whatever PID reuse follows (a pidfd in production).
class IProcessHandle {
public:
    virtual ~IProcessHandle() = default;
    /// A descriptor that becomes readable once the whole thread group has exited; -1 when there is none.
    /// Owned by the handle.
    virtual int exitFd() const = 0;
    /// Whether the whole thread group has exited (a leader that exited while other threads run has not).
    virtual bool exited() const = 0;
};

/// Why pin() found no process to watch.
enum class PinError : std::uint8_t {
    None,
    NoSuchProcess,  ///< no such PID (or it exited while being pinned)
    NotAProcess,    ///< the PID is a thread of another process (PinResult::threadGroup names it)
    Transient,      ///< out of file descriptors or memory: try again later
};

/// A process pinned before anything about it was read, so the info belongs to the process the handle names.
struct PinResult {
    ProcessInfo info;
    std::unique_ptr<IProcessHandle> handle;  ///< set on success
    PinError error = PinError::None;
    std::uint32_t threadGroup = 0;  ///< for NotAProcess: the process the thread belongs to
    std::string message;            ///< for Transient: the cause
    bool ok() const { return error == PinError::None; }
};

/// The process table (/proc in production; its root is injectable).
class IProcessTable {
public:
    virtual ~IProcessTable() = default;
    /// Walks all processes and returns the owners of the wanted inodes.
    /// Threads of one process count once; one inode may have several owners.
    virtual OwnerScan findOwners(const std::unordered_set<std::uint64_t>& wanted) = 0;
    /// The same, reading only the fd tables of `pids`, and reporting the inodes for which
    /// `wanted(inode)` is true: the cheap step for processes new since the last poll.
    virtual OwnerScan findOwnersAmong(const std::vector<std::uint32_t>& pids,
                                      const std::function<bool(std::uint64_t)>& wanted) = 0;
    /// Socket inodes of one process (thread-group id). A process whose main thread exited
    /// while other threads run is read through a live thread. See ReadStatus for failures.
    virtual ProcessSockets socketsOf(std::uint32_t pid, WalkStats* stats = nullptr) = 0;
    /// The processes that exist now, sorted by pid: one directory listing, no per-process read.
    /// nullopt when the list could not be read (transient errors included).
    virtual std::optional<std::vector<ProcessId>> listProcesses() = 0;
    /// Whether the process exists now.
    virtual bool exists(std::uint32_t pid) = 0;
    virtual std::optional<ProcessInfo> info(std::uint32_t pid) = 0;
    /// Direct children (all threads' children files), for watches with descendants.
    virtual std::vector<std::uint32_t> childrenOf(std::uint32_t pid) = 0;
    virtual std::optional<ProcessUsage> usage(std::uint32_t pid) = 0;
    /// What the host view shows of a process (cmdline, user, exe, start time, unit), read now.
    /// nullopt when the process is gone, or when `startTimeTicks` is not 0 and the PID now
    /// names a process that started at another time (it was reused). Strings are escaped.
    virtual std::optional<ProcessDetails> details(std::uint32_t pid, std::uint64_t startTimeTicks) = 0;
    /// Pins a process (thread-group id) first, then reads its info through the pin.
    virtual PinResult pin(std::uint32_t pid) = 0;
    /// Inode of the process's network namespace (`/proc/<pid>/ns/net`); 0 when unknown or gone.
    virtual std::uint64_t netnsOf(std::uint32_t /*pid*/) { return 0; }
};

}  // namespace porteye::core
