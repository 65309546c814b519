// SPDX-License-Identifier: MIT
// The persistent history on a real SQLite file in a temporary directory.
#include "fakes/FakeSources.hpp"
#include "store/SqliteEventStore.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <csignal>

#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>

using namespace porteye;
using namespace porteye::core;
using porteye::fakes::tcpSocket;
using porteye::store::SqliteEventStore;
using porteye::store::StoreOptions;
using porteye::testing::TempDir;

namespace {

/// A file-size limit stands in for a full disk while it lives: writes past 64 KiB fail with EFBIG.
struct FullDisk {
    rlimit saved{};
    FullDisk() {
        ::signal(SIGXFSZ, SIG_IGN);
        ::getrlimit(RLIMIT_FSIZE, &saved);
        rlimit tight = saved;
        tight.rlim_cur = 64 * 1024;
        ::setrlimit(RLIMIT_FSIZE, &tight);
    }
    ~FullDisk() { ::setrlimit(RLIMIT_FSIZE, &saved); }
};

WallTime now() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

PortEvent event(std::uint64_t seq, Action action, std::uint16_t port, std::uint32_t pid, std::string process,
                std::uint32_t ownerUid = 1000, WallTime time = now()) {
    SocketRecord r = tcpSocket(seq, port);
    r.pid = pid;
    r.process = std::move(process);
    r.ownerUid = ownerUid;
    return PortEvent{seq, action, time, r};
}

std::vector<std::uint64_t> sequences(const std::vector<PortEvent>& events) {
    std::vector<std::uint64_t> out;
    for (const auto& e : events)
        out.push_back(e.sequence);
    return out;
}

StoreOptions optionsFor(const TempDir& dir) {
    StoreOptions o;
    o.directory = dir.path() + "/state";
    return o;
}

std::unique_ptr<SqliteEventStore> openOrFail(const StoreOptions& o) {
    auto opened = SqliteEventStore::open(o);
    EXPECT_TRUE(opened.store) << opened.error;
    return std::move(opened.store);
}

/// Events 1..6 of three processes and two users.
std::vector<PortEvent> sample() {
    std::vector<PortEvent> v{
        event(1, Action::Added, 80, 10, "nginx"),
        event(2, Action::Added, 5432, 20, "postgres", 1001),
        event(3, Action::Removed, 80, 10, "nginx"),
        event(4, Action::Added, 8080, 30, "Python3"),
        event(5, Action::Removed, 5432, 20, "postgres", 1001),
        event(6, Action::Added, 9000, 30, "Python3"),
    };
    v[3].record.state = TcpState::Established;
    v[3].record.remotePort = 443;
    v[5].record.protocol = Protocol::Udp;
    return v;
}

std::vector<std::uint64_t> ask(SqliteEventStore& store, const std::function<void(HistoryFilter&)>& set,
                               std::uint64_t before = 1000) {
    HistoryFilter f;
    f.limit = 0;
    set(f);
    auto result = store.query(f, before);
    EXPECT_TRUE(result);
    return result ? sequences(*result) : std::vector<std::uint64_t>{};
}

/// Rows committed to history.db, read through a connection of the test's own.
std::int64_t committedRows(const std::string& path) {
    sqlite3* db = nullptr;
    std::int64_t n = -1;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM events", -1, &s, nullptr) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return n;
}

}  // namespace

