// SPDX-License-Identifier: MIT
// The D-Bus fuzzer (tests/fuzz/dbus/tool) against the real porteyed on a private bus, in rounds
// as root and as nobody: the daemon must survive every round, keep answering a reading client
// between rounds, and stop cleanly at the end (under ASan: no sanitizer report, no leak).
// PORTEYE_DBUS_FUZZ_CALLS sets the calls per round (default 1500); the report of every round is
// printed, so a long run gives its figures (README "Fuzzing").
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>

using namespace porteye::testing;
using namespace std::chrono_literals;

namespace {

std::string callsPerRound() {
    const char* calls = std::getenv("PORTEYE_DBUS_FUZZ_CALLS");
    return calls != nullptr && *calls != '\0' ? calls : "1500";
}

class DbusFuzzTest : public ::testing::Test {
protected:
    void SetUp() override {
        bus = std::make_unique<PrivateBus>(policyFilePath());
        daemon = std::make_unique<DaemonProcess>(std::vector<std::string>{"--bus-address", bus->address(), "--interval",
                                                                          "0.2", "--socket", "", "--network-namespaces",
                                                                          "host", "--event-source", "off"});
        ASSERT_TRUE(daemon->ready()) << "porteyed never sent READY=1:\n" << daemon->process().err();
    }

    /// One round of the fuzzer; its report, or null when it did not finish.
    nlohmann::json round(bool asNobody, int seed) {
        std::vector<std::string> argv;
        if (asNobody) argv = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
        argv.insert(argv.end(),
                    {std::string(PORTEYE_BINARY_DIR) + "/tests/porteye-dbus-fuzz", "--address", bus->address(), "--xml",
                     std::string(PORTEYE_SOURCE_DIR) + "/dbus/org.porteye.PortEye1.xml", "--calls", callsPerRound(),
                     "--seed", std::to_string(seed)});
        const auto result = run(argv, {}, 3600s);
        EXPECT_EQ(result.exitCode, 0) << "the daemon stopped answering:\n" << result.out << result.err;
        std::cout << (asNobody ? "nobody: " : "root: ") << result.out << std::flush;
        return nlohmann::json::parse(result.out, nullptr, false);
    }

    /// A reading client gets the status and the list, as root and as nobody.
    void expectServing() {
        for (bool nobody : {false, true}) {
            std::vector<std::string> argv;
            if (nobody) argv = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
            argv.insert(argv.end(), {"busctl", "--address=" + bus->address(), "call", "org.porteye.PortEye1",
                                     "/org/porteye/PortEye1", "org.porteye.PortEye1", "ListPorts", "a{sv}", "0"});
            const auto list = run(argv);
            EXPECT_EQ(list.exitCode, 0) << list.err;
        }
    }

    std::unique_ptr<PrivateBus> bus;
    std::unique_ptr<DaemonProcess> daemon;
};

}  // namespace

TEST_F(DbusFuzzTest, DaemonSurvivesRandomCallsAsRootAndAsNobodyAndKeepsServing) {
    std::map<std::string, std::uint64_t> errors;
    std::uint64_t calls = 0;
    int seed = 1;
    for (bool nobody : {false, true, false, true}) {
        const auto report = round(nobody, seed++);
        ASSERT_FALSE(report.is_discarded()) << "no report from the fuzzer";
        calls += report["calls"].get<std::uint64_t>();
        for (const auto& [name, count] : report["errors"].items())
            errors[name] += count.get<std::uint64_t>();
        expectServing();
    }
    EXPECT_GT(calls, 0u);
    // Every error is a named D-Bus error: no timeout, no dropped connection.
    EXPECT_EQ(errors.count("org.freedesktop.DBus.Error.NoReply"), 0u);
    EXPECT_EQ(errors.count("org.freedesktop.DBus.Error.Timeout"), 0u);
    EXPECT_EQ(errors.count("(none)"), 0u);
    EXPECT_EQ(daemon->stop(), 0) << "porteyed did not stop cleanly (a sanitizer report?):\n" << daemon->log();
    const std::string log = daemon->log();
    EXPECT_EQ(log.find("Sanitizer"), std::string::npos) << log;
    EXPECT_EQ(log.find("runtime error"), std::string::npos) << log;
}
