// SPDX-License-Identifier: MIT
// Expected listeners end to end: the real porteyed with an allowlist directory, on a private
// system bus and the control socket; alerts seen as a bus monitor, a JSON-RPC subscriber and
// porteyectl see them. The host is shared: only ports opened here are asserted on.
#include "core/ExpectedListeners.hpp"
#include "wire/Json.hpp"
#include "support/RpcClient.hpp"
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <fstream>
#include <functional>
#include <optional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace porteye::control {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::eventually;
using porteye::testing::PortHolder;
using porteye::testing::PrivateBus;
using porteye::testing::RpcClient;
using porteye::testing::Subprocess;
using porteye::testing::TempDir;

std::string commOf(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

void writeFile(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
}

/// The local port of an UnexpectedListener signal in a line of `busctl --json=short monitor`.
std::optional<std::uint16_t> signalledPort(std::string_view line) {
    if (line.find("\"UnexpectedListener\"") == std::string_view::npos) return std::nullopt;
    auto m = json::parse(line, nullptr, false);
    if (m.is_discarded() || m.value("member", "") != "UnexpectedListener") return std::nullopt;
    return m["payload"]["data"][0][3][5].get<std::uint16_t>();
}

/// Local ports of the UnexpectedListener signals in `busctl --json=short monitor` output.
std::vector<std::uint16_t> signalledPorts(const std::string& out) {
    std::vector<std::uint16_t> ports;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);)
        if (auto port = signalledPort(line)) ports.push_back(*port);
    return ports;
}

/// Local ports of the alerts `porteyectl events --unexpected --json` printed.
std::vector<std::uint16_t> printedPorts(const std::string& out) {
    std::vector<std::uint16_t> ports;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.contains("reason")) ports.push_back(j["record"]["local_port"].get<std::uint16_t>());
    }
    return ports;
}

bool contains(const std::vector<std::uint16_t>& ports, std::uint16_t port) {
    return std::find(ports.begin(), ports.end(), port) != ports.end();
}

class ExpectedListeners : public porteye::testing::DaemonTest {
protected:
    void startRulesDaemon(std::map<std::string, std::string> env = {}, std::vector<std::string> launcher = {}) {
        m_bus = std::make_unique<PrivateBus>(porteye::testing::policyFilePath());
        startDaemon({"--bus-address", m_bus->address(), "--socket", m_path, "--interval", "0.1", "--config",
                     "/dev/null", "--expected-dir", m_rulesDir},
                    std::move(env), std::move(launcher));
    }

