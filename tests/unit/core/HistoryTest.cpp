// SPDX-License-Identifier: MIT
#include "core/History.hpp"
#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>

using namespace porteye::core;
using porteye::fakes::tcpSocket;

namespace {

PortEvent event(std::uint64_t seq, Action action, std::uint16_t port, std::uint32_t pid, std::string process,
                std::int64_t timeUs) {
    SocketRecord r = tcpSocket(seq, port);
    r.pid = pid;
    r.process = std::move(process);
    return PortEvent{seq, action, WallTime{std::chrono::microseconds{timeUs}}, r};
}

History sampleHistory() {
    History h(100);
    h.append(event(1, Action::Added, 80, 10, "nginx", 1000));
    h.append(event(2, Action::Added, 5432, 20, "postgres", 2000));
    h.append(event(3, Action::Removed, 80, 10, "nginx", 3000));
    h.append(event(4, Action::Added, 8080, 30, "Python3", 4000));
    h.append(event(5, Action::Removed, 5432, 20, "postgres", 5000));
    return h;
}

std::vector<std::uint64_t> sequences(const std::vector<PortEvent>& events) {
    std::vector<std::uint64_t> out;
    for (const auto& e : events)
        out.push_back(e.sequence);
    return out;
}

}  // namespace

TEST(History, LimitReturnsNewestNOldestFirst) {
    HistoryFilter f;
    f.limit = 2;
    EXPECT_EQ(sequences(sampleHistory().query(f)), (std::vector<std::uint64_t>{4, 5}));
}

TEST(History, ZeroLimitMeansEverything) {
    HistoryFilter f;
    f.limit = 0;
    EXPECT_EQ(sequences(sampleHistory().query(f)).size(), 5u);
}

TEST(History, FiltersByPortPidProcessAndAction) {
    const History h = sampleHistory();
    HistoryFilter byPort;
    byPort.socket.port = 80;
    EXPECT_EQ(sequences(h.query(byPort)), (std::vector<std::uint64_t>{1, 3}));
    HistoryFilter byPid;
    byPid.socket.pid = 20;
    EXPECT_EQ(sequences(h.query(byPid)), (std::vector<std::uint64_t>{2, 5}));
    HistoryFilter byProcess;
    byProcess.socket.process = "python";  // case-insensitive substring
    EXPECT_EQ(sequences(h.query(byProcess)), (std::vector<std::uint64_t>{4}));
    HistoryFilter removed;
    removed.action = Action::Removed;
    EXPECT_EQ(sequences(h.query(removed)), (std::vector<std::uint64_t>{3, 5}));
}

TEST(History, SinceTimeAndAfterSequence) {
    const History h = sampleHistory();
    HistoryFilter since;
    since.since = WallTime{std::chrono::microseconds{3000}};
    EXPECT_EQ(sequences(h.query(since)), (std::vector<std::uint64_t>{3, 4, 5}));
    HistoryFilter after;
    after.afterSequence = 3;
    EXPECT_EQ(sequences(h.query(after)), (std::vector<std::uint64_t>{4, 5}));
}

TEST(History, PagingForwardWithAfterSequenceMissesNothing) {
    History h(100);
    for (std::uint64_t i = 1; i <= 10; ++i)
        h.append(event(i, Action::Added, 1, 1, "x", 0));
    std::vector<std::uint64_t> seen;
    HistoryFilter page;
    page.limit = 3;
    page.afterSequence = 0;
    for (;;) {
        const auto events = h.query(page);
        for (const auto& e : events)
            seen.push_back(e.sequence);
        if (events.size() < page.limit) break;
        page.afterSequence = events.back().sequence;
    }
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(History, CountsDroppedEventsWhenFull) {
    History h(2);
    for (std::uint64_t i = 1; i <= 5; ++i)
        h.append(event(i, Action::Added, 1, 1, "x", 0));
    EXPECT_EQ(h.size(), 2u);
    EXPECT_EQ(h.droppedCount(), 3u);
    HistoryFilter all;
    EXPECT_EQ(sequences(h.query(all)), (std::vector<std::uint64_t>{4, 5}));
}
