// SPDX-License-Identifier: MIT
#include "core/PortMonitor.hpp"
#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>

using namespace porteye::core;
using namespace porteye::fakes;

class PortMonitorTest : public ::testing::Test {
protected:
    FakeSocketSource source;
    FakeProcessTable processes;
    FakeClock clock;
};

TEST_F(PortMonitorTest, FirstPollIsASilentBaseline) {
    source.sockets = {tcpSocket(100, 80)};
    processes.add(10, "nginx", {100});
    PortMonitor monitor(source, processes, clock);
    auto result = monitor.poll();
    EXPECT_TRUE(result.ok);
    EXPECT_EQ(result.sockets, 1u);
    EXPECT_EQ(result.added, 0u);
    EXPECT_EQ(monitor.historyRing().size(), 0u);
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.snapshot()[0].pid, 10u);
    EXPECT_EQ(monitor.snapshot()[0].process, "nginx");
}

TEST_F(PortMonitorTest, ReportsAddedWhenListenerAppearsAndRemovedWhenItCloses) {
    PortMonitor monitor(source, processes, clock);
    std::vector<PortEvent> seen;
    monitor.addListener([&](const auto& events) { seen.insert(seen.end(), events.begin(), events.end()); });
    monitor.poll();

    source.sockets = {tcpSocket(100, 8080)};
    processes.add(42, "python3", {100});
    clock.advance(std::chrono::seconds(1));
    auto added = monitor.poll();
    EXPECT_EQ(added.added, 1u);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].action, Action::Added);
    EXPECT_EQ(seen[0].record.pid, 42u);
    EXPECT_EQ(seen[0].record.localPort, 8080);
    EXPECT_EQ(seen[0].time, clock.time);
    EXPECT_EQ(seen[0].sequence, 1u);

    source.sockets.clear();
    processes.processes.erase(42);
    monitor.poll();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].action, Action::Removed);
    EXPECT_EQ(seen[1].sequence, 2u);
    EXPECT_EQ(monitor.historyRing().size(), 2u);
}

TEST_F(PortMonitorTest, ReportInitialMakesFirstSnapshotAdded) {
    source.sockets = {tcpSocket(1, 22), tcpSocket(2, 80)};
    MonitorOptions options;
    options.reportInitial = true;
    PortMonitor monitor(source, processes, clock, options);
    EXPECT_EQ(monitor.poll().added, 2u);
}

TEST_F(PortMonitorTest, SharedSocketAfterForkIsReportedForEachOwner) {
    source.sockets = {tcpSocket(100, 8080)};
    processes.add(10, "parent", {100});
    processes.add(11, "child", {100});
    PortMonitor monitor(source, processes, clock);
    monitor.poll();
    ASSERT_EQ(monitor.snapshot().size(), 2u);
    EXPECT_EQ(monitor.snapshot()[0].pid, 10u);
    EXPECT_EQ(monitor.snapshot()[1].pid, 11u);
}

TEST_F(PortMonitorTest, SteadyStatePollDoesNotWalkProcesses) {
    source.sockets = {tcpSocket(100, 80), tcpSocket(101, 443)};
    processes.add(10, "nginx", {100, 101});
    PortMonitor monitor(source, processes, clock);
    monitor.poll();
    EXPECT_EQ(processes.walks, 1);
    monitor.poll();
    monitor.poll();
    EXPECT_EQ(processes.walks, 1) << "nothing new appeared, so /proc must not be walked again";

    source.sockets.push_back(tcpSocket(102, 8443));
    processes.processes[10].inodes.push_back(102);
    monitor.poll();
    EXPECT_EQ(processes.walks, 2) << "an unknown inode triggers one walk";
    EXPECT_EQ(monitor.list({}).size(), 3u);
}

