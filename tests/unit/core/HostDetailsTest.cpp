// SPDX-License-Identifier: MIT
// The host view's details: the cgroup -> unit parser, the (pid, start time) details cache as the
// engine uses it, and the CPU sampler's arithmetic.
#include "core/CgroupUnit.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortMonitor.hpp"
#include "core/UsageSampler.hpp"
#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>

using namespace porteye::core;
using namespace porteye::fakes;

TEST(CgroupUnit, NamesTheSystemServiceOfAV2Line) {
    EXPECT_EQ(unitFromCgroup("0::/system.slice/nginx.service\n"), "nginx.service");
    EXPECT_EQ(unitFromCgroup("0::/system.slice/nginx.service"), "nginx.service");  // no newline
}

TEST(CgroupUnit, NamesAUserUnitWithItsManager) {
    // A user may call a unit of theirs "nginx.service": it must not read as the system's.
    EXPECT_EQ(unitFromCgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n"),
              "user@1000.service/foo.service");
    EXPECT_EQ(unitFromCgroup("0::/user.slice/user-1000.slice/session-3.scope\n"), "session-3.scope");
    // A sub-cgroup a service made for itself still belongs to the service.
    EXPECT_EQ(unitFromCgroup("0::/system.slice/docker.service/payload\n"), "docker.service");
}

TEST(CgroupUnit, IsEmptyOutsideAnyUnit) {
    EXPECT_EQ(unitFromCgroup("0::/\n"), "");
    EXPECT_EQ(unitFromCgroup("0::/system.slice\n"), "");
    EXPECT_EQ(unitFromCgroup("0::/user.slice/user-1000.slice\n"), "");
    EXPECT_EQ(unitFromCgroup(""), "");
    EXPECT_EQ(unitFromCgroup("garbage without colons"), "");
    EXPECT_EQ(unitFromCgroup("0::/a/.service\n"), "") << "a suffix alone is no unit name";
}

TEST(CgroupUnit, FallsBackToTheV1SystemdHierarchy) {
    const char* v1 =
        "12:memory:/system.slice/sshd.service\n"
        "1:name=systemd:/system.slice/cron.service\n";
    EXPECT_EQ(unitFromCgroup(v1), "cron.service");
    // A v2 line without a unit (a hybrid host whose systemd tracks services in v1) does not hide it.
    EXPECT_EQ(unitFromCgroup(std::string(v1) + "0::/\n"), "cron.service");
    // With both, the unified (v2) line wins.
    EXPECT_EQ(unitFromCgroup(std::string(v1) + "0::/system.slice/nginx.service\n"), "nginx.service");
}

TEST(CgroupUnit, DropsTheDeletedMarkAndEscapesHostileNames) {
    EXPECT_EQ(unitFromCgroup("0::/system.slice/gone.service (deleted)\n"), "gone.service");
    EXPECT_EQ(unitFromCgroup("0::/user.slice/user@1000.service/app.slice/ev\x1b[31m.service\n"),
              "user@1000.service/ev\\x1b[31m.service");
}

class DetailsCacheTest : public ::testing::Test {
protected:
    FakeSocketSource source;
    FakeProcessTable processes;
    FakeClock clock;
};

TEST_F(DetailsCacheTest, RecordsCarryTheOwnersDetailsSharedPerProcess) {
    source.sockets = {tcpSocket(100, 80), tcpSocket(101, 443)};
    processes.add(10, "nginx", {100, 101});
    processes.detailsOf[10] =
        ProcessDetails{"nginx -g daemon off;", "www-data", "/usr/sbin/nginx", 42, "nginx.service", "", "", ""};
    PortMonitor monitor(source, processes, clock);
    monitor.poll();
    const auto& snapshot = monitor.snapshot();
    ASSERT_EQ(snapshot.size(), 2u);
    ASSERT_TRUE(snapshot[0].details);
    EXPECT_EQ(snapshot[0].details->unit, "nginx.service");
    EXPECT_EQ(snapshot[0].details->user, "www-data");
    EXPECT_EQ(snapshot[0].details.get(), snapshot[1].details.get()) << "one copy per process, not per socket";
    EXPECT_FALSE(snapshot[0].usage) << "usage is filled when a list reply is built";
}

