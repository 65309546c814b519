// SPDX-License-Identifier: MIT
// What another local user or a careless integrator can put in porteyed's way through its inputs:
// the state directory, the allowlist directory and the config (issue 19, findings 4, 7 and 9),
// and what a reload must recompute (issue 18, item 7). Real porteyed, real users, real links.
#include "support/RpcClient.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <memory>
#include <sstream>
#include <fstream>
#include <string>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::RpcClient;
using porteye::testing::TempDir;
namespace fs = std::filesystem;
constexpr auto kTimeout = std::chrono::seconds(20);

void writeFile(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

std::size_t countOf(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
        ++n;
    return n;
}

class HostileInputs : public ::testing::Test {
protected:
    std::vector<std::string> args(std::vector<std::string> extra) const {
        // No --interval: a flag would hide the config file's (these tests change it there).
        std::vector<std::string> out{"--no-bus", "--socket", m_socket, "--config", m_config};
        const auto has = [&](const std::string& flag) {
            return std::find(extra.begin(), extra.end(), flag) != extra.end();
        };
        if (!has("--network-namespaces")) out.insert(out.end(), {"--network-namespaces", "host"});
        if (!has("--state-dir")) out.insert(out.end(), {"--state-dir", ""});
        if (!has("--expected-dir")) out.insert(out.end(), {"--expected-dir", m_dir.path() + "/none"});
        out.insert(out.end(), extra.begin(), extra.end());
        return out;
    }
    json status() {
        RpcClient client(m_socket);
        return client.call("status").value("result", json());
    }
    /// A throwaway system user (removed at the end of the test).
    std::string makeUser() {
        m_user = "pehs" + std::to_string(::getpid() % 100000);
        const auto added = porteye::testing::runAccountTool({"useradd", "--system", "--no-create-home", m_user});
        EXPECT_TRUE(added.exitCode == 0 || added.exitCode == 9) << added.err;
        return m_user;
    }
    /// Runs argv as m_user, as that user would from their shell.
    porteye::testing::RunResult asUser(std::vector<std::string> argv) {
        std::vector<std::string> full{"setpriv", "--reuid=" + m_user, "--regid=" + m_user, "--clear-groups"};
        full.insert(full.end(), argv.begin(), argv.end());
        return porteye::testing::run(full);
    }
    void TearDown() override {
        if (!m_user.empty()) porteye::testing::runAccountTool({"userdel", m_user});
    }

    TempDir m_dir{0755};
    const std::string m_socket = m_dir.path() + "/s.sock";
    const std::string m_config = m_dir.path() + "/porteyed.conf";
    std::string m_user;
};

// --- Finding 4: the state directory ---

TEST_F(HostileInputs, StateDirectoryOfAnotherUserIsRefusedAndItsSymlinksNotFollowed) {
    if (::getuid() != 0) GTEST_SKIP() << "needs root for useradd";
    writeFile(m_config, "");
    const std::string user = makeUser();
    const std::string state = m_dir.path() + "/theirs";
    ASSERT_EQ(::mkdir(state.c_str(), 0755), 0);
    const passwd* pw = ::getpwnam(user.c_str());
    ASSERT_NE(pw, nullptr);
    ASSERT_EQ(::chown(state.c_str(), pw->pw_uid, pw->pw_gid), 0);
    const std::string target = m_dir.path() + "/nologin";  // stands for /etc/nologin
    ASSERT_EQ(asUser({"ln", "-s", target, state + "/porteyed.lock"}).exitCode, 0);
    ASSERT_EQ(asUser({"ln", "-s", target + ".db", state + "/history.db"}).exitCode, 0);

    DaemonProcess daemon(args({"--event-source", "off", "--state-dir", state}));
    ASSERT_TRUE(daemon.ready()) << daemon.log();  // in-memory history instead
    const json s = status();
    const std::string store = s.value("store", "");
    EXPECT_EQ(store.rfind("failed: ", 0), 0u) << s.dump();
    EXPECT_NE(store.find("not safe"), std::string::npos) << store;
    EXPECT_NE(store.find("uid " + std::to_string(pw->pw_uid)), std::string::npos) << store;
    EXPECT_FALSE(fs::exists(target)) << "porteyed (root) followed the other user's symlink";
    EXPECT_FALSE(fs::exists(target + ".db"));
}

TEST_F(HostileInputs, StateFileSymlinkIsRefusedEvenInAnOwnDirectory) {
    writeFile(m_config, "");
    const std::string state = m_dir.path() + "/state";
    ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
    const std::string target = m_dir.path() + "/elsewhere.db";
    fs::create_symlink(target, state + "/history.db");
    DaemonProcess daemon(args({"--event-source", "off", "--state-dir", state}));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    const std::string store = status().value("store", "");
    EXPECT_NE(store.find("symlink"), std::string::npos) << store;
    EXPECT_FALSE(fs::exists(target));
}

TEST_F(HostileInputs, StateDirectoryWritableByOthersIsRefused) {
    writeFile(m_config, "");
    const std::string state = m_dir.path() + "/open";
    ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
    ASSERT_EQ(::chmod(state.c_str(), 0777), 0);
    DaemonProcess daemon(args({"--event-source", "off", "--state-dir", state}));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    const std::string store = status().value("store", "");
    EXPECT_NE(store.find("writable by every user"), std::string::npos) << store;
    EXPECT_FALSE(fs::exists(state + "/history.db"));
}

TEST_F(HostileInputs, StateFilesArePrivateWhateverTheUmask) {
    writeFile(m_config, "");
    const std::string state = m_dir.path() + "/state";
    const mode_t old = ::umask(022);  // the umask porteyed inherits outside the unit (UMask=0077 there)
    {
        DaemonProcess daemon(args({"--event-source", "off", "--state-dir", state}));
        ::umask(old);
        ASSERT_TRUE(daemon.ready()) << daemon.log();
        ASSERT_EQ(status().value("store", ""), "ok");
        for (const char* name : {"history.db", "history.db-wal", "history.db-shm", "porteyed.lock"}) {
            struct stat st {};
            ASSERT_EQ(::stat((state + "/" + name).c_str(), &st), 0) << name;
            EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
        }
    }
}

TEST_F(HostileInputs, NewerSchemaIsLeftAsItWas) {
    writeFile(m_config, "");
    const std::string state = m_dir.path() + "/state";
    ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
    const std::string db = state + "/history.db";
    const auto made = porteye::testing::run(
        {"python3", "-c",
         "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA user_version=99'); c.commit()", db});
    ASSERT_EQ(made.exitCode, 0) << made.err;
    {
        DaemonProcess daemon(args({"--event-source", "off", "--state-dir", state}));
        ASSERT_TRUE(daemon.ready()) << daemon.log();
        EXPECT_NE(status().value("store", "").find("newer porteyed"), std::string::npos);
    }
    const auto mode = porteye::testing::run(
        {"python3", "-c",
         "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode').fetchone()[0])", db});
    EXPECT_EQ(mode.out, "delete\n") << "an older porteyed switched a newer database to WAL";
}

// --- Finding 7: the allowlist directory ---

TEST_F(HostileInputs, UnusableAllowlistFilesAreErrorsAndAlertsStayOn) {
    writeFile(m_config, "");
    const std::string dir = m_dir.path() + "/expected.d";
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    ASSERT_EQ(::mkfifo((dir + "/fifo.conf").c_str(), 0644), 0);  // opened blocking, it hung porteyed before READY
    fs::create_symlink(m_dir.path() + "/moved-away.conf", dir + "/dangling.conf");
    fs::create_symlink("/dev/zero", dir + "/zero.conf");
    ASSERT_EQ(::mkdir((dir + "/sub.conf").c_str(), 0755), 0);

    DaemonProcess daemon(args({"--event-source", "off", "--expected-dir", dir}));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    const json s = status();
    EXPECT_TRUE(s.value("expected_active", false)) << "rules exist: alerts must stay on, not fail open\n" << s.dump();
    EXPECT_EQ(s.value("expected_rules", 1), 0) << s.dump();
    const std::string log = daemon.log();
    for (const char* name : {"fifo.conf", "dangling.conf", "zero.conf", "sub.conf"})
        EXPECT_NE(log.find(dir + "/" + std::string(name) + ": "), std::string::npos) << name << "\n" << log;
    EXPECT_NE(log.find("none of the 4 *.conf"), std::string::npos) << log;
    EXPECT_EQ(log.find("alerts are off"), std::string::npos) << log;
}

TEST_F(HostileInputs, DuplicateRulesAreOneLinePerFile) {
    writeFile(m_config, "");
    const std::string dir = m_dir.path() + "/expected.d";
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    std::string rules;
    for (int i = 0; i < 500; ++i)
        rules += "tcp 127.0.0.1:4242\n";
    writeFile(dir + "/dup.conf", rules);
    DaemonProcess daemon(args({"--event-source", "off", "--expected-dir", dir}));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    const std::string log = daemon.log();
    std::size_t lines = 0;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);)
        lines += line.find("duplicate") != std::string::npos ? 1 : 0;
    EXPECT_EQ(lines, 1u) << log.substr(0, 2000);
    EXPECT_NE(log.find("499 rules duplicate"), std::string::npos) << log.substr(0, 2000);
}

