// SPDX-License-Identifier: MIT
#include "flow/MonitorInlet.hpp"

#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>

using namespace porteye;
using namespace porteye::fakes;

class MonitorInletTest : public ::testing::Test {
protected:
    FakeSocketSource source;
    FakeProcessTable processes;
    FakeClock clock;
};

TEST_F(MonitorInletTest, DestroyNotificationsTheKernelDroppedResyncWithAFullDump) {
    core::PortMonitor monitor(source, processes, clock);
    flow::MonitorInlet inlet(monitor);
    int fullPlans = 0;
    inlet.setFullPlan([&] {
        ++fullPlans;
        return std::vector<core::DumpRequest>{core::DumpRequest{}};
    });
    std::vector<std::pair<std::size_t, bool>> counted;
    inlet.setDestroyCounter([&](std::size_t records, bool overrun) { counted.emplace_back(records, overrun); });
    inlet.poll({core::DumpRequest{}});
    const int dumpsBefore = source.dumps;

    inlet.destroyed({}, /*overrun=*/false);
    EXPECT_EQ(inlet.resyncs(), 0U);
    inlet.destroyed({}, /*overrun=*/true);
    EXPECT_EQ(inlet.resyncs(), 1U);
    EXPECT_EQ(fullPlans, 1);
    EXPECT_EQ(source.dumps, dumpsBefore + 1) << "the resync dumped what the full plan asked for";
    EXPECT_EQ(counted, (std::vector<std::pair<std::size_t, bool>>{{0, false}, {0, true}}));
}

TEST_F(MonitorInletTest, LostKernelEventsResyncToo) {
    core::PortMonitor monitor(source, processes, clock);
    flow::MonitorInlet inlet(monitor);
    inlet.setFullPlan([] { return std::vector<core::DumpRequest>{core::DumpRequest{}}; });
    inlet.kernelEventsLost();
    EXPECT_EQ(inlet.resyncs(), 1U);
    EXPECT_EQ(source.dumps, 1);
}

TEST_F(MonitorInletTest, ANamespaceThatIsGoneTakesItsSocketsWithIt) {
    auto inNamespace = tcpSocket(100, 8080);
    inNamespace.netns = 7;
    source.sockets = {inNamespace};
    processes.add(42, "python3", {100});
    core::PortMonitor monitor(source, processes, clock);
    flow::MonitorInlet inlet(monitor);
    core::DumpRequest request;
    request.netns = 7;
    inlet.poll({request});
    ASSERT_EQ(monitor.snapshot().size(), 1U);
    EXPECT_EQ(inlet.namespaceGone(7), 1U);
    EXPECT_TRUE(monitor.snapshot().empty());
}
