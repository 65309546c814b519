// SPDX-License-Identifier: MIT
#include "sys/ProcProcessTable.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace porteye::sys {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// A fake /proc in a temporary directory: <pid>/{comm,cmdline,status,fd/N -> target}.
// Symlink targets such as "socket:[N]" are dangling, exactly as readlink sees them.
class FakeProc {
public:
    FakeProc() {
        std::string tmpl = "/tmp/porteye-proc-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
        m_root = tmpl;
    }
    FakeProc(const FakeProc&) = delete;
    FakeProc& operator=(const FakeProc&) = delete;
    ~FakeProc() {
        std::error_code ec;
        // A mode-000 directory cannot be emptied by a non-root owner: open it up first.
        for (const auto& p : m_locked)
            fs::permissions(p, fs::perms::owner_all, ec);
        fs::remove_all(m_root, ec);
    }

    const fs::path& root() const { return m_root; }

    /// A process with info files and the given fd -> link target map.
    fs::path addProcess(std::uint32_t pid, const std::string& comm, const std::map<int, std::string>& fds,
                        const std::string& cmdline = {}, std::uint32_t uid = 1000) {
        fs::path dir = addBareProcess(pid, fds);
        write(dir / "comm", comm + "\n");
        // stat holds the comm too (the table reads it there) and the start time, field 22.
        write(dir / "stat", std::to_string(pid) + " (" + comm + ") S 1 " + std::to_string(pid) + " " +
                                std::to_string(pid) + " 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 " +
                                std::to_string(1000 + pid) + " 0 0\n");
        write(dir / "cmdline", cmdline);
        // Real, effective and saved uids differ so the test sees which one is taken.
        const std::string uids =
            std::to_string(uid) + "\t" + std::to_string(uid + 1) + "\t" + std::to_string(uid + 2) + "\t0";
        write(dir / "status",
              "Name:\t" + comm + "\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t" + uids + "\nGid:\t0\t0\t0\t0\n");
        return dir;
    }

    /// A pid directory with only fd/ (no info files).
    fs::path addBareProcess(std::uint32_t pid, const std::map<int, std::string>& fds) {
        fs::path dir = m_root / std::to_string(pid);
        fs::create_directories(dir / "fd");
        for (const auto& [fd, target] : fds)
            fs::create_symlink(target, dir / "fd" / std::to_string(fd));
        return dir;
    }

    void lock(const fs::path& p) {
        fs::permissions(p, fs::perms::none);
        m_locked.push_back(p);
    }

    static void write(const fs::path& p, const std::string& content) {
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << content;
    }

private:
    fs::path m_root;
    std::vector<fs::path> m_locked;
};

std::string sock(std::uint64_t ino) {
    return "socket:[" + std::to_string(ino) + "]";
}

std::vector<std::uint32_t> pidsOf(const std::vector<core::ProcessInfo>& infos) {
    std::vector<std::uint32_t> out;
    for (const auto& i : infos)
        out.push_back(i.pid);
    return out;
}

TEST(ParseSocketLink, ReturnsInodeOfSocketTargets) {
    EXPECT_EQ(parseSocketLink("socket:[123]"), 123u);
    EXPECT_EQ(parseSocketLink("socket:[0]"), 0u);
    EXPECT_EQ(parseSocketLink("socket:[18446744073709551615]"), 18446744073709551615ull);
}

TEST(ParseSocketLink, RejectsEverythingElse) {
    for (const char* bad : {"", "socket:", "socket:[", "socket:[]", "socket:[12a]", "socket:[a12]", "socket:[-1]",
                            "socket:[+1]", "socket:[ 1]", "socket:[1]x", "socket:[1", "socket:[18446744073709551616]",
                            "pipe:[123]", "anon_inode:[eventpoll]", "/dev/null", "Socket:[1]"}) {
        EXPECT_EQ(parseSocketLink(bad), 0u) << bad;
    }
}

