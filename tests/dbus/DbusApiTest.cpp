// SPDX-License-Identifier: MIT
// org.porteye.PortEye1 as outside clients see it: the real porteyed on a private
// dbus-daemon (system-bus rules plus our policy), driven with busctl and porteyectl.
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

using namespace porteye::testing;
using namespace std::chrono_literals;

namespace {

/// Waits until a `busctl monitor` child really monitors: probes the daemon until the
/// probe shows up in the monitor's output ("busctl list" showing it is not enough).
class DbusApiTest : public porteye::testing::DaemonTest {
protected:
    void SetUp() override {
        bus = std::make_unique<PrivateBus>(policyFilePath());
        startDaemon({"--bus-address", bus->address(), "--interval", "0.1", "--socket", ""});
    }

    /// busctl against the private bus; JSON output so tests read values, not text.
    RunResult busctl(std::vector<std::string> args, bool asNobody = false) {
        std::vector<std::string> argv;
        if (asNobody) argv = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
        argv.insert(argv.end(), {"busctl", "--address=" + bus->address(), "--json=short"});
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv);
    }

    RunResult callManager(const std::string& method, std::vector<std::string> args, bool asNobody = false) {
        std::vector<std::string> argv{"call", "org.porteye.PortEye1", "/org/porteye/PortEye1", "org.porteye.PortEye1",
                                      method};
        argv.insert(argv.end(), args.begin(), args.end());
        return busctl(argv, asNobody);
    }

    /// ListPorts' records as JSON arrays (busctl prints structs as arrays).
    nlohmann::json listPorts(std::vector<std::string> filter = {"a{sv}", "0"}, bool asNobody = false) {
        auto result = callManager("ListPorts", filter, asNobody);
        EXPECT_EQ(result.exitCode, 0) << result.err;
        return nlohmann::json::parse(result.out)["data"][0];
    }

    std::uint32_t property(const std::string& name) {
        auto result =
            busctl({"get-property", "org.porteye.PortEye1", "/org/porteye/PortEye1", "org.porteye.PortEye1", name});
        EXPECT_EQ(result.exitCode, 0) << result.err;
        return nlohmann::json::parse(result.out)["data"].get<std::uint32_t>();
    }

    /// One key of GetStatus' a{sv}, as root sees it.
    std::uint64_t daemonStatus(const std::string& key) {
        auto result = callManager("GetStatus", {});
        EXPECT_EQ(result.exitCode, 0) << result.err;
        if (result.exitCode != 0) return UINT64_MAX;
        return nlohmann::json::parse(result.out)["data"][0][key]["data"].get<std::uint64_t>();
    }

    static bool hasPort(const nlohmann::json& records, std::uint16_t port, pid_t pid) {
        for (const auto& r : records)
            if (r[5] == port && r[0] == static_cast<std::uint32_t>(pid)) return true;
        return false;
    }

    std::vector<std::string> porteyectl(std::vector<std::string> args) {
        std::vector<std::string> argv{porteyectlPath(), "--bus-address", bus->address()};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    /// porteye-test-subscriber: one connection that calls Subscribe `count` times and then
    /// prints the signals it receives (see its header); ready once it printed "ready".
    /// With `stops`, it then Stops its first `stops` subscriptions and Subscribes as many times again.
    std::unique_ptr<Subprocess> subscriber(std::size_t count, const std::vector<std::string>& as = {},
                                           std::size_t stops = 0) {
        std::vector<std::string> argv = as;
        argv.insert(argv.end(), {PORTEYE_BINARY_DIR "/tests/porteye-test-subscriber", bus->address(),
                                 std::to_string(count), std::to_string(stops)});
        auto process = std::make_unique<Subprocess>(argv);
        EXPECT_TRUE(process->waitForOutput("ready\n", 20s)) << process->out() << process->err();
        return process;
    }

    std::unique_ptr<PrivateBus> bus;
};

const std::vector<std::string> kAsNobody = asNobody({});
/// Another ordinary user than nobody (Debian's uid 1).
const std::vector<std::string> kAsDaemonUser{"setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups"};

std::size_t countLines(const std::string& out, const std::string& prefix) {
    std::size_t n = 0;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);)
        n += line.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
}

}  // namespace

