// SPDX-License-Identifier: MIT
// Who a control-socket client is: what the kernel vouches for at connect time (SO_PEERCRED,
// SO_PEERGROUPS), not what the user database or /proc says later.
#include "support/RpcClient.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::RpcClient;
using porteye::testing::run;
using porteye::testing::runAccountTool;
using porteye::testing::TempDir;

/// In a child with `groups` as its supplementary groups and the user's uid and gid: 0 when
/// `status` says host_wide == expectHostWide, else a code naming the failed step.
int statusAs(const passwd& user, const std::vector<gid_t>& groups, const std::string& path, bool expectHostWide) {
    const pid_t child = ::fork();
    if (child == 0) {
        if (::setgroups(groups.size(), groups.data()) != 0 || ::setresgid(user.pw_gid, user.pw_gid, user.pw_gid) != 0 ||
            ::setresuid(user.pw_uid, user.pw_uid, user.pw_uid) != 0)
            ::_exit(10);
        RpcClient client(path);
        const json reply = client.call("status");
        if (!reply.contains("result")) ::_exit(11);
        ::_exit(reply["result"]["host_wide"] == expectHostWide ? 0 : 12);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ControlSocketIdentity, SupplementaryGroupsAreTheKernelsNotTheUserDatabases) {
    if (::getuid() != 0) GTEST_SKIP() << "needs root for groupadd, useradd and setresuid";
    // The privileged group; made here when the host has none. It is left in place: other test
    // executables running in parallel may hold users in it (the package makes it anyway).
    if (::getgrnam("porteye") == nullptr) {
        const auto made = runAccountTool({"groupadd", "--system", "porteye"});
        ASSERT_NE(::getgrnam("porteye"), nullptr) << made.err;
    }
    const gid_t porteyeGid = ::getgrnam("porteye")->gr_gid;
    const std::string name = "pei" + std::to_string(::getpid() % 100000);
    const auto added = runAccountTool({"useradd", "--system", "--no-create-home", "-G", "porteye", name});
    ASSERT_EQ(added.exitCode, 0) << added.err;
    const passwd user = *::getpwnam(name.c_str());
    {
        TempDir dir(0755);
        const std::string path = dir.path() + "/s.sock";
        DaemonProcess daemon({"--no-bus", "--socket", path, "--config", "/dev/null"});
        ASSERT_TRUE(daemon.ready()) << daemon.log();
        // Holding the group (as a login session does): privileged, from SO_PEERGROUPS.
        EXPECT_EQ(statusAs(user, {porteyeGid}, path, true), 0) << daemon.log();
        // The user database lists the user in porteye, but this process dropped the group:
        // the kernel's word wins, so it is an ordinary user.
        EXPECT_EQ(statusAs(user, {}, path, false), 0) << daemon.log();
        EXPECT_EQ(daemon.stop(), 0) << daemon.log();
    }
    runAccountTool({"userdel", name});
}

}  // namespace
}  // namespace porteye::control
