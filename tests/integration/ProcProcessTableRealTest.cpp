// SPDX-License-Identifier: MIT
#include "sys/ProcProcessTable.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace porteye::sys {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

std::vector<std::uint32_t> pidsOf(const std::vector<core::ProcessInfo>& infos) {
    std::vector<std::uint32_t> out;
    for (const auto& i : infos)
        out.push_back(i.pid);
    return out;
}

std::string selfComm() {
    std::string comm;
    std::getline(std::ifstream("/proc/self/comm"), comm);
    return comm;
}

// A loopback TCP listener on an ephemeral port; only its inode matters here.
class Listener {
public:
    Listener() {
        m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (m_fd < 0 || ::bind(m_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
            ::listen(m_fd, 4) != 0) {
            return;
        }
        struct stat st {};
        if (::fstat(m_fd, &st) == 0) m_inode = st.st_ino;
    }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    ~Listener() {
        if (m_fd >= 0) ::close(m_fd);
    }
    std::uint64_t inode() const { return m_inode; }

private:
    int m_fd = -1;
    std::uint64_t m_inode = 0;
};

// A forked child that inherits every fd (so the listener too) and blocks on a
// pipe until release(); no sleeps, exit is driven by closing the pipe.
class BlockedChild {
public:
    BlockedChild() {
        int fds[2];
        if (::pipe(fds) != 0) return;
        m_pid = ::fork();
        if (m_pid == 0) {
            ::close(fds[1]);
            char c = 0;
            while (::read(fds[0], &c, 1) < 0) {
            }
            ::_exit(0);
        }
        ::close(fds[0]);
        m_writeEnd = fds[1];
    }
    BlockedChild(const BlockedChild&) = delete;
    BlockedChild& operator=(const BlockedChild&) = delete;
    ~BlockedChild() { release(); }
    pid_t pid() const { return m_pid; }
    /// Lets the child exit and reaps it.
    void release() {
        if (m_writeEnd >= 0) {
            ::close(m_writeEnd);
            m_writeEnd = -1;
        }
        if (m_pid > 0) {
            int status = 0;
            ::waitpid(m_pid, &status, 0);
            m_pid = -1;
        }
    }

private:
    pid_t m_pid = -1;
    int m_writeEnd = -1;
};

TEST(ProcProcessTableReal, FindsThisProcessAsOwnerOfItsListener) {
    Listener listener;
    ASSERT_NE(listener.inode(), 0u);
    ProcProcessTable table;

    const core::OwnerScan scan = table.findOwners({listener.inode()});

    ASSERT_TRUE(scan.owners.contains(listener.inode()));
    const auto& owners = scan.owners.at(listener.inode());
    ASSERT_EQ(owners.size(), 1u);
    EXPECT_EQ(owners.front().pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(owners.front().name, selfComm());
    EXPECT_EQ(owners.front().uid, ::getuid());
    EXPECT_GT(scan.stats.processesScanned, 0u);
    EXPECT_GT(scan.stats.fdsRead, 0u);
}

TEST(ProcProcessTableReal, ForkedChildIsASecondOwnerUntilItExits) {
    Listener listener;
    ASSERT_NE(listener.inode(), 0u);
    ProcProcessTable table;
    const auto self = static_cast<std::uint32_t>(::getpid());

    BlockedChild child;
    ASSERT_GT(child.pid(), 0);
    const auto childPid = static_cast<std::uint32_t>(child.pid());
    // fork() returns before the child necessarily runs, but its fd table is already
    // a copy of ours, so it is visible right away.
    const core::OwnerScan both = table.findOwners({listener.inode()});
    EXPECT_THAT(pidsOf(both.owners.at(listener.inode())), UnorderedElementsAre(self, childPid));
    EXPECT_THAT(table.childrenOf(self), Contains(childPid));
    EXPECT_TRUE(table.exists(childPid));

    child.release();
    const core::OwnerScan parentOnly = table.findOwners({listener.inode()});
    EXPECT_THAT(pidsOf(parentOnly.owners.at(listener.inode())), ElementsAre(self));
    EXPECT_FALSE(table.exists(childPid));
    EXPECT_FALSE(table.info(childPid).has_value());
    EXPECT_EQ(table.socketsOf(childPid).status, core::ReadStatus::Gone);
}

TEST(ProcProcessTableReal, SocketsOfThisProcessContainsTheListener) {
    Listener listener;
    ASSERT_NE(listener.inode(), 0u);
    ProcProcessTable table;
    core::WalkStats stats;

    const auto ps = table.socketsOf(static_cast<std::uint32_t>(::getpid()), &stats);

    ASSERT_TRUE(ps.ok());
    EXPECT_EQ(ps.info.name, selfComm());
    EXPECT_THAT(ps.inodes, Contains(listener.inode()));
    EXPECT_EQ(stats.accessDenied, 0u);
}

TEST(ProcProcessTableReal, UsageOfThisProcessIsPlausible) {
    ProcProcessTable table;
    const auto u = table.usage(static_cast<std::uint32_t>(::getpid()));
    ASSERT_TRUE(u.has_value());
    EXPECT_GT(u->rssBytes, 0u);
    EXPECT_GT(u->startTimeTicks, 0u);
    EXPECT_GE(u->cpuSeconds, 0.0);
}

// Not a benchmark gate (the host is shared), just a figure in the test log.
TEST(ProcProcessTableReal, ReportsWalkCostPerFd) {
    ProcProcessTable table;
    const auto start = std::chrono::steady_clock::now();
    const core::OwnerScan scan = table.findOwners({1});
    const auto us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    ASSERT_GT(scan.stats.fdsRead, 0u);
    std::printf("[ walk     ] %llu processes, %llu fds in %.0f us: %.2f us/fd\n",
                static_cast<unsigned long long>(scan.stats.processesScanned),
                static_cast<unsigned long long>(scan.stats.fdsRead), us, us / static_cast<double>(scan.stats.fdsRead));
}

}  // namespace
}  // namespace porteye::sys

namespace porteye::sys {
namespace {

TEST(ProcProcessTableRealDetails, OwnDetailsMatchProcSelf) {
    ProcProcessTable table;
    const auto pid = static_cast<std::uint32_t>(::getpid());
    const auto info = table.info(pid);
    ASSERT_TRUE(info);
    ASSERT_NE(info->startTimeTicks, 0U);
    const auto d = table.details(pid, info->startTimeTicks);
    ASSERT_TRUE(d);
    char exe[4096] = {};
    ASSERT_GT(::readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
    EXPECT_EQ(d->exe, exe);
    EXPECT_NE(d->cmdline.find("porteye_integration_tests"), std::string::npos) << d->cmdline;
    // Started after boot and before now (the test started it a moment ago).
    const auto nowUs = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    EXPECT_LE(d->startTimeUs, nowUs);
    EXPECT_GT(d->startTimeUs + 3600ULL * 1'000'000, nowUs) << "this test process started over an hour ago?";
    EXPECT_FALSE(table.details(pid, info->startTimeTicks + 1)) << "another start time is another process";
}

}  // namespace
}  // namespace porteye::sys