TEST_F(DbusApiTest, ListPortsShowsAListenerWithItsOwnerAndFilters) {
    PortHolder holder;
    const auto port = holder.open();
    ASSERT_TRUE(eventually([&] { return hasPort(listPorts(), port, holder.pid()); }, 5s));

    const auto byPort = listPorts({"a{sv}", "1", "port", "q", std::to_string(port)});
    ASSERT_EQ(byPort.size(), 1u);
    const auto& r = byPort[0];
    EXPECT_EQ(r[0], static_cast<std::uint32_t>(holder.pid()));
    EXPECT_EQ(r[2], "tcp");
    EXPECT_EQ(r[3], 4);
    EXPECT_EQ(r[4], "127.0.0.1");
    EXPECT_EQ(r[8], "LISTEN");
    EXPECT_GT(r[9].get<std::uint64_t>(), 0u) << "inode";

    const auto listening = listPorts({"a{sv}", "2", "state", "s", "listen", "pid", "u", std::to_string(holder.pid())});
    EXPECT_EQ(listening.size(), 1u);
    EXPECT_TRUE(listPorts({"a{sv}", "2", "state", "s", "SYN_SENT", "port", "q", std::to_string(port)}).empty());
}

TEST_F(DbusApiTest, SignalsArriveForOpenAndCloseAndHistoryKeepsBoth) {
    Subprocess monitor({"busctl", "--address=" + bus->address(), "--json=short", "monitor", "org.porteye.PortEye1"});
    ASSERT_TRUE(busMonitorIsLive(monitor, bus->address())) << monitor.err();

    PortHolder holder;
    const auto port = holder.open();
    const auto portText = std::to_string(port);
    // Line by line: on a shared host the monitor also prints every other test's sockets.
    auto sawSignal = [&](const std::string& member) {
        return [&, member](std::string_view line) {
            if (line.find("\"" + member + "\"") == std::string_view::npos) return false;
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded()) return false;
            const auto& event = j["payload"]["data"][0];
            return event[3][5] == port && event[3][0] == static_cast<std::uint32_t>(holder.pid());
        };
    };
    EXPECT_TRUE(monitor.waitForLine(sawSignal("PortAdded"), 5s)) << monitor.out();
    holder.close();
    EXPECT_TRUE(monitor.waitForLine(sawSignal("PortRemoved"), 5s)) << monitor.out();

    auto history = callManager("GetHistory", {"a{sv}", "1", "port", "q", portText});
    ASSERT_EQ(history.exitCode, 0) << history.err;
    const auto events = nlohmann::json::parse(history.out)["data"][0];
    ASSERT_EQ(events.size(), 2u) << history.out;
    EXPECT_EQ(events[0][1], "added");
    EXPECT_EQ(events[1][1], "removed");
    EXPECT_LT(events[0][0].get<std::uint64_t>(), events[1][0].get<std::uint64_t>()) << "sequence grows";

    auto removedOnly = callManager("GetHistory", {"a{sv}", "2", "port", "q", portText, "action", "s", "removed"});
    EXPECT_EQ(nlohmann::json::parse(removedOnly.out)["data"][0].size(), 1u);
    auto limited = callManager("GetHistory", {"a{sv}", "2", "port", "q", portText, "limit", "u", "1"});
    const auto newest = nlohmann::json::parse(limited.out)["data"][0];
    ASSERT_EQ(newest.size(), 1u);
    EXPECT_EQ(newest[0][1], "removed") << "limit keeps the newest";
}

TEST_F(DbusApiTest, PropertiesDescribeTheDaemon) {
    auto version =
        busctl({"get-property", "org.porteye.PortEye1", "/org/porteye/PortEye1", "org.porteye.PortEye1", "Version"});
    ASSERT_EQ(version.exitCode, 0) << version.err;
    EXPECT_FALSE(nlohmann::json::parse(version.out)["data"].get<std::string>().empty());
    EXPECT_EQ(property("HistoryCapacity"), 10000u);
    EXPECT_EQ(daemonStatus("watches"), 0u);
    EXPECT_EQ(daemonStatus("history_capacity"), 10000u);
    auto interval = busctl(
        {"get-property", "org.porteye.PortEye1", "/org/porteye/PortEye1", "org.porteye.PortEye1", "PollInterval"});
    EXPECT_DOUBLE_EQ(nlohmann::json::parse(interval.out)["data"].get<double>(), 0.1);
}