    std::vector<std::string> porteyectl(bool viaSocket, std::vector<std::string> args) const {
        std::vector<std::string> argv{porteye::testing::porteyectlPath()};
        if (viaSocket)
            argv.insert(argv.end(), {"--socket", m_path});
        else
            argv.insert(argv.end(), {"--bus-address", m_bus->address()});
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    /// Learns a port nobody listens on (the kernel's pick), and frees it again.
    static std::uint16_t freePort() {
        PortHolder probe;
        const auto port = probe.open();
        probe.close();
        return port;
    }

    /// Reads the subscription's `unexpected` notifications until one for `port`; the ports seen on the way.
    static std::optional<std::vector<std::uint16_t>> alertsUntil(RpcClient& client, std::uint16_t port) {
        std::vector<std::uint16_t> seen;
        auto found = client.waitNotification(
            "unexpected",
            [&](const json& p) {
                seen.push_back(p["record"]["local_port"].get<std::uint16_t>());
                return seen.back() == port;
            },
            10s);
        if (!found) return std::nullopt;
        return seen;
    }

    json status(RpcClient& client) { return client.call("status")["result"]; }

    TempDir m_dir{0755};  // unprivileged clients reach the socket
    TempDir m_rules;
    std::string m_rulesDir = m_rules.path();
    const std::string m_path = m_dir.path() + "/s.sock";
    std::unique_ptr<PrivateBus> m_bus;
};

TEST_F(ExpectedListeners, OnlyTheListenerNoRuleExpectsRaisesTheSignalTheNotificationAndTheCliLine) {
    PortHolder expected;
    const auto portA = freePort();
    writeFile(m_rules.path() + "/a.conf", "# the test's expected service\ntcp 127.0.0.1:" + std::to_string(portA) +
                                              " process=" + core::quoteExpectedValue(commOf(expected.pid())) + "\n");
    startRulesDaemon();

    // Only what the test looks at: on a shared host, porteyed's PortAdded/PortRemoved for other
    // tests' thousands of sockets would bury the alerts (and a monitor that falls behind loses
    // messages: the bus drops them rather than block on it).
    Subprocess monitor({"busctl", "--address=" + m_bus->address(), "--json=short", "monitor",
                        "--match=type='signal',member='UnexpectedListener'",
                        "--match=type='method_call',member='GetStatus'"});
    ASSERT_TRUE(porteye::testing::busMonitorIsLive(monitor, m_bus->address())) << monitor.err();
    RpcClient rpc(m_path);
    ASSERT_TRUE(rpc.connected());
    const auto subscribed = rpc.call("events", {{"unexpected", true}});
    ASSERT_TRUE(subscribed.contains("result")) << subscribed.dump();
    EXPECT_TRUE(status(rpc)["expected_active"].get<bool>());
    EXPECT_EQ(status(rpc)["expected_rules"], 1);
    Subprocess cliSocket(porteyectl(true, {"events", "--unexpected", "--json"}));
    Subprocess cliBus(porteyectl(false, {"events", "--unexpected"}));

    ASSERT_EQ(expected.open(portA), portA);  // the expected listener: silent
    // The clients' subscriptions go live some time after they start, and nothing tells from
    // outside when: open unexpected listeners until both printed one.
    PortHolder rogue;
    std::uint16_t portB = 0;
    bool printed = false;
    for (int attempt = 0; attempt < 10 && !printed; ++attempt) {
        portB = rogue.open();
        printed =
            cliSocket.waitForOutput([&](const std::string& out) { return contains(printedPorts(out), portB); }, 2s) &&
            cliBus.waitForOutput(":" + std::to_string(portB) + " ", 2s);
        rogue.close();
    }
    ASSERT_TRUE(printed) << cliSocket.out() << cliSocket.err() << cliBus.out() << cliBus.err();
    EXPECT_NE(cliBus.out().find("no rule for tcp port " + std::to_string(portB)), std::string::npos) << cliBus.out();

    // B raised the signal and the notification, A (opened before any B) neither.
    auto seen = alertsUntil(rpc, portB);
    ASSERT_TRUE(seen) << m_daemon->log();
    EXPECT_FALSE(contains(*seen, portA));
    ASSERT_TRUE(monitor.waitForLine([&](std::string_view line) { return signalledPort(line) == portB; }, 10s))
        << "port " << portB << "; porteyectl over D-Bus printed:\n"
        << cliBus.out() << "\nthe bus monitor:\n"
        << monitor.out();
    EXPECT_FALSE(contains(signalledPorts(monitor.out()), portA)) << monitor.out();
    EXPECT_FALSE(contains(printedPorts(cliSocket.out()), portA)) << cliSocket.out();
    // The warning (a journal entry under systemd; on stderr here).
    EXPECT_NE(m_daemon->log().find("unexpected listener: tcp 127.0.0.1:" + std::to_string(portB)), std::string::npos);
    EXPECT_EQ(m_daemon->log().find("unexpected listener: tcp 127.0.0.1:" + std::to_string(portA) + " "),
              std::string::npos);

    // The expected service restarts: same port, new process. Still silent; a later rogue is not.
    expected.exit();
    PortHolder restarted;
    ASSERT_EQ(restarted.open(portA), portA);
    PortHolder rogue2;
    const auto portC = rogue2.open();
    seen = alertsUntil(rpc, portC);
    ASSERT_TRUE(seen) << m_daemon->log();
    EXPECT_FALSE(contains(*seen, portA));
    ASSERT_TRUE(monitor.waitForLine([&](std::string_view line) { return signalledPort(line) == portC; }, 10s));
    EXPECT_FALSE(contains(signalledPorts(monitor.out()), portA)) << monitor.out();
    EXPECT_GE(status(rpc)["unexpected_listeners"].get<std::uint64_t>(), 1u);  // C is open

    EXPECT_EQ(cliSocket.stop(SIGINT), 0);
    EXPECT_EQ(cliBus.stop(SIGINT), 0);
}

TEST_F(ExpectedListeners, SighupReloadPicksUpANewRule) {
    writeFile(m_rules.path() + "/a.conf", "tcp *:1\n");
    startRulesDaemon();
    RpcClient rpc(m_path);
    ASSERT_TRUE(rpc.call("events", {{"unexpected", true}}).contains("result"));
    PortHolder rogue;
    const auto portB = rogue.open();
    ASSERT_TRUE(alertsUntil(rpc, portB)) << m_daemon->log();
    const auto totalBefore = status(rpc)["unexpected_total"].get<std::uint64_t>();

    // Allow B (and a bad line, which is skipped and logged with its file and line); reload.
    writeFile(m_rules.path() + "/b.conf", "tcp 127.0.0.1:" + std::to_string(portB) + "\ntcp nonsense\n");
    ASSERT_EQ(::kill(m_daemon->process().pid(), SIGHUP), 0);
    ASSERT_TRUE(eventually([&] { return status(rpc)["expected_rules"] == 2; }, 10s)) << m_daemon->log();
    EXPECT_NE(m_daemon->log().find("b.conf:2: "), std::string::npos) << m_daemon->log();
    const auto shown = porteye::testing::run(porteyectl(true, {"status"}));
    EXPECT_NE(shown.out.find("expected:       2 rules, "), std::string::npos) << shown.out;
    // B is expected now: it left the set without an alert, and reopening it is silent (the
    // alerts up to C's hold none for B; the host-wide total also counts other tests' listeners).
    EXPECT_GE(status(rpc)["unexpected_total"].get<std::uint64_t>(), totalBefore);
    rogue.close();
    ASSERT_EQ(rogue.open(portB), portB);
    PortHolder other;
    const auto portC = other.open();
    auto seen = alertsUntil(rpc, portC);
    ASSERT_TRUE(seen) << m_daemon->log();
    EXPECT_FALSE(contains(*seen, portB));
}

TEST_F(ExpectedListeners, OneUsersFloodOfAlertsIsHeldBackPerUidWhileRootsGetThroughAndCountsStayExact) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a user's listeners as nobody";
    writeFile(m_rules.path() + "/a.conf", "tcp *:1\n");
    startRulesDaemon();
    RpcClient rpc(m_path);
    const auto totalBefore = status(rpc)["unexpected_total"].get<std::uint64_t>();
    // nobody opens 300 unexpected listeners at once.
    Subprocess flood({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c",
                      "import socket, time\n"
                      "held = []\n"
                      "for i in range(300):\n"
                      "    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); held.append(s)\n"
                      "print('ready', flush=True); time.sleep(120)"});
    ASSERT_TRUE(flood.waitForOutput("ready\n", 20s)) << flood.err();
    // Every one of them is counted...
    ASSERT_TRUE(
        eventually([&] { return status(rpc)["unexpected_total"].get<std::uint64_t>() >= totalBefore + 300; }, 20s))
        << status(rpc);
    // ...and root's own listener, opened after the flood, is still told at once.
    PortHolder rootListener;
    const auto rootPort = rootListener.open();
    const std::string rootLine = "unexpected listener: tcp 127.0.0.1:" + std::to_string(rootPort) + " ";
    ASSERT_TRUE(eventually([&] { return m_daemon->log().find(rootLine) != std::string::npos; }, 10s))
        << m_daemon->log();
    // The journal (stderr here) got a burst of nobody's, then a summary of the rest.
    ASSERT_TRUE(eventually(
        [&] {
            return m_daemon->log().find(" unexpected-listener alerts for uid 65534 held back") != std::string::npos;
        },
        15s))
        << m_daemon->log();
    const std::string log = m_daemon->log();
    std::size_t told = 0;
    for (auto at = log.find("unexpected listener: "); at != std::string::npos;
         at = log.find("unexpected listener: ", at + 1))
        if (log.find("(python3)", at) < log.find('\n', at)) ++told;
    EXPECT_LE(told, 40U) << "alerts of one user were not held back";
    std::cout << "nobody's 300 unexpected listeners: " << told << " alerts told, the rest summarised\n";
    flood.stop(SIGKILL);
}

