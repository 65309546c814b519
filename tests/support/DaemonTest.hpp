// SPDX-License-Identifier: MIT
#pragma once

#include "support/Subprocess.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace porteye::testing {

/// A test fixture that holds one real porteyed (see DaemonProcess): startDaemon() starts it and
/// fails the test with porteyed's log when it never became ready; TearDown() stops its whole
/// process group and expects exit status 0, again with the log when not.
class DaemonTest : public ::testing::Test {
protected:
    void startDaemon(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                     std::vector<std::string> launcher = {}) {
        m_daemon = std::make_unique<DaemonProcess>(std::move(args), std::move(env), std::move(launcher));
        ASSERT_TRUE(m_daemon->ready()) << "porteyed never became ready:\n" << m_daemon->log();
    }
    /// Stops porteyed now (TearDown does it otherwise) and expects a clean exit.
    void stopDaemon() {
        if (!m_daemon) return;
        EXPECT_EQ(m_daemon->stop(), 0) << m_daemon->log();
        EXPECT_EQ(m_daemon->leftovers(), 0) << "processes outlived porteyed in its group";
        m_daemon.reset();
    }
    void TearDown() override { stopDaemon(); }

    std::unique_ptr<DaemonProcess> m_daemon;
};

}  // namespace porteye::testing
