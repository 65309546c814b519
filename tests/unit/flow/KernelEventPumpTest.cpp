// SPDX-License-Identifier: MIT
// The kernel event pump's account of lost events: counted for status and /metrics, and logged
// with their number (one line per window, not one per overrun, and none skipped).
#include "loop/KernelEventPump.hpp"

#include "fakes/FakeKernelEventSource.hpp"
#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-event.h>

#include <memory>
#include <sstream>
#include <thread>

using namespace porteye;
using namespace porteye::fakes;

namespace {

class KernelEventPumpTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_GE(sd_event_new(&m_event), 0);
        m_saved = spdlog::default_logger();
        spdlog::set_default_logger(
            std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(m_logged)));
    }
    void TearDown() override {
        spdlog::set_default_logger(m_saved);
        sd_event_unref(m_event);
    }

    FakeSocketSource m_sockets;
    FakeProcessTable m_processes;
    FakeClock m_clock;
    FakeKernelEventSource m_kernel;
    sd_event* m_event = nullptr;
    std::ostringstream m_logged;
    std::shared_ptr<spdlog::logger> m_saved;
};

TEST_F(KernelEventPumpTest, LostEventsAreCountedResyncedAndLoggedWithTheirNumber) {
    core::PortMonitor monitor(m_sockets, m_processes, m_clock);
    flow::MonitorInlet inlet(monitor);
    inlet.setFullPlan([] { return std::vector<core::DumpRequest>{core::DumpRequest{}}; });
    loop::KernelEventPump pump(m_event, m_kernel, inlet, 8'000, std::chrono::milliseconds(200));

    m_kernel.lostCount = 5;
    pump.drain();
    EXPECT_EQ(pump.lostEvents(), 5U);
    EXPECT_EQ(inlet.resyncs(), 1U);
    EXPECT_NE(m_logged.str().find("lost 5 events in 1 overruns (5 lost since start)"), std::string::npos)
        << m_logged.str();

    // A second overrun at once is counted and resynced, and waits for the window to be logged.
    m_kernel.lostCount = 12;
    pump.drain();
    EXPECT_EQ(pump.lostEvents(), 12U);
    EXPECT_EQ(inlet.resyncs(), 2U);
    EXPECT_EQ(m_logged.str().find("lost 7 events"), std::string::npos) << m_logged.str();

    // Once the window is over, the next drain tells them, though nothing new was lost; no resync.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (m_logged.str().find("lost 7 events") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(8));
        pump.drain();
    }
    EXPECT_NE(m_logged.str().find("lost 7 events in 1 overruns (12 lost since start)"), std::string::npos)
        << m_logged.str();
    EXPECT_EQ(pump.lostEvents(), 12U);
    EXPECT_EQ(inlet.resyncs(), 2U);
}

}  // namespace