// --- Finding 8: namespaces ---

TEST_F(HostileInputs, NamespacesOfOneUserAreFollowedUpToTheCap) {
    if (::getuid() != 0) GTEST_SKIP() << "needs root for useradd and to enter namespaces";
    writeFile(m_config, "interval = 0.1\n");
    const std::string user = makeUser();
    const passwd* pw = ::getpwnam(user.c_str());
    ASSERT_NE(pw, nullptr);
    // What `unshare -rn` in a loop does: each process its own user and network namespace.
    std::vector<std::unique_ptr<porteye::testing::Subprocess>> holders;
    for (int i = 0; i < 5; ++i)
        holders.push_back(std::make_unique<porteye::testing::Subprocess>(
            std::vector<std::string>{"setpriv", "--reuid=" + user, "--regid=" + user, "--clear-groups", "unshare",
                                     "-rn", "sh", "-c", "echo up; exec sleep 600"}));
    for (auto& h : holders)
        ASSERT_TRUE(h->waitForOutput("up", std::chrono::seconds(10)));
    DaemonProcess daemon(
        args({"--event-source", "off", "--network-namespaces", "all", "--max-namespaces-per-uid", "2"}));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    const std::string expected = "3 namespaces of uid " + std::to_string(pw->pw_uid) + " not followed: limit";
    std::string said;
    EXPECT_TRUE(porteye::testing::eventually([&] {
        said = status().value("network_namespaces", "");
        return said.find(expected) != std::string::npos;
    })) << said
        << "\n"
        << daemon.log();
    EXPECT_EQ(countOf(daemon.log(), "limit of 2 followed reached"), 1u) << daemon.log();
    // One goes: another of the same uid takes its place.
    holders.front().reset();
    EXPECT_TRUE(porteye::testing::eventually([&] {
        said = status().value("network_namespaces", "");
        return said.find("2 namespaces of uid " + std::to_string(pw->pw_uid) + " not followed") != std::string::npos;
    })) << said;
}

