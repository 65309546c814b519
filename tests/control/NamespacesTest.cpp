// SPDX-License-Identifier: MIT
// Sockets of other network namespaces, on the real kernel: listeners made here in namespaces
// made here (`unshare -n`, `ip netns add`), seen by a real porteyed through the control socket,
// entered by porteyed itself (root) or through porteye-netns-helper (an unprivileged daemon).
#include "support/RpcClient.hpp"
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::eventually;
using porteye::testing::RpcClient;
using porteye::testing::Subprocess;
using porteye::testing::TempDir;
constexpr auto kTimeout = std::chrono::seconds(20);
constexpr int kPort = 7411;  // free in a namespace of its own

// A listener on 127.0.0.1:kPort inside a network namespace; the process is the namespace's
// only one, so the namespace goes when it does. `prefix` enters the namespace (unshare -n,
// ip netns exec NAME); exec keeps the pid.
std::unique_ptr<Subprocess> listenerIn(std::vector<std::string> prefix) {
    const std::string script =
        "ip link set lo up; exec python3 -c \""
        "import socket,time\n"
        "s=socket.socket(); s.bind(('127.0.0.1'," +
        std::to_string(kPort) +
        ")); s.listen()\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n\"";
    prefix.insert(prefix.end(), {"sh", "-c", script});
    auto p = std::make_unique<Subprocess>(prefix);
    if (!p->waitForOutput("ready", kTimeout)) ADD_FAILURE() << "the listener did not start: " << p->err();
    return p;
}

std::uint64_t netnsOf(pid_t pid) {
    struct stat st {};
    return ::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) == 0 ? st.st_ino : 0;
}

class Namespaces : public porteye::testing::DaemonTest {
protected:
    void start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--no-bus",  "--socket",    m_path, "--interval", "0.2", "--config",
                                      "/dev/null", "--state-dir", ""};
        // Every namespace is what these tests are about (the fixture follows the host's only otherwise).
        if (std::find(extra.begin(), extra.end(), "--network-namespaces") == extra.end())
            args.insert(args.end(), {"--network-namespaces", "all"});
        args.insert(args.end(), extra.begin(), extra.end());
        startDaemon(args);
    }
    json listenersOn(std::uint16_t port, bool wantSome = true) {
        RpcClient client(m_path);
        json result = json::array();
        eventually(
            [&] {
                const json reply = client.call("list", {{"port", port}, {"state", "LISTEN"}});
                result = reply.value("result", json::array());
                return result.empty() != wantSome;
            },
            wantSome ? kTimeout : std::chrono::seconds(2));
        return result;
    }
    json status() {
        RpcClient client(m_path);
        return client.call("status").value("result", json::object());
    }

    TempDir m_dir{0755};
    const std::string m_path = m_dir.path() + "/s.sock";
};

TEST_F(Namespaces, AListenerInAnUnshareNamespaceIsListedWithItsNamespaceAndPidAndItsCloseIsSeen) {
    start();
    auto holder = listenerIn({"unshare", "-n"});
    const pid_t pid = holder->pid();
    const std::uint64_t netns = netnsOf(pid);
    ASSERT_NE(netns, 0u);
    const json records = listenersOn(kPort);
    json mine;
    for (const auto& r : records)
        if (r["pid"] == pid) mine = r;
    ASSERT_FALSE(mine.is_null()) << records.dump() << "\n" << m_daemon->log();
    EXPECT_EQ(mine["netns"], netns);
    EXPECT_EQ(mine["process"], "python3");
    EXPECT_NE(status()["network_namespaces"].get<std::string>().find("all"), std::string::npos);

    holder->stop(9);
    RpcClient client(m_path);
    json removed;
    ASSERT_TRUE(eventually(
        [&] {
            const json h = client.call("history", {{"port", kPort}, {"action", "removed"}});
            for (const auto& e : h.value("result", json::array()))
                if (e["record"]["pid"] == pid) removed = e;
            return !removed.is_null();
        },
        kTimeout))
        << m_daemon->log();
    EXPECT_EQ(removed["record"]["netns"], netns);
}

