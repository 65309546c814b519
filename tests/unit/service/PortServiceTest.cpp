// SPDX-License-Identifier: MIT
#include "fakes/FakeEventStore.hpp"
#include "fakes/FakeSources.hpp"
#include "service/PortService.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using namespace porteye;
using namespace porteye::core;
using namespace porteye::fakes;
using service::Caller;
using service::PortService;
using service::ServiceError;
using service::WatchEnd;

namespace {

constexpr std::uint32_t kAlice = 1000;
constexpr std::uint32_t kBob = 1001;
constexpr std::uint32_t kPorteyeGroup = 990;

Caller user(std::uint32_t uid, std::string id) {
    return Caller{uid, uid, {}, std::move(id)};
}

class PortServiceTest : public ::testing::Test {
protected:
    PortServiceTest() { options.privilegedGid = kPorteyeGroup; }

    PortService& start() {
        monitor = std::make_unique<PortMonitor>(sockets, processes, clock, MonitorOptions{});
        svc = std::make_unique<PortService>(*monitor, sockets, options);
        monitor->poll();
        return *svc;
    }

    /// A sink that records how the watch ended.
    service::WatchSink recordingSink() {
        service::WatchSink sink;
        sink.onEnd = [this](WatchEnd reason, std::uint32_t) { ends.push_back(reason); };
        return sink;
    }

    static ErrorCode errorOf(const std::function<void()>& body, std::string* message = nullptr) {
        try {
            body();
        } catch (const ServiceError& e) {
            if (message) *message = e.what();
            return e.code();
        }
        ADD_FAILURE() << "no ServiceError thrown";
        return ErrorCode::Failed;
    }

    FakeSocketSource sockets;
    FakeProcessTable processes;
    FakeClock clock;
    service::ServiceOptions options;
    std::unique_ptr<PortMonitor> monitor;
    std::unique_ptr<PortService> svc;
    std::vector<WatchEnd> ends;
};

}  // namespace

TEST_F(PortServiceTest, UserSeesSocketsOfItsProcessesEvenWhenRootCreatedThem) {
    // A daemon that bound as root, then dropped to alice: the socket's uid is 0, the process is alice's.
    auto socket = tcpSocket(1, 8080);
    socket.uid = 0;
    sockets.sockets = {socket};
    processes.add(10, "dropped", {1}, kAlice);
    start();
    const auto seen = svc->list(user(kAlice, ":1.1"), {});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].pid, 10u);
    EXPECT_TRUE(svc->list(user(kBob, ":1.2"), {}).empty());
}

TEST_F(PortServiceTest, PassedSocketDoesNotShowItsCreatorTheReceiversPid) {
    // Alice created the socket and passed it (SCM_RIGHTS) to bob's process: alice must not learn bob's pid.
    auto socket = tcpSocket(1, 8080);
    socket.uid = kAlice;
    sockets.sockets = {socket};
    processes.add(20, "bobs", {1}, kBob);
    start();
    EXPECT_TRUE(svc->list(user(kAlice, ":1.1"), {}).empty());
    ASSERT_EQ(svc->list(user(kBob, ":1.2"), {}).size(), 1u);
}

TEST_F(PortServiceTest, OwnerlessSocketIsSeenBySocketUid) {
    auto socket = tcpSocket(1, 8080, TcpState::TimeWait, 40000);
    socket.uid = kAlice;
    sockets.sockets = {socket};
    start();
    EXPECT_EQ(svc->list(user(kAlice, ":1.1"), {}).size(), 1u);
    EXPECT_TRUE(svc->list(user(kBob, ":1.2"), {}).empty());
}

TEST_F(PortServiceTest, PrivilegedGroupSeesEverything) {
    sockets.sockets = {tcpSocket(1, 8080)};
    processes.add(10, "app", {1}, kAlice);
    start();
    Caller member{kBob, kBob, {kPorteyeGroup}, ":1.3"};
    EXPECT_EQ(svc->list(member, {}).size(), 1u);
}

