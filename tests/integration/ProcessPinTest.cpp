// SPDX-License-Identifier: MIT
// IProcessTable::pin() on the real kernel: the pidfd names the process whatever PID reuse follows.
#include "sys/ProcProcessTable.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

using porteye::core::PinError;
using porteye::sys::ProcProcessTable;

TEST(ProcessPin, PinsALiveProcessWithAPollableExitFd) {
    ProcProcessTable table;
    auto pinned = table.pin(static_cast<std::uint32_t>(::getpid()));
    ASSERT_TRUE(pinned.ok());
    EXPECT_EQ(pinned.info.uid, ::getuid());
    ASSERT_NE(pinned.handle, nullptr);
    EXPECT_GE(pinned.handle->exitFd(), 0);
    EXPECT_FALSE(pinned.handle->exited());
}

TEST(ProcessPin, ExitFdBecomesReadableWhenTheProcessExits) {
    int gate[2];
    ASSERT_EQ(::pipe(gate), 0);
    const pid_t child = ::fork();
    if (child == 0) {
        ::close(gate[1]);
        char c;
        if (::read(gate[0], &c, 1) < 0) ::_exit(1);
        ::_exit(0);
    }
    ProcProcessTable table;
    auto pinned = table.pin(static_cast<std::uint32_t>(child));
    ASSERT_TRUE(pinned.ok());
    EXPECT_FALSE(pinned.handle->exited());
    ::close(gate[1]);  // the child exits
    pollfd p{pinned.handle->exitFd(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 5000), 1);
    EXPECT_TRUE(pinned.handle->exited());
    ::waitpid(child, nullptr, 0);
    ::close(gate[0]);
}

TEST(ProcessPin, RefusesAThreadIdNamingItsProcess) {
    std::atomic<pid_t> tid{0};
    std::atomic<bool> done{false};
    std::thread worker([&] {
        tid = static_cast<pid_t>(::syscall(SYS_gettid));
        while (!done)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (tid == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ProcProcessTable table;
    auto pinned = table.pin(static_cast<std::uint32_t>(tid.load()));
    done = true;
    worker.join();
    EXPECT_EQ(pinned.error, PinError::NotAProcess);
    EXPECT_EQ(pinned.threadGroup, static_cast<std::uint32_t>(::getpid()));
}

TEST(ProcessPin, ReportsAMissingProcess) {
    ProcProcessTable table;
    EXPECT_EQ(table.pin(4'194'303).error, PinError::NoSuchProcess);  // above any pid_max in use here
}
