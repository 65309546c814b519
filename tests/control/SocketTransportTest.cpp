// SPDX-License-Identifier: MIT
// porteyectl's socket transport against the real porteyed (--no-bus --socket).
// The host is shared: only sockets and processes made here are asserted on.
#include "ExitCode.hpp"
#include "SocketTransport.hpp"
#include "core/Errors.hpp"
#include "support/RpcClient.hpp"
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace porteye::cli {
namespace {

using porteye::testing::DaemonProcess;
using porteye::testing::PortHolder;
using porteye::testing::TempDir;
using Clock = std::chrono::steady_clock;
constexpr auto kTimeout = std::chrono::seconds(20);

/// `get()` repeated until `done` holds or the timeout passes; the last value either way.
template <typename T>
T eventually(const std::function<T()>& get, const std::function<bool(const T&)>& done) {
    T value;
    porteye::testing::eventually(
        [&] {
            value = get();
            return done(value);
        },
        kTimeout);
    return value;
}

class SocketTransportTest : public porteye::testing::DaemonTest {
protected:
    void SetUp() override {
        startDaemon({"--no-bus", "--socket", m_path, "--interval", "0.1", "--config", "/dev/null"});
    }
    TempDir m_dir;
    const std::string m_path = m_dir.path() + "/s.sock";
};

TEST_F(SocketTransportTest, ListShowsAListenerWithItsPid) {
    SocketTransport transport(m_path);
    PortHolder holder;
    const auto port = holder.open();
    core::SocketFilter filter;
    filter.port = port;
    const auto records = eventually<std::vector<core::SocketRecord>>([&] { return transport.list(filter); },
                                                                     [](const auto& r) { return !r.empty(); });
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].pid, static_cast<std::uint32_t>(holder.pid()));
    EXPECT_EQ(records[0].localPort, port);
    EXPECT_EQ(records[0].state, core::TcpState::Listen);
}

TEST_F(SocketTransportTest, HistoryShowsAddedAndRemoved) {
    SocketTransport transport(m_path);
    PortHolder holder;
    const auto port = holder.open();
    core::SocketFilter byPort;
    byPort.port = port;
    eventually<std::vector<core::SocketRecord>>([&] { return transport.list(byPort); },
                                                [](const auto& r) { return !r.empty(); });
    holder.close();
    core::HistoryFilter filter;
    filter.socket.port = port;
    const auto events = eventually<std::vector<core::PortEvent>>([&] { return transport.history(filter); },
                                                                 [](const auto& e) { return e.size() >= 2; });
    ASSERT_EQ(events.size(), 2U);
    EXPECT_EQ(events[0].action, core::Action::Added);
    EXPECT_EQ(events[1].action, core::Action::Removed);
    EXPECT_EQ(events[1].record.localPort, port);
}

TEST_F(SocketTransportTest, StatusReportsTheDaemonsSettings) {
    SocketTransport transport(m_path);
    const auto status = transport.status();
    EXPECT_FALSE(status.version.empty());
    EXPECT_DOUBLE_EQ(status.pollIntervalSeconds, 0.1);
    EXPECT_EQ(status.historyCapacity, 10000U);
    EXPECT_EQ(status.watches, 0U);
    EXPECT_GT(status.nextSequence, 0U);
}

TEST_F(SocketTransportTest, WatchReportsAChildsPortsAndEndsWhenItExits) {
    // Opens a listener, closes it, exits: each on our command.
    PortHolder child;
    ASSERT_GT(child.pid(), 0);
    const auto pid = static_cast<std::uint32_t>(child.pid());
    const auto port = child.open();

    SocketTransport transport(m_path);
    WatchOptions options;
    options.interval = std::chrono::duration<double>(0.1);
    std::vector<core::PortChange> changes;
    transport.watch(pid, options, [&](const core::PortChange& change) {
        changes.push_back(change);
        if (change.opened.contains(port)) {
            child.close();
        } else if (change.closed.contains(port)) {
            child.exit();  // reaped: a zombie would still look alive
        }
        return true;
    });
    child.exit();
    ASSERT_GE(changes.size(), 3U);
    EXPECT_TRUE(changes[0].opened.contains(port));
    EXPECT_TRUE(changes[0].active.contains(port));
    EXPECT_TRUE(changes[1].closed.contains(port));
    EXPECT_TRUE(changes.back().processExited);
    EXPECT_EQ(transport.status().watches, 0U);
}