TEST_F(PortServiceTest, ForeignAndMissingPidGetTheSameError) {
    processes.add(10, "alices", {}, kAlice);
    start();
    std::string foreign;
    std::string missing;
    EXPECT_EQ(errorOf(
                  [&] {
                      svc->addWatch(user(kBob, ":1.2"), {10, 1.0, false, {}}, {});
                  },
                  &foreign),
              ErrorCode::NoSuchProcess);
    EXPECT_EQ(errorOf(
                  [&] {
                      svc->addWatch(user(kBob, ":1.2"), {11, 1.0, false, {}}, {});
                  },
                  &missing),
              ErrorCode::NoSuchProcess);
    EXPECT_EQ(foreign.replace(foreign.find("10"), 2, "N"), missing.replace(missing.find("11"), 2, "N"));
}

TEST_F(PortServiceTest, ThreadIdIsRefusedNamingItsProcessOnlyToWhoMaySeeIt) {
    processes.add(10, "app", {}, kAlice);
    processes.threads[12] = 10;
    start();
    std::string message;
    EXPECT_EQ(errorOf(
                  [&] {
                      svc->addWatch(user(kAlice, ":1.1"), {12, 1.0, false, {}}, {});
                  },
                  &message),
              ErrorCode::InvalidArgument);
    EXPECT_NE(message.find("thread of process 10"), std::string::npos) << message;
    EXPECT_EQ(errorOf([&] { svc->addWatch(user(kBob, ":1.2"), {12, 1.0, false, {}}, {}); }), ErrorCode::NoSuchProcess);
}

TEST_F(PortServiceTest, WatchQuotaIsPerUidAcrossConnectionsAndKeepsSlotsForRoot) {
    options.maxWatches = 6;
    options.maxWatchesPerUid = 2;
    options.reservedPrivilegedWatches = 2;
    processes.add(10, "alices", {}, kAlice);
    processes.add(20, "bobs", {}, kBob);
    processes.add(30, "carols", {}, 1002);
    start();
    svc->addWatch(user(kAlice, ":1.1"), {10, 1.0, false, {}}, {});
    svc->addWatch(user(kAlice, ":1.9"), {10, 1.0, false, {}}, {});  // another connection, same uid
    EXPECT_EQ(errorOf([&] {
                  svc->addWatch(user(kAlice, ":1.10"), {10, 1.0, false, {}}, {});
              }),
              ErrorCode::LimitExceeded);
    svc->addWatch(user(kBob, ":1.2"), {20, 1.0, false, {}}, {});
    svc->addWatch(user(kBob, ":1.2"), {20, 1.0, false, {}}, {});
    // Four of six taken by users: the last two are root's.
    EXPECT_EQ(errorOf([&] { svc->addWatch(user(1002, ":1.3"), {30, 1.0, false, {}}, {}); }), ErrorCode::LimitExceeded);
    EXPECT_NO_THROW(svc->addWatch(user(0, ":1.0"), {30, 1.0, false, {}}, {}));
}

TEST_F(PortServiceTest, EveryEndOfAWatchReachesItsSinkWithTheReason) {
    processes.add(10, "app", {}, kAlice);
    start();
    const auto alice = user(kAlice, ":1.1");
    const auto a = svc->addWatch(alice, {10, 1.0, false, {}}, recordingSink());
    const auto b = svc->addWatch(alice, {10, 1.0, false, {}}, recordingSink());
    svc->addWatch(alice, {10, 1.0, false, {}}, recordingSink());

    // Root ends alice's watch from another transport: alice's front-end is told.
    svc->removeWatch(user(0, "socket:7"), a);
    EXPECT_EQ(errorOf([&] { svc->removeWatch(user(kBob, ":1.2"), b); }), ErrorCode::NoSuchWatch);
    svc->removeWatch(alice, b);
    processes.processes.erase(10);
    svc->runDueWatches(PortService::Clock::now());
    EXPECT_EQ(ends, (std::vector<WatchEnd>{WatchEnd::Unwatched, WatchEnd::Unwatched, WatchEnd::ProcessExited}));
    EXPECT_TRUE(svc->watches().empty());
}

TEST_F(PortServiceTest, WatchInfoIsOnlyForItsOwnerOrPrivileged) {
    processes.add(10, "app", {}, kAlice);
    start();
    const auto id = svc->addWatch(user(kAlice, ":1.1"), {10, 1.0, false, {}}, {});
    EXPECT_TRUE(svc->watchFor(user(kAlice, ":1.1"), id));
    EXPECT_FALSE(svc->watchFor(user(kBob, ":1.2"), id));
    EXPECT_TRUE(svc->watchFor(user(0, ":1.0"), id));
}