TEST(ProcProcessTable, FindsOwnerWithCommCmdlineAndRealUid) {
    FakeProc proc;
    proc.addProcess(100, "nginx", {{0, "/dev/null"}, {3, "pipe:[55]"}, {4, sock(7001)}, {5, sock(9999)}},
                    std::string("nginx: master\0-g\0daemon off;\0", 29), 33);
    ProcProcessTable table(proc.root());

    const core::OwnerScan scan = table.findOwners({7001});

    ASSERT_EQ(scan.owners.size(), 1u);
    ASSERT_EQ(scan.owners.at(7001).size(), 1u);
    const core::ProcessInfo& pi = scan.owners.at(7001).front();
    EXPECT_EQ(pi.pid, 100u);
    EXPECT_EQ(pi.name, "nginx");
    EXPECT_EQ(pi.cmdline, "nginx: master -g daemon off;");
    EXPECT_EQ(pi.uid, 33u);  // first (real) field of Uid:
    EXPECT_EQ(scan.stats.processesScanned, 1u);
    EXPECT_EQ(scan.stats.fdsRead, 4u);
    EXPECT_EQ(scan.stats.processesVanished, 0u);
    EXPECT_EQ(scan.stats.accessDenied, 0u);
}

TEST(ProcProcessTable, SkipsNonNumericEntries) {
    FakeProc proc;
    proc.addProcess(1, "init", {{3, sock(1)}});
    for (const char* name : {"self", "net", "12abc", "sys"}) {
        fs::create_directories(proc.root() / name / "fd");
        fs::create_symlink(sock(1), proc.root() / name / "fd" / "3");
        FakeProc::write(proc.root() / name / "comm", "bogus\n");
    }
    FakeProc::write(proc.root() / "uptime", "1.0 1.0\n");
    ProcProcessTable table(proc.root());

    const core::OwnerScan scan = table.findOwners({1});

    EXPECT_THAT(pidsOf(scan.owners.at(1)), ElementsAre(1u));
    EXPECT_EQ(scan.stats.processesScanned, 1u);
}

TEST(ProcProcessTable, ListsEveryProcessSharingAnInode) {
    FakeProc proc;
    proc.addProcess(200, "server", {{3, sock(42)}});
    proc.addProcess(201, "server", {{3, sock(42)}, {4, sock(43)}});
    proc.addProcess(300, "other", {{3, sock(44)}});
    ProcProcessTable table(proc.root());

    const core::OwnerScan scan = table.findOwners({42, 43});

    EXPECT_THAT(pidsOf(scan.owners.at(42)), UnorderedElementsAre(200u, 201u));
    EXPECT_THAT(pidsOf(scan.owners.at(43)), ElementsAre(201u));
    EXPECT_FALSE(scan.owners.contains(44));
}

TEST(ProcProcessTable, ListsProcessOnceWhenItHoldsAnInodeOnTwoFds) {
    FakeProc proc;
    proc.addProcess(10, "dup", {{3, sock(5)}, {7, sock(5)}, {9, sock(5)}});
    ProcProcessTable table(proc.root());

    const core::OwnerScan scan = table.findOwners({5});

    EXPECT_THAT(pidsOf(scan.owners.at(5)), ElementsAre(10u));
    EXPECT_EQ(scan.stats.fdsRead, 3u);
}

TEST(ProcProcessTable, EmptyWantedSetFindsNothingButStillWalks) {
    FakeProc proc;
    proc.addProcess(10, "a", {{3, sock(5)}});
    ProcProcessTable table(proc.root());

    const core::OwnerScan scan = table.findOwners({});

    EXPECT_THAT(scan.owners, IsEmpty());
    EXPECT_EQ(scan.stats.fdsRead, 1u);
}

