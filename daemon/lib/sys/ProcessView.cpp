// SPDX-License-Identifier: MIT
#include "sys/ProcessView.hpp"

#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace porteye::sys {
namespace {

bool hasEffective(const __user_cap_data_struct (&data)[2], int cap) {
    return (data[cap / 32].effective & (1U << (cap % 32))) != 0;
}

}  // namespace

ProcessView probeProcessView(const std::filesystem::path& procRoot) {
    ProcessView view;
    DIR* dir = ::opendir((procRoot / "1" / "fd").c_str());
    if (dir != nullptr) {
        ::closedir(dir);
        view.all = true;
        view.name = "all";
        view.why = "it can read /proc/1/fd";
        return view;
    }
    const int err = errno;
    if (err == ENOENT) {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2]{};
        if (::syscall(SYS_capget, &header, data) == 0 && hasEffective(data, CAP_DAC_READ_SEARCH) &&
            hasEffective(data, CAP_SYS_PTRACE)) {
            view.all = true;
            view.name = "all";
            view.why = "it holds CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE";
            return view;
        }
    }
    view.name = "own-user";
    view.why = "it cannot read /proc/1/fd (" + std::string(std::strerror(err)) +
               "): without CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE other users' sockets show without their process";
    return view;
}

}  // namespace porteye::sys
