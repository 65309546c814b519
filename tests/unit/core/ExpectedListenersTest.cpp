// SPDX-License-Identifier: MIT
// The expected-listeners allowlist: text in, rules out, never a throw; and the tracker that
// turns events into one alert per unexpected socket.
#include "core/ExpectedListeners.hpp"
#include "core/SnapshotDiff.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace porteye::core;

namespace {

SocketRecord listener(Protocol protocol, std::string address, std::uint16_t port, std::string process,
                      std::uint64_t cookie, std::uint32_t pid = 100) {
    SocketRecord r;
    r.protocol = protocol;
    r.family = address.find(':') != std::string::npos ? 6 : 4;
    r.localAddress = std::move(address);
    r.remoteAddress = r.family == 6 ? "::" : "0.0.0.0";
    r.localPort = port;
    r.state = protocol == Protocol::Tcp ? TcpState::Listen : TcpState::Close;
    r.cookie = cookie;
    r.inode = cookie + 1000;
    r.pid = pid;
    r.process = std::move(process);
    return r;
}

SocketRecord withDetails(SocketRecord r, std::string unit, std::string containerName = {},
                         std::string containerId = {}) {
    auto d = std::make_shared<ProcessDetails>();
    d->unit = std::move(unit);
    d->containerName = std::move(containerName);
    d->containerId = std::move(containerId);
    if (!d->containerId.empty() || !d->containerName.empty()) d->containerRuntime = "docker";
    r.details = d;
    return r;
}

ExpectedListeners load(std::string_view text) {
    auto parsed = parseExpectedRules(text, "test.conf");
    EXPECT_TRUE(parsed.errors.empty()) << parsed.errors.front();
    ExpectedListeners rules;
    rules.add(parsed);
    return rules;
}

PortEvent added(const SocketRecord& r, std::uint64_t sequence = 1) {
    return PortEvent{sequence, Action::Added, WallTime{}, r};
}

}  // namespace

TEST(ExpectedRules, ParsesTheDocumentedExamples) {
    auto parsed = parseExpectedRules(
        "# comment line\n"
        "tcp 0.0.0.0:22 process=sshd unit=ssh.service   # trailing comment\n"
        "\n"
        "udp *:53 container=dns\n"
        "tcp [::]:8000-8099\n"
        "tcp 127.0.0.1:* netns=blue\n",
        "/etc/porteye/expected.d/base.conf");
    ASSERT_TRUE(parsed.errors.empty()) << parsed.errors.front();
    ASSERT_EQ(parsed.rules.size(), 4u);
    const auto& ssh = parsed.rules[0];
    EXPECT_EQ(ssh.protocol, Protocol::Tcp);
    EXPECT_EQ(ssh.address, "0.0.0.0");
    EXPECT_EQ(ssh.portLow, 22);
    EXPECT_EQ(ssh.portHigh, 22);
    EXPECT_EQ(ssh.process, "sshd");
    EXPECT_EQ(ssh.unit, "ssh.service");
    EXPECT_EQ(ssh.source, "/etc/porteye/expected.d/base.conf:2");
    EXPECT_EQ(parsed.rules[1].address, "");  // any
    EXPECT_EQ(parsed.rules[1].container, "dns");
    EXPECT_EQ(parsed.rules[2].address, "::");
    EXPECT_EQ(parsed.rules[2].portLow, 8000);
    EXPECT_EQ(parsed.rules[2].portHigh, 8099);
    EXPECT_EQ(parsed.rules[3].portLow, 1);
    EXPECT_EQ(parsed.rules[3].portHigh, 65535);
    EXPECT_EQ(parsed.rules[3].netns, "blue");
}

TEST(ExpectedRules, CanonicalizesAddressesAsTheKernelPrintsThem) {
    auto parsed = parseExpectedRules("tcp [0:0:0:0:0:0:0:1]:80\ntcp [::FFFF:127.0.0.1]:81\n", "f");
    ASSERT_EQ(parsed.rules.size(), 2u);
    EXPECT_EQ(parsed.rules[0].address, "::1");
    EXPECT_EQ(parsed.rules[1].address, "::ffff:127.0.0.1");
}

