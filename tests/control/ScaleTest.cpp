// SPDX-License-Identifier: MIT
// 1,000 concurrent watchers of one process on the real porteyed: every one of
// them sees the change, and other clients keep being served meanwhile.
#include "support/RpcClient.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

using namespace porteye::testing;
using nlohmann::json;
using namespace std::chrono_literals;

TEST(ControlSocketScale, AThousandWatchersOfOneProcessAllSeeItsNewPort) {
    constexpr int kWatchers = 1000;
    TempDir dir(0755);
    const auto path = dir.path() + "/s.sock";
    DaemonProcess daemon({"--no-bus", "--socket", path, "--interval", "1"});
    ASSERT_TRUE(daemon.ready()) << daemon.process().err();
    PortHolder holder;

    RpcClient watcher(path);
    ASSERT_TRUE(watcher.connected());
    std::string requests;
    for (int i = 0; i < kWatchers; ++i)
        requests += json{{"jsonrpc", "2.0"},
                         {"id", i + 1},
                         {"method", "watch"},
                         {"params", {{"pid", holder.pid()}, {"interval", 0.05}}}}
                        .dump() +
                    "\n";
    ASSERT_TRUE(watcher.sendRaw(requests));
    std::set<std::uint64_t> watches;
    while (watches.size() < kWatchers) {
        auto reply = watcher.read(20s);
        ASSERT_TRUE(reply) << "only " << watches.size() << " watches confirmed";
        if (reply->contains("result")) watches.insert((*reply)["result"]["watch"].get<std::uint64_t>());
        ASSERT_FALSE(reply->contains("error")) << reply->dump();
    }

    RpcClient other(path);
    const auto status = other.call("status");
    ASSERT_TRUE(status.contains("result")) << status.dump();
    EXPECT_EQ(status["result"]["watches"], kWatchers);

    const auto port = holder.open();
    std::set<std::uint64_t> saw;
    while (saw.size() < kWatchers) {
        auto message = watcher.read(20s);
        ASSERT_TRUE(message) << saw.size() << " of " << kWatchers << " watchers saw the port";
        if (message->value("method", "") != "watch.changed") continue;
        const auto& params = (*message)["params"];
        for (const auto& p : params["new_ports"])
            if (p == port) saw.insert(params["watch"].get<std::uint64_t>());
    }
    EXPECT_EQ(saw, watches);
    EXPECT_TRUE(other.call("status").contains("result")) << "others are still served";
    EXPECT_EQ(daemon.stop(), 0);
}
