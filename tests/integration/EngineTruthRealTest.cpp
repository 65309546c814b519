// SPDX-License-Identifier: MIT
// What the engine reports about real processes matches what they did: hostile names,
// descriptor exhaustion, a main thread that exits before its worker, a fork handover.
#include "core/PidPortTracker.hpp"
#include "core/PortMonitor.hpp"
#include "support/Subprocess.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/ProcProcessTable.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace porteye {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

// A loopback listener; returns its fd, and its port and inode through the out-parameters.
int openListener(std::uint16_t& port, std::uint64_t& inode) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 4) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        return -1;
    struct stat st {};
    ::fstat(fd, &st);
    port = ntohs(addr.sin_port);
    inode = st.st_ino;
    return fd;
}

bool readAll(int fd, void* buf, std::size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        const ssize_t r = ::read(fd, p, n);
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

// For forked children: a failed pipe write or read ends the child (the test then sees EOF).
void put(int fd, const void* buf, std::size_t n) {
    if (::write(fd, buf, n) != static_cast<ssize_t>(n)) ::_exit(4);
}
void awaitByte(int fd) {
    char c;
    if (::read(fd, &c, 1) != 1) ::_exit(0);
}

void closeFd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

/// Closes the test's ends of the pipes its children wait on, and kills and reaps a child
/// not reaped yet, however the test ends: a failed ASSERT must not leave a child (or a
/// grandchild waiting on a pipe) behind for the rest of the run.
class ChildGuard {
public:
    ChildGuard(pid_t child, std::initializer_list<int*> fds) : m_child(child), m_fds(fds) {}
    ~ChildGuard() {
        for (int* fd : m_fds)
            closeFd(*fd);
        int status = 0;
        if (m_child > 0 && ::waitpid(m_child, &status, WNOHANG) == 0) {
            ::kill(m_child, SIGKILL);
            ::waitpid(m_child, &status, 0);
        }
    }
    ChildGuard(const ChildGuard&) = delete;
    ChildGuard& operator=(const ChildGuard&) = delete;

private:
    pid_t m_child;
    std::vector<int*> m_fds;
};

void reap(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
}

char stateOf(pid_t pid) {
    std::string stat;
    std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/stat"), stat);
    const auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
}

std::vector<core::SocketRecord> recordsOf(const core::PortMonitor& monitor, std::uint64_t inode) {
    std::vector<core::SocketRecord> out;
    for (const auto& r : monitor.snapshot())
        if (r.inode == inode) out.push_back(r);
    return out;
}

TEST(EngineTruthReal, ProcessNamedWithInvalidUtf8AndAnEscapeIsReadEscaped) {
    int go[2];
    int ready[2];
    ASSERT_EQ(::pipe(go), 0);
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(go[1]);
        ::close(ready[0]);
        ::prctl(PR_SET_NAME, "ev\xff\x1b[31m", 0, 0, 0);
        std::uint16_t port = 0;
        std::uint64_t inode = 0;
        openListener(port, inode);
        put(ready[1], &inode, sizeof(inode));
        awaitByte(go[0]);
        ::_exit(0);
    }
    ::close(go[0]);
    ::close(ready[1]);
    ChildGuard guard(child, {&go[1], &ready[0]});
    std::uint64_t inode = 0;
    ASSERT_TRUE(readAll(ready[0], &inode, sizeof(inode)));

    sys::ProcProcessTable table;
    const auto pid = static_cast<std::uint32_t>(child);
    const std::string escaped = "ev\\xff\\x1b[31m";
    const auto sockets = table.socketsOf(pid);
    ASSERT_TRUE(sockets.ok());
    EXPECT_EQ(sockets.info.name, escaped);
    EXPECT_EQ(table.info(pid)->name, escaped);
    const auto scan = table.findOwners({inode});
    ASSERT_TRUE(scan.owners.contains(inode));
    EXPECT_EQ(scan.owners.at(inode).front().name, escaped);
    const auto pinned = table.pin(pid);
    ASSERT_TRUE(pinned.ok());
    EXPECT_EQ(pinned.info.name, escaped);

    closeFd(go[1]);
    reap(child);
}

// What a process out of descriptors saw; filled in a forked child.
struct ExhaustedView {
    int socketsOfStatus = -1;
    int trackerStatus = -1;
    bool trackerExited = true;
    bool trackerClosedSomething = true;
    std::uint64_t walkTransient = 0;
    bool listed = true;
    bool done = false;
};

