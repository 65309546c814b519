// SPDX-License-Identifier: MIT
// The one option parser both front-ends use: what it accepts and the messages it refuses with.
#include "wire/Json.hpp"
#include "wire/RequestOptions.hpp"

#include <gtest/gtest.h>

#include <limits>

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

TEST(RequestOptions, NonFiniteIntervalsAreRefusedAtTheWire) {
    // D-Bus carries NaN and infinities in a double ('d'); a NaN interval once passed every range check.
    for (const double value : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity()})
        EXPECT_EQ(errorOf([value] {
                      watchParamsFromOptions({{"interval", value}});
                  }),
                  "'interval' must be a finite number of seconds");
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

TEST(RequestOptions, UnitContainerAndNetnsAreTextAndRoundTrip) {
    const auto f = socketFilterFromOptions({{"unit", std::string("nginx.service")},
                                            {"container", std::string("3f4e1c2b9a8d")},
                                            {"netns", std::string("blue")}});
    EXPECT_EQ(f.unit, "nginx.service");
    EXPECT_EQ(f.container, "3f4e1c2b9a8d");
    EXPECT_EQ(f.netns, "blue");
    // An inode may come as a number (a D-Bus `t`, a JSON number): the same filter as its digits.
    EXPECT_EQ(socketFilterFromOptions({{"netns", std::uint64_t{4026532281}}}).netns, "4026532281");
    EXPECT_EQ(socketFilterFromJson(nlohmann::json{{"netns", 4026532281ULL}}).netns, "4026532281");
    EXPECT_EQ(errorOf([] { socketFilterFromOptions({{"unit", std::string()}}); }), "'unit' must not be empty");
    EXPECT_EQ(errorOf([] {
                  socketFilterFromOptions({{"container", std::int64_t{3}}});
              }),
              "'container' must be a string");
    EXPECT_EQ(errorOf([] {
                  socketFilterFromOptions({{"netns", std::int64_t{-1}}});
              }),
              "'netns' must be a namespace inode number or name");
    core::HistoryFilter h;
    h.socket = f;
    const auto back = historyFilterFromOptions(toOptions(h));
    EXPECT_EQ(back.socket.unit, f.unit);
    EXPECT_EQ(back.socket.container, f.container);
    EXPECT_EQ(back.socket.netns, f.netns);
    const auto list = listQueryFromOptions(toOptions(core::ListQuery{f, 0, 0}));
    EXPECT_EQ(list.filter.container, f.container);
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