TEST_F(DbusApiTest, BadCallsGetNamedErrorsAndTheDaemonKeepsServing) {
    // A wrong signature is refused by the bus library before our code runs.
    auto wrongSignature = callManager("ListPorts", {"s", "hello"});
    EXPECT_NE(wrongSignature.exitCode, 0);
    EXPECT_NE(wrongSignature.err.find("nvalid"), std::string::npos) << wrongSignature.err;

    // gdbus prints the error name, as any client library sees it.
    struct Case {
        std::string method;
        std::vector<std::string> args;  // GVariant text
        std::string error;
    };
    const std::string pid = std::to_string(getpid());
    const std::vector<Case> cases = {
        {"ListPorts", {"{'port': <'eighty'>}"}, "InvalidArgument"},
        {"ListPorts", {"{'port': <uint32 70000>}"}, "InvalidArgument"},
        {"ListPorts", {"{'colour': <'red'>}"}, "InvalidArgument"},
        {"ListPorts", {"{'state': <'SLEEPING'>}"}, "InvalidArgument"},
        {"ListPorts", {"{'pid': <['1', 'x']>}"}, "InvalidArgument"},
        {"GetHistory", {"{'limit': <uint32 4000000000>}"}, "InvalidArgument"},
        {"GetHistory", {"{'action': <'opened'>}"}, "InvalidArgument"},
        {"GetHistory", {"{'since': <'last tuesday'>}"}, "InvalidArgument"},
        {"Watch", {"4000000000", "{}"}, "NoSuchProcess"},
        {"Watch", {"0", "{}"}, "InvalidArgument"},
        {"Watch", {pid, "{'interval': <0.001>}"}, "InvalidArgument"},
        {"Watch", {pid, "{'interval': <1e308>}"}, "InvalidArgument"},
        {"Watch", {pid, "{'children': <'yes'>}"}, "InvalidArgument"},
        {"Unwatch", {"/org/porteye/PortEye1/watch/999"}, "NoSuchWatch"},
        {"Unwatch", {"/elsewhere"}, "NoSuchWatch"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> argv{"gdbus",         "call",
                                      "--address",     bus->address(),
                                      "--dest",        "org.porteye.PortEye1",
                                      "--object-path", "/org/porteye/PortEye1",
                                      "--method",      "org.porteye.PortEye1." + c.method};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        auto result = run(argv);
        EXPECT_NE(result.exitCode, 0) << c.method << " " << c.args[0];
        EXPECT_NE(result.err.find("org.porteye.PortEye1.Error." + c.error), std::string::npos)
            << c.method << " " << c.args[0] << ": " << result.err;
    }

    EXPECT_FALSE(m_daemon->process().wait(0ms)) << "porteyed must survive bad calls";
    EXPECT_EQ(callManager("ListPorts", {"a{sv}", "0"}).exitCode, 0);
}

TEST_F(DbusApiTest, WatchStreamsSeedLinesThroughPorteyectl) {
    PortHolder holder;
    Subprocess watch(porteyectl({"watch", std::to_string(holder.pid()), "--interval", "0.1"}));
    const std::string header = "Monitoring active ports for PID " + std::to_string(holder.pid()) +
                               " every 0.1 second(s). Press Ctrl+C to stop.\n";
    ASSERT_TRUE(watch.waitForOutput(header, 5s)) << watch.err();
    ASSERT_TRUE(eventually([&] { return daemonStatus("watches") == 1; }, 5s));

    const auto port = holder.open();
    const auto p = std::to_string(port);
    EXPECT_TRUE(watch.waitForOutput("New ports opened: {" + p + "}\nActive ports: {" + p + "}\n", 5s)) << watch.out();
    holder.close();
    EXPECT_TRUE(watch.waitForOutput("Ports closed: {" + p + "}\nActive ports: set()\n", 5s)) << watch.out();
    holder.exit();
    auto status = watch.wait(5s);
    ASSERT_TRUE(status) << "watch should end when the process exits";
    EXPECT_EQ(*status, 4) << "documented status for an exited process";
    EXPECT_NE(watch.err().find("exited"), std::string::npos) << watch.err();
    EXPECT_TRUE(eventually([&] { return daemonStatus("watches") == 0; }, 5s));
}

TEST_F(DbusApiTest, TwoWatchersOfOneProcessBothSeeTheChange) {
    PortHolder holder;
    Subprocess first(porteyectl({"watch", std::to_string(holder.pid()), "--interval", "0.1", "--json"}));
    Subprocess second(porteyectl({"watch", std::to_string(holder.pid()), "--interval", "0.2"}));
    ASSERT_TRUE(eventually([&] { return daemonStatus("watches") == 2; }, 5s));
    const auto port = holder.open();
    const auto p = std::to_string(port);
    EXPECT_TRUE(first.waitForOutput("\"new_ports\":[" + p + "]", 5s)) << first.out();
    EXPECT_TRUE(second.waitForOutput("New ports opened: {" + p + "}", 5s)) << second.out();
    EXPECT_EQ(first.stop(SIGINT), 0) << "Ctrl+C ends a watch with status 0";
    EXPECT_EQ(second.stop(SIGTERM), 0);
}

TEST_F(DbusApiTest, WatchIsDroppedWhenItsClientLeavesTheBus) {
    PortHolder holder;
    {
        Subprocess watch(porteyectl({"watch", std::to_string(holder.pid()), "--interval", "0.1"}));
        ASSERT_TRUE(eventually([&] { return daemonStatus("watches") == 1; }, 5s));
        watch.stop(SIGKILL);  // no chance to Unwatch: only NameOwnerChanged can tell the daemon
    }
    EXPECT_TRUE(eventually([&] { return daemonStatus("watches") == 0; }, 5s));
}

TEST_F(DbusApiTest, WatchOfMissingProcessFailsWithDocumentedStatus) {
    auto result = run(porteyectl({"watch", "4000000000", "--interval", "0.1"}));
    EXPECT_EQ(result.exitCode, 3) << result.err;
    EXPECT_NE(result.err.find("4000000000"), std::string::npos) << result.err;
}

TEST_F(DbusApiTest, PolicyKeepsNonRootFromOwningTheNameAndShowsThemOnlyTheirSockets) {
    auto own = busctl({"call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName",
                       "su", "org.porteye.PortEye1", "0"},
                      /*asNobody=*/true);
    EXPECT_NE(own.exitCode, 0);
    EXPECT_NE(own.err.find("ccess"), std::string::npos) << own.err;  // "Access denied"

    PortHolder rootHolder;
    const auto rootPort = rootHolder.open();
    ASSERT_TRUE(eventually([&] { return hasPort(listPorts(), rootPort, rootHolder.pid()); }, 5s));
    const auto seenByNobody = listPorts({"a{sv}", "0"}, /*asNobody=*/true);
    EXPECT_FALSE(hasPort(seenByNobody, rootPort, rootHolder.pid())) << "root's socket leaked to nobody";
    for (const auto& r : seenByNobody)
        EXPECT_EQ(r[10], 65534) << "nobody sees only uid 65534's sockets";

    auto watchRoot = callManager("Watch", {"ua{sv}", std::to_string(rootHolder.pid()), "0"}, /*asNobody=*/true);
    EXPECT_NE(watchRoot.exitCode, 0);
    // Not "belongs to another user": that would tell nobody the PID exists.
    EXPECT_NE(watchRoot.err.find("that you may watch"), std::string::npos) << watchRoot.err;
    EXPECT_EQ(watchRoot.err.find("another user"), std::string::npos) << watchRoot.err;
}

TEST_F(DbusApiTest, SecondInstanceSaysAlreadyRunning) {
    auto second = run({porteyedPath(), "--bus-address", bus->address(), "--socket", "", "--state-dir", ""}, {}, 10s);
    EXPECT_EQ(second.exitCode, 1);
    EXPECT_NE(second.err.find("already running"), std::string::npos) << second.err;
}

TEST_F(DbusApiTest, SigtermStopsCleanly) {
    EXPECT_EQ(m_daemon->process().stop(SIGTERM), 0) << m_daemon->process().err();
    bool stopping = false;
    for (const auto& n : m_daemon->notifications())
        stopping |= n.find("STOPPING=1") != std::string::npos;
    EXPECT_TRUE(stopping);
}

TEST(DbusPromptness, CloseIsReportedWithoutWaitingForThePoll) {
    PrivateBus bus(policyFilePath());
    PortHolder holder;
    const auto port = holder.open();
    // A 60 s poll: only the kernel's destroy notification can report the close in time.
    DaemonProcess daemon({"--bus-address", bus.address(), "--interval", "60", "--socket", ""});
    ASSERT_TRUE(daemon.ready()) << daemon.process().err();
    Subprocess monitor({"busctl", "--address=" + bus.address(), "--json=short", "monitor", "org.porteye.PortEye1"});
    ASSERT_TRUE(busMonitorIsLive(monitor, bus.address())) << monitor.err();

    const auto started = std::chrono::steady_clock::now();
    holder.close();
    EXPECT_TRUE(monitor.waitForLine(
        [&](std::string_view line) {
            return line.find("\"PortRemoved\"") != std::string_view::npos &&
                   line.find("," + std::to_string(port) + ",") != std::string_view::npos;
        },
        5s))
        << monitor.out();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 30s) << "reported by the destroy listener, not a poll";
}