TEST_F(PortMonitorTest, UnresolvableInodeIsRetriedWithBackoffNotEveryPoll) {
    source.sockets = {tcpSocket(100, 80)};  // no process owns it (other namespace, accept queue)
    PortMonitor monitor(source, processes, clock);
    for (int i = 0; i < 20; ++i)
        monitor.poll();
    EXPECT_LT(processes.walks, 8) << "1, 2, 4, 8 ... polls apart";
    EXPECT_EQ(monitor.snapshot()[0].pid, 0u);
    EXPECT_EQ(monitor.resolverStats().unresolved, 1u);
}

TEST_F(PortMonitorTest, LateOwnerIsFoundOnRetry) {
    source.sockets = {tcpSocket(100, 80)};
    PortMonitor monitor(source, processes, clock);
    monitor.poll();
    processes.add(7, "late", {100});
    for (int i = 0; i < 3; ++i)
        monitor.poll();
    EXPECT_EQ(monitor.snapshot()[0].pid, 7u);
}

TEST_F(PortMonitorTest, FailedDumpKeepsPreviousSnapshotAndCounts) {
    source.sockets = {tcpSocket(100, 80)};
    processes.add(10, "nginx", {100});
    PortMonitor monitor(source, processes, clock);
    monitor.poll();
    source.failNext = true;
    auto failed = monitor.poll();
    EXPECT_FALSE(failed.ok);
    EXPECT_FALSE(failed.error.empty());
    EXPECT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.stats().failedPolls, 1u);
    EXPECT_EQ(monitor.historyRing().size(), 0u) << "a failed dump must not look like every socket closed";
}

TEST_F(PortMonitorTest, ListAppliesFilters) {
    source.sockets = {tcpSocket(1, 22), tcpSocket(2, 80), tcpSocket(3, 40000, TcpState::Established, 80)};
    processes.add(10, "sshd", {1});
    processes.add(20, "nginx", {2, 3});
    PortMonitor monitor(source, processes, clock);
    monitor.poll();
    SocketFilter port80;
    port80.port = 80;
    EXPECT_EQ(monitor.list(port80).size(), 2u) << "local or remote port";
    SocketFilter listening;
    listening.listeningOnly = true;
    EXPECT_EQ(monitor.list(listening).size(), 2u);
    SocketFilter ssh;
    ssh.process = "SSH";
    ASSERT_EQ(monitor.list(ssh).size(), 1u);
    EXPECT_EQ(monitor.list(ssh)[0].localPort, 22);
}

TEST_F(PortMonitorTest, FullRescanRefreshesOwnersAfterParentExits) {
    source.sockets = {tcpSocket(100, 80)};
    processes.add(10, "parent", {100});
    processes.add(11, "child", {100});
    MonitorOptions options;
    options.resolver.fullRescanEvery = 3;
    PortMonitor monitor(source, processes, clock, options);
    monitor.poll();
    processes.processes.erase(10);
    for (int i = 0; i < 3; ++i)
        monitor.poll();
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.snapshot()[0].pid, 11u);
}

TEST_F(PortMonitorTest, DestroyedSocketIsReportedAtOnceAndNotAgainByTheNextPoll) {
    source.sockets = {tcpSocket(100, 8080), tcpSocket(101, 9090)};
    processes.add(10, "parent", {100, 101});
    processes.add(11, "child", {100});
    PortMonitor monitor(source, processes, clock);
    std::vector<PortEvent> seen;
    monitor.addListener([&](const auto& events) { seen.insert(seen.end(), events.begin(), events.end()); });
    monitor.poll();

    auto destroyed = tcpSocket(100, 8080);
    destroyed.inode = 0;  // destroy messages carry the cookie, not the inode
    EXPECT_EQ(monitor.applyDestroyed({destroyed}), 2u) << "one removal per owner";
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].action, Action::Removed);
    EXPECT_EQ(seen[0].record.localPort, 8080);
    EXPECT_EQ(monitor.snapshot().size(), 1u);

    source.sockets = {tcpSocket(101, 9090)};
    EXPECT_EQ(monitor.poll().removed, 0u) << "the poll must not report the same close twice";
    EXPECT_EQ(seen.size(), 2u);

    auto unknown = tcpSocket(555, 1);
    EXPECT_EQ(monitor.applyDestroyed({unknown}), 0u);
}
