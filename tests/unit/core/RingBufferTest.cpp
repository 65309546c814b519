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

TEST(RingBuffer, AllocatesNothingUpFrontAndGrowsGeometricallyUpToCapacity) {
    RingBuffer<int> ring(10'000'000);
    EXPECT_EQ(ring.allocated(), 0u);
    ring.push(1);
    EXPECT_EQ(ring.allocated(), RingBuffer<int>::kInitialSlots);
    std::size_t reallocations = 0;
    std::size_t last = ring.allocated();
    for (int i = 2; i <= 100'000; ++i) {
        ring.push(i);
        if (ring.allocated() != last) {
            ++reallocations;
            EXPECT_EQ(ring.allocated(), last * 2) << "growth is by doubling";
            last = ring.allocated();
        }
    }
    EXPECT_LE(ring.allocated(), 2u * 100'000u);
    EXPECT_LE(reallocations, 13u);
    EXPECT_EQ(ring.size(), 100'000u);
    EXPECT_EQ(ring.at(0), 1);
    EXPECT_EQ(ring.at(99'999), 100'000);
    EXPECT_EQ(ring.overrunCount(), 0u);
}

TEST(RingBuffer, GrowthStopsAtCapacityThenOverwrites) {
    RingBuffer<int> ring(20);  // not a power of two: the last growth step is clipped
    for (int i = 1; i <= 20; ++i)
        ring.push(i);
    EXPECT_EQ(ring.allocated(), 20u);
    for (int i = 21; i <= 45; ++i)
        ring.push(i);
    EXPECT_EQ(ring.allocated(), 20u);
    ASSERT_EQ(ring.size(), 20u);
    EXPECT_EQ(ring.at(0), 26);
    EXPECT_EQ(ring.at(19), 45);
    EXPECT_EQ(ring.overrunCount(), 25u);
}

TEST(RingBuffer, ResizeWhilePartlyFullKeepsOrderAndGrowsOnDemand) {
    RingBuffer<int> ring(100);
    for (int i = 1; i <= 30; ++i)
        ring.push(i);
    ring.resize(1'000'000);  // larger: nothing dropped, nothing allocated for the new room
    EXPECT_EQ(ring.capacity(), 1'000'000u);
    EXPECT_LT(ring.allocated(), 100u);
    ASSERT_EQ(ring.size(), 30u);
    EXPECT_EQ(ring.at(0), 1);
    for (int i = 31; i <= 200; ++i)
        ring.push(i);
    EXPECT_EQ(ring.size(), 200u);
    EXPECT_EQ(ring.at(0), 1);
    EXPECT_EQ(ring.at(199), 200);
    EXPECT_EQ(ring.overrunCount(), 0u);

    ring.resize(50);  // smaller while partly full: the newest 50 stay, 150 counted as overruns
    ASSERT_EQ(ring.size(), 50u);
    EXPECT_EQ(ring.at(0), 151);
    EXPECT_EQ(ring.at(49), 200);
    EXPECT_EQ(ring.overrunCount(), 150u);
    ring.push(201);
    EXPECT_EQ(ring.at(0), 152);
    EXPECT_EQ(ring.at(49), 201);

    ring.resize(60);  // from full to partly full: ten more before overwriting starts
    for (int i = 202; i <= 211; ++i)
        ring.push(i);
    EXPECT_EQ(ring.size(), 60u);
    EXPECT_EQ(ring.overrunCount(), 151u);
    EXPECT_EQ(ring.at(0), 152);
    ring.push(212);
    EXPECT_EQ(ring.at(0), 153);
    EXPECT_EQ(ring.overrunCount(), 152u);
}

TEST(RingBuffer, ResizeOfAFullRotatedRingKeepsTheNewestInOrder) {
    RingBuffer<int> ring(4);
    for (int i = 1; i <= 6; ++i)
        ring.push(i);  // 3 4 5 6, rotated
    ring.resize(8);
    for (int i = 7; i <= 10; ++i)
        ring.push(i);
    ASSERT_EQ(ring.size(), 8u);
    for (std::size_t i = 0; i < 8; ++i)
        EXPECT_EQ(ring.at(i), static_cast<int>(i) + 3);
    EXPECT_EQ(ring.overrunCount(), 2u);
}