TEST(DbusLifecycle, NotifiesReadyStatusAndWatchdogAsSystemdExpects) {
    PrivateBus bus(policyFilePath());
    DaemonProcess daemon({"--bus-address", bus.address(), "--interval", "0.1", "--socket", ""},
                         {{"WATCHDOG_USEC", "200000"}});
    ASSERT_TRUE(daemon.ready()) << daemon.process().err();
    EXPECT_TRUE(eventually(
        [&] {
            int watchdogs = 0;
            for (const auto& n : daemon.notifications())
                watchdogs += n.find("WATCHDOG=1") != std::string::npos;
            return watchdogs >= 2;
        },
        5s))
        << "with WATCHDOG_USEC set, porteyed must keep petting the watchdog";
    bool status = false;
    for (const auto& n : daemon.notifications())
        status |= n.find("STATUS=") != std::string::npos;
    EXPECT_TRUE(status);
}

TEST(DbusLifecycle, SighupReloadsTheIntervalFromTheConfigFile) {
    PrivateBus bus(policyFilePath());
    TempDir dir;
    const auto config = dir.path() + "/porteyed.conf";
    std::ofstream(config) << "interval = 0.5\nhistory_size = 500\n";
    DaemonProcess daemon({"--config", config, "--bus-address", bus.address(), "--socket", ""});
    ASSERT_TRUE(daemon.ready()) << daemon.process().err();
    auto get = [&](const std::string& name) {
        auto r = run({"busctl", "--address=" + bus.address(), "--json=short", "get-property", "org.porteye.PortEye1",
                      "/org/porteye/PortEye1", "org.porteye.PortEye1", name});
        return nlohmann::json::parse(r.out)["data"];
    };
    EXPECT_DOUBLE_EQ(get("PollInterval").get<double>(), 0.5);
    EXPECT_EQ(get("HistoryCapacity").get<std::uint32_t>(), 500u);

    std::ofstream(config) << "interval = 0.25\nhistory_size = 800\n";
    kill(daemon.process().pid(), SIGHUP);
    EXPECT_TRUE(eventually([&] { return get("PollInterval").get<double>() == 0.25; }, 5s));
    EXPECT_EQ(get("HistoryCapacity").get<std::uint32_t>(), 800u);
    EXPECT_EQ(daemon.process().stop(SIGTERM), 0);
    EXPECT_NE(daemon.process().err().find("reload: interval '0.5' -> '0.25'"), std::string::npos)
        << daemon.process().err();
    EXPECT_NE(daemon.process().err().find("reload: history_capacity '500' -> '800'"), std::string::npos);
}