TEST(SqliteEventStore, AnswersEveryFilterAsTheRingDoes) {
    TempDir dir;
    auto store = openOrFail(optionsFor(dir));
    ASSERT_TRUE(store);
    EXPECT_EQ(store->health(), "ok");
    store->append(sample());
    store->flush();
    using V = std::vector<std::uint64_t>;
    EXPECT_EQ(ask(*store, [](auto&) {}), (V{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(ask(*store, [](auto& f) { f.socket.pid = 20; }), (V{2, 5}));
    EXPECT_EQ(ask(*store, [](auto& f) { f.socket.port = 80; }), (V{1, 3}));
    EXPECT_EQ(ask(*store, [](auto& f) { f.socket.port = 443; }), (V{4})) << "remote ports match too";
    EXPECT_EQ(ask(*store, [](auto& f) { f.socket.process = "python"; }), (V{4, 6})) << "case-insensitive substring";
    EXPECT_EQ(ask(*store, [](auto& f) { f.socket.state = TcpState::Established; }), (V{4}));
    EXPECT_EQ(ask(*store, [](auto& f) { f.socket.protocol = Protocol::Udp; }), (V{6}));
    EXPECT_EQ(ask(*store, [](auto& f) { f.action = Action::Removed; }), (V{3, 5}));
    EXPECT_EQ(ask(*store, [](auto& f) { f.socket.uid = 1001; }), (V{2, 5})) << "the visibility rule's uid";
    EXPECT_EQ(ask(*store, [](auto& f) { f.afterSequence = 4; }), (V{5, 6}));
    EXPECT_EQ(ask(*store, [](auto& f) { f.limit = 2; }), (V{5, 6})) << "the newest, oldest first";
    EXPECT_EQ(ask(*store,
                  [](auto& f) {
                      f.afterSequence = 1;
                      f.limit = 2;
                  }),
              (V{2, 3}))
        << "paging forward: the oldest after";
    EXPECT_EQ(ask(
                  *store, [](auto&) {}, 4),
              (V{1, 2, 3}))
        << "only below the ring's oldest";
    EXPECT_EQ(ask(*store, [](auto& f) { f.socket.listeningOnly = true; }), (V{1, 2, 3, 5, 6}));
}

TEST(SqliteEventStore, AnswersUnitContainerAndNetnsFiltersAsTheRingDoes) {
    TempDir dir;
    auto store = openOrFail(optionsFor(dir));
    ASSERT_TRUE(store);
    const std::string id = "3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
    const auto withDetails = [](PortEvent e, std::string unit, std::string runtime = {}, std::string cid = {},
                                std::string name = {}) {
        auto d = std::make_shared<ProcessDetails>();
        d->unit = std::move(unit);
        d->containerRuntime = std::move(runtime);
        d->containerId = std::move(cid);
        d->containerName = std::move(name);
        e.record.details = d;
        return e;
    };
    std::vector<PortEvent> events{
        withDetails(event(1, Action::Added, 80, 10, "nginx"), "nginx.service"),
        withDetails(event(2, Action::Added, 8080, 20, "python3"), "user@1000.service/app.service"),
        withDetails(event(3, Action::Added, 5432, 30, "postgres"), "docker-" + id + ".scope", "docker", id, "db"),
        withDetails(event(4, Action::Added, 53, 40, "dnsmasq"), "systemd-nspawn@web.service/dnsmasq.service", "nspawn",
                    "web", "web"),
        event(5, Action::Added, 22, 0, ""),  // no owner, no details
        withDetails(event(6, Action::Added, 81, 11, "nginx"), "mynginx.service"),
    };
    events[2].record.netns = 4026532281ULL;
    events[2].record.netnsName = "db";
    events[3].record.netns = 4026532999ULL;
    events[3].record.netnsName = "web";
    store->append(events);
    store->flush();
    const auto ring = [&](const HistoryFilter& f) {
        std::vector<std::uint64_t> out;
        for (const auto& e : events)
            if (f.matches(e)) out.push_back(e.sequence);
        return out;
    };
    using V = std::vector<std::uint64_t>;
    const std::vector<std::pair<std::function<void(HistoryFilter&)>, V>> cases{
        {[](auto& f) { f.socket.unit = "nginx.service"; }, V{1}},
        {[](auto& f) { f.socket.unit = "app.service"; }, V{2}},
        {[](auto& f) { f.socket.unit = "user@1000.service"; }, V{2}},
        {[](auto& f) { f.socket.unit = "dnsmasq.service"; }, V{4}},
        {[](auto& f) { f.socket.unit = "nginx"; }, V{}},
        {[](auto& f) { f.socket.unit = "NGINX.service"; }, V{}},
        {[&](auto& f) { f.socket.container = id.substr(0, 12); }, V{3}},
        {[&](auto& f) { f.socket.container = id.substr(0, 4); }, V{3}},
        {[&](auto& f) { f.socket.container = id.substr(0, 3); }, V{}},
        {[](auto& f) { f.socket.container = "db"; }, V{3}},
        {[](auto& f) { f.socket.container = "web"; }, V{4}},
        {[](auto& f) { f.socket.container = "we"; }, V{}},
        {[](auto& f) { f.socket.netns = "4026532281"; }, V{3}},
        {[](auto& f) { f.socket.netns = "web"; }, V{4}},
        {[](auto& f) { f.socket.netns = "0"; }, V{}},
        {[](auto& f) { f.socket.netns = "402653228"; }, V{}},
        {[](auto& f) {
             f.socket.unit = "nginx.service";
             f.socket.port = 81;
         },
         V{}},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        HistoryFilter f;
        f.limit = 0;
        cases[i].first(f);
        EXPECT_EQ(ring(f), cases[i].second) << "case " << i;
        EXPECT_EQ(ask(*store, cases[i].first), cases[i].second) << "case " << i;
    }
}

TEST(SqliteEventStore, SinceSelectsByTime) {
    TempDir dir;
    auto store = openOrFail(optionsFor(dir));
    ASSERT_TRUE(store);
    const WallTime t = now();
    store->append({event(1, Action::Added, 80, 10, "a", 1000, t - std::chrono::hours(2)),
                   event(2, Action::Added, 81, 10, "a", 1000, t - std::chrono::hours(1)),
                   event(3, Action::Added, 82, 10, "a", 1000, t)});
    store->flush();
    EXPECT_EQ(ask(*store, [&](auto& f) { f.since = t - std::chrono::minutes(90); }),
              (std::vector<std::uint64_t>{2, 3}));
}

TEST(SqliteEventStore, KeepsEveryFieldOfTheRecord) {
    TempDir dir;
    auto store = openOrFail(optionsFor(dir));
    ASSERT_TRUE(store);
    PortEvent e = event(1, Action::OwnerChanged, 8080, 77, "child", 1002);
    e.record.family = 6;
    e.record.localAddress = "::1";
    e.record.remoteAddress = "2001:db8::1";
    e.record.remotePort = 51000;
    e.record.cookie = 0xfedcba9876543210ULL;  // all 64 bits
    e.record.inode = 0x8000000000000001ULL;
    e.record.uid = 0;
    e.previousPid = 76;
    e.previousOwnerUid = 1003;
    auto details = std::make_shared<ProcessDetails>();
    details->cmdline = "python3 -m http.server 8080";
    details->user = "carol";
    details->exe = "/usr/bin/python3.11";
    details->startTimeUs = 1'700'000'000'123'456ULL;
    details->unit = "web.service";
    details->containerRuntime = "podman";
    details->containerId = std::string(64, 'f');
    details->containerName = "web";
    e.record.details = details;
    e.record.netns = 4026532281ULL;
    e.record.netnsName = "blue";
    PortEvent plain = event(2, Action::Removed, 22, 0, "");
    plain.shortLived = true;
    store->append({e, plain});
    store->flush();
    auto back = store->query(HistoryFilter{}, 100);
    ASSERT_TRUE(back);
    ASSERT_EQ(back->size(), 2u);
    EXPECT_EQ((*back)[0], e);
    EXPECT_EQ((*back)[1], plain);
    EXPECT_FALSE((*back)[1].record.details);
}

TEST(SqliteEventStore, AStoreOfTheFirstSchemaIsUpgradedAndKeepsItsEvents) {
    TempDir dir;
    const auto options = optionsFor(dir);
    std::filesystem::create_directories(options.directory);
    {
        // The version 1 layout with one event of today (older ones would fall to retention).
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open((options.directory + "/history.db").c_str(), &db), SQLITE_OK);
        const char* v1 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE events(sequence INTEGER PRIMARY KEY, action INTEGER NOT NULL, time_us INTEGER NOT NULL,
  protocol INTEGER NOT NULL, family INTEGER NOT NULL, local_address TEXT NOT NULL, local_port INTEGER NOT NULL,
  remote_address TEXT NOT NULL, remote_port INTEGER NOT NULL, state INTEGER NOT NULL, inode INTEGER NOT NULL,
  uid INTEGER NOT NULL, cookie INTEGER NOT NULL, pid INTEGER NOT NULL, process TEXT NOT NULL,
  owner_uid INTEGER NOT NULL, visible_uid INTEGER NOT NULL, previous_pid INTEGER NOT NULL,
  previous_owner_uid INTEGER NOT NULL, cmdline TEXT, user TEXT, exe TEXT, start_time_us INTEGER, unit TEXT);
INSERT INTO meta VALUES('last_sequence', 1);
INSERT INTO events VALUES(1, 0, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 0, 4, '0.0.0.0', 8080, '0.0.0.0', 0, 10, 5, 0, 9, 42,
  'old', 0, 0, 0, 0, 'old --serve', 'root', '/usr/bin/old', 1, 'old.service');
PRAGMA user_version=1;
)sql";
        ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);
    }
    auto store = openOrFail(options);
    ASSERT_TRUE(store);
    EXPECT_EQ(store->lastSequence(), 1u);
    PortEvent e = event(2, Action::Added, 9090, 43, "new");
    e.record.netns = 77;
    store->append({e});
    store->flush();
    auto back = store->query(HistoryFilter{}, 100);
    ASSERT_TRUE(back);
    ASSERT_EQ(back->size(), 2u);
    EXPECT_EQ((*back)[0].record.process, "old");
    ASSERT_TRUE((*back)[0].record.details);
    EXPECT_EQ((*back)[0].record.details->unit, "old.service");
    EXPECT_EQ((*back)[0].record.netns, 0u) << "not known for events written before namespaces";
    EXPECT_EQ((*back)[1], e);
}