TEST(ProcProcessTable, CountsMissingFdDirAsVanishedAndFindsTheOthers) {
    FakeProc proc;
    proc.addProcess(10, "alive", {{3, sock(5)}});
    fs::create_directories(proc.root() / "11");  // pid dir without fd/: exited after readdir
    proc.addProcess(12, "alive2", {{3, sock(5)}});
    ProcProcessTable table(proc.root());

    const core::OwnerScan scan = table.findOwners({5});

    EXPECT_THAT(pidsOf(scan.owners.at(5)), UnorderedElementsAre(10u, 12u));
    EXPECT_EQ(scan.stats.processesScanned, 3u);
    EXPECT_EQ(scan.stats.processesVanished, 1u);
}

TEST(ProcProcessTable, CountsOwnerWhoseInfoVanishedAndDropsIt) {
    FakeProc proc;
    proc.addBareProcess(10, {{3, sock(5)}});  // fds readable, comm gone: exited in between
    proc.addProcess(11, "alive", {{3, sock(5)}});
    ProcProcessTable table(proc.root());

    const core::OwnerScan scan = table.findOwners({5});

    EXPECT_THAT(pidsOf(scan.owners.at(5)), ElementsAre(11u));
    EXPECT_EQ(scan.stats.processesVanished, 1u);
}

TEST(ProcProcessTable, ReadsInfoOnlyForOwners) {
    FakeProc proc;
    proc.addBareProcess(10, {{3, sock(6)}});  // no info files, but owns nothing wanted
    proc.addProcess(11, "alive", {{3, sock(5)}});
    ProcProcessTable table(proc.root());

    const core::OwnerScan scan = table.findOwners({5});

    EXPECT_THAT(pidsOf(scan.owners.at(5)), ElementsAre(11u));
    EXPECT_EQ(scan.stats.processesVanished, 0u);
}

TEST(ProcProcessTable, CountsProcessRemovedMidWalkAsVanished) {
    FakeProc proc;
    proc.addProcess(10, "a", {{3, sock(5)}});
    proc.addProcess(20, "b", {{3, sock(5)}});
    proc.addProcess(30, "c", {{3, sock(5)}});
    std::vector<std::uint32_t> seen;
    ProcProcessTable table(proc.root(), [&](std::uint32_t pid) {
        seen.push_back(pid);
        if (pid == 20) fs::remove_all(proc.root() / "20");
    });

    const core::OwnerScan scan = table.findOwners({5});

    EXPECT_THAT(seen, UnorderedElementsAre(10u, 20u, 30u));
    EXPECT_THAT(pidsOf(scan.owners.at(5)), UnorderedElementsAre(10u, 30u));
    EXPECT_EQ(scan.stats.processesScanned, 3u);
    EXPECT_EQ(scan.stats.processesVanished, 1u);
}

TEST(ProcProcessTable, UidFallsBackToOwnerOfPidDirWithoutStatus) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown the fake pid directory";
    FakeProc proc;
    const fs::path dir = proc.addProcess(10, "a", {{3, sock(5)}});
    fs::remove(dir / "status");
    ASSERT_EQ(::chown(dir.c_str(), 4321, 4321), 0);
    ProcProcessTable table(proc.root());

    const auto pi = table.info(10);

    ASSERT_TRUE(pi.has_value());
    EXPECT_EQ(pi->uid, 4321u);
}

TEST(ProcProcessTable, InfoOfMissingProcessIsNullopt) {
    FakeProc proc;
    ProcProcessTable table(proc.root());
    EXPECT_FALSE(table.info(77).has_value());
}

TEST(ProcProcessTable, SocketsOfReturnsSortedUniqueInodesAndInfo) {
    FakeProc proc;
    proc.addProcess(10, "svc", {{0, "/dev/null"}, {3, sock(9)}, {4, sock(2)}, {5, sock(9)}, {6, "pipe:[3]"}});
    ProcProcessTable table(proc.root());
    core::WalkStats stats;

    const auto ps = table.socketsOf(10, &stats);

    ASSERT_TRUE(ps.ok());
    EXPECT_EQ(ps.info.pid, 10u);
    EXPECT_EQ(ps.info.name, "svc");
    EXPECT_THAT(ps.inodes, ElementsAre(2u, 9u));
    EXPECT_EQ(stats.fdsRead, 5u);
    EXPECT_EQ(stats.accessDenied, 0u);
}