TEST_F(DbusApiTest, EventsStreamsHostChangesThroughPorteyectl) {
    PortHolder holder;
    Subprocess events(porteyectl({"events", "--json", "--pid", std::to_string(holder.pid())}));
    // The subscription goes live some time after start; nothing tells from outside when,
    // so open a port until one is seen (a change before the match rule is not promised).
    auto seen = [&](std::uint16_t port) {
        return [port](const std::string& out) {
            std::istringstream lines(out);
            for (std::string line; std::getline(lines, line);) {
                auto e = nlohmann::json::parse(line, nullptr, false);
                if (!e.is_discarded() && e["action"] == "added" && e["record"]["local_port"] == port) return true;
            }
            return false;
        };
    };
    bool got = false;
    for (int attempt = 0; attempt < 5 && !got; ++attempt) {
        const auto port = holder.open();
        got = events.waitForOutput(seen(port), 2s);
        holder.close();
    }
    EXPECT_TRUE(got) << events.out() << events.err();
    EXPECT_EQ(events.stop(SIGINT), 0);
}

TEST_F(DbusApiTest, EventsOnDbusAreLiveForAnOrdinaryUserWithTheirOwnSocketsOnly) {
    Subprocess events(asNobody(porteyectl({"events", "--json"})));
    // Live once porteyed has registered the subscription (its log says so, with the uid).
    ASSERT_TRUE(eventually([&] { return m_daemon->log().find("(uid 65534)") != std::string::npos; }, 10s))
        << events.err() << m_daemon->log();

    // Root's listener first, known to porteyed before nobody's opens: had it been sent to
    // nobody, it would arrive before nobody's own.
    PortHolder rootHolder;
    const auto rootPort = rootHolder.open();
    ASSERT_TRUE(eventually([&] { return hasPort(listPorts(), rootPort, rootHolder.pid()); }, 5s));
    Subprocess nobodyListener(nobodyListenerArgv());
    ASSERT_TRUE(nobodyListener.waitForOutput("\n", 5s)) << nobodyListener.err();
    const auto nobodyPort = static_cast<std::uint16_t>(std::stoi(nobodyListener.out()));

    auto added = [](std::uint16_t port) {
        return [port](const std::string& out) {
            std::istringstream lines(out);
            for (std::string line; std::getline(lines, line);) {
                auto e = nlohmann::json::parse(line, nullptr, false);
                if (!e.is_discarded() && e["action"] == "added" && e["record"]["local_port"] == port) return true;
            }
            return false;
        };
    };
    EXPECT_TRUE(events.waitForOutput(added(nobodyPort), 5s)) << events.out() << events.err();
    EXPECT_FALSE(added(rootPort)(events.out())) << "root's listener reached nobody:\n" << events.out();
    EXPECT_EQ(events.out().find("\"uid\":0,"), std::string::npos) << events.out();
    nobodyListener.stop(SIGTERM);
    EXPECT_EQ(events.stop(SIGINT), 0) << events.err();
}

