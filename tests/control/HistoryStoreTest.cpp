// SPDX-License-Identifier: MIT
// The persistent history of the real porteyed (--state-dir): across a restart, and when the store
// cannot be used.
#include "support/RpcClient.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::PortHolder;
using porteye::testing::RpcClient;
using porteye::testing::TempDir;
constexpr auto kTimeout = std::chrono::seconds(20);

class HistoryStore : public ::testing::Test {
protected:
    std::vector<std::string> args(const std::string& stateDir) const {
        return {"--no-bus",  "--socket",    m_socket, "--interval",  "0.1",  "--config",
                "/dev/null", "--state-dir", stateDir, "--log-level", "debug"};
    }
    json call(const std::string& method, const json& params = json::object()) {
        RpcClient client(m_socket);
        const json reply = client.call(method, params);
        EXPECT_TRUE(reply.contains("result")) << reply.dump();
        return reply.value("result", json());
    }
    json historyWhen(const json& filter, const std::function<bool(const json&)>& done) {
        json events;
        porteye::testing::eventually(
            [&] {
                events = call("history", filter);
                return events.is_array() && done(events);
            },
            kTimeout);
        return events;
    }

    TempDir m_dir;
    const std::string m_socket = m_dir.path() + "/s.sock";
    const std::string m_state = m_dir.path() + "/state";
};

std::vector<std::uint64_t> sequences(const json& events) {
    std::vector<std::uint64_t> out;
    for (const auto& e : events)
        out.push_back(e.at("sequence").get<std::uint64_t>());
    return out;
}

TEST_F(HistoryStore, SurvivesARestartAndSequenceNumbersContinue) {
    std::string firstInstance;
    std::vector<std::uint64_t> before;
    std::uint16_t port = 0;
    {
        DaemonProcess daemon(args(m_state));
        ASSERT_TRUE(daemon.ready()) << daemon.log();
        const json status = call("status");
        EXPECT_EQ(status["store"], "ok") << status.dump();
        firstInstance = status["instance_id"].get<std::string>();
        PortHolder holder;
        port = holder.open();
        historyWhen({{"port", port}}, [](const json& e) { return e.size() >= 1; });
        holder.close();
        const json events = historyWhen({{"port", port}}, [](const json& e) { return e.size() >= 2; });
        before = sequences(events);
        ASSERT_EQ(before.size(), 2u) << events.dump();
        EXPECT_EQ(events[0]["action"], "added");
        EXPECT_EQ(events[1]["action"], "removed");
        EXPECT_EQ(daemon.stop(), 0) << daemon.log();  // SIGTERM: what was reported is written
    }
    DaemonProcess daemon(args(m_state));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    const json status = call("status");
    EXPECT_EQ(status["store"], "ok") << status.dump();
    EXPECT_NE(status["instance_id"], firstInstance);
    EXPECT_GT(status["next_sequence"].get<std::uint64_t>(), before.back());

    // The old events, from disk: the new daemon's ring never saw them.
    const json after = call("history", {{"port", port}});
    EXPECT_EQ(sequences(after), before) << after.dump();
    // Paging forward from before the restart reaches them too.
    const json paged = call("history", {{"port", port}, {"after_sequence", before.front() - 1}, {"limit", 10}});
    EXPECT_EQ(sequences(paged), before) << paged.dump();

    // New events are numbered after the old ones.
    PortHolder holder;
    const std::uint16_t newPort = holder.open();
    const json fresh = historyWhen({{"port", newPort}}, [](const json& e) { return !e.empty(); });
    ASSERT_FALSE(fresh.empty());
    EXPECT_GT(fresh[0]["sequence"].get<std::uint64_t>(), before.back());
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST_F(HistoryStore, ACorruptStoreFileLeavesTheDaemonRunningOnItsRing) {
    std::filesystem::create_directory(m_state);
    {
        std::ofstream garbage(m_state + "/history.db", std::ios::binary);
        for (int i = 0; i < 8192; ++i)
            garbage.put(static_cast<char>((i * 37) % 253));
    }
    DaemonProcess daemon(args(m_state));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    const json status = call("status");
    const std::string store = status.value("store", "");
    EXPECT_EQ(store.rfind("failed: ", 0), 0u) << store;
    EXPECT_NE(store.find("not a database"), std::string::npos) << store;
    EXPECT_NE(daemon.log().find("history store unavailable"), std::string::npos) << daemon.log();

    PortHolder holder;
    const std::uint16_t port = holder.open();
    const json events = historyWhen({{"port", port}}, [](const json& e) { return !e.empty(); });
    EXPECT_FALSE(events.empty()) << "the ring still answers";
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST_F(HistoryStore, AnUnusableStateDirectoryIsReportedInStatus) {
    {
        std::ofstream file(m_state);  // a file where the directory should be
    }
    DaemonProcess daemon(args(m_state));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    const std::string store = call("status").value("store", "");
    EXPECT_EQ(store.rfind("failed: ", 0), 0u) << store;
    EXPECT_NE(store.find(m_state), std::string::npos) << store;
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST_F(HistoryStore, AnEmptyStateDirDisablesIt) {
    DaemonProcess daemon(args(""));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    EXPECT_EQ(call("status")["store"], "disabled");
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

}  // namespace
}  // namespace porteye::control
