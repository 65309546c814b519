// SPDX-License-Identifier: MIT
// The in-process API (ProcessPortMonitor's module, in C++) on real sockets.
#include "inprocess/ThreadedMonitor.hpp"
#include "fakes/FakeSources.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>

#include <atomic>
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

/// A socket source the test thread can make fail while the monitor's thread dumps.
class SwitchableSource final : public porteye::core::ISocketSource {
public:
    explicit SwitchableSource(std::vector<porteye::core::SocketRecord> sockets) : m_sockets(std::move(sockets)) {}
    porteye::core::DumpResult dump(const porteye::core::DumpRequest&) override {
        std::lock_guard lock(m_mutex);
        ++m_dumps;
        if (m_failing) return {{}, 105, "No buffer space available"};
        return {m_sockets, 0, {}};
    }
    void setFailing(bool failing) {
        std::lock_guard lock(m_mutex);
        m_failing = failing;
        m_dumps = 0;
    }
    void add(porteye::core::SocketRecord record) {
        std::lock_guard lock(m_mutex);
        m_sockets.push_back(std::move(record));
    }
    int dumps() {
        std::lock_guard lock(m_mutex);
        return m_dumps;
    }

private:
    std::mutex m_mutex;
    std::vector<porteye::core::SocketRecord> m_sockets;
    bool m_failing = false;
    int m_dumps = 0;
};

/// Both modes: a failed tick changes nothing, and a restart goes on from the last good state.
void checkKeepsStateAcrossFailedTicksAndRestarts(std::uint32_t pid) {
    using porteye::fakes::tcpSocket;
    auto processes = std::make_unique<porteye::fakes::FakeProcessTable>();
    processes->add(4242, "app", {1, 2});
    auto sourceOwned = std::make_unique<SwitchableSource>(std::vector{tcpSocket(1, 8080)});
    SwitchableSource& source = *sourceOwned;
    Recorder recorder;
    porteye::ThreadedMonitorOptions options;
    options.pid = pid;
    options.interval = 2ms;
    ThreadedMonitor monitor(options, recorder.callback(), std::move(sourceOwned), std::move(processes));
    monitor.start();
    ASSERT_TRUE(recorder.waitFor([](const auto& c) { return c.added.contains(8080); }));

    // Failing dumps (the per-PID mode dumps on its periodic refresh), then good ones.
    source.setFailing(true);
    ASSERT_TRUE(porteye::testing::eventually([&] { return source.dumps() >= 2; }, 5s));
    EXPECT_EQ(monitor.activePorts(), ThreadedMonitor::Ports{8080}) << "a failed tick keeps the ports";
    source.setFailing(false);
    ASSERT_TRUE(porteye::testing::eventually([&] { return source.dumps() >= 2; }, 5s));

    monitor.stop();
    EXPECT_FALSE(monitor.running());
    monitor.start();
    EXPECT_TRUE(monitor.running());
    source.add(tcpSocket(2, 9090));
    ASSERT_TRUE(recorder.waitFor([](const auto& c) { return c.added.contains(9090); }));
    monitor.stop();

    std::lock_guard lock(recorder.mutex);
    ASSERT_EQ(recorder.calls.size(), 2u) << "8080 was reported once, across failures and the restart";
    EXPECT_EQ(recorder.calls[1].added, ThreadedMonitor::Ports{9090});
    EXPECT_TRUE(recorder.calls[1].closed.empty());
    EXPECT_EQ(recorder.calls[1].active, (ThreadedMonitor::Ports{8080, 9090}));
}

}  // namespace

TEST(ThreadedMonitor, PerPidModeKeepsStateAcrossFailedTicksAndRestarts) {
    checkKeepsStateAcrossFailedTicksAndRestarts(4242);
}

TEST(ThreadedMonitor, HostModeKeepsStateAcrossFailedTicksAndRestarts) {
    checkKeepsStateAcrossFailedTicksAndRestarts(0);
}

TEST(ThreadedMonitor, CanBeStartedAgainAfterTheWatchedProcessExited) {
    PortHolder holder;
    porteye::ThreadedMonitorOptions options;
    options.pid = static_cast<std::uint32_t>(holder.pid());
    options.interval = 20ms;
    ThreadedMonitor monitor(options, nullptr);
    monitor.start();
    holder.exit();
    ASSERT_TRUE(porteye::testing::eventually([&] { return !monitor.running(); }, 5s));
    monitor.start();  // joins the finished thread instead of refusing
    EXPECT_TRUE(porteye::testing::eventually([&] { return !monitor.running(); }, 5s));
    EXPECT_TRUE(monitor.processExited());
}

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