TEST_F(DbusApiTest, SubscribeSendsAnOrdinaryUserItsOwnNewListenerAndNeitherRootsNorTheBroadcasts) {
    auto nobody = subscriber(1, kAsNobody);
    ASSERT_EQ(countLines(nobody->out(), "subscribed /org/porteye/PortEye1/subscription/"), 1u) << nobody->out();
    // Root subscribes too, as a check that the broadcasts do reach root (the policy) and go on.
    auto root = subscriber(1);

    PortHolder rootHolder;
    const auto rootPort = std::to_string(rootHolder.open());
    // Root's listener is known to porteyed, and its events sent, before nobody's opens: had
    // they been sent to nobody, they would arrive first.
    ASSERT_TRUE(root->waitForOutput("PortAdded /org/porteye/PortEye1/subscription/2 port=" + rootPort, 5s))
        << root->out();
    ASSERT_TRUE(root->waitForOutput("signal org.porteye.PortEye1 PortAdded /org/porteye/PortEye1 port=" + rootPort, 5s))
        << root->out();
    Subprocess nobodyListener(nobodyListenerArgv());
    ASSERT_TRUE(nobodyListener.waitForOutput("\n", 5s)) << nobodyListener.err();
    const std::string nobodyPort = std::to_string(std::stoi(nobodyListener.out()));

    EXPECT_TRUE(
        nobody->waitForOutput("signal org.porteye.PortEye1.Subscription PortAdded "
                              "/org/porteye/PortEye1/subscription/1 port=" +
                                  nobodyPort + " uid=65534\n",
                              5s))
        << nobody->out();
    nobodyListener.stop(SIGTERM);
    EXPECT_TRUE(nobody->waitForOutput("PortRemoved /org/porteye/PortEye1/subscription/1 port=" + nobodyPort, 5s))
        << nobody->out();
    EXPECT_EQ(nobody->out().find("port=" + rootPort + " "), std::string::npos) << "root's listener reached nobody";
    EXPECT_EQ(nobody->out().find("signal org.porteye.PortEye1 "), std::string::npos) << "a broadcast reached nobody:\n"
                                                                                     << nobody->out();
    EXPECT_EQ(nobody->out().find(" uid=0\n"), std::string::npos) << nobody->out();
}