// --- Finding 9: config numbers and keys ---

TEST_F(HostileInputs, NonFiniteIntervalsAreRefusedOnTheCommandLineAndInTheFile) {
    writeFile(m_config, "");
    for (const std::string value : {"nan", "-nan", "inf", "NaN"}) {
        for (const char* flag : {"--interval", "--reconcile-interval"}) {
            const auto r = porteye::testing::run(
                {porteye::testing::porteyedPath(), "--no-bus", "--socket", "", "--config", m_config, flag, value}, {},
                std::chrono::seconds(5));
            EXPECT_EQ(r.exitCode, 2) << flag << " " << value << ": " << r.err;
        }
        writeFile(m_config, "interval = " + value + "\n");
        const auto r =
            porteye::testing::run({porteye::testing::porteyedPath(), "--no-bus", "--socket", "", "--config", m_config},
                                  {}, std::chrono::seconds(5));
        EXPECT_EQ(r.exitCode, 2) << "interval = " << value << ": " << r.err;
    }
}

TEST_F(HostileInputs, NanOnReloadKeepsTheRunningInterval) {
    writeFile(m_config, "interval = 0.1\n");
    DaemonProcess daemon(args({"--event-source", "off"}));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    writeFile(m_config, "interval = nan\n");
    ::kill(daemon.process().pid(), SIGHUP);
    ASSERT_TRUE(porteye::testing::eventually([&] {
        return daemon.log().find("keeping the running one") != std::string::npos;
    })) << daemon.log();
    const json s = status();
    EXPECT_TRUE(s.contains("poll_interval")) << s.dump();
    EXPECT_DOUBLE_EQ(s.value("poll_interval", 0.0), 0.1) << s.dump();
}