TEST_F(Namespaces, ANamespaceMadeWithIpNetnsAddCarriesItsName) {
    const std::string name = "porteye-test-" + std::to_string(::getpid());
    ASSERT_EQ(porteye::testing::run({"ip", "netns", "add", name}).exitCode, 0);
    struct Cleanup {
        std::string name;
        ~Cleanup() { porteye::testing::run({"ip", "netns", "del", name}); }
    } cleanup{name};
    start();
    auto holder = listenerIn({"ip", "netns", "exec", name});
    json mine;
    for (const auto& r : listenersOn(kPort))
        if (r["pid"] == holder->pid()) mine = r;
    ASSERT_FALSE(mine.is_null()) << m_daemon->log();
    EXPECT_EQ(mine["netns_name"], name);
}

TEST_F(Namespaces, HostOnlyLeavesOtherNamespacesOutAndSaysSo) {
    start({"--network-namespaces", "host"});
    auto holder = listenerIn({"unshare", "-n"});
    // A listener in porteyed's own namespace, opened after the other: once it is listed, the
    // other would have been too.
    porteye::testing::PortHolder own;
    const auto ownPort = own.open();
    ASSERT_FALSE(listenersOn(ownPort).empty()) << m_daemon->log();
    for (const auto& r : listenersOn(kPort, false))
        EXPECT_NE(r["pid"], holder->pid()) << "a namespace other than porteyed's own";
    EXPECT_NE(status()["network_namespaces"].get<std::string>().find("own only"), std::string::npos);
}