TEST(SqliteEventStore, ReopeningContinuesTheSequence) {
    TempDir dir;
    {
        auto store = openOrFail(optionsFor(dir));
        ASSERT_TRUE(store);
        EXPECT_EQ(store->lastSequence(), 0u);
        store->append(sample());
    }  // closed without flush(): closing writes what is queued
    auto store = openOrFail(optionsFor(dir));
    ASSERT_TRUE(store);
    EXPECT_EQ(store->lastSequence(), 6u);
    EXPECT_EQ(ask(*store, [](auto&) {}).size(), 6u);
}

TEST(SqliteEventStore, CommitsWithinTheIntervalWithoutFlush) {
    TempDir dir;
    auto options = optionsFor(dir);
    options.commitInterval = std::chrono::milliseconds(50);
    auto store = openOrFail(options);
    ASSERT_TRUE(store);
    store->append(sample());
    EXPECT_TRUE(porteye::testing::eventually([&] { return committedRows(store->path()) == 6; }));
}

TEST(SqliteEventStore, RetentionByCountKeepsTheNewest) {
    TempDir dir;
    auto options = optionsFor(dir);
    options.keepEvents = 3;
    options.pruneInterval = std::chrono::milliseconds(0);
    auto store = openOrFail(options);
    ASSERT_TRUE(store);
    for (std::uint64_t s = 1; s <= 10; ++s)
        store->append({event(s, Action::Added, 80, 10, "a")});
    store->flush();
    EXPECT_EQ(ask(*store, [](auto&) {}), (std::vector<std::uint64_t>{8, 9, 10}));
}

