// SPDX-License-Identifier: MIT
#include "core/PidPortTracker.hpp"
#include "core/TickCachedProcessTable.hpp"
#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>

using namespace porteye::core;
using namespace porteye::fakes;

class PidPortTrackerTest : public ::testing::Test {
protected:
    FakeProcessTable processes;
    FakeClock clock;
};

TEST_F(PidPortTrackerTest, ReportsOpenedClosedAndActivePortsLikeTheSeed) {
    processes.add(16609, "app", {1});
    PidPortTracker tracker(16609, false, processes, clock);
    std::vector<SocketRecord> dump = {tcpSocket(1, 50260, TcpState::Established, 443), tcpSocket(9, 22)};

    auto first = tracker.update(dump);
    EXPECT_EQ(first.opened, (std::set<std::uint16_t>{50260}));
    EXPECT_EQ(first.active, (std::set<std::uint16_t>{50260}));
    EXPECT_TRUE(first.closed.empty());
    ASSERT_EQ(first.events.size(), 1u);
    EXPECT_EQ(first.events[0].record.pid, 16609u);

    processes.processes[16609].inodes.push_back(2);
    dump.push_back(tcpSocket(2, 50390, TcpState::Established, 443));
    auto second = tracker.update(dump);
    EXPECT_EQ(second.opened, (std::set<std::uint16_t>{50390}));
    EXPECT_EQ(second.active, (std::set<std::uint16_t>{50260, 50390}));

    processes.processes[16609].inodes = {2};
    auto third = tracker.update(dump);
    EXPECT_EQ(third.closed, (std::set<std::uint16_t>{50260}));
    EXPECT_EQ(third.active, (std::set<std::uint16_t>{50390}));

    auto quiet = tracker.update(dump);
    EXPECT_FALSE(quiet.changed());
    EXPECT_TRUE(quiet.events.empty());
}

TEST_F(PidPortTrackerTest, ExitOfWatchedProcessClosesItsPorts) {
    processes.add(5, "app", {1});
    PidPortTracker tracker(5, false, processes, clock);
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080)};
    tracker.update(dump);
    processes.processes.erase(5);
    auto change = tracker.update(dump);
    EXPECT_TRUE(change.processExited);
    EXPECT_EQ(change.closed, (std::set<std::uint16_t>{8080}));
    EXPECT_TRUE(change.active.empty());
}

TEST_F(PidPortTrackerTest, ChildrenAreIncludedOnlyWhenAsked) {
    processes.add(5, "parent", {1});
    processes.add(6, "child", {2});
    processes.processes[5].children = {6};
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080), tcpSocket(2, 9090)};

    PidPortTracker alone(5, false, processes, clock);
    EXPECT_EQ(alone.update(dump).active, (std::set<std::uint16_t>{8080}));
    PidPortTracker family(5, true, processes, clock);
    EXPECT_EQ(family.update(dump).active, (std::set<std::uint16_t>{8080, 9090}));
}

TEST_F(PidPortTrackerTest, StateFilterNarrowsCountedSockets) {
    processes.add(5, "app", {1, 2});
    SocketFilter listening;
    listening.state = TcpState::Listen;
    PidPortTracker tracker(5, false, processes, clock, listening);
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080), tcpSocket(2, 40000, TcpState::Established, 80)};
    EXPECT_EQ(tracker.update(dump).active, (std::set<std::uint16_t>{8080}));
}

TEST_F(PidPortTrackerTest, UdpPortsCountUnlessTheProtocolFilterSaysTcp) {
    processes.add(5, "app", {1, 2, 3});
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080), udpSocket(2, 5353), udpSocket(3, 40001, 53)};
    PidPortTracker every(5, false, processes, clock);
    EXPECT_EQ(every.update(dump).active, (std::set<std::uint16_t>{8080, 5353, 40001}));
    SocketFilter tcp;
    tcp.protocol = Protocol::Tcp;
    PidPortTracker tcpOnly(5, false, processes, clock, tcp);
    EXPECT_EQ(tcpOnly.update(dump).active, (std::set<std::uint16_t>{8080}));
    SocketFilter udp;
    udp.protocol = Protocol::Udp;
    PidPortTracker udpOnly(5, false, processes, clock, udp);
    EXPECT_EQ(udpOnly.update(dump).active, (std::set<std::uint16_t>{5353, 40001}));
}

TEST_F(PidPortTrackerTest, QuietProcessIsTrackedWithoutDumpingTheHost) {
    processes.add(5, "app", {1, 2});
    PidPortTracker tracker(5, false, processes, clock);
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080), tcpSocket(2, 40000, TcpState::Established, 80)};
    int dumps = 0;
    auto provider = [&]() -> const std::vector<SocketRecord>* {
        ++dumps;
        return &dump;
    };
    EXPECT_EQ(tracker.step(provider).active, (std::set<std::uint16_t>{8080, 40000}));
    for (int i = 0; i < 5; ++i)
        EXPECT_FALSE(tracker.step(provider).changed());
    EXPECT_EQ(dumps, 1) << "same fds, same sockets: no dump needed";

    processes.processes[5].inodes = {1};  // the connection's fd was closed
    auto closed = tracker.step(provider);
    EXPECT_EQ(closed.closed, (std::set<std::uint16_t>{40000}));
    EXPECT_EQ(dumps, 1) << "a socket that left the fd table needs no dump either";

    processes.processes[5].inodes = {1, 3};
    dump.push_back(tcpSocket(3, 9090));
    EXPECT_EQ(tracker.step(provider).opened, (std::set<std::uint16_t>{9090}));
    EXPECT_EQ(dumps, 2) << "a new inode is placed with one dump";
}

