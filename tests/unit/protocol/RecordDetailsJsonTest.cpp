// SPDX-License-Identifier: MIT
#include "wire/Json.hpp"

#include <gtest/gtest.h>

#include <memory>

using namespace porteye;

namespace {

core::SocketRecord listener() {
    core::SocketRecord r;
    r.pid = 42;
    r.process = "nginx";
    r.localAddress = "0.0.0.0";
    r.localPort = 80;
    r.remoteAddress = "0.0.0.0";
    r.state = core::TcpState::Listen;
    r.inode = 7;
    r.cookie = 9;
    return r;
}

}  // namespace

TEST(RecordDetailsJson, EveryRecordHasTheDetailKeysNullWhenUnknown) {
    const auto j = protocol::toJson(listener());
    for (const char* key : {"cmdline", "user", "exe", "start_time", "unit", "container_runtime", "container_id",
                            "container_name", "netns", "netns_name", "cpu_percent", "memory_rss"}) {
        ASSERT_TRUE(j.contains(key)) << key;
        EXPECT_TRUE(j[key].is_null()) << key;
    }
    EXPECT_EQ(protocol::recordFromJson(j), listener());
}

TEST(RecordDetailsJson, DetailsAndUsageRoundTrip) {
    auto r = listener();
    r.details = std::make_shared<const core::ProcessDetails>(core::ProcessDetails{
        "nginx: master process /usr/sbin/nginx", "www-data", "/usr/sbin/nginx", 1'700'000'000'123'456, "", "", "", ""});
    r.usage = core::UsageNow{12.5, 8 << 20};
    const auto j = protocol::toJson(r);
    EXPECT_EQ(j["cmdline"], "nginx: master process /usr/sbin/nginx");
    EXPECT_EQ(j["user"], "www-data");
    EXPECT_EQ(j["exe"], "/usr/sbin/nginx");
    EXPECT_EQ(j["start_time"], 1'700'000'000'123'456ULL);
    EXPECT_TRUE(j["unit"].is_null()) << "not in a unit";
    EXPECT_DOUBLE_EQ(j["cpu_percent"].get<double>(), 12.5);
    EXPECT_EQ(j["memory_rss"], 8U << 20);
    EXPECT_EQ(protocol::recordFromJson(j), r);
}

TEST(RecordDetailsJson, NamespaceAndContainerRoundTrip) {
    auto r = listener();
    r.netns = 4026532281;
    r.netnsName = "blue";
    r.details = std::make_shared<const core::ProcessDetails>(core::ProcessDetails{
        "nginx", "root", "/usr/sbin/nginx", 1, "docker-0123abcd.scope", "docker", std::string(64, 'a'), "web"});
    const auto j = protocol::toJson(r);
    EXPECT_EQ(j["netns"], 4026532281ULL);
    EXPECT_EQ(j["netns_name"], "blue");
    EXPECT_EQ(j["container_runtime"], "docker");
    EXPECT_EQ(j["container_name"], "web");
    EXPECT_EQ(protocol::recordFromJson(j), r);
    EXPECT_TRUE(protocol::toJson(listener())["netns_name"].is_null()) << "every record has the keys";
}

TEST(RecordDetailsJson, MissingDetailKeysReadAsUnknownAndWrongTypesAreRefused) {
    auto j = protocol::toJson(listener());
    for (const char* key : {"cmdline", "user", "exe", "start_time", "unit", "container_runtime", "container_id",
                            "container_name", "netns", "netns_name", "cpu_percent", "memory_rss"})
        j.erase(key);
    EXPECT_EQ(protocol::recordFromJson(j), listener()) << "a record from an older daemon";
    j["cmdline"] = 5;
    EXPECT_THROW(protocol::recordFromJson(j), protocol::InvalidArgument);
}

TEST(RecordDetailsJson, StatusCarriesTheView) {
    core::DaemonStatus s;
    s.view = "own-user";
    const auto j = protocol::toJson(s);
    EXPECT_EQ(j["view"], "own-user");
    EXPECT_EQ(protocol::statusFromJson(j).view, "own-user");
}