TEST(SqliteEventStore, RetentionByAgeAndTheSequenceSurvivesIt) {
    TempDir dir;
    auto options = optionsFor(dir);
    options.keepDays = 1;
    {
        auto store = openOrFail(options);
        ASSERT_TRUE(store);
        const WallTime old = now() - std::chrono::hours(24 * 3);
        store->append({event(1, Action::Added, 80, 10, "a", 1000, old), event(2, Action::Added, 81, 10, "a", 1000, old),
                       event(3, Action::Added, 82, 10, "a")});
    }
    auto store = openOrFail(options);  // retention runs at open, on the writer thread
    ASSERT_TRUE(store);
    EXPECT_TRUE(
        porteye::testing::eventually([&] { return ask(*store, [](auto&) {}) == std::vector<std::uint64_t>{3}; }));
    store->close();
    options.keepDays = 0;
    options.keepEvents = 1;
    {
        auto again = openOrFail(options);  // now every event but the newest goes ...
        ASSERT_TRUE(again);
        again->append({event(4, Action::Added, 83, 10, "a", 1000, now() - std::chrono::hours(24 * 400))});
    }
    options.keepDays = 1;
    auto last = openOrFail(options);  // ... and the one left expires: numbers still continue
    ASSERT_TRUE(last);
    EXPECT_TRUE(porteye::testing::eventually([&] { return ask(*last, [](auto&) {}).empty(); }));
    EXPECT_EQ(last->lastSequence(), 4u);
}

TEST(SqliteEventStore, AGarbageFileFailsToOpenWithAClearMessage) {
    TempDir dir;
    const auto options = optionsFor(dir);
    std::filesystem::create_directory(options.directory);
    {
        std::ofstream garbage(options.directory + "/history.db", std::ios::binary);
        for (int i = 0; i < 4096; ++i)
            garbage.put(static_cast<char>((i * 131) % 251));
    }
    auto opened = SqliteEventStore::open(options);
    EXPECT_FALSE(opened.store);
    EXPECT_NE(opened.error.find("history.db"), std::string::npos) << opened.error;
    EXPECT_NE(opened.error.find("not a database"), std::string::npos) << opened.error;
}

TEST(SqliteEventStore, ADirectoryThatCannotBeMadeFailsToOpen) {
    TempDir dir;
    StoreOptions options;
    { std::ofstream file(dir.path() + "/file"); }
    options.directory = dir.path() + "/file/state";
    auto opened = SqliteEventStore::open(options);
    EXPECT_FALSE(opened.store);
    EXPECT_NE(opened.error.find("cannot create"), std::string::npos) << opened.error;
}

