// SPDX-License-Identifier: MIT
// Names of `ip netns`-style namespaces, read from a directory of real namespace bind mounts.
#include "sys/NamespacedSocketSource.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

using porteye::testing::TempDir;

TEST(NamedNamespaces, ANameFullOfEscapesIsReadEscapedAndAPlainFileIsNoNamespace) {
    if (::geteuid() != 0) GTEST_SKIP() << "bind-mounting a namespace needs root";
    TempDir dir;
    const std::string hostile = dir.path() + "/ev\xff\x1b[31m";
    const std::string placeholder = dir.path() + "/not-mounted";
    for (const auto& path : {hostile, placeholder})
        ::close(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_EQ(::mount("/proc/self/ns/net", hostile.c_str(), nullptr, MS_BIND, nullptr), 0) << std::strerror(errno);
    const auto named = porteye::sys::listNamedNamespaces(dir.path());
    ::umount2(hostile.c_str(), MNT_DETACH);
    ASSERT_EQ(named.size(), 1u) << "the unmounted file is no namespace";
    EXPECT_EQ(named[0].name, "ev\\xff\\x1b[31m");
    EXPECT_EQ(named[0].inode, porteye::sys::ownNetworkNamespace());
    EXPECT_EQ(named[0].path, hostile) << "opened by its real path";
}