TEST_F(PortServiceTest, StatusCountsOnlyWhatAnUnprivilegedCallerMaySee) {
    sockets.sockets = {tcpSocket(1, 8080), tcpSocket(2, 8081), tcpSocket(3, 8082)};
    processes.add(10, "alices", {1}, kAlice);
    processes.add(20, "bobs", {2, 3}, kBob);
    options.instanceId = "abc";
    start();
    const auto mine = svc->status(user(kAlice, ":1.1"));
    EXPECT_FALSE(mine.hostWide);
    EXPECT_EQ(mine.sockets, 1u);
    EXPECT_EQ(mine.polls, 0u);
    EXPECT_EQ(mine.instanceId, "abc");
    const auto host = svc->status(user(0, ":1.0"));
    EXPECT_TRUE(host.hostWide);
    EXPECT_EQ(host.sockets, 3u);
    EXPECT_EQ(host.polls, 1u);
}

TEST_F(PortServiceTest, RepliesAboveTheCapAreRefusedWithHowToPage) {
    options.maxReplyRecords = 2;
    sockets.sockets = {tcpSocket(1, 8080), tcpSocket(2, 8081), tcpSocket(3, 8082)};
    processes.add(10, "app", {1, 2, 3}, kAlice);
    start();
    const auto root = user(0, ":1.0");
    std::string message;
    EXPECT_EQ(errorOf([&] { svc->list(root, {}); }, &message), ErrorCode::ReplyTooLarge);
    EXPECT_NE(message.find("offset"), std::string::npos) << message;
    ListQuery page;
    page.limit = 2;
    EXPECT_EQ(svc->list(root, page).size(), 2u);
    page.offset = 2;
    const auto rest = svc->list(root, page);
    ASSERT_EQ(rest.size(), 1u);

    HistoryFilter all;
    all.limit = 0;
    sockets.sockets.clear();
    monitor->poll();
    monitor->poll();  // absent from two dumps: three removals in the history
    EXPECT_EQ(errorOf([&] { svc->history(root, all); }, &message), ErrorCode::ReplyTooLarge);
    EXPECT_NE(message.find("after_sequence"), std::string::npos) << message;
}

TEST_F(PortServiceTest, OwnerChangeBetweenUsersShowsEachSideOnlyItsOwnPid) {
    start();
    PortEvent handover;
    handover.action = Action::OwnerChanged;
    handover.record = tcpSocket(1, 8080);
    handover.record.pid = 20;
    handover.record.process = "bobs";
    handover.record.ownerUid = kBob;
    handover.record.details =
        std::make_shared<const ProcessDetails>(ProcessDetails{"bobs --secret", "bob", "", 1, "", "", "", ""});
    handover.previousPid = 10;
    handover.previousOwnerUid = kAlice;

    const auto toBob = svc->visibleEvent(user(kBob, ":1.2"), handover);
    ASSERT_TRUE(toBob);
    EXPECT_EQ(toBob->record.pid, 20u);
    EXPECT_EQ(toBob->previousPid, 0u) << "alice's pid leaked to bob";

    const auto toAlice = svc->visibleEvent(user(kAlice, ":1.1"), handover);
    ASSERT_TRUE(toAlice);
    EXPECT_EQ(toAlice->previousPid, 10u);
    EXPECT_EQ(toAlice->record.pid, 0u) << "bob's pid leaked to alice";
    EXPECT_TRUE(toAlice->record.process.empty());
    EXPECT_FALSE(toAlice->record.details) << "bob's command line leaked to alice";
    ASSERT_TRUE(toBob->record.details);
    EXPECT_EQ(toBob->record.details->cmdline, "bobs --secret");

    EXPECT_FALSE(svc->visibleEvent(user(1002, ":1.3"), handover));
    EXPECT_EQ(*svc->visibleEvent(user(0, ":1.0"), handover), handover);
}