TEST_F(DbusApiTest, SubscriptionsAreLimitedPerUserAndFreedWhenTheirClientLeavesTheBus) {
    {
        auto first = subscriber(33, kAsNobody);
        EXPECT_EQ(countLines(first->out(), "subscribed "), 32u) << first->out();
        EXPECT_EQ(countLines(first->out(), "error org.porteye.PortEye1.Error.LimitExceeded"), 1u) << first->out();
        // The quota is per user, not per connection.
        auto second = subscriber(1, kAsNobody);
        EXPECT_EQ(countLines(second->out(), "error org.porteye.PortEye1.Error.LimitExceeded"), 1u) << second->out();
        first->stop(SIGKILL);  // no Stop: only NameOwnerChanged can tell porteyed
    }
    ASSERT_TRUE(eventually([&] { return m_daemon->log().find("32 subscription(s)") != std::string::npos; }, 10s))
        << m_daemon->log();
    auto again = subscriber(32, kAsNobody);
    EXPECT_EQ(countLines(again->out(), "subscribed "), 32u) << again->out();
    // Another ordinary user has a quota of their own.
    auto other = subscriber(1, kAsDaemonUser);
    EXPECT_EQ(countLines(other->out(), "subscribed "), 1u) << other->out();
}

TEST_F(DbusApiTest, AnOrdinaryUserStopsTheirOwnSubscriptionAndGetsItsPlaceBack) {
    // 32, the quota; Stop of the first one; then one more fits.
    auto nobody = subscriber(32, kAsNobody, 1);
    EXPECT_EQ(countLines(nobody->out(), "stopped /org/porteye/PortEye1/subscription/1"), 1u) << nobody->out();
    EXPECT_EQ(countLines(nobody->out(), "subscribed "), 33u) << nobody->out();
    EXPECT_EQ(countLines(nobody->out(), "error "), 0u) << nobody->out();
}

TEST_F(DbusApiTest, RootIsHeldOnlyToTheSubscriptionLimitOfTheWholeDaemon) {
    auto root = subscriber(1025);
    EXPECT_EQ(countLines(root->out(), "subscribed "), 1024u);
    EXPECT_EQ(countLines(root->out(), "error org.porteye.PortEye1.Error.LimitExceeded"), 1u)
        << root->out().substr(root->out().size() - 200);
    auto nobody = subscriber(1, kAsNobody);
    EXPECT_EQ(countLines(nobody->out(), "error org.porteye.PortEye1.Error.LimitExceeded"), 1u) << nobody->out();
}

TEST_F(DbusApiTest, AnotherUserCannotStopSomeoneElsesSubscription) {
    auto nobody = subscriber(1, kAsNobody);
    const std::string path = "/org/porteye/PortEye1/subscription/1";
    ASSERT_EQ(countLines(nobody->out(), "subscribed " + path), 1u) << nobody->out();
    std::vector<std::string> stop = kAsDaemonUser;
    stop.insert(stop.end(), {"gdbus", "call", "--address", bus->address(), "--dest", "org.porteye.PortEye1",
                             "--object-path", path, "--method", "org.porteye.PortEye1.Subscription.Stop"});
    auto refused = run(stop);
    EXPECT_NE(refused.exitCode, 0);
    // The same answer as for a subscription that does not exist.
    EXPECT_NE(refused.err.find("org.porteye.PortEye1.Error.NoSuchWatch"), std::string::npos) << refused.err;

    // Still nobody's, and live.
    Subprocess nobodyListener(nobodyListenerArgv());
    ASSERT_TRUE(nobodyListener.waitForOutput("\n", 5s)) << nobodyListener.err();
    const std::string nobodyPort = std::to_string(std::stoi(nobodyListener.out()));
    EXPECT_TRUE(nobody->waitForOutput("PortAdded " + path + " port=" + nobodyPort, 5s)) << nobody->out();
}

TEST_F(DbusApiTest, SubscribeWithABadFilterIsAnInvalidArgumentForAnyone) {
    for (const std::string filter : {"{'port': <'eighty'>}", "{'colour': <'red'>}"}) {
        std::vector<std::string> argv = kAsNobody;
        argv.insert(argv.end(),
                    {"gdbus", "call", "--address", bus->address(), "--dest", "org.porteye.PortEye1", "--object-path",
                     "/org/porteye/PortEye1", "--method", "org.porteye.PortEye1.Subscribe", filter});
        auto result = run(argv);
        EXPECT_NE(result.exitCode, 0) << filter;
        EXPECT_NE(result.err.find("org.porteye.PortEye1.Error.InvalidArgument"), std::string::npos)
            << filter << ": " << result.err;
    }
    auto good = callManager("Subscribe", {"a{sv}", "1", "port", "q", "80"}, /*asNobody=*/true);
    EXPECT_EQ(good.exitCode, 0) << good.err;
}

