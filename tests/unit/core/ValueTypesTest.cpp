// SPDX-License-Identifier: MIT
#include "core/Filters.hpp"
#include "core/SnapshotDiff.hpp"
#include "core/SocketRecord.hpp"
#include "core/TimeFormat.hpp"
#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

using namespace porteye::core;
using porteye::fakes::tcpSocket;

TEST(TcpStateNames, KernelAndSsSpellingsRoundTrip) {
    EXPECT_EQ(stateName(TcpState::TimeWait), "TIME_WAIT");
    EXPECT_EQ(parseStateName("TIME_WAIT"), TcpState::TimeWait);
    EXPECT_EQ(parseStateName("time-wait"), TcpState::TimeWait);
    EXPECT_EQ(parseStateName("listen"), TcpState::Listen);
    EXPECT_EQ(parseStateName("established"), TcpState::Established);
    EXPECT_EQ(parseStateName("bogus"), std::nullopt);
    for (int s = 1; s <= 12; ++s) {
        auto state = static_cast<TcpState>(s);
        EXPECT_EQ(parseStateName(stateName(state)), state);
    }
}

TEST(TcpStateNames, BoundUdpIsUnconnAndTablesUseSsSpellings) {
    EXPECT_EQ(stateName(Protocol::Udp, TcpState::Close), "UNCONN") << "a bound UDP socket, as ss shows it";
    EXPECT_EQ(stateName(Protocol::Udp, TcpState::Established), "ESTABLISHED");
    EXPECT_EQ(stateName(Protocol::Tcp, TcpState::Close), "CLOSE") << "TCP keeps the kernel's name";
    EXPECT_EQ(stateName(Protocol::Tcp, TcpState::Listen), "LISTEN");
    EXPECT_EQ(parseStateName("UNCONN"), TcpState::Close);
    EXPECT_EQ(parseStateName("CLOSE"), TcpState::Close);
    EXPECT_EQ(ssStateName(TcpState::Established), "ESTAB");
    EXPECT_EQ(ssStateName(TcpState::Close), "UNCONN");
    EXPECT_EQ(ssStateName(TcpState::TimeWait), "TIME-WAIT");
    for (int s = 1; s <= 12; ++s) {
        auto state = static_cast<TcpState>(s);
        EXPECT_EQ(parseStateName(ssStateName(state)), state) << ssStateName(state);
        EXPECT_EQ(parseStateName(stateName(Protocol::Udp, state)), state);
    }
}

TEST(SocketFilter, ListeningMeansTcpListenPlusBoundUdpAsSsL) {
    using porteye::fakes::udpSocket;
    SocketFilter listening;
    listening.listeningOnly = true;
    EXPECT_TRUE(listening.matches(tcpSocket(1, 80)));
    EXPECT_FALSE(listening.matches(tcpSocket(2, 40000, TcpState::Established, 80)));
    EXPECT_TRUE(listening.matches(udpSocket(3, 53))) << "bound, unconnected UDP";
    EXPECT_FALSE(listening.matches(udpSocket(4, 40001, 53))) << "connected UDP";
    auto tcpClose = tcpSocket(5, 81, TcpState::Close);
    EXPECT_FALSE(listening.matches(tcpClose)) << "a closing TCP socket listens for nothing";

    SocketFilter udp;
    udp.protocol = Protocol::Udp;
    EXPECT_TRUE(udp.matches(udpSocket(3, 53)));
    EXPECT_FALSE(udp.matches(tcpSocket(1, 53)));
    SocketFilter unconn;
    unconn.state = parseStateName("UNCONN");
    EXPECT_TRUE(unconn.matches(udpSocket(3, 53)));
    EXPECT_FALSE(unconn.matches(udpSocket(4, 40001, 53)));
    SocketFilter port53;
    port53.port = 53;
    EXPECT_TRUE(port53.matches(udpSocket(4, 40001, 53))) << "remote port of a connected UDP socket";
}

TEST(SnapshotDiff, ReportsAddedAndRemovedByKeyAndIgnoresStateChange) {
    Snapshot before = {tcpSocket(1, 80), tcpSocket(2, 81, TcpState::Established, 5000)};
    Snapshot after = {tcpSocket(2, 81, TcpState::CloseWait, 5000), tcpSocket(3, 82)};
    normalizeSnapshot(before);
    normalizeSnapshot(after);
    auto changes = diffSnapshots(before, after);
    ASSERT_EQ(changes.removed.size(), 1u);
    EXPECT_EQ(changes.removed[0].localPort, 80);
    ASSERT_EQ(changes.added.size(), 1u);
    EXPECT_EQ(changes.added[0].localPort, 82);
}

TEST(SnapshotDiff, AnOwnerJoiningAnOpenSocketIsAnOwnerChangeFromNobody) {
    auto parent = tcpSocket(1, 80);
    parent.pid = 10;
    auto child = parent;
    child.pid = 11;
    Snapshot before = {parent};
    Snapshot after = {parent, child};
    normalizeSnapshot(after);
    auto changes = diffSnapshots(before, after);
    EXPECT_TRUE(changes.added.empty());
    EXPECT_TRUE(changes.removed.empty());
    ASSERT_EQ(changes.ownerChanged.size(), 1u);
    EXPECT_EQ(changes.ownerChanged[0].record.pid, 11u);
    EXPECT_EQ(changes.ownerChanged[0].previousPid, 0u);
}

