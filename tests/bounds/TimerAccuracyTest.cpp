// SPDX-License-Identifier: MIT
// A watch steps at the interval it was given. sd-event reads a timer accuracy of 0
// as "250 ms", so before the loop passed explicit accuracies a 0.05 s watch stepped
// about four times a second and merged changes that were 0.1 s apart.
#include "support/RpcClient.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

namespace porteye::control {
namespace {

using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::PortHolder;
using porteye::testing::RpcClient;
using porteye::testing::TempDir;
using namespace std::chrono_literals;

constexpr int kListeners = 30;
constexpr auto kApart = 100ms;  // twice the watch interval: each opening is its own step

TEST(TimerAccuracy, WatchAtFiftyMillisecondsSeesListenersOpenedATenthOfASecondApartAsSeparateSteps) {
    TempDir dir;
    const std::string path = dir.path() + "/s.sock";
    DaemonProcess daemon({"--no-bus", "--socket", path, "--interval", "1", "--config", "/dev/null"});
    ASSERT_TRUE(daemon.ready()) << daemon.log();

    PortHolder child;
    RpcClient client(path);
    const json reply = client.call("watch", {{"pid", child.pid()}, {"interval", 0.05}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto id = reply["result"]["watch"];
    // The first listener shows the watch is running before the paced part starts.
    child.open();
    ASSERT_TRUE(client.waitNotification("watch.changed",
                                        [&](const json& p) { return p["watch"] == id && !p["new_ports"].empty(); }));
    int steps = 1;

    // The scenario's own pacing, not a wait for a condition: one listener every 0.1 s.
    for (int i = 1; i < kListeners; ++i) {
        std::this_thread::sleep_for(kApart);
        child.open();
    }

    const auto last = client.waitNotification("watch.changed", [&](const json& p) {
        if (p["watch"] != id || p["new_ports"].empty()) return false;
        ++steps;
        return p["active_ports"].size() == static_cast<std::size_t>(kListeners);
    });
    ASSERT_TRUE(last) << "the watch never reported all " << kListeners << " listeners; " << steps << " steps";
    // The two regimes this tells apart: a 250 ms timer slack steps about four times a second,
    // about 12 steps for the 2.9 s of openings; explicit accuracies step at each opening, 30.
    // A loaded machine (a parallel build, ctest -j) delays a step now and then past the next
    // opening and merges that pair, so the bar sits between the regimes, not at 30: a fresh
    // root's run under a concurrent build saw 23.
    RecordProperty("steps", steps);
    std::cout << "[ STEPS    ] " << steps << " steps for " << kListeners << " listeners\n";
    EXPECT_GE(steps, 20) << "the watch stepped " << steps << " times for " << kListeners
                         << " listeners opened 0.1 s apart at interval 0.05";
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

}  // namespace
}  // namespace porteye::control