TEST(ProcProcessTable, SocketsOfAZombieWithoutLiveThreadsIsGone) {
    FakeProc proc;
    const auto zombie = proc.addProcess(10, "gone", {});
    FakeProc::write(zombie / "stat", "10 (gone) Z 1 10 10 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0");
    const auto sleeping = proc.addProcess(11, "idle) Z (x", {});
    FakeProc::write(sleeping / "stat", "11 (idle) Z (x) S 1 11 11 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0");
    ProcProcessTable table(proc.root());
    core::WalkStats stats;
    EXPECT_EQ(table.socketsOf(10, &stats).status, core::ReadStatus::Gone);
    EXPECT_EQ(stats.processesVanished, 1u);
    EXPECT_TRUE(table.socketsOf(11).ok()) << "a ') Z' inside the comm is not the state";
}

TEST(ProcProcessTable, SocketsOfMissingOrVanishedProcessIsGone) {
    FakeProc proc;
    fs::create_directories(proc.root() / "11");  // no fd/
    ProcProcessTable table(proc.root());
    core::WalkStats stats;

    EXPECT_EQ(table.socketsOf(10, &stats).status, core::ReadStatus::Gone);
    EXPECT_EQ(table.socketsOf(11).status, core::ReadStatus::Gone);
    EXPECT_EQ(stats.processesVanished, 1u);
}

// What an unprivileged walker saw of a tree whose only fd directory is mode 000.
struct DeniedResult {
    core::ReadStatus socketsOfStatus = core::ReadStatus::Ok;
    std::size_t socketsOfInodes = 99;
    std::uint64_t socketsOfDenied = 0;
    std::uint64_t findOwnersDenied = 0;
    std::size_t owners = 99;
    bool ok = false;
};

DeniedResult walkDenied(const fs::path& root) {
    DeniedResult r;
    ProcProcessTable table(root);
    core::WalkStats stats;
    const auto ps = table.socketsOf(10, &stats);
    r.socketsOfStatus = ps.status;
    r.socketsOfInodes = ps.inodes.size();
    r.socketsOfDenied = stats.accessDenied;
    const core::OwnerScan scan = table.findOwners({5});
    r.findOwnersDenied = scan.stats.accessDenied;
    r.owners = scan.owners.size();
    r.ok = true;
    return r;
}

TEST(ProcProcessTable, CountsDeniedFdDirWithoutThrowing) {
    FakeProc proc;
    const fs::path dir = proc.addProcess(10, "secret", {{3, sock(5)}});
    proc.lock(dir / "fd");

    DeniedResult r;
    if (::geteuid() != 0) {
        r = walkDenied(proc.root());
    } else {
        // Root ignores mode 000, so walk from a child that dropped to nobody.
        fs::permissions(proc.root(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                         fs::perms::others_read | fs::perms::others_exec);
        int pipeFds[2];
        ASSERT_EQ(::pipe(pipeFds), 0);
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            ::close(pipeFds[0]);
            if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
                ::setresuid(65534, 65534, 65534) != 0) {
                ::_exit(2);
            }
            const DeniedResult cr = walkDenied(proc.root());
            const bool written = ::write(pipeFds[1], &cr, sizeof(cr)) == static_cast<ssize_t>(sizeof(cr));
            ::_exit(written ? 0 : 3);
        }
        ::close(pipeFds[1]);
        const bool gotResult = ::read(pipeFds[0], &r, sizeof(r)) == static_cast<ssize_t>(sizeof(r));
        ::close(pipeFds[0]);
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
        ASSERT_TRUE(gotResult);
    }

    ASSERT_TRUE(r.ok);
    // Not an empty set, which would read as "every port closed": an error.
    EXPECT_EQ(r.socketsOfStatus, core::ReadStatus::Denied);
    EXPECT_EQ(r.socketsOfInodes, 0u);
    EXPECT_EQ(r.socketsOfDenied, 1u);
    EXPECT_EQ(r.findOwnersDenied, 1u);
    EXPECT_EQ(r.owners, 0u);
}