TEST_F(SocketTransportTest, WatchOfAMissingPidThrowsNoSuchProcess) {
    SocketTransport transport(m_path);
    try {
        transport.watch(0x7ffffff0, WatchOptions{}, [](const core::PortChange&) { return true; });
        FAIL() << "no error";
    } catch (const CommandError& e) {
        EXPECT_EQ(e.exitCode(), kExitNoSuchProcess) << e.what();
    }
    // An invalid interval is the user's mistake, as over D-Bus.
    try {
        WatchOptions tooFast;
        tooFast.interval = std::chrono::duration<double>(0.0);
        transport.watch(static_cast<std::uint32_t>(::getpid()), tooFast, [](const core::PortChange&) { return true; });
        FAIL() << "no error";
    } catch (const CommandError& e) {
        EXPECT_EQ(e.exitCode(), kExitUsage) << e.what();
    }
}

TEST_F(SocketTransportTest, WatchReturnsNormallyOnAStopSignal) {
    // The stop signals are blocked, as porteyectl's main() does; one raised mid-watch ends it.
    PortHolder holder;
    holder.open();
    sigset_t previous;
    ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &stopSignals(), &previous), 0);
    SocketTransport transport(m_path);
    WatchOptions options;
    options.interval = std::chrono::duration<double>(0.1);
    int calls = 0;
    transport.watch(static_cast<std::uint32_t>(holder.pid()), options, [&](const core::PortChange&) {
        if (++calls == 1) ::raise(SIGTERM);  // the first step reports the listener already held
        return true;
    });
    EXPECT_EQ(calls, 1);
    // The stop stays pending (cli::stopSignalFd), so every later wait of the process sees it too.
    sigset_t pending;
    ::sigpending(&pending);
    EXPECT_TRUE(sigismember(&pending, SIGTERM)) << "the stop signal was taken off the pending set";
    EXPECT_TRUE(waitForStop(std::chrono::duration<double>(0)));
    // porteyectl would exit now; this test process goes on, so it takes the signal itself.
    const timespec now{};
    EXPECT_EQ(::sigtimedwait(&stopSignals(), nullptr, &now), SIGTERM);
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    // The watch was ended for us.
    const auto status = eventually<DaemonStatus>([&] { return transport.status(); },
                                                 [](const DaemonStatus& s) { return s.watches == 0; });
    EXPECT_EQ(status.watches, 0U);
}

TEST_F(SocketTransportTest, WatchEndedByRootFromAnotherConnectionFailsNamingTheReason) {
    PortHolder holder;
    holder.open();
    SocketTransport transport(m_path);
    WatchOptions options;
    options.interval = std::chrono::duration<double>(0.1);
    // Once the first step arrived, root ends the watch from its own connection (ids start at 1).
    std::thread unwatcher;
    try {
        transport.watch(static_cast<std::uint32_t>(holder.pid()), options, [&](const core::PortChange&) {
            if (!unwatcher.joinable())
                unwatcher = std::thread([&] {
                    porteye::testing::RpcClient root(m_path);
                    root.call("unwatch", {{"watch", 1}});
                });
            return true;
        });
        ADD_FAILURE() << "the watch returned as if the user had stopped it";
    } catch (const CommandError& e) {
        EXPECT_EQ(e.exitCode(), kExitFailure) << e.what();
        EXPECT_NE(std::string(e.what()).find("unwatched"), std::string::npos) << e.what();
    }
    if (unwatcher.joinable()) unwatcher.join();
}