TEST(ExpectedRules, SkipsMalformedLinesWithFileAndLineAndKeepsTheRest) {
    auto parsed = parseExpectedRules(
        "sctp *:1\n"                      // 1 unknown protocol
        "tcp\n"                           // 2 no endpoint
        "tcp 0.0.0.0\n"                   // 3 no port
        "tcp 0.0.0.0:0\n"                 // 4 port 0
        "tcp 0.0.0.0:70000\n"             // 5 too big
        "tcp 0.0.0.0:90-80\n"             // 6 reversed range
        "tcp 300.1.1.1:80\n"              // 7 bad IPv4
        "tcp ::1:80\n"                    // 8 IPv6 without brackets
        "tcp [zz]:80\n"                   // 9 bad IPv6
        "tcp *:80 pid=12\n"               // 10 PIDs are refused
        "tcp *:80 user=root\n"            // 11 unknown key
        "tcp *:80 process=a process=b\n"  // 12 twice
        "tcp *:80 process=\n"             // 13 empty
        "tcp *:80 process=\"open\n"       // 14 unterminated quote
        "tcp *:80 bare\n"                 // 15 not key=value
        "tcp *:80 process=a\x01\n"        // 16 control character
        "tcp *:443 process=nginx\n",      // 17 good
        "bad.conf");
    ASSERT_EQ(parsed.rules.size(), 1u);
    EXPECT_EQ(parsed.rules[0].source, "bad.conf:17");
    ASSERT_EQ(parsed.errors.size(), 16u);
    for (std::size_t i = 0; i < parsed.errors.size(); ++i)
        EXPECT_EQ(parsed.errors[i].rfind("bad.conf:" + std::to_string(i + 1) + ": ", 0), 0u) << parsed.errors[i];
    EXPECT_NE(parsed.errors[9].find("PID"), std::string::npos) << parsed.errors[9];
    EXPECT_NE(parsed.errors[7].find("brackets"), std::string::npos) << parsed.errors[7];
}

