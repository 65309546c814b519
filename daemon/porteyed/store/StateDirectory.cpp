// SPDX-License-Identifier: MIT
#include "store/StateDirectory.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace porteye::store {
namespace {

bool trustedOwner(uid_t uid) {
    return uid == 0 || uid == ::geteuid();
}

/// Why `dir`'s ancestors let another user replace it (rename or swap a component), or empty.
std::string unsafeAncestor(const std::filesystem::path& dir) {
    for (auto p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) return p.string() + ": " + std::strerror(errno);
        if (!trustedOwner(st.st_uid))
            return p.string() + " belongs to uid " + std::to_string(st.st_uid) + ", who could replace it";
        if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0)
            return p.string() + " is writable by every user and has no sticky bit";
        if (p == p.parent_path()) break;
    }
    return {};
}

}  // namespace

StateDirectory::StateDirectory(std::string path) : m_path(std::move(path)) {
    const auto absolute = std::filesystem::absolute(m_path).lexically_normal();
    if (const auto why = unsafeAncestor(absolute); !why.empty()) {
        m_error = m_path + " is not safe: " + why;
        return;
    }
    if (::mkdir(absolute.c_str(), 0700) != 0 && errno != EEXIST) {
        m_error = "cannot create " + m_path + ": " + std::strerror(errno);
        return;
    }
    const int fd = ::open(absolute.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        m_error = "cannot open " + m_path +
                  (errno == ELOOP || errno == ENOTDIR ? ": not a directory (a symlink?)"
                                                      : ": " + std::string(std::strerror(errno)));
        return;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        m_error = "cannot stat " + m_path + ": " + std::strerror(errno);
    } else if (!trustedOwner(st.st_uid)) {
        m_error = m_path + " is not safe: it belongs to uid " + std::to_string(st.st_uid) + ", not to porteyed (uid " +
                  std::to_string(::geteuid()) + ") or root";
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        m_error = m_path + " is not safe: writable by " + ((st.st_mode & S_IWOTH) ? "every user" : "its group") +
                  " (mode " + std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                  std::to_string(st.st_mode & 7) + ")";
    }
    if (!m_error.empty()) {
        ::close(fd);
        return;
    }
    m_fd = fd;
}

StateDirectory::~StateDirectory() {
    if (m_fd >= 0) ::close(m_fd);
}

int StateDirectory::openFile(const std::string& name, std::string& error) const {
    const std::string shown = m_path + "/" + name;
    const int fd = ::openat(m_fd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) {
        error =
            "cannot open " + shown + (errno == ELOOP ? ": it is a symlink" : ": " + std::string(std::strerror(errno)));
        return -1;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        error = shown + " is not a regular file";
    } else if (!trustedOwner(st.st_uid)) {
        error = shown + " belongs to uid " + std::to_string(st.st_uid);
    } else if (st.st_nlink > 1) {
        // A hard link to a file elsewhere (made while the directory was open to others).
        error = shown + " has " + std::to_string(st.st_nlink) + " hard links";
    } else if ((st.st_mode & 0077) != 0 && ::fchmod(fd, 0600) != 0) {
        // Files of an older porteyed were made 0644: every user could read every user's history.
        error = "cannot make " + shown + " private: " + std::strerror(errno);
    }
    if (!error.empty()) {
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace porteye::store