TEST_F(Namespaces, AWatchOfAProcessInAnotherNamespaceSeesThePortsItOpens) {
    start();
    // It listens a moment after it starts, so the watch sees the port open.
    Subprocess holder({"unshare", "-n", "sh", "-c",
                       "ip link set lo up; exec python3 -c \"import socket,time\n"
                       "time.sleep(0.5)\n"
                       "s=socket.socket(); s.bind(('127.0.0.1'," +
                           std::to_string(kPort) +
                           ")); s.listen()\n"
                           "time.sleep(600)\n\""});
    RpcClient client(m_path);
    const json reply = client.call("watch", {{"pid", holder.pid()}, {"interval", 0.1}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto id = reply["result"]["watch"];
    const auto opened = client.waitNotification("watch.changed", [&](const json& p) {
        if (p["watch"] != id) return false;
        for (const auto& port : p["new_ports"])
            if (port == kPort) return true;
        return false;
    });
    EXPECT_TRUE(opened) << "the watch placed the inode from the process's own namespace\n" << m_daemon->log();
    holder.stop(9);
}

// The unit's split: porteyed runs without CAP_SYS_ADMIN and enters namespaces only through the
// helper, which holds it. Here root runs the helper (socket-activated, as the unit does) and an
// unprivileged porteyed with the unit's two capabilities asks it.
TEST_F(Namespaces, AnUnprivilegedDaemonEntersNamespacesThroughTheHelperOnly) {
    const auto user = "porteye-ns-" + std::to_string(::getpid() % 100000);
    porteye::testing::runAccountTool({"useradd", "--system", "--no-create-home", user});
    struct Cleanup {
        std::string user;
        ~Cleanup() { porteye::testing::runAccountTool({"userdel", user}); }
    } cleanup{user};
    const std::string helperSocket = m_dir.path() + "/helper.sock";
    Subprocess helper(
        {"systemd-socket-activate", "--seqpacket", "-l", helperSocket, porteye::testing::netnsHelperPath()});
    ASSERT_TRUE(eventually([&] {
        struct stat st {};
        return ::stat(helperSocket.c_str(), &st) == 0;
    }));
    ASSERT_EQ(porteye::testing::run({"chown", user, helperSocket}).exitCode, 0);
    ASSERT_EQ(porteye::testing::run({"chmod", "0600", helperSocket}).exitCode, 0);
    ASSERT_EQ(porteye::testing::run({"chown", user, m_dir.path()}).exitCode, 0);

    // porteyed itself, as that user with only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH.
    std::vector<std::string> args{"setpriv",
                                  "--reuid",
                                  user,
                                  "--regid",
                                  "nogroup",
                                  "--clear-groups",
                                  "--inh-caps",
                                  "-all,+sys_ptrace,+dac_read_search",
                                  "--ambient-caps",
                                  "-all,+sys_ptrace,+dac_read_search",
                                  "--bounding-set",
                                  "-all,+sys_ptrace,+dac_read_search",
                                  porteye::testing::porteyedPath(),
                                  "--no-bus",
                                  "--socket",
                                  m_path,
                                  "--interval",
                                  "0.2",
                                  "--config",
                                  "/dev/null",
                                  "--state-dir",
                                  "",
                                  "--netns-helper",
                                  helperSocket};
    Subprocess daemon(args);
    ASSERT_TRUE(eventually([&] { return RpcClient(m_path).connected(); }, kTimeout)) << daemon.err();
    auto holder = listenerIn({"unshare", "-n"});
    json mine;
    for (const auto& r : listenersOn(kPort))
        if (r["pid"] == holder->pid()) mine = r;
    ASSERT_FALSE(mine.is_null()) << status().dump() << "\n" << daemon.err();
    EXPECT_EQ(mine["netns"], netnsOf(holder->pid()));
    EXPECT_NE(status()["network_namespaces"].get<std::string>().find("helper"), std::string::npos);

    // Without the helper, the same daemon cannot enter namespaces and says so.
    daemon.stop();
    helper.stop();
    ::unlink(helperSocket.c_str());
    Subprocess alone(args);
    ASSERT_TRUE(eventually([&] { return RpcClient(m_path).connected(); }, kTimeout)) << alone.err();
    EXPECT_NE(status()["network_namespaces"].get<std::string>().find("own only"), std::string::npos) << status().dump();
    alone.stop();
}

// Finding 8 of the third hostile-users round: one connection to the socket-activated helper
// that never sends a request held the helper, which served one peer at a time, and so held
// porteyed's start for as long as that peer waited.
TEST_F(Namespaces, AnIdlePeerOfTheHelperHoldsNoOneElseUp) {
    const std::string helperSocket = m_dir.path() + "/helper.sock";
    Subprocess helper(
        {"systemd-socket-activate", "--seqpacket", "-l", helperSocket, porteye::testing::netnsHelperPath()});
    ASSERT_TRUE(eventually([&] {
        struct stat st {};
        return ::stat(helperSocket.c_str(), &st) == 0;
    }));
    Subprocess idle({"python3", "-c",
                     "import socket,sys,time\n"
                     "s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])\n"
                     "print('up', flush=True); time.sleep(600)",
                     helperSocket});
    ASSERT_TRUE(idle.waitForOutput("up", kTimeout)) << idle.err();
    auto holder = listenerIn({"unshare", "-n"});
    start({"--netns-helper", helperSocket});
    json mine;
    for (const auto& r : listenersOn(kPort))
        if (r["pid"] == holder->pid()) mine = r;
    ASSERT_FALSE(mine.is_null()) << status().dump() << "\n" << m_daemon->log() << helper.err();
    EXPECT_EQ(mine["netns"], netnsOf(holder->pid()));
}

// The other half of finding 8: a helper that accepts and never answers (stopped, stuck) cost
// porteyed its start, waiting without a timeout. Now one request waits at most
// HelperNetnsOpener::kTimeoutMs, the namespace is reported as not followed, and porteyed runs.
TEST_F(Namespaces, AHelperThatNeverAnswersCostsATimeoutNotTheStart) {
    const std::string helperSocket = m_dir.path() + "/stuck.sock";
    Subprocess stuck({"python3", "-c",
                      "import socket,sys,time\n"
                      "s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1]); s.listen()\n"
                      "print('up', flush=True)\n"
                      "held=[]\n"
                      "while True: held.append(s.accept()[0])",
                      helperSocket});
    ASSERT_TRUE(stuck.waitForOutput("up", kTimeout)) << stuck.err();
    auto holder = listenerIn({"unshare", "-n"});
    start({"--netns-helper", helperSocket});
    EXPECT_TRUE(eventually(
        [&] {
            const std::string log = m_daemon->log();
            return log.find("is not followed") != std::string::npos && log.find("timed out") != std::string::npos;
        },
        kTimeout))
        << m_daemon->log();
    // Still serving: its own namespace's sockets are listed, the other's is not claimed.
    for (const auto& r : listenersOn(kPort, false))
        EXPECT_NE(r["pid"], holder->pid()) << r.dump();
    EXPECT_TRUE(status().contains("network_namespaces")) << status().dump();
}

}  // namespace
}  // namespace porteye::control
