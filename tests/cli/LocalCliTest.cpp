// SPDX-License-Identifier: MIT
// porteyectl as a user runs it, without a daemon (--local): the real binary,
// real sockets on loopback, compared with what ss reports for the same sockets.
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <set>
#include <sstream>
#include <tuple>

using namespace porteye::testing;
using namespace std::chrono_literals;

namespace {

/// (protocol, pid, local port, remote port, state) — what the bar says porteye and ss must agree on.
using Row = std::tuple<std::string, std::uint32_t, std::uint16_t, std::uint16_t, std::string>;

/// ss's state name as porteye's JSON spells it: kernel names, and UNCONN for bound UDP.
std::string normalizeSsState(const std::string& netid, const std::string& s) {
    static const std::map<std::string, std::string> names = {
        {"ESTAB", "ESTABLISHED"}, {"LISTEN", "LISTEN"},     {"TIME-WAIT", "TIME_WAIT"},  {"CLOSE-WAIT", "CLOSE_WAIT"},
        {"SYN-SENT", "SYN_SENT"}, {"SYN-RECV", "SYN_RECV"}, {"FIN-WAIT-1", "FIN_WAIT1"}, {"FIN-WAIT-2", "FIN_WAIT2"},
        {"LAST-ACK", "LAST_ACK"}, {"CLOSING", "CLOSING"},   {"UNCONN", "CLOSE"}};
    if (netid == "udp" && s == "UNCONN") return s;
    auto it = names.find(s);
    return it == names.end() ? s : it->second;
}

std::uint16_t portOf(const std::string& endpoint) {
    const auto colon = endpoint.rfind(':');
    return endpoint.substr(colon + 1) == "*" ? 0 : static_cast<std::uint16_t>(std::stoi(endpoint.substr(colon + 1)));
}

/// Rows of `ss -tuanpH` touching one of `ports`; a socket with several owners yields a row per owner.
std::set<Row> ssRows(const std::set<std::uint16_t>& ports) {
    auto result = run({"ss", "-tuanpH"});
    EXPECT_EQ(result.exitCode, 0) << result.err;
    std::set<Row> rows;
    std::istringstream lines(result.out);
    const std::regex pidPattern("pid=(\\d+)");
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string netid, state, recvq, sendq, local, peer;
        fields >> netid >> state >> recvq >> sendq >> local >> peer;
        const auto lport = portOf(local);
        const auto rport = portOf(peer);
        if (!ports.contains(lport) && !ports.contains(rport)) continue;
        std::set<std::uint32_t> pids;
        for (std::sregex_iterator it(line.begin(), line.end(), pidPattern), end; it != end; ++it)
            pids.insert(static_cast<std::uint32_t>(std::stoul((*it)[1])));
        if (pids.empty()) pids.insert(0);
        for (auto pid : pids)
            rows.insert({netid, pid, lport, rport, normalizeSsState(netid, state)});
    }
    return rows;
}

std::set<Row> porteyeRows(const std::string& json, const std::set<std::uint16_t>& ports) {
    std::set<Row> rows;
    for (const auto& r : nlohmann::json::parse(json)) {
        const auto lport = r["local_port"].get<std::uint16_t>();
        const auto rport = r["remote_port"].get<std::uint16_t>();
        if (!ports.contains(lport) && !ports.contains(rport)) continue;
        rows.insert({r["protocol"].get<std::string>(), r["pid"].get<std::uint32_t>(), lport, rport,
                     r["state"].get<std::string>()});
    }
    return rows;
}

int connectTo(std::uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect failed");
    return fd;
}

std::uint16_t localPort(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
}

int listenAny() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 8) != 0)
        throw std::runtime_error("listen failed");
    return fd;
}

/// A UDP socket of this process on 127.0.0.1, connected to `peer` when non-zero.
int udpSocket(std::uint16_t peer = 0) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind failed");
    addr.sin_port = htons(peer);
    if (peer != 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("connect failed");
    return fd;
}

}  // namespace

