// SPDX-License-Identifier: MIT
#include "journal/AlertLimiter.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace porteye::journal {
namespace {

core::UnexpectedListener alertOf(std::uint32_t uid, const std::string& unit = {}) {
    core::UnexpectedListener a;
    a.event.record.uid = uid;
    if (!unit.empty()) {
        auto d = std::make_shared<core::ProcessDetails>();
        d->unit = unit;
        a.event.record.details = d;
    }
    a.reason = "no rule for tcp port";
    return a;
}

TEST(AlertLimiter, OneUidsBurstIsCutAndSummarisedWhileAnotherUidStillPasses) {
    AlertLimiter limiter(AlertLimits{1, 20, 1024});
    const std::vector<core::UnexpectedListener> flood(300, alertOf(1000));
    EXPECT_EQ(limiter.admit(flood, 1'000'000).size(), 20U);
    EXPECT_EQ(limiter.heldBackTotal(), 280U);
    EXPECT_EQ(limiter.admit({alertOf(1001)}, 1'000'000).size(), 1U) << "another user's bucket is its own";
    // The summary waits for its interval, then says how many, for whom, and starts again.
    EXPECT_TRUE(limiter.heldBack(2'000'000, 5'000'000).empty());
    const auto held = limiter.heldBack(6'000'000, 5'000'000);
    ASSERT_EQ(held.size(), 1U);
    EXPECT_EQ(held[0].uid, 1000U);
    EXPECT_EQ(held[0].count, 280U);
    EXPECT_TRUE(limiter.heldBack(60'000'000, 5'000'000).empty());
    // The bucket refills at its rate: 5 s later, 5 more.
    EXPECT_EQ(limiter.admit(flood, 6'000'000).size(), 5U);
}

TEST(AlertLimiter, RootsAndSystemServicesAlertsAlwaysPass) {
    AlertLimiter limiter(AlertLimits{1, 1, 1024});
    EXPECT_EQ(limiter.admit(std::vector<core::UnexpectedListener>(100, alertOf(0)), 0).size(), 100U);
    EXPECT_EQ(limiter.admit(std::vector<core::UnexpectedListener>(100, alertOf(998, "nginx.service")), 0).size(), 100U);
    // A user's own units never read as a system service.
    EXPECT_EQ(limiter.admit(std::vector<core::UnexpectedListener>(5, alertOf(1000, "user@1000.service/app.service")), 0)
                  .size(),
              1U);
    EXPECT_EQ(limiter.admit(std::vector<core::UnexpectedListener>(5, alertOf(1002, "session-3.scope")), 0).size(), 1U);
    EXPECT_EQ(limiter.heldBackTotal(), 8U);
}

TEST(AlertLimiter, UidsPastTheCapShareOneBucket) {
    AlertLimiter limiter(AlertLimits{0, 1, 2});
    EXPECT_EQ(limiter.admit({alertOf(1), alertOf(2), alertOf(3), alertOf(4)}, 0).size(), 3U);
}

}  // namespace
}  // namespace porteye::journal