TEST_F(ExpectedListeners, AMissingDirectoryMeansNoAlerts) {
    m_rulesDir = m_dir.path() + "/absent";
    startRulesDaemon();
    RpcClient rpc(m_path);
    EXPECT_FALSE(status(rpc)["expected_active"].get<bool>());
    ASSERT_TRUE(rpc.call("events", {{"listening", true}}).contains("result"));  // events and alerts
    PortHolder holder;
    const auto port = holder.open();
    ASSERT_TRUE(rpc.waitNotification("event", [&](const json& p) { return p["record"]["local_port"] == port; }));
    // An alert would follow its event in the same loop turn, before the reply to this request.
    ASSERT_TRUE(rpc.sendRaw(R"({"jsonrpc":"2.0","id":"after","method":"status"})"
                            "\n"));
    for (;;) {
        auto message = rpc.read();
        ASSERT_TRUE(message);
        EXPECT_NE((*message).value("method", ""), "unexpected") << message->dump();
        if ((*message).value("id", json()) == "after") {
            EXPECT_EQ((*message)["result"]["unexpected_total"], 0);
            break;
        }
    }
}

TEST_F(ExpectedListeners, AnUnprivilegedSubscriberGetsTheAlertsOfItsOwnSocketsOnly) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run clients as nobody";
    writeFile(m_rules.path() + "/a.conf", "tcp *:1\n");
    startRulesDaemon();
    const std::vector<std::string> asNobody{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
    auto nobodyListener = [&] {
        auto argv = asNobody;
        argv.insert(argv.end(), {"/usr/bin/python3", "-c",
                                 "import socket, time\n"
                                 "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                                 "print(s.getsockname()[1], flush=True); time.sleep(60)"});
        auto process = std::make_unique<Subprocess>(argv);
        EXPECT_TRUE(process->waitForOutput("\n", 10s)) << process->err();
        return process;
    };
    auto portOf = [](Subprocess& p) { return static_cast<std::uint16_t>(std::strtoul(p.out().c_str(), nullptr, 10)); };
    // The same stream over the control socket and over D-Bus (a Subscribe subscription).
    std::vector<std::unique_ptr<Subprocess>> watchers;
    for (const bool viaSocket : {true, false}) {
        auto argv = asNobody;
        auto cli = porteyectl(viaSocket, {"events", "--unexpected", "--json"});
        argv.insert(argv.end(), cli.begin(), cli.end());
        watchers.push_back(std::make_unique<Subprocess>(argv));
    }
    auto allPrinted = [&](std::uint16_t port, std::chrono::milliseconds timeout) {
        bool all = true;
        for (auto& watcher : watchers)
            all &= watcher->waitForOutput([&](const std::string& out) { return contains(printedPorts(out), port); },
                                          timeout);
        return all;
    };

    // Its own listener, until both subscriptions are live.
    std::unique_ptr<Subprocess> own;
    bool printed = false;
    for (int attempt = 0; attempt < 10 && !printed; ++attempt) {
        own = nobodyListener();
        printed = allPrinted(portOf(*own), 2s);
    }
    ASSERT_TRUE(printed) << watchers[0]->out() << watchers[0]->err() << watchers[1]->out() << watchers[1]->err();
    // root's listener, then another of its own: each sees the second, never root's.
    PortHolder rootListener;
    const auto rootPort = rootListener.open();
    auto second = nobodyListener();
    ASSERT_TRUE(allPrinted(portOf(*second), 10s)) << watchers[0]->out() << watchers[1]->out();
    for (auto& watcher : watchers) {
        EXPECT_FALSE(contains(printedPorts(watcher->out()), rootPort)) << watcher->out();
        // Its own alerts show its own process.
        EXPECT_NE(watcher->out().find("\"process\":\"python3\""), std::string::npos) << watcher->out();
        EXPECT_EQ(watcher->stop(SIGINT), 0) << watcher->err();
    }
}

TEST_F(ExpectedListeners, TheJournalEntryCarriesItsMessageIdAndFields) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for a private mount namespace";
    // journald stands in: porteyed runs in a mount namespace of its own where
    // /run/systemd/journal/socket is this test's datagram socket, and sends there what it
    // would send to journald (the native protocol: KEY=value lines). /run itself gets a tmpfs of
    // the namespace's own: a container, chroot or CI image may have no /run/systemd to mount over,
    // and nothing is created on the host's /run.
    TempDir journal(0755);
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string socketPath = journal.path() + "/socket";
    std::strncpy(addr.sun_path, socketPath.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    // Read the socket all the time, as journald does: the daemon's first entries (one per
    // listener already open, of which a busy host has many) come before READY=1, and a datagram
    // socket that holds net.unix.max_dgram_qlen unread messages blocks the sender.
    std::mutex entriesLock;
    std::vector<std::string> entries;
    std::atomic<bool> reading{true};
    std::thread reader([&] {
        std::vector<char> buffer(1 << 20);
        while (reading) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const auto n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
            if (n <= 0) continue;
            std::lock_guard lock(entriesLock);
            entries.emplace_back(buffer.data(), static_cast<std::size_t>(n));
        }
    });
    // Stop porteyed while the socket is still read: its last entries must not block it either.
    struct Finally {
        std::function<void()> run;
        ~Finally() { run(); }
    } stopAll{[&] {
        stopDaemon();
        reading = false;
        reader.join();
        ::close(fd);
    }};
    PortHolder expected;
    const auto portA = freePort();
    writeFile(m_rules.path() + "/a.conf", "tcp 127.0.0.1:" + std::to_string(portA) + "\n");
    startRulesDaemon({{"FAKE_JOURNAL_DIR", journal.path()}},
                     {"unshare", "--mount", "--propagation", "private", "sh", "-c",
                      "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && "
                      "mount --bind \"$FAKE_JOURNAL_DIR\" /run/systemd/journal && exec \"$0\" \"$@\""});
    ASSERT_EQ(expected.open(portA), portA);
    PortHolder rogue;
    const auto portB = rogue.open();

    // The unexpected-listener entry for `port`, not the listener's own (journal_events = listeners).
    auto entryFor = [&](std::uint16_t port) -> std::optional<std::string> {
        std::lock_guard lock(entriesLock);
        for (const auto& e : entries)
            if (e.find("\nPORTEYE_PORT=" + std::to_string(port) + "\n") != std::string::npos &&
                e.find("MESSAGE_ID=f2171843a52249f9a437052bbbf08f86") != std::string::npos)
                return e;
        return std::nullopt;
    };
    ASSERT_TRUE(eventually([&] { return entryFor(portB).has_value(); }, 10s)) << m_daemon->log();
    const std::string entry = "\n" + *entryFor(portB);
    const std::vector<std::string> fields{"MESSAGE_ID=f2171843a52249f9a437052bbbf08f86",
                                          "PRIORITY=4",
                                          "PORTEYE_ACTION=unexpected",
                                          "PORTEYE_PROTOCOL=tcp",
                                          "PORTEYE_LOCAL_ADDRESS=127.0.0.1",
                                          "PORTEYE_PID=" + std::to_string(rogue.pid()),
                                          "PORTEYE_PROCESS=" + commOf(rogue.pid()),
                                          "PORTEYE_PRESENT=0",
                                          "PORTEYE_REASON=no rule for tcp port",
                                          "MESSAGE=unexpected listener: tcp 127.0.0.1:" + std::to_string(portB)};
    for (const auto& field : fields)
        EXPECT_NE(entry.find("\n" + field), std::string::npos) << field << " in" << entry;
    // The same builder as the port events' entries: PORTEYE_UID, PORTEYE_SEQUENCE; no empty fields.
    for (const char* field : {"PORTEYE_UID=", "PORTEYE_SEQUENCE="})
        EXPECT_NE(entry.find(std::string("\n") + field), std::string::npos) << field << " in" << entry;
    EXPECT_EQ(entry.find("=\n"), std::string::npos) << entry;
    EXPECT_FALSE(entryFor(portA).has_value());  // the expected one: no entry
}

TEST_F(ExpectedListeners, SnapshotWritesRulesTheParserReadsBackAndTheListenersMatch) {
    startRulesDaemon();
    PortHolder holder;
    const auto port = holder.open();
    const auto udp = holder.openUdp();
    RpcClient rpc(m_path);
    ASSERT_TRUE(eventually([&] {
        auto listed = rpc.call("list", {{"pid", holder.pid()}})["result"];
        return listed.is_array() && listed.size() == 2;
    }));
    const std::string file = m_dir.path() + "/snapshot.conf";
    auto result = porteye::testing::run(porteyectl(true, {"expect", "--snapshot", "--output", file}));
    ASSERT_EQ(result.exitCode, 0) << result.err;
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str().rfind("# Expected listeners of ", 0), 0u) << text.str();

    auto parsed = core::parseExpectedRules(text.str(), file);
    EXPECT_TRUE(parsed.errors.empty()) << parsed.errors.front();
    core::ExpectedListeners rules;
    rules.add(parsed);
    EXPECT_TRUE(parsed.warnings.empty()) << parsed.warnings.front();  // one rule per distinct listener
    const json listed = rpc.call("list", {{"pid", holder.pid()}});    // kept: the loop reads into it
    for (const auto& j : listed["result"]) {
        const auto record = protocol::recordFromJson(j);
        const auto* rule = rules.match(record);
        ASSERT_NE(rule, nullptr) << j.dump();
        EXPECT_EQ(rule->portLow, record.localPort);
        EXPECT_EQ(rule->process, record.process);
    }
    EXPECT_NE(text.str().find("tcp 127.0.0.1:" + std::to_string(port) + " process="), std::string::npos);
    EXPECT_NE(text.str().find("udp 127.0.0.1:" + std::to_string(udp) + " process="), std::string::npos);

    // The same through D-Bus, to stdout.
    auto viaBus = porteye::testing::run(porteyectl(false, {"expect", "--snapshot"}));
    ASSERT_EQ(viaBus.exitCode, 0) << viaBus.err;
    EXPECT_NE(viaBus.out.find("tcp 127.0.0.1:" + std::to_string(port) + " process="), std::string::npos);
}

}  // namespace
}  // namespace porteye::control