TEST(LocalList, UdpAgreesWithSsTuanpBoundAsUnconnAndConnectedAsEstablished) {
    PortHolder holder;                       // another process with a bound UDP socket and a TCP listener
    const auto bound = holder.openUdp();     // UNCONN
    const auto listenPort = holder.open();   // LISTEN
    const int connected = udpSocket(bound);  // this process: ESTAB to the holder's socket
    const std::set<std::uint16_t> ports{bound, listenPort, localPort(connected)};

    auto listed = run({porteyectlPath(), "list", "--local", "--json"});
    ASSERT_EQ(listed.exitCode, 0) << listed.err;
    const auto mine = porteyeRows(listed.out, ports);
    EXPECT_EQ(mine, ssRows(ports));
    const auto holderPid = static_cast<std::uint32_t>(holder.pid());
    const auto self = static_cast<std::uint32_t>(getpid());
    EXPECT_TRUE(mine.contains(Row{"udp", holderPid, bound, 0, "UNCONN"}));
    EXPECT_TRUE(mine.contains(Row{"udp", self, localPort(connected), bound, "ESTABLISHED"}));
    EXPECT_TRUE(mine.contains(Row{"tcp", holderPid, listenPort, 0, "LISTEN"}));

    // --listening is ss -l: the TCP listener and the bound UDP socket, not the connected one.
    auto listening = run({porteyectlPath(), "list", "--local", "--json", "--listening"});
    ASSERT_EQ(listening.exitCode, 0) << listening.err;
    EXPECT_EQ(porteyeRows(listening.out, ports),
              (std::set<Row>{{"udp", holderPid, bound, 0, "UNCONN"}, {"tcp", holderPid, listenPort, 0, "LISTEN"}}));

    auto udpOnly = run({porteyectlPath(), "list", "--local", "--json", "--protocol", "udp"});
    ASSERT_EQ(udpOnly.exitCode, 0) << udpOnly.err;
    for (const auto& r : nlohmann::json::parse(udpOnly.out))
        ASSERT_EQ(r["protocol"], "udp") << r.dump();
    EXPECT_EQ(porteyeRows(udpOnly.out, ports).size(), 2u);

    auto unconn =
        run({porteyectlPath(), "list", "--local", "--json", "--state", "UNCONN", "--port", std::to_string(bound)});
    ASSERT_EQ(unconn.exitCode, 0) << unconn.err;
    EXPECT_EQ(porteyeRows(unconn.out, ports), (std::set<Row>{{"udp", holderPid, bound, 0, "UNCONN"}}));

    // The table speaks ss: Netid udp, state UNCONN / ESTAB.
    auto table = run({porteyectlPath(), "list", "--local", "--protocol", "udp", "--port", std::to_string(bound)});
    ASSERT_EQ(table.exitCode, 0) << table.err;
    EXPECT_TRUE(std::regex_search(table.out, std::regex("udp +UNCONN +127\\.0\\.0\\.1:" + std::to_string(bound))))
        << table.out;
    EXPECT_TRUE(
        std::regex_search(table.out, std::regex("udp +ESTAB +127\\.0\\.0\\.1:" + std::to_string(localPort(connected)))))
        << table.out;
    EXPECT_EQ(run({porteyectlPath(), "list", "--local", "--protocol", "sctp"}).exitCode, 2);
    ::close(connected);
}

TEST(LocalList, JsonAgreesWithSsForListenerConnectionAndForkedOwner) {
    PortHolder holder;  // another process with a listener
    const auto listenPort = holder.open();
    const int client = connectTo(listenPort);  // its server side waits in the accept queue, owned by nobody yet
    const int shared = listenAny();            // then shared with a forked child: two owners
    int hold[2];
    ASSERT_EQ(pipe(hold), 0);
    const pid_t child = fork();
    if (child == 0) {
        char c;
        ::close(hold[1]);
        (void)!read(hold[0], &c, 1);
        _exit(0);
    }
    ::close(hold[0]);
    const std::set<std::uint16_t> ports{listenPort, localPort(client), localPort(shared)};

    auto listed = run({porteyectlPath(), "list", "--local", "--json"});
    ASSERT_EQ(listed.exitCode, 0) << listed.err;
    const auto mine = porteyeRows(listed.out, ports);
    const auto theirs = ssRows(ports);

    EXPECT_EQ(mine, theirs);
    EXPECT_TRUE(mine.contains(Row{"tcp", static_cast<std::uint32_t>(holder.pid()), listenPort, 0, "LISTEN"}));
    EXPECT_TRUE(
        mine.contains(Row{"tcp", static_cast<std::uint32_t>(getpid()), localPort(client), listenPort, "ESTABLISHED"}));
    EXPECT_TRUE(mine.contains(Row{"tcp", static_cast<std::uint32_t>(getpid()), localPort(shared), 0, "LISTEN"}));
    EXPECT_TRUE(mine.contains(Row{"tcp", static_cast<std::uint32_t>(child), localPort(shared), 0, "LISTEN"}))
        << "the forked child is an owner too";
    EXPECT_TRUE(mine.contains(Row{"tcp", 0, listenPort, localPort(client), "ESTABLISHED"}))
        << "accept queue: no owner yet";

    ::close(hold[1]);
    waitpid(child, nullptr, 0);
    ::close(client);
    ::close(shared);
}

