// SPDX-License-Identifier: MIT
#include "sys/NamespaceOwner.hpp"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace porteye::sys {

std::optional<std::uint32_t> namespaceOwnerUid(const std::string& path) {
    const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return std::nullopt;
    const int userns = ::ioctl(ns, NS_GET_USERNS);
    ::close(ns);
    if (userns < 0) return std::nullopt;
    uid_t uid = 0;
    const int r = ::ioctl(userns, NS_GET_OWNER_UID, &uid);
    ::close(userns);
    if (r < 0) return std::nullopt;
    return static_cast<std::uint32_t>(uid);
}

}  // namespace porteye::sys