TEST_F(PidPortTrackerTest, InodeMissingFromTheDumpIsRecheckedWhileYoungThenPeriodically) {
    processes.add(5, "app", {1, 7});  // 7: a unix socket or a TCP socket not bound yet
    TrackerOptions options;
    options.refreshEvery = 6;
    options.recheckYoungFor = 2;
    PidPortTracker tracker(5, false, processes, clock, {}, options);
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080)};
    int dumps = 0;
    auto provider = [&]() -> const std::vector<SocketRecord>* {
        ++dumps;
        return &dump;
    };
    tracker.step(provider);  // first step: dump, 7 unplaced (age 0)
    tracker.step(provider);  // age 0 < 2: dump again
    tracker.step(provider);  // age 1 < 2: dump again
    tracker.step(provider);  // age 2: settled, no dump
    tracker.step(provider);
    EXPECT_EQ(dumps, 3);
    dump.push_back(tcpSocket(7, 7070));    // it bound without its inode changing
    auto change = tracker.step(provider);  // 6 steps after the last dump? not yet (last dump at step 3)
    for (int i = 0; i < 4 && !change.opened.contains(7070); ++i)
        change = tracker.step(provider);
    EXPECT_TRUE(change.opened.contains(7070)) << "the periodic refresh finds it";
}

TEST_F(PidPortTrackerTest, FailedDumpReportsNothingInsteadOfClosingEverything) {
    processes.add(5, "app", {1});
    PidPortTracker tracker(5, false, processes, clock);
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080)};
    tracker.update(dump);
    processes.processes[5].inodes = {1, 2};
    auto change = tracker.step([]() -> const std::vector<SocketRecord>* { return nullptr; });
    EXPECT_FALSE(change.changed());
    EXPECT_EQ(tracker.current().size(), 1u);
}

TEST_F(PidPortTrackerTest, WatchersOfOneProcessShareItsFdTableReadWithinATick) {
    processes.add(5, "app", {1});
    TickCachedProcessTable cached(processes);
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080)};
    std::vector<std::unique_ptr<PidPortTracker>> trackers;
    for (int i = 0; i < 100; ++i)
        trackers.push_back(std::make_unique<PidPortTracker>(5, false, cached, clock));

    cached.newTick();
    for (auto& t : trackers)
        EXPECT_EQ(t->update(dump).active, (std::set<std::uint16_t>{8080}));
    EXPECT_EQ(processes.fdTableReads, 1);

    processes.processes[5].inodes = {};
    cached.newTick();
    for (auto& t : trackers)
        EXPECT_EQ(t->update(dump).closed, (std::set<std::uint16_t>{8080}));
    EXPECT_EQ(processes.fdTableReads, 2) << "a new tick reads the table afresh";
}

TEST_F(PidPortTrackerTest, UnreadableFdTableIsAnErrorNotClosedPortsOrAnExit) {
    processes.add(16609, "app", {1});
    processes.add(16610, "worker", {2});
    processes.processes[16609].children = {16610};
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080), tcpSocket(2, 8081)};
    PidPortTracker tracker(16609, true, processes, clock);
    ASSERT_EQ(tracker.update(dump).active, (std::set<std::uint16_t>{8080, 8081}));

    for (ReadStatus failure : {ReadStatus::Transient, ReadStatus::Denied}) {
        for (std::uint32_t pid : {16609u, 16610u}) {
            processes.failures = {{pid, failure}};
            auto change = tracker.update(dump);
            EXPECT_EQ(change.readStatus, failure);
            EXPECT_NE(change.readError, 0);
            EXPECT_FALSE(change.processExited);
            EXPECT_TRUE(change.closed.empty()) << "an unread fd table is not an empty one";
            EXPECT_TRUE(change.events.empty());
            EXPECT_EQ(change.active, (std::set<std::uint16_t>{8080, 8081}));
        }
    }
    processes.failures.clear();
    auto back = tracker.update(dump);
    EXPECT_EQ(back.readStatus, ReadStatus::Ok);
    EXPECT_FALSE(back.changed()) << "nothing happened meanwhile, and nothing is reported";
}

TEST_F(PidPortTrackerTest, APinnedProcessThatIsNotGoneIsNotExited) {
    processes.add(16609, "app", {1});
    std::vector<SocketRecord> dump = {tcpSocket(1, 8080)};
    auto pinned = processes.pin(16609);
    ASSERT_TRUE(pinned.ok());
    PidPortTracker tracker(16609, false, processes, clock, {}, {}, pinned.handle.get());
    tracker.update(dump);
    processes.failures = {{16609, ReadStatus::Transient}};
    auto change = tracker.update(dump);
    EXPECT_FALSE(change.processExited);
    EXPECT_EQ(change.active, (std::set<std::uint16_t>{8080}));
    processes.failures.clear();
    processes.processes.erase(16609);
    EXPECT_TRUE(tracker.update(dump).processExited);
}
