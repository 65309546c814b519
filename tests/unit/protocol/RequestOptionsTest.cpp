// SPDX-License-Identifier: MIT
// The one option parser both front-ends use: what it accepts and the messages it refuses with.
#include "protocol/Json.hpp"
#include "protocol/RequestOptions.hpp"

#include <gtest/gtest.h>

namespace porteye::protocol {
namespace {

std::string errorOf(const std::function<void()>& parse) {
    try {
        parse();
    } catch (const InvalidArgument& e) {
        return e.what();
    }
    return "";
}

TEST(RequestOptions, IntegersOfAnyWidthAreJudgedByRangeNotType) {
    EXPECT_EQ(*socketFilterFromOptions({{"port", std::uint64_t{80}}}).port, 80);
    EXPECT_EQ(*socketFilterFromOptions({{"port", std::int64_t{80}}}).port, 80);
    EXPECT_EQ(errorOf([] { socketFilterFromOptions({{"port", std::uint64_t{70000}}}); }), "'port' is out of range");
    EXPECT_EQ(errorOf([] {
                  socketFilterFromOptions({{"port", std::int64_t{-1}}});
              }),
              "'port' must be a non-negative integer");
    EXPECT_EQ(errorOf([] { socketFilterFromOptions({{"port", 80.5}}); }), "'port' must be a non-negative integer");
}

TEST(RequestOptions, OtherKindsOfValueAreRefusedByTheKeysOwnMessage) {
    EXPECT_EQ(errorOf([] {
                  socketFilterFromOptions({{"pid", std::monostate{}}});
              }),
              "'pid' must be a non-negative integer");
    EXPECT_EQ(errorOf([] {
                  socketFilterFromOptions({{"colour", std::string("red")}});
              }),
              "unknown filter key 'colour'");
    EXPECT_EQ(errorOf([] {
                  watchParamsFromOptions({{"children", std::string("yes")}});
              }),
              "'children' must be a boolean");
    EXPECT_EQ(errorOf([] {
                  historyFilterFromOptions({{"limit", std::uint64_t{kMaxHistoryLimit + 1}}});
              }),
              "'limit' is out of range");
}

TEST(RequestOptions, JsonGoesThroughTheSameParser) {
    const auto fromJson = errorOf([] { socketFilterFromJson(nlohmann::json{{"port", 70000}}); });
    const auto fromMap = errorOf([] { socketFilterFromOptions({{"port", std::uint64_t{70000}}}); });
    EXPECT_EQ(fromJson, fromMap);
    EXPECT_EQ(errorOf([] {
                  socketFilterFromJson(nlohmann::json{{"pid", nlohmann::json::array({1})}});
              }),
              "'pid' must be a non-negative integer");
}

TEST(RequestOptions, RequestsRoundTripThroughTheirOptions) {
    core::HistoryFilter f;
    f.socket.port = 22;
    f.socket.state = core::TcpState::Listen;
    f.afterSequence = 7;
    f.limit = 5;
    const auto back = historyFilterFromOptions(toOptions(f));
    EXPECT_EQ(back.socket.port, f.socket.port);
    EXPECT_EQ(back.socket.state, f.socket.state);
    EXPECT_EQ(back.afterSequence, f.afterSequence);
    EXPECT_EQ(back.limit, f.limit);
    core::ListQuery q;
    q.offset = 10;
    q.limit = 3;
    const auto page = listQueryFromOptions(toOptions(q));
    EXPECT_EQ(page.offset, 10u);
    EXPECT_EQ(page.limit, 3u);
}

}  // namespace
}  // namespace porteye::protocol
