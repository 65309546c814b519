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
    EXPECT_EQ(seen.size(), 1u) << "absent from one dump is not closed yet";
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

// A fork child inherits the listener; the parent exits. The child is named at the poll
// after the fork and the parent is dropped at the poll after its exit, without a walk of
// /proc, and the socket, which never closed, gets no "removed".
TEST_F(PortMonitorTest, ForkHandoverIsOwnerChangesWithinOnePollWithoutWalks) {
    source.sockets = {tcpSocket(100, 8080)};
    processes.add(10, "parent", {100}, 0);
    MonitorOptions options;
    options.resolver.fullRescanEvery = 0;
    PortMonitor monitor(source, processes, clock, options);
    std::vector<PortEvent> seen;
    monitor.addListener([&](const auto& events) { seen.insert(seen.end(), events.begin(), events.end()); });
    monitor.poll();
    const int walks = processes.walks;

    processes.add(11, "child", {100}, 1000);
    monitor.poll();
    ASSERT_EQ(monitor.snapshot().size(), 2u);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].action, Action::OwnerChanged);
    EXPECT_EQ(seen[0].record.pid, 11u);
    EXPECT_EQ(seen[0].record.ownerUid, 1000u);
    EXPECT_EQ(seen[0].previousPid, 0u);

    processes.processes.erase(10);
    monitor.poll();
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.snapshot()[0].pid, 11u);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].action, Action::OwnerChanged);
    EXPECT_EQ(seen[1].record.pid, 11u);
    EXPECT_EQ(seen[1].previousPid, 10u);
    EXPECT_EQ(seen[1].previousOwnerUid, 0u);
    for (const auto& e : seen)
        EXPECT_NE(e.action, Action::Removed);
    EXPECT_EQ(processes.walks, walks) << "owners followed by listing /proc, not walking it";
    EXPECT_EQ(processes.readsOf[11], 1) << "only the new process's fd table is read, once";
    EXPECT_EQ(processes.readsOf[10], 0);
}

TEST_F(PortMonitorTest, ReusedPidIsANewProcessAndItsPredecessorIsDropped) {
    source.sockets = {tcpSocket(100, 8080)};
    processes.add(10, "parent", {100});
    processes.add(11, "child", {100});
    MonitorOptions options;
    options.resolver.fullRescanEvery = 0;
    PortMonitor monitor(source, processes, clock, options);
    monitor.poll();
    ASSERT_EQ(monitor.snapshot().size(), 2u);
    processes.add(10, "stranger", {});  // 10 exited and its PID now names another process
    monitor.poll();
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.snapshot()[0].pid, 11u);
}

TEST_F(PortMonitorTest, SocketMissingFromOneDumpIsNotClosed) {
    source.sockets = {tcpSocket(100, 80), tcpSocket(101, 81)};
    processes.add(10, "nginx", {100, 101});
    PortMonitor monitor(source, processes, clock);
    std::vector<PortEvent> seen;
    monitor.addListener([&](const auto& events) { seen.insert(seen.end(), events.begin(), events.end()); });
    monitor.poll();

    source.sockets = {tcpSocket(100, 80)};  // 101 slipped between two parts of the dump
    auto missed = monitor.poll();
    EXPECT_EQ(missed.removed, 0u);
    EXPECT_EQ(monitor.list({}).size(), 2u) << "kept as it was";
    source.sockets = {tcpSocket(100, 80), tcpSocket(101, 81)};
    monitor.poll();
    EXPECT_TRUE(seen.empty()) << "back in the next dump: nothing happened";

    source.sockets = {tcpSocket(100, 80)};
    monitor.poll();
    monitor.poll();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].action, Action::Removed);
    EXPECT_EQ(seen[0].record.inode, 101u);
}

TEST_F(PortMonitorTest, DestroyNotificationRemovesAtOnceButNotTheTimeWaitSuccessor) {
    auto full = tcpSocket(100, 80, TcpState::Established, 5000);
    source.sockets = {full};
    processes.add(10, "client", {100});
    PortMonitor monitor(source, processes, clock);
    monitor.poll();

    // The connection closed: a dump shows the TIME_WAIT mini-socket, which inherited the cookie.
    auto timeWait = full;
    timeWait.inode = 0;
    timeWait.state = TcpState::TimeWait;
    source.sockets = {timeWait};
    monitor.poll();
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.snapshot()[0].state, TcpState::TimeWait);

    // The full socket's destroy notification arrives late: the TIME_WAIT record stays.
    auto destroyedFull = full;
    destroyedFull.state = TcpState::Close;
    EXPECT_EQ(monitor.applyDestroyed({destroyedFull}), 0u);
    ASSERT_EQ(monitor.snapshot().size(), 1u);

    // Its own destroy (state TIME_WAIT) removes it.
    EXPECT_EQ(monitor.applyDestroyed({timeWait}), 1u);
    EXPECT_TRUE(monitor.snapshot().empty());
}