TEST(ProcProcessTable, SocketsOfAZombieLeaderIsReadThroughALiveThread) {
    // The main thread exited (pthread_exit) while a worker holds a listener: the leader is a
    // zombie with an empty fd/, and the process lives on in task/<tid>.
    FakeProc proc;
    const auto dir = proc.addProcess(10, "server", {});
    FakeProc::write(dir / "stat", "10 (server) Z 1 10 10 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 2 0 100 0 0");
    FakeProc::write(dir / "task/10/stat", "10 (server) Z 1 10 10 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 2 0 100 0 0");
    FakeProc::write(dir / "task/11/stat", "11 (server) S 1 10 10 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 2 0 100 0 0");
    FakeProc::write(dir / "task/11/cmdline", std::string("server\0--port\0", 14));
    fs::create_directories(dir / "task/11/fd");
    fs::create_symlink(sock(42), dir / "task/11/fd/3");
    ProcProcessTable table(proc.root());

    const auto ps = table.socketsOf(10);
    ASSERT_TRUE(ps.ok()) << static_cast<int>(ps.status);
    EXPECT_THAT(ps.inodes, ElementsAre(42u));
    EXPECT_EQ(ps.info.name, "server");
    EXPECT_EQ(ps.info.cmdline, "server --port");
    const core::OwnerScan scan = table.findOwners({42});
    ASSERT_EQ(scan.owners.count(42), 1u);
    EXPECT_EQ(scan.owners.at(42).front().pid, 10u);
}

TEST(ProcProcessTable, EscapesHostileCommAndCmdlineOnce) {
    FakeProc proc;
    proc.addProcess(10, "ev\xff\x1b[31m", {{3, sock(5)}}, std::string("a\\b\0\x07\0", 6));
    ProcProcessTable table(proc.root());
    const auto ps = table.socketsOf(10);
    ASSERT_TRUE(ps.ok());
    EXPECT_EQ(ps.info.name, "ev\\xff\\x1b[31m");
    EXPECT_EQ(ps.info.cmdline, "a\\\\b \\x07");
    EXPECT_EQ(table.info(10)->name, "ev\\xff\\x1b[31m");
    const core::OwnerScan scan = table.findOwners({5});
    EXPECT_EQ(scan.owners.at(5).front().name, "ev\\xff\\x1b[31m");
}

TEST(ProcProcessTable, ListsProcessesAndReadsOnlyThoseAsked) {
    FakeProc proc;
    proc.addProcess(10, "a", {{3, sock(5)}});
    proc.addProcess(11, "b", {{3, sock(5)}, {4, sock(6)}});
    proc.addProcess(12, "c", {{3, sock(7)}});
    fs::create_directories(proc.root() / "self");
    ProcProcessTable table(proc.root());

    const auto listed = table.listProcesses();
    ASSERT_TRUE(listed.has_value());
    ASSERT_EQ(listed->size(), 3u);
    EXPECT_EQ((*listed)[0].pid, 10u);
    EXPECT_EQ((*listed)[2].pid, 12u);
    EXPECT_NE((*listed)[0].generation, 0u);

    const core::OwnerScan scan = table.findOwnersAmong({11, 12, 99}, [](std::uint64_t ino) { return ino != 6; });
    EXPECT_EQ(scan.owners.size(), 2u);
    EXPECT_EQ(scan.owners.at(5).front().pid, 11u);
    EXPECT_EQ(scan.owners.at(7).front().pid, 12u);
    EXPECT_EQ(scan.stats.processesVanished, 1u);
    EXPECT_THAT(scan.retry, IsEmpty());
}

TEST(ProcProcessTable, ExistsReflectsPidDirectory) {
    FakeProc proc;
    proc.addProcess(10, "a", {});
    ProcProcessTable table(proc.root());
    EXPECT_TRUE(table.exists(10));
    EXPECT_FALSE(table.exists(11));
}

