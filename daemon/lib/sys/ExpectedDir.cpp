// SPDX-License-Identifier: MIT
#include "sys/ExpectedDir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace porteye::sys {
namespace {

// Filesystems whose "regular files" are not files an admin wrote: pseudo filesystems (a read of
// /proc/kmsg blocks and consumes the kernel log) and network ones (a read can hang on the server).
constexpr unsigned long kNfs = 0x6969, kSmb = 0x517B, kCifs = 0xFF534D42, kSmb2 = 0xFE534D42, kFuse = 0x65735546,
                        k9p = 0x01021997, kCeph = 0x00C36400, kAfs = 0x5346414F, kTracefs = 0x74726163,
                        kCgroup = 0x27E0EB, kCgroup2 = 0x63677270, kBpffs = 0xCAFE4A11;

bool localFilesystem(unsigned long type) {
    for (unsigned long bad : {static_cast<unsigned long>(PROC_SUPER_MAGIC), static_cast<unsigned long>(SYSFS_MAGIC),
                              static_cast<unsigned long>(DEBUGFS_MAGIC), static_cast<unsigned long>(SECURITYFS_MAGIC),
                              kTracefs, kCgroup, kCgroup2, kBpffs, kNfs, kSmb, kCifs, kSmb2, kFuse, k9p, kCeph, kAfs})
        if (type == bad) return false;
    return true;
}

std::string kindOf(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

struct FdCloser {
    void operator()(const int* fd) const {
        ::close(*fd);
        delete fd;
    }
};

/// Reads one `*.conf` relative to the directory's fd: never through a symlink, never blocking
/// (O_NONBLOCK, and only regular files of local filesystems are read), at most `limit` + 1 bytes.
/// nullopt with `error` naming the file when it cannot be used.
std::optional<std::string> readRuleFile(int dirFd, const std::string& name, const std::string& shown,
                                        std::string& error) {
    const int fd = ::openat(dirFd, name.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        error = shown + ": " +
                (errno == ELOOP ? std::string("a symlink; not followed (put the file itself in the directory)")
                                : std::string(std::strerror(errno))) +
                "; its rules are missing";
        return std::nullopt;
    }
    const std::unique_ptr<const int, FdCloser> closer(new int(fd));
    struct stat st {};
    struct statfs fs {};
    if (::fstat(fd, &st) != 0 || ::fstatfs(fd, &fs) != 0) {
        error = shown + ": " + std::strerror(errno) + "; its rules are missing";
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        error = shown + ": " + kindOf(st.st_mode) + ", not a file of rules; not read";
        return std::nullopt;
    }
    if (!localFilesystem(static_cast<unsigned long>(fs.f_type))) {
        error = shown + ": on a pseudo or network filesystem; not read";
        return std::nullopt;
    }
    std::string text;
    text.resize(std::min<std::size_t>(static_cast<std::size_t>(std::max<off_t>(st.st_size, 0)), kMaxExpectedFileBytes) +
                1);
    std::size_t used = 0;
    while (used < text.size()) {
        const ssize_t n = ::read(fd, text.data() + used, text.size() - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = shown + ": " + std::strerror(errno) + "; its rules are missing";
            return std::nullopt;
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
        // A file that grew since fstat: keep reading, up to the bound.
        if (used == text.size() && text.size() <= kMaxExpectedFileBytes)
            text.resize(std::min(text.size() * 2, kMaxExpectedFileBytes + 1));
    }
    text.resize(used);
    return text;
}

/// One line per file for its duplicates: 300,000 duplicate rules once wrote 26 MB of log.
void summariseDuplicates(const std::string& shown, std::vector<std::string>& warnings, LoadedExpected& out) {
    if (warnings.empty()) return;
    if (warnings.size() == 1) {
        out.warnings.push_back(warnings.front());
        return;
    }
    out.warnings.push_back(shown + ": " + std::to_string(warnings.size()) +
                           " rules duplicate earlier ones and are ignored (first: " + warnings.front() + ")");
}

}  // namespace

LoadedExpected loadExpectedDir(const std::string& dir) {
    LoadedExpected out;
    // The directory itself may be a symlink (/etc/porteye/expected.d managed elsewhere); what is in it is not followed.
    const int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd < 0) {
        if (errno != ENOENT) out.errors.push_back(dir + ": " + std::strerror(errno) + "; no allowlist loaded");
        return out;
    }
    const std::unique_ptr<const int, FdCloser> closer(new int(dirFd));
    std::vector<std::string> names;
    {
        DIR* d = ::fdopendir(::dup(dirFd));
        if (d == nullptr) {
            out.errors.push_back(dir + ": " + std::strerror(errno) + "; no allowlist loaded");
            return out;
        }
        while (const dirent* entry = ::readdir(d)) {
            const std::string name = entry->d_name;
            // Backups and package leftovers (x.conf~, x.conf.dpkg-old) do not count, as in systemd's .d dirs.
            if (name.size() > 5 && name.ends_with(".conf")) names.push_back(name);
        }
        ::closedir(d);
    }
    if (names.empty()) return out;
    std::sort(names.begin(), names.end());
    // From here on there is an allowlist, even if no file of it can be read: the admin asked for
    // alerts, so they stay on (nothing expected) rather than fail open to "no allowlist".
    core::ExpectedListeners rules;
    for (const auto& name : names) {
        const std::string shown = dir + "/" + name;
        std::string error;
        auto text = readRuleFile(dirFd, name, shown, error);
        if (!text) {
            out.errors.push_back(error);
            ++out.unusable;
            continue;
        }
        if (text->size() > kMaxExpectedFileBytes) {
            text->resize(kMaxExpectedFileBytes);
            text->erase(text->rfind('\n') == std::string::npos ? 0 : text->rfind('\n'));
            out.errors.push_back(shown + ": longer than " + std::to_string(kMaxExpectedFileBytes) +
                                 " bytes; the rest is ignored");
        }
        auto parsed = core::parseExpectedRules(*text, shown);
        rules.add(parsed);
        out.errors.insert(out.errors.end(), parsed.errors.begin(), parsed.errors.end());
        summariseDuplicates(shown, parsed.warnings, out);
        ++out.files;
    }
    out.rules = std::move(rules);
    return out;
}

}  // namespace porteye::sys
