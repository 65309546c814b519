// SPDX-License-Identifier: MIT
// core::queryHistory: the ring first, the store for what the ring no longer holds.
#include "core/IEventStore.hpp"
#include "core/PortMonitor.hpp"
#include "fakes/FakeEventStore.hpp"
#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>

using namespace porteye::core;
using porteye::fakes::FakeEventStore;
using porteye::fakes::tcpSocket;

namespace {

PortEvent event(std::uint64_t seq, std::uint16_t port) {
    return PortEvent{seq, seq % 2 ? Action::Added : Action::Removed, WallTime{std::chrono::microseconds{seq * 1000}},
                     tcpSocket(seq, port)};
}

std::vector<std::uint64_t> sequences(const std::vector<PortEvent>& events) {
    std::vector<std::uint64_t> out;
    for (const auto& e : events)
        out.push_back(e.sequence);
    return out;
}

/// Events 1..10 were stored; the ring (capacity 4) holds 7..10.
struct Fixture {
    Fixture() {
        for (std::uint64_t s = 1; s <= 10; ++s) {
            store.events.push_back(event(s, s <= 5 ? 80 : 443));
            ring.append(event(s, s <= 5 ? 80 : 443));
        }
    }
    History ring{4};
    FakeEventStore store;
};

}  // namespace

TEST(StoredHistory, NewestLimitReachesBackIntoTheStore) {
    Fixture f;
    HistoryFilter filter;
    filter.limit = 6;
    EXPECT_EQ(sequences(queryHistory(f.ring, 11, &f.store, filter)), (std::vector<std::uint64_t>{5, 6, 7, 8, 9, 10}));
}

TEST(StoredHistory, RingAloneWhenItHoldsEnough) {
    Fixture f;
    HistoryFilter filter;
    filter.limit = 3;
    EXPECT_EQ(sequences(queryHistory(f.ring, 11, &f.store, filter)), (std::vector<std::uint64_t>{8, 9, 10}));
    EXPECT_EQ(f.store.queries, 0);
}

TEST(StoredHistory, FiltersApplyToTheStoredPart) {
    Fixture f;
    HistoryFilter filter;
    filter.socket.port = 80;
    filter.limit = 0;
    EXPECT_EQ(sequences(queryHistory(f.ring, 11, &f.store, filter)), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
}

TEST(StoredHistory, PagingForwardWalksStoreThenRingWithoutGaps) {
    Fixture f;
    HistoryFilter filter;
    filter.limit = 4;
    std::vector<std::uint64_t> all;
    std::uint64_t after = 0;
    for (;;) {
        filter.afterSequence = after;
        auto page = queryHistory(f.ring, 11, &f.store, filter);
        for (const auto& e : page)
            all.push_back(e.sequence);
        if (page.size() < filter.limit) break;
        after = page.back().sequence;
    }
    EXPECT_EQ(all, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(StoredHistory, AfterARestartTheStoreAnswersBeforeTheRingFills) {
    FakeEventStore store;
    for (std::uint64_t s = 1; s <= 5; ++s)
        store.events.push_back(event(s, 80));
    History ring(100);  // a new daemon: empty ring, next sequence 6
    HistoryFilter filter;
    EXPECT_EQ(sequences(queryHistory(ring, 6, &store, filter)), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
    ring.append(event(6, 80));
    filter.afterSequence = 4;
    EXPECT_EQ(sequences(queryHistory(ring, 7, &store, filter)), (std::vector<std::uint64_t>{5, 6}));
}

TEST(StoredHistory, AFailedStoreLeavesTheRingsAnswer) {
    Fixture f;
    f.store.failing = true;
    HistoryFilter filter;
    filter.limit = 0;
    EXPECT_EQ(sequences(queryHistory(f.ring, 11, &f.store, filter)), (std::vector<std::uint64_t>{7, 8, 9, 10}));
    filter.afterSequence = 0;
    EXPECT_EQ(sequences(queryHistory(f.ring, 11, &f.store, filter)), (std::vector<std::uint64_t>{7, 8, 9, 10}));
}

TEST(StoredHistory, NoStoreIsTheRing) {
    Fixture f;
    HistoryFilter filter;
    filter.limit = 0;
    EXPECT_EQ(sequences(queryHistory(f.ring, 11, nullptr, filter)), (std::vector<std::uint64_t>{7, 8, 9, 10}));
}

TEST(StoredHistory, MonitorContinuesAfterTheStoredSequence) {
    porteye::fakes::FakeSocketSource source;
    porteye::fakes::FakeProcessTable processes;
    porteye::fakes::FakeClock clock;
    MonitorOptions options;
    options.firstSequence = 42;  // the store's last sequence was 41
    PortMonitor monitor(source, processes, clock, options);
    EXPECT_EQ(monitor.nextSequence(), 42u);
    monitor.poll();
    source.sockets = {tcpSocket(100, 8080)};
    processes.add(7, "python3", {100});
    monitor.poll();
    ASSERT_EQ(monitor.historyRing().size(), 1u);
    EXPECT_EQ(monitor.historyRing().oldestSequence(), 42u);
    EXPECT_EQ(monitor.nextSequence(), 43u);
}
