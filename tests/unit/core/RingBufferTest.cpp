// SPDX-License-Identifier: MIT
#include "core/RingBuffer.hpp"

#include <gtest/gtest.h>

using porteye::core::RingBuffer;

TEST(RingBuffer, KeepsItemsOldestFirstUntilFull) {
    RingBuffer<int> ring(3);
    ring.push(1);
    ring.push(2);
    ASSERT_EQ(ring.size(), 2u);
    EXPECT_EQ(ring.at(0), 1);
    EXPECT_EQ(ring.at(1), 2);
    EXPECT_EQ(ring.overrunCount(), 0u);
}

TEST(RingBuffer, OverwritesOldestAndCountsOverruns) {
    RingBuffer<int> ring(3);
    for (int i = 1; i <= 7; ++i)
        ring.push(i);
    ASSERT_EQ(ring.size(), 3u);
    EXPECT_EQ(ring.at(0), 5);
    EXPECT_EQ(ring.at(2), 7);
    EXPECT_EQ(ring.overrunCount(), 4u);
}

TEST(RingBuffer, RejectsZeroCapacityAndOutOfRangeIndex) {
    EXPECT_THROW(RingBuffer<int>(0), std::invalid_argument);
    RingBuffer<int> ring(2);
    EXPECT_THROW((void)ring.at(0), std::out_of_range);
}

TEST(RingBuffer, ShrinkKeepsNewestAndCountsDropped) {
    RingBuffer<int> ring(5);
    for (int i = 1; i <= 6; ++i)
        ring.push(i);  // holds 2..6, one overrun
    ring.resize(2);
    ASSERT_EQ(ring.size(), 2u);
    EXPECT_EQ(ring.at(0), 5);
    EXPECT_EQ(ring.at(1), 6);
    EXPECT_EQ(ring.overrunCount(), 4u);
    ring.push(7);
    EXPECT_EQ(ring.at(0), 6);
    EXPECT_EQ(ring.at(1), 7);
}

TEST(RingBuffer, GrowKeepsEverything) {
    RingBuffer<int> ring(2);
    ring.push(1);
    ring.push(2);
    ring.push(3);
    ring.resize(4);
    ASSERT_EQ(ring.size(), 2u);
    EXPECT_EQ(ring.at(0), 2);
    ring.push(4);
    ring.push(5);
    EXPECT_EQ(ring.size(), 4u);
    EXPECT_EQ(ring.at(3), 5);
}
