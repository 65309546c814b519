// SPDX-License-Identifier: MIT
#include "core/NamespaceTracker.hpp"
#include "core/PollPlan.hpp"
#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>

using namespace porteye::core;
using namespace porteye::fakes;

namespace {

constexpr std::uint64_t kHost = 4026531840;
constexpr std::uint64_t kContainer = 4026532300;
constexpr std::uint64_t kNamed = 4026532400;

std::vector<ProcessId> ids(std::initializer_list<std::uint32_t> pids) {
    std::vector<ProcessId> out;
    for (auto pid : pids)
        out.push_back(ProcessId{pid, pid});
    return out;
}

class NamespaceTrackerTest : public ::testing::Test {
protected:
    FakeProcessTable processes;
    std::vector<NamedNamespace> named;
    NamespaceTracker tracker{processes, kHost, [this] { return named; },
                             [](std::uint32_t pid) { return pid == 20 ? std::string("web") : std::string(); }};
};

}  // namespace

TEST_F(NamespaceTrackerTest, ANewProcessInAnotherNamespaceMakesItAppearNamedAfterItsContainer) {
    processes.add(10, "sshd", {});
    processes.add(20, "nginx", {});
    processes.netnsByPid[20] = kContainer;
    tracker.processesChanged(ids({10, 20}), {});
    const auto changes = tracker.refresh();
    EXPECT_EQ(changes.appeared, (std::vector<std::uint64_t>{kHost, kContainer}));
    const auto& ns = tracker.namespaces().at(kContainer);
    EXPECT_EQ(ns.name, "web");
    EXPECT_EQ(ns.path, "/proc/20/ns/net");
    EXPECT_TRUE(tracker.namespaces().at(kHost).own);
    EXPECT_TRUE(tracker.refresh().empty()) << "reported once";
}

TEST_F(NamespaceTrackerTest, OnlyNewProcessesAreRead) {
    processes.add(10, "a", {});
    processes.add(11, "b", {});
    tracker.processesChanged(ids({10, 11}), {});
    tracker.refresh();
    const int reads = processes.netnsReads;
    for (int i = 0; i < 10; ++i)
        tracker.refresh();
    EXPECT_EQ(processes.netnsReads, reads) << "a refresh without new processes reads none";
}

TEST_F(NamespaceTrackerTest, ANamespaceVanishesWithItsLastProcessUnlessANameKeepsIt) {
    processes.add(20, "nginx", {});
    processes.add(21, "worker", {});
    processes.netnsByPid[20] = processes.netnsByPid[21] = kContainer;
    tracker.processesChanged(ids({20, 21}), {});
    tracker.refresh();
    tracker.processesChanged({}, ids({20}));
    EXPECT_TRUE(tracker.refresh().vanished.empty()) << "a member is left";
    EXPECT_EQ(tracker.namespaces().at(kContainer).path, "/proc/21/ns/net") << "opened through a living member";
    tracker.processesChanged({}, ids({21}));
    EXPECT_EQ(tracker.refresh().vanished, (std::vector<std::uint64_t>{kContainer}));
    EXPECT_FALSE(tracker.namespaces().contains(kContainer));

    named = {{"blue", kNamed, "/run/netns/blue"}};
    auto changes = tracker.refresh();
    EXPECT_EQ(changes.appeared, (std::vector<std::uint64_t>{kNamed}));
    EXPECT_EQ(tracker.nameOf(kNamed), "blue");
    EXPECT_EQ(tracker.namespaces().at(kNamed).path, "/run/netns/blue");
    EXPECT_TRUE(tracker.refresh().empty()) << "kept by its name without any process";
    named.clear();
    EXPECT_EQ(tracker.refresh().vanished, (std::vector<std::uint64_t>{kNamed}));
}

TEST_F(NamespaceTrackerTest, AProcessThatMovedIsFoundByThePeriodicRecheck) {
    NamespaceTracker rechecking{processes, kHost, {}, {}, NamespaceTrackerOptions{3, "/proc"}};
    processes.add(30, "unshare", {});
    rechecking.processesChanged(ids({30}), {});
    rechecking.refresh();
    processes.netnsByPid[30] = kContainer;  // unshare(CLONE_NEWNET) after it was listed
    rechecking.refresh();
    EXPECT_EQ(rechecking.refresh().appeared, (std::vector<std::uint64_t>{kContainer}));
}

TEST(PollPlan, ListenersEveryPollConnectionsOfOtherNamespacesStaggeredAndFreshOnesInFull) {
    DumpRequest base;
    PollPlanOptions options;
    options.namespaceConnectionsEvery = 10;
    const std::vector<std::uint64_t> others{kContainer, kNamed};
    int full = 0;
    for (std::uint64_t poll = 1; poll <= 10; ++poll) {
        const auto plan = planPoll(poll, base, kHost, others, {}, options);
        ASSERT_FALSE(plan.empty());
        EXPECT_EQ(plan[0].netns, kHost);
        EXPECT_EQ(plan[0].states, kAllClassicStates) << "the host's connections every poll by default";
        for (std::uint64_t ns : others) {
            bool listeners = false, udp = false, all = false;
            for (const auto& q : plan) {
                if (q.netns != ns) continue;
                if (q.states == kAllClassicStates && q.tcp && q.udp) all = true;
                if (q.tcp && !q.udp && q.states == kListenOnly) listeners = true;
                if (q.udp && !q.tcp && q.states == kUdpStates) udp = true;
            }
            EXPECT_TRUE(all || (listeners && udp)) << "listeners and UDP of every namespace every poll";
            full += all ? 1 : 0;
        }
    }
    EXPECT_EQ(full, 2) << "each other namespace's connections once in ten polls";
    const auto fresh = planPoll(3, base, kHost, others, {kNamed}, options);
    EXPECT_EQ(fresh.back().netns, kNamed);
    EXPECT_EQ(fresh.back().states, kAllClassicStates) << "a namespace seen for the first time is dumped in full";

    options.hostConnectionsEvery = 5;
    EXPECT_EQ(planPoll(0, base, kHost, {}, {}, options)[0].states, kAllClassicStates) << "the first poll is full";
    const auto listenersOnly = planPoll(1, base, kHost, {}, {}, options);
    ASSERT_EQ(listenersOnly.size(), 2u);
    EXPECT_EQ(listenersOnly[0].states, kListenOnly);
    EXPECT_FALSE(listenersOnly[0].udp) << "TCP's states are not asked of UDP";
    EXPECT_EQ(listenersOnly[1].states, kUdpStates);
    EXPECT_FALSE(listenersOnly[1].tcp) << "UDP's states (ESTABLISHED, CLOSE) are not asked of TCP";
}