TEST_F(PortMonitorTest, DestroyNotificationOfALiveSocketRemovesItAtOnce) {
    source.sockets = {tcpSocket(100, 80)};
    processes.add(10, "nginx", {100});
    PortMonitor monitor(source, processes, clock);
    monitor.poll();
    auto destroyed = tcpSocket(100, 80, TcpState::Close);
    EXPECT_EQ(monitor.applyDestroyed({destroyed}), 1u);
    EXPECT_TRUE(monitor.snapshot().empty());
}

TEST_F(PortMonitorTest, OutOfDescriptorsIsAFailedPollNotExitedOwners) {
    source.sockets = {tcpSocket(100, 8080)};
    processes.add(10, "parent", {100});
    MonitorOptions options;
    options.resolver.fullRescanEvery = 0;
    PortMonitor monitor(source, processes, clock, options);
    std::vector<PortEvent> seen;
    monitor.addListener([&](const auto& events) { seen.insert(seen.end(), events.begin(), events.end()); });
    monitor.poll();

    // The child cannot be read now (EMFILE) while its parent exits: reporting the socket
    // ownerless would be false. The poll fails and reports nothing.
    processes.add(11, "child", {100});
    processes.processes.erase(10);
    processes.failures[11] = ReadStatus::Transient;
    auto failed = monitor.poll();
    EXPECT_FALSE(failed.ok);
    EXPECT_TRUE(seen.empty());
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.snapshot()[0].pid, 10u);

    // A new socket whose walk fails transiently: likewise.
    source.sockets.push_back(tcpSocket(101, 9090));
    processes.processes[11].inodes.push_back(101);
    EXPECT_FALSE(monitor.poll().ok);
    // The listing itself fails.
    processes.failures.clear();
    processes.listFails = true;
    EXPECT_FALSE(monitor.poll().ok);
    EXPECT_TRUE(seen.empty());
    EXPECT_EQ(monitor.stats().failedPolls, 3u);

    processes.listFails = false;
    EXPECT_TRUE(monitor.poll().ok);
    ASSERT_EQ(monitor.snapshot().size(), 2u);
    EXPECT_EQ(monitor.snapshot()[0].pid, 11u);
    EXPECT_EQ(monitor.snapshot()[1].pid, 11u);
    for (const auto& e : seen)
        EXPECT_NE(e.action, Action::Removed);
}

// Listeners dumped every poll, connections less often (and other namespaces' sockets by their
// own requests): what a poll's dumps do not cover is carried, never reported closed.
class ScopedPollTest : public PortMonitorTest {
protected:
    static DumpRequest listenersOnly(std::uint64_t netns = 0) {
        DumpRequest q;
        q.states = kListenOnly;
        q.netns = netns;
        return q;
    }
    static DumpRequest everything(std::uint64_t netns = 0) {
        DumpRequest q;
        q.netns = netns;
        return q;
    }
    std::vector<PortEvent> seen;
    void record(PortMonitor& monitor) {
        monitor.addListener([this](const auto& events) { seen.insert(seen.end(), events.begin(), events.end()); });
    }
};

TEST_F(ScopedPollTest, ListenerOnlyPollsCarryConnectionsUntilTwoCoveringDumpsLackThem) {
    source.sockets = {tcpSocket(100, 80), tcpSocket(101, 80, TcpState::Established, 50000)};
    processes.add(10, "nginx", {100, 101});
    PortMonitor monitor(source, processes, clock);
    record(monitor);
    monitor.poll({everything()});
    ASSERT_EQ(monitor.snapshot().size(), 2u);

    source.sockets.pop_back();  // the connection closed, and no destroy notification came
    for (int i = 0; i < 3; ++i)
        monitor.poll({listenersOnly()});
    EXPECT_TRUE(seen.empty()) << "no listener-only dump may close a connection";
    EXPECT_EQ(monitor.snapshot().size(), 2u);
    ASSERT_EQ(monitor.snapshot()[1].pid, 10u) << "a carried connection keeps its owner";

    monitor.poll({everything()});
    EXPECT_TRUE(seen.empty()) << "absent from one covering dump";
    monitor.poll({listenersOnly()});
    EXPECT_TRUE(seen.empty()) << "a listener-only dump between two covering ones does not count";
    monitor.poll({everything()});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].action, Action::Removed);
    EXPECT_EQ(seen[0].record.inode, 101u);
}