TEST_F(DetailsCacheTest, ASteadyPollReadsNoDetails) {
    source.sockets = {tcpSocket(100, 80)};
    processes.add(10, "nginx", {100});
    ResolverOptions resolver;
    resolver.fullRescanEvery = 3;  // full walks find the process again: still no read
    PortMonitor monitor(source, processes, clock, MonitorOptions{{}, 100, resolver, false});
    monitor.poll();
    ASSERT_EQ(processes.detailsReads[10], 1);
    for (int i = 0; i < 10; ++i)
        monitor.poll();
    EXPECT_EQ(processes.detailsReads[10], 1);
    EXPECT_EQ(monitor.detailsCache().reads(), 1u);

    // A known process opening another socket is found by a walk: still no read.
    source.sockets.push_back(tcpSocket(101, 81));
    processes.processes[10].inodes.push_back(101);
    monitor.poll();
    EXPECT_EQ(processes.detailsReads[10], 1);
    ASSERT_EQ(monitor.snapshot().size(), 2u);
    EXPECT_TRUE(monitor.snapshot()[1].details);
}

TEST_F(DetailsCacheTest, VanishedProcessesAreDroppedAndReusedPidsReadAgain) {
    source.sockets = {tcpSocket(100, 80)};
    processes.add(10, "old", {100});
    processes.processes[10].info.startTimeTicks = 500;
    PortMonitor monitor(source, processes, clock);
    monitor.poll();
    EXPECT_EQ(monitor.detailsCache().size(), 1u);

    processes.processes.erase(10);
    source.sockets.clear();
    monitor.poll();
    EXPECT_EQ(monitor.detailsCache().size(), 0u) << "the listing showed pid 10 gone";

    // PID 10 again, another process (later start time), with its own socket.
    source.sockets = {tcpSocket(200, 90)};
    processes.add(10, "new", {200});
    processes.processes[10].info.startTimeTicks = 900;
    monitor.poll();
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    ASSERT_TRUE(monitor.snapshot()[0].details);
    EXPECT_EQ(monitor.snapshot()[0].details->cmdline, "new");
    EXPECT_EQ(processes.detailsReads[10], 2);
}

TEST_F(DetailsCacheTest, ACacheHitNeedsTheSameStartTime) {
    processes.add(10, "a", {});
    processes.processes[10].info.startTimeTicks = 7;
    ProcessDetailsCache cache(processes);
    auto info = processes.processes[10].info;
    const auto first = cache.get(info);
    EXPECT_EQ(cache.get(info), first);
    EXPECT_EQ(cache.reads(), 1u);
    info.startTimeTicks = 8;  // the walk saw another process under pid 10; the table still has 7
    EXPECT_EQ(cache.get(info), nullptr) << "a read that finds another process gives nothing";
    EXPECT_EQ(cache.size(), 0u);
    info.pid = 0;
    EXPECT_EQ(cache.get(info), nullptr);
}

TEST_F(DetailsCacheTest, AWatchSharesTheCacheAndKeepsItsOwnWithoutOne) {
    processes.add(10, "srv", {100});
    source.sockets = {tcpSocket(100, 80)};
    ProcessDetailsCache shared(processes);
    PidPortTracker tracker(10, false, processes, clock, {}, {}, nullptr, &shared);
    auto change = tracker.update(source.sockets);
    ASSERT_EQ(tracker.current().size(), 1u);
    ASSERT_TRUE(tracker.current()[0].details);
    EXPECT_EQ(tracker.current()[0].details->cmdline, "srv");
    for (int i = 0; i < 5; ++i)
        tracker.update(source.sockets);
    EXPECT_EQ(processes.detailsReads[10], 1);

    PidPortTracker own(10, false, processes, clock);
    own.update(source.sockets);
    own.update(source.sockets);
    EXPECT_EQ(processes.detailsReads[10], 2) << "its own cache read once, then hit";
    ASSERT_EQ(own.current().size(), 1u);
    EXPECT_EQ(*own.current()[0].details, *tracker.current()[0].details);
}