TEST(SnapshotDiff, HandoverToAForkChildIsOneOwnerChangeNeverARemoval) {
    auto parent = tcpSocket(1, 80);
    parent.pid = 10;
    parent.ownerUid = 0;
    auto child = parent;
    child.pid = 11;
    child.ownerUid = 1000;
    Snapshot before = {parent, child};
    normalizeSnapshot(before);

    // The parent exits: the child keeps the socket.
    auto changes = diffSnapshots(before, {child});
    EXPECT_TRUE(changes.removed.empty());
    EXPECT_TRUE(changes.added.empty());
    ASSERT_EQ(changes.ownerChanged.size(), 1u);
    EXPECT_EQ(changes.ownerChanged[0].record.pid, 11u);
    EXPECT_EQ(changes.ownerChanged[0].previousPid, 10u);
    EXPECT_EQ(changes.ownerChanged[0].previousOwnerUid, 0u);

    // Straight from one owner to another (both seen in one poll).
    changes = diffSnapshots({parent}, {child});
    ASSERT_EQ(changes.ownerChanged.size(), 1u);
    EXPECT_EQ(changes.ownerChanged[0].record.pid, 11u);
    EXPECT_EQ(changes.ownerChanged[0].previousPid, 10u);
    EXPECT_TRUE(changes.removed.empty() && changes.added.empty());
}

TEST(SnapshotDiff, LosingOrFindingTheOnlyOwnerIsAnOwnerChange) {
    auto ownerless = tcpSocket(1, 80);
    auto owned = ownerless;
    owned.pid = 7;
    owned.ownerUid = 1000;
    auto found = diffSnapshots({ownerless}, {owned});
    ASSERT_EQ(found.ownerChanged.size(), 1u);
    EXPECT_EQ(found.ownerChanged[0].record.pid, 7u);
    EXPECT_EQ(found.ownerChanged[0].previousPid, 0u);
    auto lost = diffSnapshots({owned}, {ownerless});
    ASSERT_EQ(lost.ownerChanged.size(), 1u);
    EXPECT_EQ(lost.ownerChanged[0].record.pid, 0u);
    EXPECT_EQ(lost.ownerChanged[0].previousPid, 7u);
    EXPECT_EQ(lost.ownerChanged[0].previousOwnerUid, 1000u);
}

TEST(SnapshotDiff, TimeWaitSuccessorIsAClosedSocketAndANewRecord) {
    auto full = tcpSocket(1, 80, TcpState::Established, 5000);
    full.pid = 7;
    auto timeWait = full;  // same cookie, no inode, no owner
    timeWait.inode = 0;
    timeWait.pid = 0;
    timeWait.state = TcpState::TimeWait;
    auto changes = diffSnapshots({full}, {timeWait});
    ASSERT_EQ(changes.removed.size(), 1u);
    EXPECT_EQ(changes.removed[0].pid, 7u);
    ASSERT_EQ(changes.added.size(), 1u);
    EXPECT_TRUE(changes.ownerChanged.empty());
}

TEST(SnapshotDiff, OwnerChangeEventsCarryThePreviousOwner) {
    SnapshotChanges changes;
    auto record = tcpSocket(1, 80);
    record.pid = 11;
    changes.ownerChanged.push_back({record, 10, 0});
    changes.added = {tcpSocket(2, 81)};
    changes.removed = {tcpSocket(3, 82)};
    std::uint64_t next = 1;
    auto events = stampEvents(changes, WallTime{}, next);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].action, Action::Removed);
    EXPECT_EQ(events[1].action, Action::OwnerChanged);
    EXPECT_EQ(events[1].record.pid, 11u);
    EXPECT_EQ(events[1].previousPid, 10u);
    EXPECT_EQ(events[2].action, Action::Added);
}

TEST(ActionNames, RoundTripEveryAction) {
    for (Action a : {Action::Added, Action::Removed, Action::OwnerChanged})
        EXPECT_EQ(parseActionName(actionName(a)), a);
    EXPECT_EQ(actionName(Action::OwnerChanged), "owner-changed");
    EXPECT_EQ(parseActionName("changed"), std::nullopt);
}

TEST(SnapshotDiff, StampedEventsAreNumberedRemovalsFirst) {
    SnapshotChanges changes;
    changes.added = {tcpSocket(1, 80)};
    changes.removed = {tcpSocket(2, 81)};
    std::uint64_t next = 41;
    auto events = stampEvents(changes, WallTime{}, next);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].action, Action::Removed);
    EXPECT_EQ(events[0].sequence, 41u);
    EXPECT_EQ(events[1].sequence, 42u);
    EXPECT_EQ(next, 43u);
}

TEST(TimeFormat, IsoWithMicrosecondsAsTheSeedPrints) {
    const WallTime t{std::chrono::microseconds{1696334400'000123}};
    EXPECT_EQ(formatIsoUtc(t), "2023-10-03T12:00:00.000123Z");
    setenv("TZ", "UTC", 1);
    tzset();
    EXPECT_EQ(formatIsoLocal(t), "2023-10-03T12:00:00.000123");
}

TEST(TimeFormat, ParsesIsoAndEpochMicros) {
    EXPECT_EQ(parseTime("2023-10-03T12:00:00.5Z"), WallTime{std::chrono::microseconds{1696334400'500000}});
    EXPECT_EQ(parseTime("1696334400000000"), WallTime{std::chrono::microseconds{1696334400'000000}});
    EXPECT_EQ(parseTime("yesterday"), std::nullopt);
    EXPECT_EQ(parseTime("2023-13-03T12:00:00"), std::nullopt);
    EXPECT_EQ(parseTime("2023-10-03T12:00:00junk"), std::nullopt);
}
