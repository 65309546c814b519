// SPDX-License-Identifier: MIT
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

TEST(SnapshotDiff, SameSocketWithNewOwnerIsAddedForThatOwner) {
    auto parent = tcpSocket(1, 80);
    parent.pid = 10;
    auto child = parent;
    child.pid = 11;
    Snapshot before = {parent};
    Snapshot after = {parent, child};
    normalizeSnapshot(after);
    auto changes = diffSnapshots(before, after);
    ASSERT_EQ(changes.added.size(), 1u);
    EXPECT_EQ(changes.added[0].pid, 11u);
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
