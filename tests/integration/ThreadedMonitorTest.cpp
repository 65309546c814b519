// SPDX-License-Identifier: MIT
// The in-process API (ProcessPortMonitor's module, in C++) on real sockets.
#include "monitor/ThreadedMonitor.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

using namespace std::chrono_literals;
using porteye::ThreadedMonitor;
using porteye::testing::PortHolder;

namespace {

/// Collects callback calls from the monitor's thread for the test's thread.
struct Recorder {
    struct Call {
        ThreadedMonitor::Ports added, closed, active;
        std::size_t historySize;
    };
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<Call> calls;

    ThreadedMonitor::Callback callback() {
        return [this](const auto& added, const auto& closed, const auto& active, const auto& history) {
            std::lock_guard lock(mutex);
            calls.push_back({added, closed, active, history.size()});
            changed.notify_all();
        };
    }
    bool waitFor(const std::function<bool(const Call&)>& predicate) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, 5s, [&] { return std::any_of(calls.begin(), calls.end(), predicate); });
    }
};

}  // namespace

TEST(ThreadedMonitor, CallsBackWithNewClosedAndActivePortsOfOnePid) {
    PortHolder holder;
    Recorder recorder;
    porteye::ThreadedMonitorOptions options;
    options.pid = static_cast<std::uint32_t>(holder.pid());
    options.interval = 50ms;
    ThreadedMonitor monitor(options, recorder.callback());
    monitor.start();

    const auto port = holder.open();
    EXPECT_TRUE(recorder.waitFor([&](const auto& c) { return c.added.contains(port) && c.active.contains(port); }));
    holder.close();
    EXPECT_TRUE(recorder.waitFor([&](const auto& c) { return c.closed.contains(port) && c.active.empty(); }));
    monitor.stop();

    const auto history = monitor.history();
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0].action, porteye::core::Action::Added);
    EXPECT_EQ(history[0].record.localPort, port);
    EXPECT_EQ(history[1].action, porteye::core::Action::Removed);
    EXPECT_FALSE(monitor.running());
}

TEST(ThreadedMonitor, StopsByItselfWhenTheWatchedProcessExits) {
    PortHolder holder;
    porteye::ThreadedMonitorOptions options;
    options.pid = static_cast<std::uint32_t>(holder.pid());
    options.interval = 20ms;
    ThreadedMonitor monitor(options, nullptr);
    monitor.start();
    holder.exit();
    EXPECT_TRUE(porteye::testing::eventually([&] { return !monitor.running(); }, 5s));
    EXPECT_TRUE(monitor.processExited());
}

TEST(ThreadedMonitor, HostWideModeSeesAnotherProcessesPort) {
    Recorder recorder;
    porteye::ThreadedMonitorOptions options;
    options.interval = 50ms;
    ThreadedMonitor monitor(options, recorder.callback());
    monitor.start();
    PortHolder holder;
    const auto port = holder.open();
    EXPECT_TRUE(recorder.waitFor([&](const auto& c) { return c.added.contains(port); }));
    EXPECT_TRUE(monitor.activePorts().contains(port));
}

TEST(ThreadedMonitor, StopIsIdempotentAndSafeWithoutStart) {
    ThreadedMonitor idle({}, nullptr);
    idle.stop();
    idle.stop();
    EXPECT_THROW(ThreadedMonitor({.pid = 1, .interval = std::chrono::duration<double>(0)}, nullptr),
                 std::invalid_argument);
}
