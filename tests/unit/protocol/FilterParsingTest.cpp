// SPDX-License-Identifier: MIT
#include "wire/Json.hpp"

#include <gtest/gtest.h>

using nlohmann::json;
using namespace porteye;

TEST(FilterParsing, SinceBeyondTheClockIsRefusedNotWrapped) {
    // 2^63 µs used to wrap to a negative time and match every event.
    EXPECT_THROW(protocol::historyFilterFromJson(json{{"since", std::uint64_t{1} << 63}}), protocol::InvalidArgument);
    EXPECT_THROW(protocol::historyFilterFromJson(json{{"since", "9223372036854775808"}}), protocol::InvalidArgument);
    const auto ok = protocol::historyFilterFromJson(json{{"since", (std::uint64_t{1} << 63) - 1}});
    ASSERT_TRUE(ok.since);
    EXPECT_GT(ok.since->time_since_epoch().count(), 0);
}

TEST(FilterParsing, ListTakesPagingKeysAndHistoryDoesNotTakeOffset) {
    const auto q = protocol::listQueryFromJson(json{{"port", 22}, {"offset", 10}, {"limit", 5}});
    EXPECT_EQ(q.offset, 10u);
    EXPECT_EQ(q.limit, 5u);
    ASSERT_TRUE(q.filter.port);
    EXPECT_THROW(protocol::historyFilterFromJson(json{{"offset", 1}}), protocol::InvalidArgument);
    EXPECT_THROW(protocol::socketFilterFromJson(json{{"limit", 1}}), protocol::InvalidArgument);
}

TEST(FilterParsing, StatusCarriesTheInstanceIdAndScope) {
    core::DaemonStatus s;
    s.version = "1";
    s.instanceId = "0123abcd";
    s.hostWide = false;
    const auto back = protocol::statusFromJson(protocol::toJson(s));
    EXPECT_EQ(back.instanceId, "0123abcd");
    EXPECT_FALSE(back.hostWide);
}

TEST(FilterParsing, OwnerChangeCarriesThePreviousPidAndCanBeFilteredOn) {
    core::PortEvent e;
    e.sequence = 7;
    e.action = core::Action::OwnerChanged;
    e.record.pid = 20;
    e.previousPid = 10;
    const auto j = protocol::toJson(e);
    EXPECT_EQ(j["action"], "owner-changed");
    EXPECT_EQ(j["previous_pid"], 10);
    EXPECT_EQ(protocol::eventFromJson(j).previousPid, 10u);
    EXPECT_EQ(protocol::historyFilterFromJson(json{{"action", "owner-changed"}}).action, core::Action::OwnerChanged);
}