TEST(UsageSampler, FirstReadingIsTheLifetimeAverage) {
    UsageSampler sampler;
    ProcessUsage u{5.0, 4096, 100};
    const auto now = sampler.sample(1, u, 1000.0, 20.0);  // 5 s of CPU in 20 s of life
    EXPECT_DOUBLE_EQ(now.cpuPercent, 25.0);
    EXPECT_EQ(now.memoryRssBytes, 4096u);
    UsageSampler unknownAge;
    EXPECT_DOUBLE_EQ(unknownAge.sample(1, u, 1000.0, 0).cpuPercent, 0.0) << "psutil's first reading";
}

TEST(UsageSampler, LaterReadingsCoverTheIntervalSinceThePrevious) {
    UsageSampler sampler;
    sampler.sample(1, {10.0, 0, 100}, 1000.0, 100.0);
    // 1.5 s of CPU in 2 s: 75 %; two busy cores: above 100, as psutil and top show.
    EXPECT_DOUBLE_EQ(sampler.sample(1, {11.5, 0, 100}, 1002.0, 0).cpuPercent, 75.0);
    EXPECT_DOUBLE_EQ(sampler.sample(1, {15.5, 0, 100}, 1004.0, 0).cpuPercent, 200.0);
    EXPECT_DOUBLE_EQ(sampler.sample(1, {15.5, 0, 100}, 1005.0, 0).cpuPercent, 0.0);
    // Rounded to one decimal, as psutil does: 1/3 s in 1 s.
    EXPECT_DOUBLE_EQ(sampler.sample(1, {15.5 + 1.0 / 3, 0, 100}, 1006.0, 0).cpuPercent, 33.3);
}

TEST(UsageSampler, QuickRepeatsGiveTheLastFullReading) {
    UsageSampler sampler({1.0, 600});
    sampler.sample(1, {0.0, 0, 100}, 1000.0, 0);
    EXPECT_DOUBLE_EQ(sampler.sample(1, {0.5, 0, 100}, 1001.0, 0).cpuPercent, 50.0);
    // 10 ms later one clock tick more: not 100 %, the last reading again.
    EXPECT_DOUBLE_EQ(sampler.sample(1, {0.51, 0, 100}, 1001.01, 0).cpuPercent, 50.0);
    // The base stayed at 1001: a second later the tick is counted over the full interval.
    EXPECT_DOUBLE_EQ(sampler.sample(1, {0.51, 0, 100}, 1002.0, 0).cpuPercent, 1.0);
}

TEST(UsageSampler, AReusedPidStartsAfreshAndOldEntriesAreForgotten) {
    UsageSampler sampler({1.0, 60});
    sampler.sample(1, {100.0, 0, 100}, 1000.0, 200.0);
    // Same pid, another start time: a new process, whose first reading is its own average.
    EXPECT_DOUBLE_EQ(sampler.sample(1, {1.0, 0, 999}, 1001.0, 10.0).cpuPercent, 10.0);
    EXPECT_EQ(sampler.size(), 2u);
    sampler.sample(2, {0.0, 0, 5}, 1100.0, 0);  // a minute and more later
    EXPECT_EQ(sampler.size(), 1u);
}

TEST(UsageSampler, CpuTimeGoingBackIsNoNegativeWork) {
    UsageSampler sampler;
    sampler.sample(1, {10.0, 0, 100}, 1000.0, 0);
    EXPECT_DOUBLE_EQ(sampler.sample(1, {9.0, 0, 100}, 1002.0, 0).cpuPercent, 0.0);
}

TEST_F(DetailsCacheTest, AFullWalkSweepsDetailsOfProcessesNoLongerListed) {
    source.sockets = {tcpSocket(100, 80)};
    processes.add(10, "srv", {100});
    ResolverOptions resolver;
    resolver.fullRescanEvery = 2;
    PortMonitor monitor(source, processes, clock, MonitorOptions{{}, 100, resolver, false});
    monitor.poll();
    // A watch read a short-lived process the resolver never listed.
    processes.add(99, "blip", {});
    monitor.detailsCache().get(processes.processes[99].info);
    processes.processes.erase(99);
    EXPECT_EQ(monitor.detailsCache().size(), 2u);
    monitor.poll();
    monitor.poll();
    EXPECT_EQ(monitor.detailsCache().size(), 1u);
}
