// SPDX-License-Identifier: MIT
#include "sys/ProcProcessTable.hpp"
#include "sys/ProcText.hpp"

#include "core/CgroupUnit.hpp"
#include "core/Escape.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

namespace porteye::sys {

namespace {

// "<pid><suffix>" or "<pid>/task/<tid><suffix>" relative to the /proc root, built on the
// stack: the hot loop must not allocate per process.
class PidPath {
public:
    PidPath(std::uint32_t pid, std::string_view suffix) { finish(std::to_chars(m_buf, m_buf + 16, pid).ptr, suffix); }
    PidPath(std::uint32_t pid, std::uint32_t tid, std::string_view suffix) {
        char* end = std::to_chars(m_buf, m_buf + 16, pid).ptr;  // 16 chars always hold a uint32
        std::memcpy(end, "/task/", 6);
        finish(std::to_chars(end + 6, end + 22, tid).ptr, suffix);
    }
    const char* c_str() const { return m_buf; }

private:
    void finish(char* end, std::string_view suffix) {
        const std::size_t n = std::min(suffix.size(), sizeof(m_buf) - 1 - static_cast<std::size_t>(end - m_buf));
        std::memcpy(end, suffix.data(), n);
        end[n] = '\0';
    }
    char m_buf[96];
};

class UniqueFd {
public:
    explicit UniqueFd(int fd = -1) : m_fd(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    int get() const { return m_fd; }

private:
    int m_fd;
};

class UniqueDir {
public:
    explicit UniqueDir(DIR* d) : m_dir(d) {}
    UniqueDir(const UniqueDir&) = delete;
    UniqueDir& operator=(const UniqueDir&) = delete;
    ~UniqueDir() {
        if (m_dir != nullptr) ::closedir(m_dir);
    }
    DIR* get() const { return m_dir; }

private:
    DIR* m_dir;
};

bool isVanished(int err) {
    return err == ENOENT || err == ESRCH;
}
bool isDenied(int err) {
    return err == EACCES || err == EPERM;
}

// Anything else (EMFILE, ENFILE, ENOMEM, EIO, ...) is about us or the moment, not the process.
core::ReadStatus classify(int err) {
    if (isVanished(err)) return core::ReadStatus::Gone;
    if (isDenied(err)) return core::ReadStatus::Denied;
    return core::ReadStatus::Transient;
}

void countError(int err, core::WalkStats& stats) {
    switch (classify(err)) {
        case core::ReadStatus::Gone:
            ++stats.processesVanished;
            break;
        case core::ReadStatus::Denied:
            ++stats.accessDenied;
            break;
        default:
            ++stats.transientErrors;
            break;
    }
}

std::optional<std::uint32_t> parsePid(std::string_view s) {
    if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;
    std::uint32_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

UniqueFd openRoot(const std::filesystem::path& root) {
    return UniqueFd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

// Reads a whole (small) /proc file; returns 0 or the errno. Files in /proc
// report size 0, so read until EOF instead of trusting fstat.
int readFile(int dirFd, const char* rel, std::string& out, std::size_t cap = 64 * 1024) {
    out.clear();
    UniqueFd fd(::openat(dirFd, rel, O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return errno;
    char buf[4096];
    while (out.size() < cap) {
        const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    if (out.size() > cap) out.resize(cap);
    return 0;
}

/// A pidfd: readable once the whole thread group has exited.
class PidfdHandle final : public core::IProcessHandle {
public:
    explicit PidfdHandle(int fd) : m_fd(fd) {}
    PidfdHandle(const PidfdHandle&) = delete;
    PidfdHandle& operator=(const PidfdHandle&) = delete;
    ~PidfdHandle() override { ::close(m_fd); }
    int exitFd() const override { return m_fd; }
    bool exited() const override {
        pollfd p{m_fd, POLLIN, 0};
        return ::poll(&p, 1, 0) > 0;
    }

private:
    int m_fd;
};

/// For a /proc root that is not the kernel's (tests): no pidfd, existence by directory.
class DirectoryHandle final : public core::IProcessHandle {
public:
    explicit DirectoryHandle(std::filesystem::path dir) : m_dir(std::move(dir)) {}
    int exitFd() const override { return -1; }
    bool exited() const override {
        struct stat st {};
        return ::stat(m_dir.c_str(), &st) != 0;
    }

private:
    std::filesystem::path m_dir;
};

bool isZombie(int rootFd, std::uint32_t pid) {
    std::string stat;
    if (readFile(rootFd, PidPath(pid, "/stat").c_str(), stat) != 0) return false;
    return statSaysZombie(stat);
}

// A thread of `pid` other than its (zombie) leader that has not exited; 0 when none.
std::uint32_t liveThreadOf(int rootFd, std::uint32_t pid) {
    const int taskFd = ::openat(rootFd, PidPath(pid, "/task").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (taskFd < 0) return 0;
    DIR* raw = ::fdopendir(taskFd);
    if (raw == nullptr) {
        ::close(taskFd);
        return 0;
    }
    UniqueDir dir(raw);
    std::string stat;
    while (const dirent* ent = ::readdir(dir.get())) {
        const auto tid = parsePid(ent->d_name);
        if (!tid || *tid == pid) continue;
        if (readFile(rootFd, PidPath(pid, *tid, "/stat").c_str(), stat) == 0 && !statSaysZombie(stat)) return *tid;
    }
    return 0;
}

// comm decides existence; cmdline and status are best effort because kernel
// threads and zombies legitimately have empty or odd ones. On failure `err`
// holds the errno that made the process unreadable.
// Any process may name itself (prctl(PR_SET_NAME), argv) with any bytes: comm and cmdline are
// escaped here, once, so nothing downstream ever sees invalid UTF-8 or a control character.
// `cmdlineFrom` names the entry to read the cmdline from (a live thread's, when the leader is
// a zombie whose own cmdline is empty); by default the process's own.
std::optional<core::ProcessInfo> readInfo(int rootFd, std::uint32_t pid, int& err, const char* cmdlineFrom = nullptr) {
    core::ProcessInfo pi;
    pi.pid = pid;
    std::string text;
    // stat holds comm (the same bytes as the comm file) and the start time that, with the pid,
    // names this process across PID reuse: one read for both.
    if ((err = readFile(rootFd, PidPath(pid, "/stat").c_str(), text)) != 0) return std::nullopt;
    auto name = commFromStat(text);
    if (!name) {
        err = EIO;
        return std::nullopt;
    }
    pi.name = std::move(*name);
    pi.startTimeTicks = statStartTime(text).value_or(0);

    if (readFile(rootFd, cmdlineFrom != nullptr ? cmdlineFrom : PidPath(pid, "/cmdline").c_str(), text) == 0) {
        pi.cmdline = cmdlineFromBytes(text);
    }

    std::optional<std::uint32_t> uid;
    if (readFile(rootFd, PidPath(pid, "/status").c_str(), text) == 0) uid = parseStatusUid(text);
    if (!uid) {
        struct stat st {};
        if (::fstatat(rootFd, PidPath(pid, "").c_str(), &st, 0) != 0) {
            err = errno;
            return std::nullopt;
        }
        uid = st.st_uid;
    }
    pi.uid = *uid;
    err = 0;
    return pi;
}

// Calls fn(inode) for every socket fd in the fd directory `fdDir` (relative to the root);
// returns 0, or the errno that kept the table from being read whole (then what fn saw is
// partial and must not be taken for the process's sockets). `entries` counts the fds seen.
template <typename Fn>
int forEachSocketFd(int rootFd, const char* fdDir, core::WalkStats& stats, std::size_t& entries, Fn&& fn) {
    entries = 0;
    const int fdDirFd = ::openat(rootFd, fdDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fdDirFd < 0) return errno;
    DIR* raw = ::fdopendir(fdDirFd);
    if (raw == nullptr) {
        const int err = errno;
        ::close(fdDirFd);
        return err;
    }
    UniqueDir dir(raw);
    // "socket:[18446744073709551615]" is 29 bytes; anything longer is no socket.
    char link[64];
    while (const dirent* ent = ::readdir(dir.get())) {
        if (ent->d_name[0] == '.') continue;
        ++entries;
        const ssize_t n = ::readlinkat(fdDirFd, ent->d_name, link, sizeof(link));
        if (n < 0) {
            // An fd closed since readdir is routine; anything else (a denial: the whole
            // directory is off limits; ENOMEM) leaves the set incomplete.
            if (errno == ENOENT) continue;
            return errno;
        }
        ++stats.fdsRead;
        if (static_cast<std::size_t>(n) >= sizeof(link)) continue;
        if (const std::uint64_t ino = parseSocketLink(std::string_view(link, static_cast<std::size_t>(n))); ino != 0) {
            fn(ino);
        }
    }
    return 0;
}

// Reads the fd tables of `pids` and records each as an owner of the inodes `wanted` accepts.
// Transient failures are listed in scan.retry; the rest is counted, never fatal.
template <typename Wanted>
void scanPids(int rootFd, const std::vector<std::uint32_t>& pids, const Wanted& wanted, core::OwnerScan& scan,
              const std::function<void(std::uint32_t)>& beforePid) {
    std::vector<std::uint64_t> mine;  // wanted inodes of the current process
    for (const std::uint32_t pid : pids) {
        if (beforePid) beforePid(pid);
        ++scan.stats.processesScanned;
        mine.clear();
        std::size_t entries = 0;
        const auto collect = [&](std::uint64_t ino) {
            if (wanted(ino)) mine.push_back(ino);
        };
        int err = forEachSocketFd(rootFd, PidPath(pid, "/fd").c_str(), scan.stats, entries, collect);
        std::uint32_t tid = 0;
        if (err == 0 && entries == 0 && isZombie(rootFd, pid)) {
            // A leader that exited before its threads: their shared fd table is read through one.
            tid = liveThreadOf(rootFd, pid);
            if (tid != 0) err = forEachSocketFd(rootFd, PidPath(pid, tid, "/fd").c_str(), scan.stats, entries, collect);
        }
        int infoErr = 0;
        std::optional<core::ProcessInfo> pi;
        if (err == 0 && !mine.empty()) {
            pi = readInfo(rootFd, pid, infoErr, tid != 0 ? PidPath(pid, tid, "/cmdline").c_str() : nullptr);
            if (!pi) err = infoErr;
        }
        if (err != 0) {
            countError(err, scan.stats);
            if (classify(err) == core::ReadStatus::Transient) scan.retry.push_back(pid);
            continue;
        }
        if (mine.empty()) continue;
        // Dedup once per process: a server may hold tens of thousands of wanted
        // inodes, where a per-insert search would be quadratic.
        std::sort(mine.begin(), mine.end());
        mine.erase(std::unique(mine.begin(), mine.end()), mine.end());
        for (const std::uint64_t ino : mine)
            scan.owners[ino].push_back(*pi);
    }
}

}  // namespace

ProcProcessTable::ProcProcessTable(std::filesystem::path root, BeforePidHook beforePidForTest,
                                   std::filesystem::path runtimeStateRoot)
    : m_root(std::move(root)),
      m_beforePid(std::move(beforePidForTest)),
      m_containerNames(std::move(runtimeStateRoot)) {}

core::OwnerScan ProcProcessTable::findOwners(const std::unordered_set<std::uint64_t>& wanted) {
    core::OwnerScan scan;
    UniqueFd rootFd = openRoot(m_root);
    if (rootFd.get() < 0) {
        countError(errno, scan.stats);
        return scan;
    }

    // List pids first, then read them: the readdir stream of /proc stays short-lived
    // and the test hook gets a well-defined point between the two phases.
    std::vector<std::uint32_t> pids;
    {
        // fdopendir takes ownership, so give it a duplicate and keep rootFd for openat.
        const int listFd = ::fcntl(rootFd.get(), F_DUPFD_CLOEXEC, 0);
        DIR* raw = listFd >= 0 ? ::fdopendir(listFd) : nullptr;
        if (raw == nullptr) {
            countError(errno, scan.stats);
            if (listFd >= 0) ::close(listFd);
            return scan;
        }
        UniqueDir dir(raw);
        while (const dirent* ent = ::readdir(dir.get())) {
            if (ent->d_type != DT_DIR && ent->d_type != DT_UNKNOWN) continue;
            if (const auto pid = parsePid(ent->d_name)) pids.push_back(*pid);
        }
    }

    scanPids(
        rootFd.get(), pids, [&wanted](std::uint64_t ino) { return wanted.contains(ino); }, scan, m_beforePid);
    return scan;
}

core::OwnerScan ProcProcessTable::findOwnersAmong(const std::vector<std::uint32_t>& pids,
                                                  const std::function<bool(std::uint64_t)>& wanted) {
    core::OwnerScan scan;
    UniqueFd rootFd = openRoot(m_root);
    if (rootFd.get() < 0) {
        countError(errno, scan.stats);
        scan.retry = pids;
        return scan;
    }
    scanPids(rootFd.get(), pids, wanted, scan, {});
    return scan;
}

core::ProcessSockets ProcProcessTable::socketsOf(std::uint32_t pid, core::WalkStats* stats) {
    core::WalkStats local;
    core::WalkStats& st = stats != nullptr ? *stats : local;
    core::ProcessSockets out;
    const auto fail = [&](int err) {
        countError(err, st);
        out.status = classify(err);
        out.error = err;
        out.inodes.clear();
        return std::move(out);
    };
    UniqueFd rootFd = openRoot(m_root);
    if (rootFd.get() < 0) return fail(errno);
    ++st.processesScanned;
    std::size_t entries = 0;
    const auto collect = [&](std::uint64_t ino) { out.inodes.push_back(ino); };
    int err = forEachSocketFd(rootFd.get(), PidPath(pid, "/fd").c_str(), st, entries, collect);
    if (err != 0) return fail(err);
    std::uint32_t tid = 0;
    if (entries == 0 && isZombie(rootFd.get(), pid)) {
        // The main thread exited; the process lives on while any thread does, and its
        // fd table is read through one of them. Only when none is left is it gone.
        tid = liveThreadOf(rootFd.get(), pid);
        if (tid == 0) {
            ++st.processesVanished;
            out.status = core::ReadStatus::Gone;
            return out;
        }
        err = forEachSocketFd(rootFd.get(), PidPath(pid, tid, "/fd").c_str(), st, entries, collect);
        if (err != 0) return fail(err);
    }
    int infoErr = 0;
    auto pi = readInfo(rootFd.get(), pid, infoErr, tid != 0 ? PidPath(pid, tid, "/cmdline").c_str() : nullptr);
    if (!pi) return fail(infoErr);
    out.info = std::move(*pi);
    std::sort(out.inodes.begin(), out.inodes.end());
    out.inodes.erase(std::unique(out.inodes.begin(), out.inodes.end()), out.inodes.end());
    return out;
}

std::optional<std::vector<core::ProcessId>> ProcProcessTable::listProcesses() {
    UniqueFd rootFd = openRoot(m_root);
    if (rootFd.get() < 0) return std::nullopt;
    const int listFd = ::fcntl(rootFd.get(), F_DUPFD_CLOEXEC, 0);
    DIR* raw = listFd >= 0 ? ::fdopendir(listFd) : nullptr;
    if (raw == nullptr) {
        if (listFd >= 0) ::close(listFd);
        return std::nullopt;
    }
    UniqueDir dir(raw);
    std::vector<core::ProcessId> out;
    errno = 0;
    while (const dirent* ent = ::readdir(dir.get())) {
        if (ent->d_type != DT_DIR && ent->d_type != DT_UNKNOWN) continue;
        // procfs gives each /proc/<pid> a fresh inode number when the PID names a new
        // process, so (pid, d_ino) tells a reused PID from the one seen before.
        if (const auto pid = parsePid(ent->d_name)) out.push_back({*pid, static_cast<std::uint64_t>(ent->d_ino)});
    }
    if (errno != 0) return std::nullopt;
    std::sort(out.begin(), out.end());
    return out;
}

bool ProcProcessTable::exists(std::uint32_t pid) {
    struct stat st {};
    return ::stat((m_root / std::to_string(pid)).c_str(), &st) == 0;
}

std::optional<core::ProcessInfo> ProcProcessTable::info(std::uint32_t pid) {
    UniqueFd rootFd = openRoot(m_root);
    if (rootFd.get() < 0) return std::nullopt;
    int err = 0;
    return readInfo(rootFd.get(), pid, err);
}

core::PinResult ProcProcessTable::pin(std::uint32_t pid) {
    core::PinResult result;
    UniqueFd rootFd = openRoot(m_root);
    std::string status;
    if (rootFd.get() >= 0 && pid != 0 && readFile(rootFd.get(), PidPath(pid, "/status").c_str(), status) == 0) {
        const auto tgid = parseStatusField(status, "Tgid:");
        if (tgid && *tgid != pid) {
            result.error = core::PinError::NotAProcess;
            result.threadGroup = *tgid;
            return result;
        }
    }
    if (m_root == "/proc") {
        // The pidfd first: whatever is read next belongs to the process it names, or the
        // process exited meanwhile (the pidfd is readable) and PID reuse cannot fool us.
        const int fd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
        if (fd < 0) {
            const int err = errno;
            if (err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOSYS) {
                result.error = core::PinError::Transient;
                result.message = std::strerror(err);
            } else {
                result.error = core::PinError::NoSuchProcess;
            }
            return result;
        }
        result.handle = std::make_unique<PidfdHandle>(fd);
    } else {
        result.handle = std::make_unique<DirectoryHandle>(m_root / std::to_string(pid));
    }
    int err = 0;
    auto info = rootFd.get() >= 0 ? readInfo(rootFd.get(), pid, err) : std::nullopt;
    if (!info || result.handle->exited()) {
        result.handle.reset();
        if (err == EMFILE || err == ENFILE || err == ENOMEM) {
            result.error = core::PinError::Transient;
            result.message = std::strerror(err);
        } else {
            result.error = core::PinError::NoSuchProcess;
        }
        return result;
    }
    result.info = std::move(*info);
    return result;
}

std::vector<std::uint32_t> ProcProcessTable::childrenOf(std::uint32_t pid) {
    std::vector<std::uint32_t> out;
    UniqueFd taskFd(::open((m_root / std::to_string(pid) / "task").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (taskFd.get() < 0) return out;
    const int listFd = ::fcntl(taskFd.get(), F_DUPFD_CLOEXEC, 0);
    DIR* raw = listFd >= 0 ? ::fdopendir(listFd) : nullptr;
    if (raw == nullptr) {
        if (listFd >= 0) ::close(listFd);
        return out;
    }
    UniqueDir dir(raw);
    std::string text;
    while (const dirent* ent = ::readdir(dir.get())) {
        const auto tid = parsePid(ent->d_name);
        if (!tid) continue;
        if (readFile(taskFd.get(), PidPath(*tid, "/children").c_str(), text) != 0) continue;
        const char* p = text.data();
        const char* end = p + text.size();
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\n'))
                ++p;
            std::uint32_t child = 0;
            auto [next, ec] = std::from_chars(p, end, child);
            if (ec != std::errc{}) break;
            out.push_back(child);
            p = next;
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::optional<core::ProcessUsage> ProcProcessTable::usage(std::uint32_t pid) {
    UniqueFd rootFd = openRoot(m_root);
    if (rootFd.get() < 0) return std::nullopt;
    std::string stat;
    std::string statm;
    if (readFile(rootFd.get(), PidPath(pid, "/stat").c_str(), stat) != 0) return std::nullopt;
    // Missing statm only loses the RSS column; the CPU figures are still good.
    (void)readFile(rootFd.get(), PidPath(pid, "/statm").c_str(), statm);
    return usageFromStat(stat, statm, ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE));
}

std::string ProcProcessTable::userName(std::uint32_t uid) {
    {
        std::lock_guard lock(m_mutex);
        if (auto it = m_userNames.find(uid); it != m_userNames.end()) return it->second;
    }
    // Looked up outside the lock: NSS may be slow (LDAP, systemd-userdb).
    std::string name = std::to_string(uid);
    passwd pw{};
    passwd* found = nullptr;
    std::string buf(1024, '\0');
    for (;;) {
        const int rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
        if (rc == ERANGE && buf.size() < 1024 * 1024) {
            buf.resize(buf.size() * 4);
            continue;
        }
        if (rc == 0 && found != nullptr && found->pw_name != nullptr) name = core::escapeUntrusted(found->pw_name);
        break;
    }
    // A uid without a name keeps its number; users added later are named after a restart.
    std::lock_guard lock(m_mutex);
    if (m_userNames.size() > 65536) m_userNames.clear();  // bounded, whatever uids come and go
    m_userNames.emplace(uid, name);
    return name;
}

std::uint64_t ProcProcessTable::bootTimeSeconds() {
    std::lock_guard lock(m_mutex);
    if (m_bootTime) return *m_bootTime;
    std::string text;
    std::uint64_t btime = 0;
    UniqueFd rootFd = openRoot(m_root);
    if (rootFd.get() >= 0 && readFile(rootFd.get(), "stat", text, 1024 * 1024) == 0) {
        const auto pos = text.find("\nbtime ");
        if (pos != std::string::npos) {
            const char* p = text.data() + pos + 7;
            std::from_chars(p, text.data() + text.size(), btime);
        }
    }
    m_bootTime = btime;  // read once: the boot time does not move
    return btime;
}

std::optional<core::ProcessDetails> ProcProcessTable::details(std::uint32_t pid, std::uint64_t startTimeTicks) {
    UniqueFd rootFd = openRoot(m_root);
    if (rootFd.get() < 0) return std::nullopt;
    std::string stat;
    if (readFile(rootFd.get(), PidPath(pid, "/stat").c_str(), stat) != 0) return std::nullopt;
    const auto start = statStartTime(stat);
    if (!start || (startTimeTicks != 0 && *start != startTimeTicks)) return std::nullopt;

    core::ProcessDetails d;
    std::string text;
    // A command line can be as long as ARG_MAX; records carry at most 4 KiB of it, so replies
    // of 50,000 records stay within what the bus and clients take.
    constexpr std::size_t kCmdlineCap = 4096;
    int err = readFile(rootFd.get(), PidPath(pid, "/cmdline").c_str(), text, kCmdlineCap);
    if (err == 0 && text.empty() && statSaysZombie(stat)) {
        // A leader that exited before its threads has no cmdline of its own; a live thread has.
        if (const std::uint32_t tid = liveThreadOf(rootFd.get(), pid); tid != 0)
            err = readFile(rootFd.get(), PidPath(pid, tid, "/cmdline").c_str(), text, kCmdlineCap);
    }
    if (err == 0) {
        d.cmdline = cmdlineFromBytes(text);
    }
    std::optional<std::uint32_t> uid;
    if (readFile(rootFd.get(), PidPath(pid, "/status").c_str(), text) == 0) uid = parseStatusUid(text);
    if (uid) d.user = userName(*uid);

    // Without ptrace rights over the process the link may not be read: the exe stays empty.
    char link[4096];
    const ssize_t n = ::readlinkat(rootFd.get(), PidPath(pid, "/exe").c_str(), link, sizeof(link));
    if (n > 0 && static_cast<std::size_t>(n) < sizeof(link))
        d.exe = core::escapeUntrusted(std::string_view(link, static_cast<std::size_t>(n)));

    if (readFile(rootFd.get(), PidPath(pid, "/cgroup").c_str(), text) == 0) {
        core::CgroupOwner owner = core::ownerFromCgroup(text);
        d.containerName = m_containerNames.nameOf(owner);
        d.unit = std::move(owner.unit);
        d.containerRuntime = std::move(owner.containerRuntime);
        d.containerId = std::move(owner.containerId);
    }

    const long ticks = ::sysconf(_SC_CLK_TCK);
    const std::uint64_t boot = bootTimeSeconds();
    if (boot != 0 && ticks > 0)
        d.startTimeUs = boot * 1'000'000 + *start * 1'000'000 / static_cast<std::uint64_t>(ticks);

    // The PID may have been reused while the files above were read: check it still names the
    // process that started at `start`.
    if (readFile(rootFd.get(), PidPath(pid, "/stat").c_str(), stat) != 0 || statStartTime(stat) != start)
        return std::nullopt;
    return d;
}

std::uint64_t ProcProcessTable::netnsOf(std::uint32_t pid) {
    struct stat st {};
    if (::stat((m_root / std::to_string(pid) / "ns" / "net").c_str(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_ino);
}

}  // namespace porteye::sys