TEST_F(HostileInputs, UnknownConfigKeysAreNamedAndRefusedWithStrict) {
    writeFile(m_config, "metric_listen = 127.0.0.1:9656\njust some words\nhistory_size = 77\n");
    {
        DaemonProcess daemon(args({"--event-source", "off"}));
        ASSERT_TRUE(daemon.ready()) << daemon.log();
        const std::string log = daemon.log();
        EXPECT_NE(log.find(m_config + ":1: unknown key 'metric_listen'"), std::string::npos) << log;
        EXPECT_NE(log.find(m_config + ":2: 'just some words' is not a 'key = value' line"), std::string::npos) << log;
        EXPECT_NE(log.find("'history_size' is deprecated; write 'history_capacity'"), std::string::npos) << log;
        EXPECT_EQ(status().value("history_capacity", 0), 77) << "the old key still works";
        // And on reload: the same file, the same names.
        ::kill(daemon.process().pid(), SIGHUP);
        ASSERT_TRUE(porteye::testing::eventually([&] {
            return countOf(daemon.log(), "unknown key 'metric_listen'") == 2;
        })) << daemon.log();
    }
    const auto strict = porteye::testing::run(
        {porteye::testing::porteyedPath(), "--no-bus", "--socket", "", "--config", m_config, "--strict"}, {},
        std::chrono::seconds(5));
    EXPECT_EQ(strict.exitCode, 2) << strict.err;
    EXPECT_NE(strict.err.find("unknown key 'metric_listen'"), std::string::npos) << strict.err;
}

// --- Issue 17.4: one header of limits ---

TEST_F(HostileInputs, PorteyectlRefusesAWatchIntervalPorteyedWouldRefuse) {
    const auto r = porteye::testing::run(
        {porteye::testing::porteyectlPath(), "--socket", m_socket, "watch", "1", "--interval", "86400"}, {},
        std::chrono::seconds(5));
    EXPECT_EQ(r.exitCode, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("between 0.05 and 3600"), std::string::npos) << r.err;
}

// --- Issue 18.7: reload recomputes what depends on the interval ---

TEST_F(HostileInputs, ReloadingTheIntervalKeepsTheReconcileOnTime) {
    writeFile(m_config, "interval = 0.1\nreconcile_interval = 1\n");
    auto a = args({"--event-source", "tracepoint", "--log-level", "debug"});
    DaemonProcess daemon(a);
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    if (status().value("event_source", "").rfind("tracepoint", 0) != 0)
        GTEST_SKIP() << "no kernel event source here: " << status().dump();
    // 0.1 s -> 0.5 s: a reconcile every 10 polls would now come every 5 s, not every 1 s.
    writeFile(m_config, "interval = 0.5\nreconcile_interval = 1\n");
    ::kill(daemon.process().pid(), SIGHUP);
    std::size_t after = std::string::npos;
    ASSERT_TRUE(porteye::testing::eventually([&] {
        const std::string log = daemon.log();
        after = log.find("connections now dumped every");
        return after != std::string::npos;
    })) << daemon.log();
    EXPECT_NE(daemon.log().find("connections now dumped every 2 polls"), std::string::npos) << daemon.log();
    // Two reconciles within 3.5 s of the reload: 1 s apart, with room for a loaded machine.
    EXPECT_TRUE(porteye::testing::eventually(
        [&] { return countOf(daemon.log().substr(after), "reconcile: the host's connections dumped") >= 2; },
        std::chrono::milliseconds(3500)))
        << daemon.log().substr(after);
}

}  // namespace
}  // namespace porteye::control
