// SPDX-License-Identifier: MIT
#pragma once

#include <string>

namespace porteye::store {

/// porteyed's state directory, checked before anything in it is opened: root runs porteyed, so a
/// directory another user can write lets that user point `porteyed.lock` or `history.db` at any
/// file (symlinks) or read every user's history. The unit's StateDirectory= and UMask=0077 make
/// it safe under systemd; these checks make porteyed safe without them.
class StateDirectory {
public:
    /// Makes `path` (0700) if missing, then opens it without following a final symlink and
    /// refuses it (error() says why) when it is not owned by porteyed's user or root, is writable
    /// by group or others, or lies under a directory others can write without the sticky bit (or
    /// one owned by another user).
    explicit StateDirectory(std::string path);
    ~StateDirectory();
    StateDirectory(const StateDirectory&) = delete;
    StateDirectory& operator=(const StateDirectory&) = delete;

    bool ok() const { return m_fd >= 0; }
    const std::string& error() const { return m_error; }
    const std::string& path() const { return m_path; }

    /// Opens (creating it 0600) the regular file `name` in the directory, relative to the
    /// directory's fd and with O_NOFOLLOW: a symlink, a FIFO or a file of another user is refused.
    /// Returns the fd (O_CLOEXEC) or -1 with `error` set.
    int openFile(const std::string& name, std::string& error) const;

private:
    std::string m_path;
    std::string m_error;
    int m_fd = -1;
};

}  // namespace porteye::store
