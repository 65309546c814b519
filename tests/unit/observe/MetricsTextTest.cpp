// SPDX-License-Identifier: MIT
// The /metrics text as a pure function: a snapshot and counters in, the exposition format out.
#include "metrics/MetricsServer.hpp"
#include "metrics/MetricsText.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <sstream>

namespace porteye::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

core::SocketRecord listener(std::uint64_t cookie, std::uint32_t pid, std::uint16_t port,
                            std::string process = "nginx") {
    core::SocketRecord r;
    r.protocol = core::Protocol::Tcp;
    r.family = 4;
    r.localAddress = "0.0.0.0";
    r.localPort = port;
    r.remoteAddress = "0.0.0.0";
    r.state = core::TcpState::Listen;
    r.cookie = cookie;
    r.inode = cookie + 1000;
    r.netns = 4026531840;
    r.pid = pid;
    r.process = std::move(process);
    auto d = std::make_shared<core::ProcessDetails>();
    d->unit = "nginx.service";
    r.details = d;
    return r;
}

core::SocketRecord connection(std::uint64_t cookie, core::TcpState state) {
    auto r = listener(cookie, 500, 40000, "curl");
    r.state = state;
    r.remoteAddress = "192.0.2.1";
    r.remotePort = 443;
    return r;
}

std::vector<std::string> linesStartingWith(const std::string& text, const std::string& prefix) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(prefix, 0) == 0) out.push_back(line);
    return out;
}

TEST(MetricsText, OneSeriesPerListenerLabelSetNeverAPid) {
    core::Snapshot s{listener(1, 100, 80), listener(1, 101, 80),  // one socket, two owners (fork)
                     listener(2, 102, 80),                        // an SO_REUSEPORT sibling
                     listener(3, 103, 443)};
    core::normalizeSnapshot(s);
    const auto text = renderMetrics(s, {}, {});
    const auto series = linesStartingWith(text, "porteye_listening_socket_info{");
    ASSERT_EQ(series.size(), 2u) << text;
    EXPECT_EQ(series[0],
              "porteye_listening_socket_info{protocol=\"tcp\",family=\"ipv4\",address=\"0.0.0.0\",port=\"443\","
              "process=\"nginx\",unit=\"nginx.service\",container=\"\",netns=\"4026531840\"} 1");
    EXPECT_THAT(text, Not(HasSubstr("pid")));
    EXPECT_THAT(text, HasSubstr("porteye_listening_sockets 3\n"));  // kernel sockets
    EXPECT_THAT(text, HasSubstr("porteye_owners_resolved 4\n"));
}