TEST(EngineTruthReal, OutOfDescriptorsIsTransientNotExited) {
    int result[2];
    ASSERT_EQ(::pipe(result), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ExhaustedView view;
        std::uint16_t port = 0;
        std::uint64_t inode = 0;
        openListener(port, inode);
        sys::ProcProcessTable table;
        const auto self = static_cast<std::uint32_t>(::getpid());
        core::SystemClock clock;
        core::PidPortTracker tracker(self, false, table, clock);
        std::vector<core::SocketRecord> dump(1);
        dump[0].inode = inode;
        dump[0].localPort = port;
        dump[0].state = core::TcpState::Listen;
        tracker.update(dump);
        // Lower the limit to what is open now, and fill the rest.
        rlimit lim{64, 64};
        ::setrlimit(RLIMIT_NOFILE, &lim);
        while (::dup(0) >= 0) {
        }
        view.socketsOfStatus = static_cast<int>(table.socketsOf(self).status);
        const auto change = tracker.update(dump);
        view.trackerStatus = static_cast<int>(change.readStatus);
        view.trackerExited = change.processExited;
        view.trackerClosedSomething = !change.closed.empty();
        view.walkTransient = table.findOwners({inode}).stats.transientErrors;
        view.listed = table.listProcesses().has_value();
        view.done = true;
        const bool written = ::write(result[1], &view, sizeof(view)) == static_cast<ssize_t>(sizeof(view));
        ::_exit(written ? 0 : 3);
    }
    ::close(result[1]);
    ExhaustedView view;
    const bool got = readAll(result[0], &view, sizeof(view));
    ::close(result[0]);
    reap(child);
    ASSERT_TRUE(got && view.done);
    EXPECT_EQ(view.socketsOfStatus, static_cast<int>(core::ReadStatus::Transient));
    EXPECT_EQ(view.trackerStatus, static_cast<int>(core::ReadStatus::Transient));
    EXPECT_FALSE(view.trackerExited);
    EXPECT_FALSE(view.trackerClosedSomething);
    EXPECT_GT(view.walkTransient, 0u);
    EXPECT_FALSE(view.listed);
}

TEST(EngineTruthReal, MainThreadExitWhileAWorkerHoldsAListenerIsNotAnExit) {
    int ready[2];
    int go[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(go), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(go[1]);
        ::close(ready[0]);
        std::thread worker([&] {
            std::uint16_t port = 0;
            std::uint64_t inode = 0;
            openListener(port, inode);
            put(ready[1], &port, sizeof(port));
            put(ready[1], &inode, sizeof(inode));
            awaitByte(go[0]);
            ::_exit(0);  // the whole group
        });
        worker.detach();
        ::syscall(SYS_exit, 0);  // the main thread only: the leader becomes a zombie
    }
    ::close(ready[1]);
    ::close(go[0]);
    ChildGuard guard(child, {&go[1], &ready[0]});
    std::uint16_t port = 0;
    std::uint64_t inode = 0;
    ASSERT_TRUE(readAll(ready[0], &port, sizeof(port)));
    ASSERT_TRUE(readAll(ready[0], &inode, sizeof(inode)));
    ASSERT_TRUE(eventually([&] { return stateOf(child) == 'Z'; }, 5s)) << "the main thread did not exit";

    sys::ProcProcessTable table;
    const auto pid = static_cast<std::uint32_t>(child);
    const auto sockets = table.socketsOf(pid);
    ASSERT_TRUE(sockets.ok()) << static_cast<int>(sockets.status);
    EXPECT_THAT(sockets.inodes, ::testing::Contains(inode));
    const auto scan = table.findOwners({inode});
    ASSERT_TRUE(scan.owners.contains(inode));
    EXPECT_EQ(scan.owners.at(inode).front().pid, pid);

    // A watch pinned as the service pins it is not ended, and sees the worker's port.
    auto pinned = table.pin(pid);
    ASSERT_TRUE(pinned.ok());
    core::SystemClock clock;
    core::PidPortTracker tracker(pid, false, table, clock, {}, {}, pinned.handle.get());
    sys::NetlinkSocketSource source;
    core::DumpResult dump;
    const core::DumpProvider provider = [&]() -> const std::vector<core::SocketRecord>* {
        dump = source.dump({});
        return dump.ok() ? &dump.sockets : nullptr;
    };
    auto change = tracker.step(provider);
    EXPECT_FALSE(change.processExited);
    EXPECT_TRUE(change.active.contains(port));
    change = tracker.step(provider);
    EXPECT_FALSE(change.processExited);
    EXPECT_TRUE(change.closed.empty());

    closeFd(go[1]);
    reap(child);
    EXPECT_TRUE(tracker.step(provider).processExited);
}