TEST_F(ScopedPollTest, ANewListenerIsSeenByAListenerOnlyPollAndANewConnectionByAFullOne) {
    PortMonitor monitor(source, processes, clock);
    record(monitor);
    monitor.poll({everything()});
    source.sockets = {tcpSocket(100, 8080), tcpSocket(101, 8080, TcpState::Established, 50001)};
    processes.add(42, "python3", {100, 101});
    monitor.poll({listenersOnly()});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].record.state, TcpState::Listen);
    EXPECT_EQ(seen[0].record.pid, 42u);
    monitor.poll({everything()});
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].record.state, TcpState::Established);
}

TEST_F(ScopedPollTest, ACarriedConnectionStillFollowsItsOwnerAcrossAFork) {
    source.sockets = {tcpSocket(101, 5000, TcpState::Established, 443)};
    processes.add(10, "parent", {101});
    PortMonitor monitor(source, processes, clock);
    record(monitor);
    monitor.poll({everything()});
    processes.add(11, "child", {101});  // forked, then the parent exits
    processes.processes.erase(10);
    monitor.poll({listenersOnly()});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].action, Action::OwnerChanged);
    EXPECT_EQ(seen[0].record.pid, 11u);
    EXPECT_EQ(seen[0].previousPid, 10u);
}

TEST_F(ScopedPollTest, SocketsOfEachNamespaceComeFromItsOwnRequestAndCarryItsInode) {
    auto host = tcpSocket(100, 22);
    host.netns = 4026531840;
    auto inContainer = tcpSocket(200, 8080);
    inContainer.netns = 4026532300;
    source.sockets = {host, inContainer};
    processes.add(10, "sshd", {100});
    processes.add(20, "web", {200});
    PortMonitor monitor(source, processes, clock);
    record(monitor);
    monitor.poll({everything(4026531840), listenersOnly(4026532300)});
    ASSERT_EQ(monitor.snapshot().size(), 2u);
    EXPECT_EQ(monitor.snapshot()[0].netns, 4026531840u);
    EXPECT_EQ(monitor.snapshot()[1].netns, 4026532300u);
    EXPECT_EQ(monitor.snapshot()[1].pid, 20u);

    source.failingNamespaces = {4026532300};
    const auto failed = monitor.poll({everything(4026531840), listenersOnly(4026532300)});
    EXPECT_FALSE(failed.ok);
    monitor.poll({everything(4026531840), listenersOnly(4026532300)});
    EXPECT_TRUE(seen.empty()) << "a namespace whose dump fails keeps its sockets";
    EXPECT_EQ(monitor.snapshot().size(), 2u);

    EXPECT_EQ(monitor.dropNamespace(4026532300), 1u);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].action, Action::Removed);
    EXPECT_EQ(seen[0].record.netns, 4026532300u);
}

TEST_F(ScopedPollTest, TheProcessObserverHearsOfNewAndVanishedProcesses) {
    PortMonitor monitor(source, processes, clock);
    std::vector<std::uint32_t> fresh, gone;
    monitor.setProcessObserver([&](const auto& f, const auto& v) {
        for (const auto& p : f)
            fresh.push_back(p.pid);
        for (const auto& p : v)
            gone.push_back(p.pid);
    });
    processes.add(10, "a", {});
    monitor.poll();
    processes.add(11, "b", {});
    processes.processes.erase(10);
    monitor.poll();
    EXPECT_EQ(fresh, (std::vector<std::uint32_t>{10, 11}));
    EXPECT_EQ(gone, (std::vector<std::uint32_t>{10}));
}

TEST_F(ScopedPollTest, UdpSocketsAreKeptByTheListenerOnlyPlanOfAPoll) {
    source.sockets = {udpSocket(300, 5353), tcpSocket(100, 80)};
    processes.add(10, "avahi", {300, 100});
    PortMonitor monitor(source, processes, clock);
    record(monitor);
    monitor.poll({everything()});
    DumpRequest udp;
    udp.tcp = false;
    udp.states = kUdpStates;
    DumpRequest tcpListeners = listenersOnly();
    tcpListeners.udp = false;
    for (int i = 0; i < 3; ++i)
        monitor.poll({tcpListeners, udp});
    EXPECT_TRUE(seen.empty());
    EXPECT_EQ(monitor.snapshot().size(), 2u);
    source.sockets.erase(source.sockets.begin());
    monitor.poll({tcpListeners, udp});
    monitor.poll({tcpListeners, udp});
    ASSERT_EQ(seen.size(), 1u) << "UDP is covered by the UDP request: its close is seen";
    EXPECT_EQ(seen[0].record.protocol, Protocol::Udp);
}