TEST(ProcProcessTable, UsageParsesStatWhoseCommHoldsParenthesesAndSpaces) {
    FakeProc proc;
    const fs::path dir = proc.addProcess(42, "a) (b c", {});
    FakeProc::write(dir / "stat",
                    "42 (a) (b c) R 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 123456 1000000 300 "
                    "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
    FakeProc::write(dir / "statm", "244 300 100 1 0 50 0\n");
    ProcProcessTable table(proc.root());

    const auto u = table.usage(42);

    ASSERT_TRUE(u.has_value());
    EXPECT_DOUBLE_EQ(u->cpuSeconds, 300.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)));
    EXPECT_EQ(u->startTimeTicks, 123456u);
    EXPECT_EQ(u->rssBytes, 300u * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
}

TEST(ProcProcessTable, UsageRejectsMalformedOrTruncatedStat) {
    FakeProc proc;
    for (const auto& [pid, content] :
         std::map<std::uint32_t, std::string>{{1, "1 (x R 1 1 1 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 9 0 0"},    // no ')'
                                              {2, "2 (x) R 1 2 2 0 -1 0 0 0 0 0 5"},                        // truncated
                                              {3, "3 (x) R 1 3 3 0 -1 0 0 0 0 0 5x 5 0 0 20 0 1 0 9 0 0"},  // bad utime
                                              {4, ""}}) {
        FakeProc::write(proc.root() / std::to_string(pid) / "stat", content);
    }
    ProcProcessTable table(proc.root());

    for (std::uint32_t pid : {1u, 2u, 3u, 4u, 5u})
        EXPECT_FALSE(table.usage(pid).has_value()) << pid;
}

TEST(ProcProcessTable, ChildrenOfUnionsEveryThreadsChildren) {
    FakeProc proc;
    const fs::path dir = proc.addProcess(10, "parent", {});
    FakeProc::write(dir / "task" / "10" / "children", "12 11 ");
    FakeProc::write(dir / "task" / "13" / "children", "14 11 ");
    FakeProc::write(dir / "task" / "15" / "children", "");
    ProcProcessTable table(proc.root());

    EXPECT_THAT(table.childrenOf(10), ElementsAre(11u, 12u, 14u));
    EXPECT_THAT(table.childrenOf(99), IsEmpty());
}

}  // namespace
}  // namespace porteye::sys

namespace porteye::sys {
namespace {

TEST(ProcProcessTableDetails, ReadsCmdlineUserExeStartTimeAndUnit) {
    FakeProc proc;
    FakeProc::write(proc.root() / "stat", "cpu  1 2 3 4\nintr 5\nbtime 1700000000\nprocesses 9\n");
    const auto dir = proc.addProcess(100, "nginx", {{4, sock(7001)}}, std::string("nginx\0-g\0daemon off;\0", 21), 0);
    fs::create_symlink("/usr/sbin/nginx", dir / "exe");
    FakeProc::write(dir / "cgroup", "0::/system.slice/nginx.service\n");
    ProcProcessTable table(proc.root());

    const auto info = table.info(100);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->startTimeTicks, 1100u) << "field 22 of stat";
    const auto d = table.details(100, info->startTimeTicks);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->cmdline, "nginx -g daemon off;");
    EXPECT_EQ(d->user, "root");
    EXPECT_EQ(d->exe, "/usr/sbin/nginx");
    EXPECT_EQ(d->unit, "nginx.service");
    const auto hz = static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
    EXPECT_EQ(d->startTimeUs, 1'700'000'000'000'000ULL + 1100 * 1'000'000 / hz);
}

TEST(ProcProcessTableDetails, AnotherStartTimeIsAnotherProcess) {
    FakeProc proc;
    proc.addProcess(100, "a", {});
    ProcProcessTable table(proc.root());
    EXPECT_FALSE(table.details(100, 999)) << "pid 100 started at tick 1100";
    EXPECT_TRUE(table.details(100, 0));
    EXPECT_FALSE(table.details(101, 0)) << "no such process";
}

TEST(ProcProcessTableDetails, UnreadableOrMissingPartsStayEmptyAndHostileBytesAreEscaped) {
    FakeProc proc;  // no <root>/stat: no boot time, so no start time either
    const auto dir = proc.addProcess(100, "x", {}, std::string("ev\x1b[31m\0", 7), 4000000000U);
    fs::create_symlink(std::string("/tmp/bad\xff"), dir / "exe");
    ProcProcessTable table(proc.root());
    const auto d = table.details(100, 0);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->cmdline, "ev\\x1b[31m");
    EXPECT_EQ(d->exe, "/tmp/bad\\xff");
    EXPECT_EQ(d->user, "4000000000") << "a uid without a name keeps its number";
    EXPECT_EQ(d->unit, "");
    EXPECT_EQ(d->startTimeUs, 0u);
}