// A parent holds a listener, forks a child that inherits it, and exits. Polled like the
// daemon polls (no full rescan), the child is named within one poll of the fork, the parent
// disappears within one poll of its exit, and the socket is never reported removed.
TEST(EngineTruthReal, ForkHandoverIsNamedWithinOnePollAndNeverRemoved) {
    int cmd[2];
    int reply[2];
    int hold[2];  // the grandchild lives until the test closes hold[1]
    ASSERT_EQ(::pipe(cmd), 0);
    ASSERT_EQ(::pipe(reply), 0);
    ASSERT_EQ(::pipe(hold), 0);
    const pid_t parent = ::fork();
    ASSERT_GE(parent, 0);
    if (parent == 0) {
        ::close(cmd[1]);
        ::close(reply[0]);
        ::close(hold[1]);
        std::uint16_t port = 0;
        std::uint64_t inode = 0;
        openListener(port, inode);
        put(reply[1], &inode, sizeof(inode));
        awaitByte(cmd[0]);  // fork now
        const pid_t kid = ::fork();
        if (kid == 0) {
            ::close(cmd[0]);
            for (;;)
                awaitByte(hold[0]);  // until the test closes hold[1]
        }
        put(reply[1], &kid, sizeof(kid));
        awaitByte(cmd[0]);  // exit now
        ::_exit(0);
    }
    ::close(reply[1]);
    ::close(cmd[0]);
    ::close(hold[0]);
    ChildGuard guard(parent, {&hold[1], &cmd[1], &reply[0]});
    std::uint64_t inode = 0;
    ASSERT_TRUE(readAll(reply[0], &inode, sizeof(inode)));

    sys::NetlinkSocketSource source;
    sys::ProcProcessTable table;
    core::SystemClock clock;
    core::MonitorOptions options;
    options.request.states = core::stateBit(core::TcpState::Listen);
    options.resolver.fullRescanEvery = 0;  // not the safety net: what each poll does
    core::PortMonitor monitor(source, table, clock, options);
    std::vector<core::PortEvent> events;
    monitor.addListener([&](const std::vector<core::PortEvent>& batch) {
        for (const auto& e : batch)
            if (e.record.inode == inode) events.push_back(e);
    });
    ASSERT_TRUE(monitor.poll().ok);
    auto owners = recordsOf(monitor, inode);
    ASSERT_EQ(owners.size(), 1u);
    EXPECT_EQ(owners[0].pid, static_cast<std::uint32_t>(parent));

    ASSERT_EQ(::write(cmd[1], "f", 1), 1);
    pid_t kid = 0;
    ASSERT_TRUE(readAll(reply[0], &kid, sizeof(kid)));
    ASSERT_TRUE(monitor.poll().ok);
    owners = recordsOf(monitor, inode);
    ASSERT_EQ(owners.size(), 2u) << "the child is named at the first poll after the fork";

    ASSERT_EQ(::write(cmd[1], "x", 1), 1);
    reap(parent);
    ASSERT_TRUE(monitor.poll().ok);
    owners = recordsOf(monitor, inode);
    ASSERT_EQ(owners.size(), 1u) << "the parent is gone at the first poll after its exit";
    EXPECT_EQ(owners[0].pid, static_cast<std::uint32_t>(kid));
    ASSERT_TRUE(monitor.poll().ok);
    EXPECT_EQ(recordsOf(monitor, inode).size(), 1u);

    for (const auto& e : events)
        EXPECT_NE(e.action, core::Action::Removed) << "the socket never closed";
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].action, core::Action::OwnerChanged);
    EXPECT_EQ(events[0].record.pid, static_cast<std::uint32_t>(kid));
    EXPECT_EQ(events[1].action, core::Action::OwnerChanged);
    EXPECT_EQ(events[1].record.pid, static_cast<std::uint32_t>(kid));
    EXPECT_EQ(events[1].previousPid, static_cast<std::uint32_t>(parent));

    // The guard closes hold[1]: the grandchild exits, and init reaps it.
}

}  // namespace
}  // namespace porteye
