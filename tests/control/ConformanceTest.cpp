// SPDX-License-Identifier: MIT
// One porteyed serving both front-ends (a private system bus and the control socket); the real
// porteyectl asks the same questions through each and must get the same answers.
// The host is shared: only sockets and processes made here are asserted on.
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace porteye::control {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::eventually;
using porteye::testing::PortHolder;
using porteye::testing::PrivateBus;
using porteye::testing::RunResult;
using porteye::testing::Subprocess;
using porteye::testing::TempDir;
constexpr auto kTimeout = 20s;

enum class Via { Bus, Socket };

class Conformance : public porteye::testing::DaemonTest {
protected:
    void SetUp() override {
        m_bus = std::make_unique<PrivateBus>(porteye::testing::policyFilePath());
        startDaemon(
            {"--bus-address", m_bus->address(), "--socket", m_path, "--interval", "0.1", "--config", "/dev/null"});
    }

    /// porteyectl's command line for one front-end.
    std::vector<std::string> porteyectl(Via via, std::vector<std::string> args) const {
        std::vector<std::string> argv{porteye::testing::porteyectlPath()};
        if (via == Via::Bus)
            argv.insert(argv.end(), {"--bus-address", m_bus->address()});
        else
            argv.insert(argv.end(), {"--socket", m_path});
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    RunResult run(Via via, std::vector<std::string> args) const {
        return porteye::testing::run(porteyectl(via, std::move(args)), {}, kTimeout);
    }

    /// A --json command's output, parsed; discarded (and a failure recorded) when it did not succeed.
    json runJson(Via via, std::vector<std::string> args) const {
        std::vector<std::string> withJson{"--json"};
        for (auto& a : args)
            withJson.push_back(std::move(a));
        const auto result = run(via, std::move(withJson));
        EXPECT_EQ(result.exitCode, 0) << (via == Via::Bus ? "bus: " : "socket: ") << result.err;
        if (result.exitCode != 0) return json::value_t::discarded;
        return json::parse(result.out, nullptr, false);
    }

    /// Asks both front-ends until `done` holds for both answers; returns them (bus, socket).
    std::pair<json, json> bothWhen(const std::vector<std::string>& args, const std::function<bool(const json&)>& done) {
        json bus;
        json socket;
        const bool ok = eventually(
            [&] {
                bus = runJson(Via::Bus, args);
                socket = runJson(Via::Socket, args);
                return done(bus) && done(socket);
            },
            kTimeout);
        EXPECT_TRUE(ok) << "never both satisfied the condition\nbus: " << bus.dump() << "\nsocket: " << socket.dump();
        return {bus, socket};
    }

    std::unique_ptr<PrivateBus> m_bus;
    TempDir m_dir;
    const std::string m_path = m_dir.path() + "/s.sock";
};

bool nonEmptyArray(const json& j) {
    return j.is_array() && !j.empty();
}

TEST_F(Conformance, ListGivesTheSameRecords) {
    PortHolder holder;
    const auto port = std::to_string(holder.open());
    const auto [bus, socket] = bothWhen({"list", "--port", port}, nonEmptyArray);
    ASSERT_EQ(bus.size(), 1U) << bus.dump();
    EXPECT_EQ(bus[0]["pid"], holder.pid());
    EXPECT_EQ(bus[0]["state"], "LISTEN");
    EXPECT_EQ(bus, socket) << "bus: " << bus.dump() << "\nsocket: " << socket.dump();
}

TEST_F(Conformance, HistoryGivesTheSameEventsAndSequenceNumbers) {
    PortHolder holder;
    const auto port = std::to_string(holder.open());
    bothWhen({"list", "--port", port}, nonEmptyArray);
    holder.close();
    const auto [bus, socket] =
        bothWhen({"history", "--port", port}, [](const json& j) { return j.is_array() && j.size() >= 2; });
    ASSERT_EQ(bus.size(), 2U) << bus.dump();
    EXPECT_EQ(bus[0]["action"], "added");
    EXPECT_EQ(bus[1]["action"], "removed");
    EXPECT_LT(bus[0]["sequence"].get<std::uint64_t>(), bus[1]["sequence"].get<std::uint64_t>());
    EXPECT_EQ(bus, socket) << "bus: " << bus.dump() << "\nsocket: " << socket.dump();
}

TEST_F(Conformance, StatusGivesTheSameSettings) {
    const json bus = runJson(Via::Bus, {"status"});
    const json socket = runJson(Via::Socket, {"status"});
    ASSERT_TRUE(bus.is_object()) << bus.dump();
    ASSERT_TRUE(socket.is_object()) << socket.dump();
    // Socket and history counts move with the host between the two calls; settings do not.
    for (const char* key : {"version", "poll_interval", "history_capacity"}) {
        ASSERT_TRUE(bus.contains(key)) << key << " in " << bus.dump();
        EXPECT_EQ(bus[key], socket[key]) << key;
    }
    EXPECT_DOUBLE_EQ(bus["poll_interval"].get<double>(), 0.1);
}

TEST_F(Conformance, WatchPrintsTheSameLines) {
    PortHolder holder;
    const auto pid = std::to_string(holder.pid());
    Subprocess bus(porteyectl(Via::Bus, {"watch", pid, "--interval", "0.1"}));
    Subprocess socket(porteyectl(Via::Socket, {"watch", pid, "--interval", "0.1"}));
    // The header is printed once the watch is in place.
    ASSERT_TRUE(bus.waitForOutput("Monitoring active ports", kTimeout)) << bus.err();
    ASSERT_TRUE(socket.waitForOutput("Monitoring active ports", kTimeout)) << socket.err();

    const auto port = std::to_string(holder.open());
    ASSERT_TRUE(bus.waitForOutput("New ports opened: ", kTimeout)) << bus.out() << bus.err();
    ASSERT_TRUE(socket.waitForOutput("New ports opened: ", kTimeout)) << socket.out() << socket.err();
    holder.close();
    ASSERT_TRUE(bus.waitForOutput("Ports closed: ", kTimeout)) << bus.out() << bus.err();
    ASSERT_TRUE(socket.waitForOutput("Ports closed: ", kTimeout)) << socket.out() << socket.err();
    holder.exit();  // both watches end: the process is gone
    const auto busStatus = bus.wait(kTimeout);
    const auto socketStatus = socket.wait(kTimeout);
    ASSERT_TRUE(busStatus) << "the bus watch did not end";
    ASSERT_TRUE(socketStatus) << "the socket watch did not end";
    EXPECT_EQ(*busStatus, 4);  // kExitProcessExited
    EXPECT_EQ(*socketStatus, *busStatus);
    EXPECT_NE(bus.out().find(port), std::string::npos) << bus.out();
    EXPECT_EQ(bus.out(), socket.out());
    EXPECT_EQ(bus.err(), socket.err());
}

TEST_F(Conformance, WatchOfAMissingPidFailsTheSameWay) {
    const auto bus = run(Via::Bus, {"watch", "4000000000"});
    const auto socket = run(Via::Socket, {"watch", "4000000000"});
    EXPECT_EQ(bus.exitCode, 3) << bus.err;  // kExitNoSuchProcess
    EXPECT_EQ(socket.exitCode, 3) << socket.err;
    EXPECT_TRUE(bus.out.empty()) << bus.out;
    EXPECT_TRUE(socket.out.empty()) << socket.out;
    EXPECT_EQ(bus.err, socket.err);
}

TEST_F(Conformance, AnUnknownStateIsAUsageErrorBothWays) {
    const auto bus = run(Via::Bus, {"list", "--json", "--state", "BOGUS"});
    const auto socket = run(Via::Socket, {"list", "--json", "--state", "BOGUS"});
    EXPECT_EQ(bus.exitCode, 2) << bus.err;  // kExitUsage
    EXPECT_EQ(socket.exitCode, 2) << socket.err;
    EXPECT_EQ(bus.err, socket.err);
}

TEST_F(Conformance, UnitContainerAndNetnsFiltersAnswerTheSameBothWays) {
    PortHolder holder;
    const auto port = std::to_string(holder.open());
    bothWhen({"list", "--port", port}, nonEmptyArray);
    // Keys both front-ends must take (an unknown key would be InvalidArgument): nothing matches.
    for (const std::vector<std::string>& filter : {std::vector<std::string>{"--unit", "no-such.service"},
                                                   {"--container", "0000"},
                                                   {"--container", "db"},
                                                   {"--netns", "1"},
                                                   {"--netns", "blue"}}) {
        std::vector<std::string> list{"list", "--port", port};
        list.insert(list.end(), filter.begin(), filter.end());
        const auto [bus, socket] = bothWhen(list, [](const json& j) { return j.is_array(); });
        EXPECT_EQ(bus, json::array()) << filter[0] << " " << filter[1];
        EXPECT_EQ(bus, socket);
        std::vector<std::string> history{"history", "--port", port, "--limit", "0"};
        history.insert(history.end(), filter.begin(), filter.end());
        const auto [busHistory, socketHistory] = bothWhen(history, [](const json& j) { return j.is_array(); });
        EXPECT_EQ(busHistory, json::array()) << filter[0] << " " << filter[1];
        EXPECT_EQ(busHistory, socketHistory);
    }
}

}  // namespace
}  // namespace porteye::control