TEST(ProcProcessTableDetails, LongCommandLinesAreCutAt4KiB) {
    FakeProc proc;
    proc.addProcess(100, "x", {}, std::string(100000, 'a'));
    ProcProcessTable table(proc.root());
    const auto d = table.details(100, 0);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->cmdline.size(), 4096u);
}

}  // namespace
}  // namespace porteye::sys

namespace porteye::sys {
namespace {

const std::string kDockerId = "3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

TEST(ProcProcessTableDetails, NamesTheContainerFromTheCgroupAndTheRuntimesState) {
    FakeProc proc;
    FakeProc state;  // stands for /var/lib
    const auto config = state.root() / "docker/containers" / kDockerId / "config.v2.json";
    FakeProc::write(config, R"({"ID":")" + kDockerId + R"(","Name":"/web","Config":{"Env":["DB_PASSWORD=hunter2"]}})");
    const auto dir = proc.addProcess(100, "nginx", {{4, sock(7001)}});
    FakeProc::write(dir / "cgroup", "0::/system.slice/docker-" + kDockerId + ".scope\n");
    const auto other = proc.addProcess(101, "nginx", {{4, sock(7002)}});
    FakeProc::write(other / "cgroup", "0::/system.slice/docker-" + kDockerId + ".scope\n");
    ProcProcessTable table(proc.root(), {}, state.root());

    const auto d = table.details(100, 0);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->unit, "docker-" + kDockerId + ".scope");
    EXPECT_EQ(d->containerRuntime, "docker");
    EXPECT_EQ(d->containerId, kDockerId);
    EXPECT_EQ(d->containerName, "web");

    // Read once per container: the same bytes and stamp are not parsed again (here a garbled file
    // with the old size and mtime still gives the remembered name)...
    const auto stamp = fs::last_write_time(config);
    const auto size = fs::file_size(config);
    FakeProc::write(config, std::string(size, 'x'));
    fs::last_write_time(config, stamp);
    EXPECT_EQ(table.details(101, 0)->containerName, "web");
    // ...and a renamed container (the runtime rewrote the file) is read again.
    FakeProc::write(config, R"({"Name":"/web-renamed"})");
    EXPECT_EQ(table.details(101, 0)->containerName, "web-renamed");
    fs::remove(config);
    EXPECT_EQ(table.details(101, 0)->containerName, "") << "a removed container has no name";
    EXPECT_EQ(table.details(101, 0)->containerId, kDockerId) << "but its cgroup still names it";
}

TEST(ProcProcessTableDetails, ProcessesOutsideContainersHaveNoContainer) {
    FakeProc proc;
    const auto dir = proc.addProcess(100, "sshd", {});
    FakeProc::write(dir / "cgroup", "0::/system.slice/ssh.service\n");
    ProcProcessTable table(proc.root(), {}, proc.root() / "no-such-state");
    const auto d = table.details(100, 0);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->unit, "ssh.service");
    EXPECT_EQ(d->containerRuntime, "");
    EXPECT_EQ(d->containerId, "");
    EXPECT_EQ(d->containerName, "");
}

}  // namespace
}  // namespace porteye::sys
