// SPDX-License-Identifier: MIT
#include "core/KernelSocketEvent.hpp"
#include "fakes/FakeKernelEventSource.hpp"

#include <gtest/gtest.h>

namespace porteye::core {
namespace {

TEST(KernelSocketEvent, ModesRoundTripThroughTheirNames) {
    for (auto mode : {EventSourceMode::Auto, EventSourceMode::Tracepoint, EventSourceMode::Off}) {
        EXPECT_EQ(parseEventSourceMode(eventSourceModeName(mode)), mode);
    }
    EXPECT_FALSE(parseEventSourceMode("on").has_value());
    EXPECT_EQ(eventSourceStageName(EventSourceStage::TracepointOnly), "tracepoint");
    EXPECT_EQ(kernelEventKindName(KernelEventKind::UdpClose), "udp-close");
}

TEST(FakeKernelEventSource, HandsOutQueuedEventsOnce) {
    fakes::FakeKernelEventSource source;
    source.push(KernelEventKind::Listen, 8080, 7, 42);
    std::vector<KernelSocketEvent> out;
    EXPECT_EQ(source.consume(out), 1U);
    EXPECT_EQ(source.consume(out), 0U);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].tgid, 42U);
    source.stageValue = EventSourceStage::Polling;
    source.fdValue = 3;
    EXPECT_EQ(source.fd(), -1);
}

}  // namespace
}  // namespace porteye::core