TEST(SqliteEventStore, OneDaemonPerDirectory) {
    TempDir dir;
    auto first = openOrFail(optionsFor(dir));
    ASSERT_TRUE(first);
    auto second = SqliteEventStore::open(optionsFor(dir));
    EXPECT_FALSE(second.store);
    EXPECT_NE(second.error.find("another porteyed"), std::string::npos) << second.error;
}

// Also run under ThreadSanitizer (tests/run.sh): the loop thread appends, queries and flushes
// while the writer thread commits and prunes.
TEST(SqliteEventStoreThreads, AppendQueryAndFlushWhileTheWriterCommits) {
    TempDir dir;
    auto options = optionsFor(dir);
    options.commitInterval = std::chrono::milliseconds(1);
    options.pruneInterval = std::chrono::milliseconds(0);
    options.keepEvents = 500;
    auto store = openOrFail(options);
    ASSERT_TRUE(store);
    std::uint64_t seq = 0;
    for (int round = 0; round < 200; ++round) {
        std::vector<PortEvent> batch;
        for (int i = 0; i < 10; ++i) {
            ++seq;
            batch.push_back(event(seq, Action::Added, static_cast<std::uint16_t>(seq % 1000), 10, "a"));
        }
        store->append(batch);
        HistoryFilter f;
        f.limit = 5;
        auto got = store->query(f, seq + 1);
        ASSERT_TRUE(got);
        EXPECT_LE(got->size(), 5u);
        if (round % 50 == 0) store->flush();
        (void)store->health();
    }
    store->flush();
    HistoryFilter all;
    all.limit = 0;
    auto kept = store->query(all, seq + 1);
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->size(), 500u);
    EXPECT_EQ(kept->back().sequence, seq);
    EXPECT_EQ(store->droppedCount(), 0u);
}

TEST(SqliteEventStore, AFullDiskFailsWritesVisiblyKeepsThemQueuedAndRecovers) {
    TempDir dir;
    auto options = optionsFor(dir);
    options.retryInterval = std::chrono::milliseconds(20);
    auto store = openOrFail(options);
    ASSERT_TRUE(store);
    store->append({event(1, Action::Added, 80, 10, "a")});
    store->flush();
    std::vector<PortEvent> many;
    for (std::uint64_t s = 2; s <= 2001; ++s) {
        many.push_back(event(s, Action::Added, 81, 10, "a"));
        many.back().record.process = std::string(100, 'x');
    }
    {
        FullDisk full;
        store->append(many);
        store->flush();
        const std::string health = store->health();
        EXPECT_EQ(health.rfind("failed: ", 0), 0u) << health;
        HistoryFilter all;
        all.limit = 0;
        auto answered = store->query(all, 1);
        EXPECT_TRUE(answered) << "reads still work";
    }
    store->flush();  // room again: the queued events are written
    EXPECT_EQ(store->health(), "ok");
    EXPECT_EQ(ask(
                  *store, [](auto&) {}, 3000)
                  .size(),
              2001u);
    EXPECT_EQ(store->droppedCount(), 0u);
}

TEST(SqliteEventStore, EventsDroppedWhileTheDiskWasFullAreCountedAndToldWithTheirSequencesWhenItWorksAgain) {
    TempDir dir;
    auto options = optionsFor(dir);
    options.retryInterval = std::chrono::milliseconds(20);
    options.maxPending = 500;
    auto store = openOrFail(options);
    ASSERT_TRUE(store);
    store->append({event(1, Action::Added, 80, 10, "a")});
    store->flush();
    // What porteyed logs, captured: the store says where the gap in the persistent history is.
    std::ostringstream logged;
    auto saved = spdlog::default_logger();
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged)));
    {
        FullDisk full;
        // 2,000 events reach a queue of 500 that cannot be written: the oldest 1,500 go.
        std::vector<PortEvent> many;
        for (std::uint64_t s = 2; s <= 2001; ++s) {
            many.push_back(event(s, Action::Added, 81, 10, "a"));
            many.back().record.process = std::string(1000, 'x');
        }
        store->append(many);
        store->flush();
        EXPECT_EQ(store->health().rfind("failed: ", 0), 0u) << store->health();
    }
    store->flush();  // room again
    spdlog::set_default_logger(saved);
    EXPECT_EQ(store->health(), "ok");
    // The 500 newest were kept and written; the 1,500 oldest are gone, and said to be.
    EXPECT_EQ(store->droppedCount(), 1500u);
    EXPECT_EQ(ask(
                  *store, [](auto&) {}, 3000)
                  .size(),
              501u);
    EXPECT_NE(logged.str().find("1500 events were never written to it (sequence 2 to 1501)"), std::string::npos)
        << logged.str();
}
