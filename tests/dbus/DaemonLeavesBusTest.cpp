// SPDX-License-Identifier: MIT
// porteyectl's streams over D-Bus end when porteyed leaves the bus: before, a watch
// or an event stream waited forever for signals that could no longer come.
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <memory>
#include <sstream>

using namespace porteye::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kExitUnavailable = 5;  // porteyectl(1): porteyed cannot be reached

class DaemonLeavesBus : public ::testing::Test {
protected:
    void SetUp() override {
        bus = std::make_unique<PrivateBus>(policyFilePath());
        daemon = std::make_unique<DaemonProcess>(
            std::vector<std::string>{"--bus-address", bus->address(), "--interval", "0.1", "--socket", ""});
        ASSERT_TRUE(daemon->ready()) << "porteyed never sent READY=1:\n" << daemon->log();
    }

    std::vector<std::string> porteyectl(std::vector<std::string> args) {
        std::vector<std::string> argv{porteyectlPath(), "--bus-address", bus->address()};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    /// Stops porteyed with `signal` (the bus stays) and expects the client to notice on
    /// its own and end with status 5. SIGKILL leaves no chance to say goodbye: only the
    /// bus's NameOwnerChanged tells the client.
    void expectClientEndsWhenDaemonStops(Subprocess& client, int signal = SIGTERM) {
        EXPECT_EQ(daemon->stop(signal), signal == SIGKILL ? -1 : 0) << daemon->log();
        const auto status = client.wait(5s);
        ASSERT_TRUE(status) << "porteyectl still waits after porteyed left the bus; stdout:\n"
                            << client.out() << "\nstderr:\n"
                            << client.err();
        EXPECT_EQ(*status, kExitUnavailable) << client.err();
        EXPECT_NE(client.err().find("porteyed"), std::string::npos) << client.err();
    }

    std::unique_ptr<PrivateBus> bus;
    std::unique_ptr<DaemonProcess> daemon;
};

TEST_F(DaemonLeavesBus, WatchEndsWithStatus5WhenPorteyedStops) {
    PortHolder holder;
    Subprocess watch(porteyectl({"watch", std::to_string(holder.pid()), "--interval", "0.1"}));
    // The header comes once the watch exists, after porteyectl began following the name.
    ASSERT_TRUE(watch.waitForOutput("Press Ctrl+C to stop.\n", 5s)) << watch.err();
    expectClientEndsWhenDaemonStops(watch);
    EXPECT_EQ(watch.out().find("Stopping monitoring."), std::string::npos) << "not stopped by a signal";
}

TEST_F(DaemonLeavesBus, WatchEndsWithStatus5WhenPorteyedIsKilled) {
    PortHolder holder;
    Subprocess watch(porteyectl({"watch", std::to_string(holder.pid()), "--interval", "0.1"}));
    ASSERT_TRUE(watch.waitForOutput("Press Ctrl+C to stop.\n", 5s)) << watch.err();
    expectClientEndsWhenDaemonStops(watch, SIGKILL);
}

TEST_F(DaemonLeavesBus, EventsEndWithStatus5WhenPorteyedStops) {
    PortHolder holder;
    Subprocess events(porteyectl({"events", "--json", "--pid", std::to_string(holder.pid())}));
    // Nothing outside tells when the stream is live: open ports until one shows up.
    auto seen = [](std::uint16_t port) {
        return [port](const std::string& out) {
            std::istringstream lines(out);
            for (std::string line; std::getline(lines, line);) {
                auto e = nlohmann::json::parse(line, nullptr, false);
                if (!e.is_discarded() && e["record"]["local_port"] == port) return true;
            }
            return false;
        };
    };
    bool live = false;
    for (int attempt = 0; attempt < 5 && !live; ++attempt) {
        live = events.waitForOutput(seen(holder.open()), 2s);
        holder.close();
    }
    ASSERT_TRUE(live) << events.out() << events.err();
    expectClientEndsWhenDaemonStops(events);
}

}  // namespace
