// SPDX-License-Identifier: MIT
// Journal entries as pure functions: an event in, "KEY=value" fields out; the rate limit with a
// hand-stepped clock and a sender that records instead of writing to the journal.
#include "journal/JournalEntry.hpp"
#include "journal/JournalEventLog.hpp"
#include "journal/MessageIds.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <set>

namespace porteye::journal {
namespace {

using ::testing::Contains;
using ::testing::Not;

core::SocketRecord nginxListener() {
    core::SocketRecord r;
    r.protocol = core::Protocol::Tcp;
    r.family = 4;
    r.localAddress = "0.0.0.0";
    r.localPort = 80;
    r.remoteAddress = "0.0.0.0";
    r.state = core::TcpState::Listen;
    r.inode = 4242;
    r.cookie = 7;
    r.netns = 4026531840;
    r.pid = 1234;
    r.process = "nginx";
    r.ownerUid = 33;
    auto d = std::make_shared<core::ProcessDetails>();
    d->user = "www-data";
    d->unit = "nginx.service";
    r.details = d;
    return r;
}

core::PortEvent event(core::Action action, core::SocketRecord r, std::uint64_t sequence = 17) {
    core::PortEvent e;
    e.action = action;
    e.sequence = sequence;
    e.record = std::move(r);
    return e;
}

std::map<std::string, std::string> asMap(const std::vector<std::string>& fields) {
    std::map<std::string, std::string> m;
    for (const auto& f : fields) {
        const auto eq = f.find('=');
        EXPECT_NE(eq, std::string::npos) << f;
        EXPECT_TRUE(m.emplace(f.substr(0, eq), f.substr(eq + 1)).second) << "duplicate field " << f;
    }
    return m;
}

TEST(JournalEntry, ListenerAddedCarriesEveryFieldAndAHumanMessage) {
    const auto f = asMap(entryFields(event(core::Action::Added, nginxListener())));
    EXPECT_EQ(f.at("MESSAGE"), "nginx[1234] started listening on tcp 0.0.0.0:80 (nginx.service)");
    EXPECT_EQ(f.at("MESSAGE_ID"), message_id::kListenerAdded);
    EXPECT_EQ(f.at("PRIORITY"), "6");
    EXPECT_EQ(f.at("SYSLOG_IDENTIFIER"), "porteyed");
    EXPECT_EQ(f.at("PORTEYE_ACTION"), "added");
    EXPECT_EQ(f.at("PORTEYE_PROTOCOL"), "tcp");
    EXPECT_EQ(f.at("PORTEYE_FAMILY"), "ipv4");
    EXPECT_EQ(f.at("PORTEYE_LOCAL_ADDRESS"), "0.0.0.0");
    EXPECT_EQ(f.at("PORTEYE_PORT"), "80");
    EXPECT_EQ(f.at("PORTEYE_STATE"), "LISTEN");
    EXPECT_EQ(f.at("PORTEYE_PID"), "1234");
    EXPECT_EQ(f.at("PORTEYE_PROCESS"), "nginx");
    EXPECT_EQ(f.at("PORTEYE_USER"), "www-data");
    EXPECT_EQ(f.at("PORTEYE_UNIT"), "nginx.service");
    EXPECT_EQ(f.at("PORTEYE_NETNS"), "4026531840");
    EXPECT_EQ(f.at("PORTEYE_SEQUENCE"), "17");
    // A listener has no remote end; no container, no previous owner: those fields are left out.
    for (const char* absent : {"PORTEYE_REMOTE_ADDRESS", "PORTEYE_REMOTE_PORT", "PORTEYE_CONTAINER",
                               "PORTEYE_PREVIOUS_PID", "PORTEYE_NETNS_NAME"})
        EXPECT_EQ(f.count(absent), 0u) << absent;
}

TEST(JournalEntry, ListenerRemovedHasItsOwnMessageId) {
    const auto f = asMap(entryFields(event(core::Action::Removed, nginxListener())));
    EXPECT_EQ(f.at("MESSAGE"), "nginx[1234] stopped listening on tcp 0.0.0.0:80 (nginx.service)");
    EXPECT_EQ(f.at("MESSAGE_ID"), message_id::kListenerRemoved);
    EXPECT_EQ(f.at("PORTEYE_ACTION"), "removed");
}

TEST(JournalEntry, ConnectionIsDebugWithRemoteEndAndBracketedIpv6) {
    auto r = nginxListener();
    r.family = 6;
    r.localAddress = "::1";
    r.localPort = 43210;
    r.remoteAddress = "2001:db8::5";
    r.remotePort = 443;
    r.state = core::TcpState::Established;
    const auto f = asMap(entryFields(event(core::Action::Added, r)));
    EXPECT_EQ(f.at("MESSAGE"), "nginx[1234] opened tcp [::1]:43210 -> [2001:db8::5]:443 ESTABLISHED (nginx.service)");
    EXPECT_EQ(f.at("MESSAGE_ID"), message_id::kConnectionAdded);
    EXPECT_EQ(f.at("PRIORITY"), "7");
    EXPECT_EQ(f.at("PORTEYE_FAMILY"), "ipv6");
    EXPECT_EQ(f.at("PORTEYE_REMOTE_ADDRESS"), "2001:db8::5");
    EXPECT_EQ(f.at("PORTEYE_REMOTE_PORT"), "443");
    EXPECT_EQ(asMap(entryFields(event(core::Action::Removed, r))).at("MESSAGE_ID"), message_id::kConnectionRemoved);
}

TEST(JournalEntry, OwnerChangeNamesBothPids) {
    auto e = event(core::Action::OwnerChanged, nginxListener());
    e.previousPid = 1200;
    const auto f = asMap(entryFields(e));
    EXPECT_EQ(f.at("MESSAGE_ID"), message_id::kOwnerChanged);
    EXPECT_EQ(f.at("PORTEYE_PID"), "1234");
    EXPECT_EQ(f.at("PORTEYE_PREVIOUS_PID"), "1200");
    EXPECT_EQ(f.at("MESSAGE"), "nginx[1234] took over tcp 0.0.0.0:80 LISTEN from pid 1200 (nginx.service)");

    e.record.pid = 0;
    e.record.process.clear();
    e.record.details.reset();
    const auto g = asMap(entryFields(e));
    EXPECT_EQ(g.count("PORTEYE_PID"), 0u);
    EXPECT_EQ(g.at("MESSAGE"), "pid 1200 let go of tcp 0.0.0.0:80 LISTEN; no visible owner is left");
}

TEST(JournalEntry, ContainerByNameElseIdAndNamedNamespace) {
    auto r = nginxListener();
    r.netnsName = "blue";
    auto d = std::make_shared<core::ProcessDetails>(*r.details);
    d->unit.clear();
    d->containerRuntime = "docker";
    d->containerId = std::string(64, 'a');
    r.details = d;
    auto f = asMap(entryFields(event(core::Action::Added, r)));
    EXPECT_EQ(f.at("PORTEYE_CONTAINER"), std::string(64, 'a'));
    EXPECT_EQ(f.at("PORTEYE_CONTAINER_RUNTIME"), "docker");
    EXPECT_EQ(f.at("PORTEYE_NETNS_NAME"), "blue");
    EXPECT_EQ(f.count("PORTEYE_UNIT"), 0u);
    d->containerName = "web";
    f = asMap(entryFields(event(core::Action::Added, r)));
    EXPECT_EQ(f.at("PORTEYE_CONTAINER"), "web");
    EXPECT_EQ(f.at("MESSAGE"), "nginx[1234] started listening on tcp 0.0.0.0:80 (container web, netns blue)");
}

TEST(JournalEntry, EscapedValuesArePassedAsTheyAre) {
    auto r = nginxListener();
    r.process = "evil\\x0a\\x1b[31m\"x";  // what the core made of a hostile comm
    const auto f = asMap(entryFields(event(core::Action::Added, r)));
    EXPECT_EQ(f.at("PORTEYE_PROCESS"), r.process);
    for (const auto& field : entryFields(event(core::Action::Added, r)))
        EXPECT_EQ(field.find('\n'), std::string::npos) << field;
}

TEST(JournalEntry, SettingChoosesWhatIsJournalled) {
    const auto listener = event(core::Action::Added, nginxListener());
    auto conn = listener;
    conn.record.state = core::TcpState::Established;
    EXPECT_TRUE(journalled(JournalEvents::Listeners, listener));
    EXPECT_FALSE(journalled(JournalEvents::Listeners, conn));
    EXPECT_TRUE(journalled(JournalEvents::All, conn));
    EXPECT_FALSE(journalled(JournalEvents::Off, listener));
    for (auto s : {JournalEvents::Off, JournalEvents::Listeners, JournalEvents::All})
        EXPECT_EQ(parseJournalEvents(journalEventsName(s)), s);
    EXPECT_FALSE(parseJournalEvents("some"));
    // A bound, unconnected UDP socket is a listener.
    auto udp = listener;
    udp.record.protocol = core::Protocol::Udp;
    udp.record.state = core::TcpState::Close;
    EXPECT_TRUE(journalled(JournalEvents::Listeners, udp));
    EXPECT_EQ(asMap(entryFields(udp)).at("PORTEYE_STATE"), "UNCONN");
}

TEST(JournalEntry, MessageIdsAreDistinct128BitHex) {
    std::set<std::string_view> ids{message_id::kListenerAdded,   message_id::kListenerRemoved,
                                   message_id::kConnectionAdded, message_id::kConnectionRemoved,
                                   message_id::kOwnerChanged,    message_id::kUnexpectedListener,
                                   message_id::kSuppressed};
    EXPECT_EQ(ids.size(), 7u);
    for (auto id : ids) {
        EXPECT_EQ(id.size(), 32u);
        EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string_view::npos) << id;
    }
}

TEST(JournalEntry, AnotherMessageIdKeepsTheEventsFields) {
    const auto e = event(core::Action::Added, nginxListener());
    const auto f = asMap(entryFields(e, message_id::kUnexpectedListener, kPriorityWarning, "unexpected"));
    EXPECT_EQ(f.at("MESSAGE_ID"), message_id::kUnexpectedListener);
    EXPECT_EQ(f.at("PRIORITY"), "4");
    EXPECT_EQ(f.at("MESSAGE"), "unexpected");
    EXPECT_EQ(f.at("PORTEYE_PORT"), "80");
    EXPECT_EQ(f.at("PORTEYE_UNIT"), "nginx.service");
}

TEST(JournalEntry, EveryMessageIdHasACatalogEntry) {
    std::ifstream in(std::string(PORTEYE_SOURCE_DIR) + "/systemd/porteye.catalog");
    ASSERT_TRUE(in) << "systemd/porteye.catalog";
    std::set<std::string> entries;
    for (std::string line; std::getline(in, line);)
        if (line.rfind("-- ", 0) == 0) entries.insert(line.substr(3));
    for (auto id : {message_id::kListenerAdded, message_id::kListenerRemoved, message_id::kConnectionAdded,
                    message_id::kConnectionRemoved, message_id::kOwnerChanged, message_id::kUnexpectedListener,
                    message_id::kSuppressed})
        EXPECT_EQ(entries.count(std::string(id)), 1u) << id << " has no entry in the catalog";
    EXPECT_EQ(entries.size(), 7u) << "an entry in the catalog for an id the code does not have";
}

TEST(JournalEventLog, RateLimitHoldsBackConnectionChurnAndReportsItOnce) {
    std::vector<std::vector<std::string>> sent;
    JournalLimits limits;
    limits.connectionBurst = 10;
    limits.connectionRate = 5;
    limits.reportIntervalUsec = 10'000'000;
    JournalEventLog log(JournalEvents::All, limits, [&](const std::vector<std::string>& f) {
        sent.push_back(f);
        return 0;
    });
    auto conn = nginxListener();
    conn.state = core::TcpState::Established;
    std::vector<core::PortEvent> churn(50'000, event(core::Action::Added, conn));
    log.onEvents(churn, 1'000'000);
    EXPECT_EQ(sent.size(), 10u);  // the burst
    EXPECT_EQ(log.stats().suppressed, 49'990u);
    // Listeners have a bucket of their own: connection churn does not starve them.
    log.onEvents({event(core::Action::Added, nginxListener())}, 1'000'001);
    EXPECT_EQ(asMap(sent.back()).at("MESSAGE_ID"), message_id::kListenerAdded);
    // One second later: 5 tokens back.
    log.onEvents(churn, 2'000'000);
    EXPECT_EQ(sent.size(), 16u);
    // After the interval, one entry counts what was held back.
    log.flush(11'000'001);
    const auto report = asMap(sent.back());
    EXPECT_EQ(report.at("MESSAGE_ID"), message_id::kSuppressed);
    EXPECT_EQ(report.at("PORTEYE_SUPPRESSED"), std::to_string(49'990 + 49'995));
    EXPECT_EQ(report.at("PORTEYE_SUPPRESSED_KIND"), "connections");
    const auto before = sent.size();
    log.flush(30'000'000);
    EXPECT_EQ(sent.size(), before);  // nothing more held back: no report
}

TEST(JournalEventLog, FailedSendsAreCountedNotThrown) {
    JournalEventLog log(JournalEvents::Listeners, {}, [](const std::vector<std::string>&) { return -111; });
    log.onEvents({event(core::Action::Added, nginxListener())}, 1);
    EXPECT_EQ(log.stats().failed, 1u);
    EXPECT_EQ(log.stats().sent, 0u);
}

TEST(JournalEventLog, OffSendsNothing) {
    int calls = 0;
    JournalEventLog log(JournalEvents::Off, {}, [&](const std::vector<std::string>&) { return ++calls, 0; });
    log.onEvents({event(core::Action::Added, nginxListener())}, 1);
    EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace porteye::journal