TEST(MetricsText, ConnectionsAreCountedNotListedEvenAt100k) {
    core::Snapshot s{listener(1, 100, 80)};
    for (std::uint64_t i = 0; i < 100'000; ++i)
        s.push_back(connection(10 + i, i % 4 ? core::TcpState::Established : core::TcpState::TimeWait));
    core::normalizeSnapshot(s);
    const auto text = renderMetrics(s, {}, {});
    EXPECT_THAT(text, HasSubstr("porteye_connections{protocol=\"tcp\",state=\"ESTABLISHED\"} 75000\n"));
    EXPECT_THAT(text, HasSubstr("porteye_connections{protocol=\"tcp\",state=\"TIME_WAIT\"} 25000\n"));
    EXPECT_EQ(linesStartingWith(text, "porteye_listening_socket_info{").size(), 1u);
    EXPECT_LT(text.size(), 16u * 1024) << "the output must not grow with connections";
}

TEST(MetricsText, LabelValuesAreEscaped) {
    EXPECT_EQ(escapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    // The core's escape of a hostile comm (\x1b...) keeps its backslash, which Prometheus escapes again.
    core::Snapshot s{listener(1, 100, 80, "ev\"il\\x1b")};
    const auto text = renderMetrics(s, {}, {});
    EXPECT_THAT(text, HasSubstr("process=\"ev\\\"il\\\\x1b\""));
}

TEST(MetricsText, CountersHistogramAndSelfMetrics) {
    Counters c;
    core::PortEvent e;
    e.action = core::Action::Removed;
    e.record.protocol = core::Protocol::Udp;
    c.countEvent(e);
    c.countEvent(e);
    c.countPollDuration(0.0004);
    c.countPollDuration(0.03);
    c.countPollDuration(10);
    c.destroyNotifications = 12;
    c.destroyOverruns = 1;
    c.resyncs = 1;
    c.shortLived = 4;
    c.unattributedShortLived = 2;
    Gauges g;
    g.version = "1.2.3";
    g.eventSource = "tracepoint (full: fentry refused)";
    g.store = "failed: disk full";
    g.historySize = 5;
    g.historyCapacity = 10000;
    g.dbusWatches = 2;
    g.socketWatches = 3;
    const auto text = renderMetrics({}, c, g);
    EXPECT_THAT(text, HasSubstr("porteye_build_info{version=\"1.2.3\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("# TYPE porteye_events_total counter\n"));
    EXPECT_THAT(text, HasSubstr("porteye_events_total{action=\"removed\",protocol=\"udp\"} 2\n"));
    EXPECT_THAT(text, HasSubstr("porteye_events_total{action=\"added\",protocol=\"tcp\"} 0\n"));
    EXPECT_THAT(text, HasSubstr("porteye_poll_duration_seconds_bucket{le=\"0.001\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("porteye_poll_duration_seconds_bucket{le=\"0.05\"} 2\n"));
    EXPECT_THAT(text, HasSubstr("porteye_poll_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    EXPECT_THAT(text, HasSubstr("porteye_poll_duration_seconds_count 3\n"));
    EXPECT_THAT(text, HasSubstr("porteye_destroy_notifications_total 12\n"));
    EXPECT_THAT(text, HasSubstr("porteye_dropped_notifications_total 1\n"));
    EXPECT_THAT(text, HasSubstr("porteye_resyncs_total 1\n"));
    EXPECT_THAT(text, HasSubstr("porteye_short_lived_sockets_total 4\n"));
    EXPECT_THAT(text, HasSubstr("porteye_unattributed_short_lived_sockets_total 2\n"));
    EXPECT_THAT(text, HasSubstr("porteye_event_source_info{stage=\"tracepoint\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("porteye_event_source_info{stage=\"full\"} 0\n"));
    EXPECT_THAT(text, HasSubstr("porteye_store_state{state=\"failed\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("porteye_store_state{state=\"ok\"} 0\n"));
    EXPECT_THAT(text, HasSubstr("porteye_history_capacity 10000\n"));
    EXPECT_THAT(text, HasSubstr("porteye_watches{transport=\"socket\"} 3\n"));
    // Every sample line belongs to a family announced just before (a TYPE line per family).
    std::istringstream in(text);
    std::string family;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("# TYPE ", 0) == 0) {
            family = line.substr(7, line.find(' ', 7) - 7);
            continue;
        }
        if (line.rfind("# HELP ", 0) == 0) continue;
        EXPECT_EQ(line.rfind(family, 0), 0u) << line << " outside its family " << family;
    }
}

TEST(ListenAddress, ParsesTcpAndUnixFormsAndRefusesTheRest) {
    std::string error;
    auto a = parseListenAddress("127.0.0.1:9656", error);
    ASSERT_TRUE(a);
    EXPECT_FALSE(a->unixSocket);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 9656);
    a = parseListenAddress("[::1]:0", error);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "::1");
    EXPECT_EQ(a->port, 0);
    a = parseListenAddress("/run/porteye/metrics.sock", error);
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->unixSocket);
    EXPECT_EQ(a->path, "/run/porteye/metrics.sock");
    for (const char* bad :
         {"localhost:9656", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:x", "::1:9656", "[::1]9656", "", "run/x.sock"})
        EXPECT_FALSE(parseListenAddress(bad, error)) << bad;
    EXPECT_FALSE(parseListenAddress("/" + std::string(200, 'x'), error));
}

}  // namespace
}  // namespace porteye::metrics