TEST(LocalList, PidFilterAndJsonKeysAreExactlyTheDocumentedOnes) {
    PortHolder holder;
    const auto port = holder.open();
    auto listed = run({porteyectlPath(), "list", "--pid", std::to_string(holder.pid()), "--local", "--json"});
    ASSERT_EQ(listed.exitCode, 0) << listed.err;
    const auto records = nlohmann::json::parse(listed.out);
    ASSERT_EQ(records.size(), 1u) << listed.out;
    const auto& r = records[0];
    for (const char* key : {"pid", "process", "protocol", "family", "local_address", "local_port", "remote_address",
                            "remote_port", "state", "inode", "uid"})
        EXPECT_TRUE(r.contains(key)) << key;
    EXPECT_EQ(r["protocol"], "tcp");
    EXPECT_EQ(r["family"], 4);
    EXPECT_EQ(r["local_port"], port);
    EXPECT_EQ(r["state"], "LISTEN");
    EXPECT_EQ(r["uid"], getuid());
}

TEST(LocalList, TableLooksLikeSsWithoutColoursWhenNotATerminal) {
    PortHolder holder;
    const auto port = holder.open();
    auto listed = run({porteyectlPath(), "list", "--local", "--port", std::to_string(port)});
    ASSERT_EQ(listed.exitCode, 0) << listed.err;
    EXPECT_EQ(listed.out.find("\033["), std::string::npos) << "no escape codes into a pipe";
    EXPECT_NE(listed.out.find("Local Address:Port"), std::string::npos);
    EXPECT_NE(listed.out.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("pid=" + std::to_string(holder.pid())), std::string::npos) << listed.out;
}

TEST(LocalWatch, PrintsTheSeedsLinesForAPortOpenedAndClosedByAnotherProcess) {
    PortHolder holder;
    Subprocess watch({porteyectlPath(), "watch", std::to_string(holder.pid()), "--local", "--interval", "0.2"});
    ASSERT_TRUE(watch.waitForOutput("Monitoring active ports for PID " + std::to_string(holder.pid()) +
                                        " every 0.2 second(s). Press Ctrl+C to stop.\n",
                                    5s))
        << watch.err();
    const auto port = std::to_string(holder.open());
    EXPECT_TRUE(watch.waitForOutput("New ports opened: {" + port + "}\nActive ports: {" + port + "}\n", 5s))
        << watch.out();
    const auto second = std::to_string(holder.open());
    const auto both = std::min(port, second, [](auto& a, auto& b) { return std::stoi(a) < std::stoi(b); }) + ", " +
                      std::max(port, second, [](auto& a, auto& b) { return std::stoi(a) < std::stoi(b); });
    EXPECT_TRUE(watch.waitForOutput("New ports opened: {" + second + "}\nActive ports: {" + both + "}\n", 5s))
        << watch.out();
    holder.close();
    EXPECT_TRUE(watch.waitForOutput("Ports closed: {" + second + "}\nActive ports: {" + port + "}\n", 5s))
        << watch.out();
    EXPECT_EQ(watch.stop(SIGINT), 0) << "Ctrl+C is a normal end";
}

TEST(LocalWatch, UdpPortsAreOpenedAndClosedUnlessProtocolTcpIsAsked) {
    PortHolder holder;
    Subprocess watch({porteyectlPath(), "watch", std::to_string(holder.pid()), "--local", "--interval", "0.1"});
    Subprocess tcpOnly(
        {porteyectlPath(), "watch", std::to_string(holder.pid()), "--local", "--interval", "0.1", "--protocol", "tcp"});
    ASSERT_TRUE(watch.waitForOutput("Press Ctrl+C to stop.\n", 5s)) << watch.err();
    ASSERT_TRUE(tcpOnly.waitForOutput("Press Ctrl+C to stop.\n", 5s)) << tcpOnly.err();
    const auto udp = std::to_string(holder.openUdp());
    EXPECT_TRUE(watch.waitForOutput("New ports opened: {" + udp + "}\nActive ports: {" + udp + "}\n", 5s))
        << watch.out();
    // Then a TCP port: the TCP-only watch sees it alone, which shows it has looked since the UDP one.
    const auto tcp = std::to_string(holder.open());
    EXPECT_TRUE(tcpOnly.waitForOutput("New ports opened: {" + tcp + "}\nActive ports: {" + tcp + "}\n", 5s))
        << tcpOnly.out();
    holder.close();  // the TCP listener
    holder.close();  // the UDP socket
    EXPECT_TRUE(watch.waitForOutput("Active ports: set()\n", 5s)) << watch.out();
    EXPECT_EQ(watch.stop(SIGINT), 0);
    EXPECT_EQ(tcpOnly.stop(SIGINT), 0);
    EXPECT_EQ(tcpOnly.out().find(udp), std::string::npos) << tcpOnly.out();
}