TEST_F(DbusApiTest, ExitOfAWatchedProcessIsReportedAtOnceNotAtTheNextStep) {
    PortHolder holder;
    holder.open();
    // A one-hour interval: only the pidfd the daemon polls can end this watch in time.
    Subprocess watch(porteyectl({"watch", std::to_string(holder.pid()), "--interval", "3600"}));
    ASSERT_TRUE(watch.waitForOutput("New ports opened:", 5s)) << watch.err();
    holder.exit();
    auto status = watch.wait(5s);
    ASSERT_TRUE(status) << "the exit was not reported promptly";
    EXPECT_EQ(*status, 4);
    EXPECT_NE(watch.out().find("Ports closed: {"), std::string::npos) << watch.out();
}

TEST(DbusRestart, DaemonReconnectsAfterTheBusRestartsAndKeepsItsHistory) {
    PrivateBus bus(policyFilePath());
    DaemonProcess daemon({"--bus-address", bus.pathAddress(), "--interval", "0.1", "--socket", ""});
    ASSERT_TRUE(daemon.ready()) << daemon.process().err();
    PortHolder holder;
    const auto port = std::to_string(holder.open());
    auto history = [&] {
        auto r = run({"busctl", "--address=" + bus.pathAddress(), "--json=short", "call", "org.porteye.PortEye1",
                      "/org/porteye/PortEye1", "org.porteye.PortEye1", "GetHistory", "a{sv}", "1", "port", "q", port});
        if (r.exitCode != 0) return nlohmann::json::array();
        return nlohmann::json::parse(r.out)["data"][0];
    };
    ASSERT_TRUE(eventually([&] { return history().size() == 1; }, 5s));

    bus.restart();
    EXPECT_TRUE(eventually([&] { return history().size() == 1; }, 10s))
        << "porteyed should be back on the new bus with the event it saw before:\n"
        << daemon.process().err();
    EXPECT_FALSE(daemon.process().wait(0ms)) << "the daemon must not have exited";
    holder.close();
    EXPECT_TRUE(eventually([&] { return history().size() == 2; }, 5s)) << "and it keeps monitoring";
}

TEST_F(DbusApiTest, RecordDetailsCarryTheHoldersCommandLineUserAndUsage) {
    PortHolder holder;
    const auto port = holder.open();
    ASSERT_TRUE(eventually([&] { return hasPort(listPorts(), port, holder.pid()); }, 5s));
    const auto records = listPorts({"a{sv}", "1", "port", "q", std::to_string(port)});
    ASSERT_EQ(records.size(), 1u);
    const auto& details = records[0][12];  // the record's a{sv}: key -> {type, data}
    std::ifstream in("/proc/" + std::to_string(holder.pid()) + "/cmdline", std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string cmdline = text.str();
    while (!cmdline.empty() && cmdline.back() == '\0')
        cmdline.pop_back();
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    ASSERT_TRUE(details.contains("cmdline")) << details.dump();
    EXPECT_EQ(details["cmdline"]["type"], "s");
    EXPECT_EQ(details["cmdline"]["data"], cmdline);
    EXPECT_EQ(details["user"]["type"], "s");
    EXPECT_FALSE(details["user"]["data"].get<std::string>().empty());
    EXPECT_EQ(details["exe"]["type"], "s");
    EXPECT_EQ(details["start_time"]["type"], "t");
    EXPECT_EQ(details["cpu_percent"]["type"], "d");
    EXPECT_EQ(details["memory_rss"]["type"], "t");
    EXPECT_GT(details["memory_rss"]["data"].get<std::uint64_t>(), 0u);

    // porteyectl reads the a{sv} back: the same keys in its JSON.
    const auto viaCtl = run(porteyectl({"--json", "list", "--port", std::to_string(port)}));
    ASSERT_EQ(viaCtl.exitCode, 0) << viaCtl.err;
    const auto j = nlohmann::json::parse(viaCtl.out);
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["cmdline"], cmdline);
    EXPECT_EQ(j[0]["start_time"], details["start_time"]["data"]);

    const auto status = callManager("GetStatus", {});
    ASSERT_EQ(status.exitCode, 0) << status.err;
    EXPECT_EQ(nlohmann::json::parse(status.out)["data"][0]["view"]["data"], "all");
}