TEST_F(SocketTransportTest, ErrorsMapToExitCodesThroughTheErrorTable) {
    SocketTransport transport(m_path);
    core::HistoryFilter tooMany;
    tooMany.limit = 60'000;  // over the 50,000 records one reply may carry
    try {
        transport.history(tooMany);
        FAIL() << "no error";
    } catch (const CommandError& e) {
        EXPECT_EQ(e.exitCode(), core::errorSpec(core::ErrorCode::ReplyTooLarge).exitCode) << e.what();
        EXPECT_NE(std::string(e.what()).find("ReplyTooLarge"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << "says how to page: " << e.what();
    }
}

TEST_F(SocketTransportTest, EventsStreamUntilTheCallbackSaysStop) {
    SocketTransport transport(m_path);
    PortHolder holder;
    core::SocketFilter filter;
    filter.pid = static_cast<std::uint32_t>(holder.pid());
    filter.listeningOnly = true;
    // Another thread keeps opening listeners until the stream reports one, so it does not
    // matter when the subscription becomes active.
    std::mutex mutex;
    std::vector<std::uint16_t> ports;
    std::atomic<bool> done{false};
    std::thread opener([&] {
        const auto deadline = Clock::now() + kTimeout;
        while (!done && Clock::now() < deadline) {
            const auto port = holder.open();
            {
                std::lock_guard lock(mutex);
                ports.push_back(port);
            }
            ::usleep(100'000);
        }
    });
    core::PortEvent first;
    transport.events(
        filter,
        [&](const core::PortEvent& e) {
            first = e;
            return e.action != core::Action::Added;
        },
        StreamOptions{});
    done = true;
    opener.join();
    EXPECT_EQ(first.action, core::Action::Added);
    EXPECT_EQ(first.record.pid, static_cast<std::uint32_t>(holder.pid()));
    std::lock_guard lock(mutex);
    EXPECT_NE(std::find(ports.begin(), ports.end(), first.record.localPort), ports.end());
}

TEST_F(SocketTransportTest, EventsThatArriveDuringACallMadeOnSubscriptionAreStillStreamed) {
    // `porteyectl wait` lists inside the stream's onSubscribed: an event porteyed sends while
    // that list waits for its reply used to be skipped as "a notification of an earlier stream".
    SocketTransport transport(m_path);
    PortHolder holder;
    core::SocketFilter filter;
    filter.pid = static_cast<std::uint32_t>(holder.pid());
    std::uint16_t port = 0;
    std::optional<core::PortEvent> streamed;
    const auto end = transport.events(
        filter,
        [&](const core::PortEvent& e) {
            if (e.action != core::Action::Added || e.record.localPort != port) return true;
            streamed = e;
            return false;
        },
        StreamOptions{[&] {
                          port = holder.open();
                          core::SocketFilter byPort;
                          byPort.port = port;
                          // Listed until porteyed has it: its Added event is sent before this reply.
                          porteye::testing::eventually([&] { return !transport.list(byPort).empty(); }, kTimeout);
                          return true;
                      },
                      Clock::now() + kTimeout});
    EXPECT_EQ(end, StreamEnd::Callback) << "the Added event never came";
    ASSERT_TRUE(streamed);
    EXPECT_EQ(streamed->record.pid, static_cast<std::uint32_t>(holder.pid()));
}

TEST_F(SocketTransportTest, EventsEndAtTheDeadline) {
    SocketTransport transport(m_path);
    core::SocketFilter nothing;
    nothing.pid = 0xFFFFFFF0U;  // no such process: no event
    const auto end = transport.events(
        nothing, [](const core::PortEvent&) { return true; },
        StreamOptions{{}, Clock::now() + std::chrono::milliseconds(200)});
    EXPECT_EQ(end, StreamEnd::Deadline);
}

TEST(SocketTransportUnreachable, NamesPorteydAndSuggestsLocal) {
    SocketTransport transport("/tmp/porteye-no-such-dir/porteyed.sock");
    try {
        transport.status();
        FAIL() << "no error";
    } catch (const CommandError& e) {
        EXPECT_EQ(e.exitCode(), kExitUnavailable);
        const std::string message = e.what();
        EXPECT_NE(message.find("cannot reach porteyed at /tmp/porteye-no-such-dir/porteyed.sock"), std::string::npos)
            << message;
        EXPECT_NE(message.find("systemctl start porteyed"), std::string::npos) << message;
        EXPECT_NE(message.find("--local"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace porteye::cli