TEST(LocalWatch, IntervalIsPrintedAsPythonWouldAndJsonHasOneObjectPerChange) {
    PortHolder holder;
    Subprocess watch({porteyectlPath(), "watch", std::to_string(holder.pid()), "--local", "--interval", "1", "--json"});
    const auto port = holder.open();
    ASSERT_TRUE(watch.waitForOutput("\n", 5s)) << watch.err();
    const auto change = nlohmann::json::parse(watch.out().substr(0, watch.out().find('\n')));
    EXPECT_EQ(change["new_ports"], nlohmann::json::array({port}));
    EXPECT_EQ(change["active_ports"], nlohmann::json::array({port}));
    EXPECT_EQ(change["events"][0]["record"]["local_port"], port);
    EXPECT_EQ(watch.stop(SIGTERM), 0);

    Subprocess plain({porteyectlPath(), "watch", std::to_string(holder.pid()), "--local", "--interval", "1"});
    EXPECT_TRUE(plain.waitForOutput("every 1.0 second(s).", 5s)) << plain.out();
}

TEST(LocalWatch, ExitOfTheWatchedProcessEndsWithStatus4AndMissingPidWith3) {
    PortHolder holder;
    Subprocess watch({porteyectlPath(), "watch", std::to_string(holder.pid()), "--local", "--interval", "0.1"});
    ASSERT_TRUE(watch.waitForOutput("Monitoring", 5s));
    holder.exit();
    auto status = watch.wait(5s);
    ASSERT_TRUE(status);
    EXPECT_EQ(*status, 4);
    EXPECT_NE(watch.err().find("exited"), std::string::npos) << watch.err();

    auto missing = run({porteyectlPath(), "watch", "4000000000", "--local"});
    EXPECT_EQ(missing.exitCode, 3);
    EXPECT_NE(missing.err.find("no process"), std::string::npos) << missing.err;
}

TEST(Cli, UnreachableDaemonNamesItAndSuggestsLocal) {
    auto result = run({porteyectlPath(), "list", "--bus-address", "unix:path=/nonexistent/bus"});
    EXPECT_EQ(result.exitCode, 5) << result.err;
    EXPECT_NE(result.err.find("porteyed"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("systemctl start porteyed"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("--local"), std::string::npos) << result.err;
}

TEST(Cli, BadArgumentsGiveUsageStatus) {
    EXPECT_EQ(run({porteyectlPath(), "watch"}).exitCode, 2);
    EXPECT_EQ(run({porteyectlPath(), "watch", "1", "--interval", "fast", "--local"}).exitCode, 2);
    EXPECT_EQ(run({porteyectlPath(), "list", "--state", "SLEEPING", "--local"}).exitCode, 2);
    EXPECT_EQ(run({porteyectlPath(), "frobnicate"}).exitCode, 2);
}

TEST(Cli, ColoursOnlyOnATerminalAndNeverWithNoColor) {
    PortHolder holder;
    const auto port = std::to_string(holder.open());
    // script(1) gives porteyectl a real terminal as stdout.
    const std::string command = porteyectlPath() + " list --local --listening --port " + port;
    auto onTty = run({"script", "-qec", command, "/dev/null"});
    ASSERT_EQ(onTty.exitCode, 0) << onTty.err;
    EXPECT_NE(onTty.out.find("\033["), std::string::npos) << "a terminal gets colours";
    auto noColor = run({"script", "-qec", command, "/dev/null"}, {{"NO_COLOR", "1"}});
    ASSERT_EQ(noColor.exitCode, 0) << noColor.err;
    EXPECT_EQ(noColor.out.find("\033["), std::string::npos) << "NO_COLOR wins over the terminal";
    EXPECT_NE(noColor.out.find(":" + port), std::string::npos) << noColor.out;
}