TEST_F(PortServiceTest, ListRepliesCarryUsageReadOncePerProcess) {
    sockets.sockets = {tcpSocket(1, 80), tcpSocket(2, 443), tcpSocket(3, 8080)};
    processes.add(10, "nginx", {1, 2}, kAlice);
    processes.add(20, "app", {3}, kAlice);
    processes.usages[10] = ProcessUsage{1.0, 4096, 0};
    processes.usages[20] = ProcessUsage{0.0, 8192, 0};
    start();
    const auto before = processes.usageReads;
    const auto records = svc->list(user(0, ":1.0"), {});
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(processes.usageReads - before, 2) << "one read per distinct pid of the reply";
    for (const auto& r : records) {
        ASSERT_TRUE(r.usage) << r.pid;
        EXPECT_EQ(r.usage->memoryRssBytes, r.pid == 10 ? 4096u : 8192u);
    }
    EXPECT_FALSE(monitor->snapshot()[0].usage) << "the snapshot (and so history) holds no usage";
    EXPECT_TRUE(svc->list(user(kBob, ":1.2"), {}).empty());
}

TEST_F(PortServiceTest, StatusSaysWhatPorteyedCanSee) {
    options.view = "own-user";
    start();
    EXPECT_EQ(svc->status(user(0, ":1.0")).view, "own-user");
    EXPECT_EQ(svc->status(user(kBob, ":1.2")).view, "own-user");
}

TEST_F(PortServiceTest, RepliesAreBoundedByBytesAsWellAsByCount) {
    options.maxReplyBytes = 20 * 1024;  // two records of ~8.6 KB fit, not three
    sockets.sockets = {tcpSocket(1, 8080), tcpSocket(2, 8081), tcpSocket(3, 8082), tcpSocket(4, 8083)};
    processes.add(10, "java", {1, 2, 3, 4}, kAlice);
    processes.detailsOf[10].cmdline = std::string(4096, '\\');  // escaped backslashes, doubled again in JSON
    start();
    const auto root = user(0, ":1.0");
    std::string message;
    EXPECT_EQ(errorOf([&] { svc->list(root, {}); }, &message), ErrorCode::ReplyTooLarge);
    EXPECT_NE(message.find("limit"), std::string::npos) << message;
    ListQuery page;
    page.limit = 2;
    EXPECT_EQ(svc->list(root, page).size(), 2u);
}

TEST_F(PortServiceTest, StoredHistoryKeepsTheVisibilityRuleAndStatusSaysHowTheStoreIs) {
    // Events from before a restart: only in the store. Alice's and Bob's, and an ownerless one of Bob's socket.
    FakeEventStore store;
    const auto stored = [](std::uint64_t seq, std::uint32_t pid, std::uint32_t ownerUid, std::uint32_t socketUid) {
        PortEvent e;
        e.sequence = seq;
        e.record = tcpSocket(seq, static_cast<std::uint16_t>(9000 + seq));
        e.record.pid = pid;
        e.record.process = pid ? "p" + std::to_string(pid) : "";
        e.record.ownerUid = ownerUid;
        e.record.uid = socketUid;
        return e;
    };
    store.events = {stored(1, 10, kAlice, kAlice), stored(2, 20, kBob, kBob), stored(3, 0, 0, kBob)};
    MonitorOptions restarted;
    restarted.firstSequence = store.lastSequence() + 1;
    monitor = std::make_unique<PortMonitor>(sockets, processes, clock, restarted);
    svc = std::make_unique<PortService>(*monitor, sockets, options);
    monitor->poll();
    EXPECT_EQ(svc->status(user(0, ":1.0")).store, "disabled");
    svc->setEventStore(&store);
    HistoryFilter all;
    all.limit = 0;
    std::vector<std::uint64_t> alice;
    for (const auto& e : svc->history(user(kAlice, ":1.1"), all))
        alice.push_back(e.sequence);
    std::vector<std::uint64_t> bob;
    for (const auto& e : svc->history(user(kBob, ":1.2"), all))
        bob.push_back(e.sequence);
    EXPECT_EQ(alice, (std::vector<std::uint64_t>{1}));
    EXPECT_EQ(bob, (std::vector<std::uint64_t>{2, 3}));
    EXPECT_EQ(svc->history(user(0, ":1.0"), all).size(), 3u);
    EXPECT_EQ(svc->status(user(kAlice, ":1.1")).store, "ok");
    store.failing = true;
    EXPECT_EQ(svc->status(user(0, ":1.0")).store, "failed: fake");
    svc->setEventStore(nullptr, "failed: cannot open");
    EXPECT_EQ(svc->status(user(0, ":1.0")).store, "failed: cannot open");
}
