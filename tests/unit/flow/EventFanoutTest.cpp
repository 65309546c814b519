// SPDX-License-Identifier: MIT
#include "flow/EventFanout.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace porteye;

namespace {

/// Writes what it was handed into a shared log, so order across sinks can be checked.
class RecordingSink final : public flow::IEventSink {
public:
    RecordingSink(std::string name, std::vector<std::string>& log) : m_name(std::move(name)), m_log(log) {}
    void onEvents(const std::vector<core::PortEvent>& events) override {
        m_log.push_back(m_name + " events " + std::to_string(events.size()));
        if (onEvent) onEvent();
    }
    void onUnexpected(const std::vector<core::UnexpectedListener>& alerts) override {
        m_log.push_back(m_name + " alerts " + std::to_string(alerts.size()));
    }
    std::function<void()> onEvent;

private:
    std::string m_name;
    std::vector<std::string>& m_log;
};

std::vector<core::PortEvent> batch(std::size_t n) {
    return std::vector<core::PortEvent>(n);
}

}  // namespace

TEST(EventFanout, HandsEachBatchToEverySinkInTheOrderTheyRegistered) {
    std::vector<std::string> log;
    RecordingSink store("store", log), bus("bus", log), socket("socket", log);
    flow::EventFanout fanout;
    fanout.add(store);
    fanout.add(bus);
    fanout.add(socket);
    fanout.publish(batch(2));
    EXPECT_EQ(log, (std::vector<std::string>{"store events 2", "bus events 2", "socket events 2"}));
}

/// A fan-out with two sinks, the journal then the bus, writing into `log`.
class JournalThenBus : public ::testing::Test {
protected:
    void SetUp() override {
        fanout.add(journal);
        fanout.add(bus);
    }
    std::vector<std::string> log;
    RecordingSink journal{"journal", log};
    RecordingSink bus{"bus", log};
    flow::EventFanout fanout;
};

TEST_F(JournalThenBus, SendsTheAlertsABatchRaisesAfterTheBatchItself) {
    fanout.setAlertCheck([](const std::vector<core::PortEvent>& events) {
        return std::vector<core::UnexpectedListener>(events.size() == 3 ? 1 : 0);
    });
    fanout.publish(batch(3));
    fanout.publish(batch(1));  // raises none: no alert line at all
    EXPECT_EQ(log, (std::vector<std::string>{"journal events 3", "bus events 3", "journal alerts 1", "bus alerts 1",
                                             "journal events 1", "bus events 1"}));
}

TEST_F(JournalThenBus, EverySinkGetsTheSameAlertsTheFilterLetsThrough) {
    // The journal's per-uid limit in porteyed: here, one alert of a batch at most.
    fanout.setAlertFilter([](const std::vector<core::UnexpectedListener>& alerts) {
        return std::vector<core::UnexpectedListener>(alerts.begin(), alerts.begin() + 1);
    });
    fanout.publishUnexpected(std::vector<core::UnexpectedListener>(5));
    fanout.setAlertFilter(
        [](const std::vector<core::UnexpectedListener>&) { return std::vector<core::UnexpectedListener>(); });
    fanout.publishUnexpected(std::vector<core::UnexpectedListener>(5));  // all held back: no sink is called
    EXPECT_EQ(log, (std::vector<std::string>{"journal alerts 1", "bus alerts 1"}));
}

TEST(EventFanout, ASinkRemovedWhileABatchIsDeliveredGetsNothingMore) {
    std::vector<std::string> log;
    RecordingSink bus("bus", log), socket("socket", log);
    flow::EventFanout fanout;
    fanout.add(bus);
    fanout.add(socket);
    bus.onEvent = [&] { fanout.remove(socket); };  // the bus went away mid-emit, say
    fanout.publish(batch(1));
    fanout.publish(batch(1));
    EXPECT_EQ(log, (std::vector<std::string>{"bus events 1", "bus events 1"}));
    EXPECT_EQ(fanout.sinkCount(), 1U);
}