TEST(ExpectedRules, RefusesHugeLinesAndGoesOn) {
    std::string text = "tcp *:80 process=" + std::string(100'000, 'x') + "\ntcp *:81\n";
    auto parsed = parseExpectedRules(text, "huge.conf");
    ASSERT_EQ(parsed.errors.size(), 1u);
    EXPECT_NE(parsed.errors[0].find("huge.conf:1: line longer than"), std::string::npos);
    ASSERT_EQ(parsed.rules.size(), 1u);
    EXPECT_EQ(parsed.rules[0].portLow, 81);
}

TEST(ExpectedRules, QuotesAndEscapesRoundTrip) {
    auto parsed = parseExpectedRules(
        "tcp *:80 process=\"Web Content\"\n"
        "tcp *:81 process=\"say \\\"hi\\\" # not a comment\"\n"
        "tcp *:82 process=back\\slash\n"     // bare: a backslash is itself
        "tcp *:83 process=\"esc\\\\x1b\"\n"  // quoted: \\ is one backslash
        "tcp *:84 process=\"CRLF\"\r\n",
        "q.conf");
    ASSERT_TRUE(parsed.errors.empty()) << parsed.errors.front();
    ASSERT_EQ(parsed.rules.size(), 5u);
    EXPECT_EQ(parsed.rules[0].process, "Web Content");
    EXPECT_EQ(parsed.rules[1].process, "say \"hi\" # not a comment");
    EXPECT_EQ(parsed.rules[2].process, "back\\slash");
    EXPECT_EQ(parsed.rules[3].process, "esc\\x1b");
    EXPECT_EQ(parsed.rules[4].process, "CRLF");
    for (const auto& rule : parsed.rules) {
        auto again = parseExpectedRules(formatExpectedRule(rule), "again");
        ASSERT_EQ(again.rules.size(), 1u) << formatExpectedRule(rule);
        EXPECT_TRUE(again.rules[0].sameAs(rule)) << formatExpectedRule(rule);
    }
}

TEST(ExpectedRules, DuplicatesAreWarnedAndKeptOnce) {
    auto first = parseExpectedRules("tcp *:22 process=sshd\n", "a.conf");
    auto second = parseExpectedRules("tcp  *:22   process=\"sshd\"\ntcp *:22\n", "b.conf");
    ExpectedListeners rules;
    rules.add(first);
    rules.add(second);
    EXPECT_EQ(rules.size(), 2u);
    ASSERT_EQ(second.warnings.size(), 1u);
    EXPECT_EQ(second.warnings[0], "b.conf:1: duplicate of a.conf:1; ignored");
}

TEST(ExpectedRules, NeverThrowsOnRandomBytes) {
    std::mt19937 random(42);
    const std::string alphabet = "tcpud *:[]0123456789.-=\"\\#\n\r\tprocessunitcontainernetns\x01\xff";
    for (int round = 0; round < 5000; ++round) {
        std::string text(random() % 200, ' ');
        for (auto& c : text)
            c = alphabet[random() % alphabet.size()];
        auto parsed = parseExpectedRules(text, "fuzz");
        for (const auto& rule : parsed.rules) {
            auto again = parseExpectedRules(formatExpectedRule(rule), "again");
            ASSERT_EQ(again.rules.size(), 1u) << formatExpectedRule(rule);
            EXPECT_TRUE(again.rules[0].sameAs(rule));
        }
    }
}

TEST(ExpectedRules, MatchesEveryGivenPart) {
    auto rules = load(
        "tcp 0.0.0.0:22 process=sshd unit=ssh.service\n"
        "udp *:53 container=dns\n"
        "tcp [::]:8000-8099\n"
        "tcp *:9000 unit=user@1000.service/*\n"
        "tcp *:9100 container=3f2a\n"
        "tcp *:9200 netns=blue\n"
        "tcp *:9300 netns=4026532000\n");
    EXPECT_NE(rules.match(withDetails(listener(Protocol::Tcp, "0.0.0.0", 22, "sshd", 1), "ssh.service")), nullptr);
    EXPECT_EQ(rules.match(withDetails(listener(Protocol::Tcp, "0.0.0.0", 22, "nc", 1), "ssh.service")), nullptr);
    EXPECT_EQ(rules.match(withDetails(listener(Protocol::Tcp, "127.0.0.1", 22, "sshd", 1), "ssh.service")), nullptr);
    EXPECT_EQ(rules.match(listener(Protocol::Tcp, "0.0.0.0", 22, "sshd", 1)), nullptr);  // no unit known
    EXPECT_EQ(rules.match(withDetails(listener(Protocol::Udp, "0.0.0.0", 22, "sshd", 1), "ssh.service")), nullptr);
    EXPECT_NE(rules.match(withDetails(listener(Protocol::Udp, "::", 53, "dnsmasq", 1), "", "dns", "abc")), nullptr);
    EXPECT_EQ(rules.match(listener(Protocol::Udp, "::", 53, "dnsmasq", 1)), nullptr);
    EXPECT_NE(rules.match(listener(Protocol::Tcp, "::", 8080, "python3", 1)), nullptr);
    EXPECT_EQ(rules.match(listener(Protocol::Tcp, "0.0.0.0", 8080, "python3", 1)), nullptr);  // IPv4 is not [::]
    EXPECT_EQ(rules.match(listener(Protocol::Tcp, "::", 8100, "python3", 1)), nullptr);
    EXPECT_NE(rules.match(withDetails(listener(Protocol::Tcp, "::", 9000, "app", 1), "user@1000.service/app.slice/x")),
              nullptr);
    EXPECT_NE(rules.match(withDetails(listener(Protocol::Tcp, "::", 9100, "app", 1), "", "", "3f2a9c0d")), nullptr);
    EXPECT_EQ(rules.match(withDetails(listener(Protocol::Tcp, "::", 9100, "app", 1), "", "", "ff3f2a")), nullptr);
    auto blue = listener(Protocol::Tcp, "::", 9200, "app", 1);
    blue.netnsName = "blue";
    EXPECT_NE(rules.match(blue), nullptr);
    auto byInode = listener(Protocol::Tcp, "::", 9300, "app", 1);
    byInode.netns = 4026532000;
    EXPECT_NE(rules.match(byInode), nullptr);
}

TEST(ExpectedRules, SaysWhichPartDiffers) {
    auto rules = load("tcp 0.0.0.0:22 process=sshd\n");
    EXPECT_EQ(rules.whyUnexpected(listener(Protocol::Tcp, "0.0.0.0", 22, "nc", 1)),
              "no rule matches tcp port 22: process nc is not sshd (test.conf:1)");
    EXPECT_EQ(rules.whyUnexpected(listener(Protocol::Tcp, "0.0.0.0", 8080, "nc", 1)), "no rule for tcp port 8080");
}

TEST(ExpectedRules, SnapshotRuleMatchesItsRecord) {
    auto r = withDetails(listener(Protocol::Tcp, "::1", 631, "cupsd", 1), "cups.service", "", "0123456789abcdef");
    r.netnsName = "blue";
    const auto rule = ruleForRecord(r);
    EXPECT_EQ(formatExpectedRule(rule),
              "tcp [::1]:631 process=cupsd unit=cups.service container=0123456789ab netns=blue");
    EXPECT_TRUE(rule.matches(r));
}

TEST(UnexpectedListenerTracker, IsSilentWithoutAnAllowlist) {
    UnexpectedListenerTracker tracker;
    Snapshot snapshot{listener(Protocol::Tcp, "0.0.0.0", 8080, "nc", 1)};
    EXPECT_TRUE(tracker.onEvents({added(snapshot[0])}, snapshot).empty());
    EXPECT_TRUE(tracker.rescan(snapshot, WallTime{}).empty());
    EXPECT_FALSE(tracker.active());
}

TEST(UnexpectedListenerTracker, AlertsOncePerUnexpectedSocketAndNotForExpectedOnes) {
    UnexpectedListenerTracker tracker;
    tracker.setRules(load("tcp *:22 process=sshd\n"));
    auto ssh = listener(Protocol::Tcp, "0.0.0.0", 22, "sshd", 1);
    auto rogue = listener(Protocol::Tcp, "0.0.0.0", 8080, "nc", 2);
    auto client = rogue;
    client.state = TcpState::Established;
    client.cookie = 3;
    Snapshot snapshot{ssh, rogue, client};
    normalizeSnapshot(snapshot);
    auto alerts = tracker.onEvents({added(ssh, 1), added(rogue, 2), added(client, 3)}, snapshot);
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_EQ(alerts[0].event.record.localPort, 8080);
    EXPECT_EQ(alerts[0].event.sequence, 2u);
    EXPECT_EQ(alerts[0].reason, "no rule for tcp port 8080");
    EXPECT_FALSE(alerts[0].present);
    // The same socket changing hands to another unexpected owner: no second alert.
    auto handedOver = rogue;
    handedOver.pid = 200;
    Snapshot after{ssh, handedOver, client};
    normalizeSnapshot(after);
    EXPECT_TRUE(tracker.onEvents({PortEvent{4, Action::OwnerChanged, WallTime{}, handedOver, 100, 0}}, after).empty());
    EXPECT_EQ(tracker.total(), 1u);
    ASSERT_EQ(tracker.current().size(), 1u);
    EXPECT_EQ(tracker.current()[0].event.record.pid, 200u);
    // Closed: it leaves the current set.
    tracker.onEvents({PortEvent{5, Action::Removed, WallTime{}, handedOver}}, {ssh, client});
    EXPECT_TRUE(tracker.current().empty());
}

TEST(UnexpectedListenerTracker, RestartOfAnExpectedServiceIsSilent) {
    UnexpectedListenerTracker tracker;
    tracker.setRules(load("tcp *:22 process=sshd\n"));
    auto before = listener(Protocol::Tcp, "0.0.0.0", 22, "sshd", 1, 100);
    auto after = listener(Protocol::Tcp, "0.0.0.0", 22, "sshd", 7, 4242);  // new socket, new PID
    EXPECT_TRUE(
        tracker.onEvents({PortEvent{1, Action::Removed, WallTime{}, before}, added(after, 2)}, {after}).empty());
}

TEST(UnexpectedListenerTracker, ASocketIsExpectedWhenAnyOwnerMatches) {
    UnexpectedListenerTracker tracker;
    tracker.setRules(load("tcp *:80 process=nginx\n"));
    auto master = listener(Protocol::Tcp, "0.0.0.0", 80, "nginx", 1, 100);
    auto helper = listener(Protocol::Tcp, "0.0.0.0", 80, "helper", 1, 101);  // same socket, inherited
    Snapshot snapshot{master, helper};
    normalizeSnapshot(snapshot);
    EXPECT_TRUE(tracker.onEvents({added(helper, 1), added(master, 2)}, snapshot).empty());
}

TEST(UnexpectedListenerTracker, HandoverToAnUnexpectedOwnerAlerts) {
    UnexpectedListenerTracker tracker;
    tracker.setRules(load("tcp *:80 process=nginx\n"));
    auto taken = listener(Protocol::Tcp, "0.0.0.0", 80, "evil", 1, 300);
    auto alerts = tracker.onEvents({PortEvent{1, Action::OwnerChanged, WallTime{}, taken, 100, 0}}, {taken});
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_EQ(alerts[0].event.action, Action::OwnerChanged);
    // An owner change to "no visible owner" says nothing new.
    auto ownerless = listener(Protocol::Tcp, "0.0.0.0", 81, "", 2, 0);
    EXPECT_TRUE(tracker.onEvents({PortEvent{2, Action::OwnerChanged, WallTime{}, ownerless, 5, 0}}, {}).empty());
}

TEST(UnexpectedListenerTracker, RescanReportsPresentListenersOnceAndForgetsNewlyExpectedOnes) {
    UnexpectedListenerTracker tracker;
    tracker.setRules(load("tcp *:22\n"));
    auto ssh = listener(Protocol::Tcp, "0.0.0.0", 22, "sshd", 1);
    auto web = listener(Protocol::Tcp, "0.0.0.0", 8080, "python3", 2);
    Snapshot snapshot{ssh, web};
    auto alerts = tracker.rescan(snapshot, WallTime{});
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_TRUE(alerts[0].present);
    EXPECT_EQ(alerts[0].event.sequence, 0u);
    EXPECT_EQ(alerts[0].event.record.localPort, 8080);
    // Reloaded with the same rules: nothing new.
    tracker.setRules(load("tcp *:22\n"));
    EXPECT_TRUE(tracker.rescan(snapshot, WallTime{}).empty());
    EXPECT_EQ(tracker.current().size(), 1u);
    // A rule for 8080 now: it leaves the set silently.
    tracker.setRules(load("tcp *:22\ntcp *:8080\n"));
    EXPECT_TRUE(tracker.rescan(snapshot, WallTime{}).empty());
    EXPECT_TRUE(tracker.current().empty());
    EXPECT_EQ(tracker.total(), 1u);
    // Switched off: nothing is current.
    tracker.setRules(std::nullopt);
    EXPECT_TRUE(tracker.rescan(snapshot, WallTime{}).empty());
    EXPECT_FALSE(tracker.active());
}
