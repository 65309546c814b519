// SPDX-License-Identifier: MIT
// The host view's process details on the real kernel: a process this test makes, with a known
// command line, holds a listener; what porteyed reports of it must be what /proc says. And the
// permission check: what porteyed can see, in status and as porteyectl's notice.
// The host is shared: only processes made here are asserted on.
#include "core/CgroupUnit.hpp"
#include "core/Escape.hpp"
#include "support/RpcClient.hpp"
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::RpcClient;
using porteye::testing::Subprocess;
using porteye::testing::TempDir;
constexpr auto kTimeout = std::chrono::seconds(20);

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// A python3 listener with a marker in its argv; its port is its first line of output.
class MarkedListener {
public:
    explicit MarkedListener(const std::string& marker)
        : m_process({"python3", "-c",
                     "import socket,sys,time\n"
                     "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
                     "print(s.getsockname()[1], flush=True)\n"
                     "x=bytearray(8<<20)\n"  // some resident memory to see
                     "time.sleep(600)\n",
                     marker}) {
        if (m_process.waitForOutput([](const std::string& out) { return out.find('\n') != std::string::npos; },
                                    kTimeout))
            m_port = static_cast<std::uint16_t>(std::stoi(m_process.out()));
    }
    ~MarkedListener() { m_process.stop(9); }
    std::uint16_t port() const { return m_port; }
    pid_t pid() const { return m_process.pid(); }

private:
    Subprocess m_process;
    std::uint16_t m_port = 0;
};

/// /proc's own answers for `pid`, computed here the slow, obvious way.
struct ProcTruth {
    std::string cmdline, exe, user, unit;
    std::uint64_t startTimeUs = 0;
};

ProcTruth truthOf(pid_t pid) {
    const std::string dir = "/proc/" + std::to_string(pid);
    ProcTruth t;
    t.cmdline = slurp(dir + "/cmdline");
    while (!t.cmdline.empty() && t.cmdline.back() == '\0')
        t.cmdline.pop_back();
    std::replace(t.cmdline.begin(), t.cmdline.end(), '\0', ' ');
    t.cmdline = core::escapeUntrusted(t.cmdline);  // the script's newlines arrive as \x0a
    t.exe = core::escapeUntrusted(std::filesystem::read_symlink(dir + "/exe").string());
    struct stat st {};
    ::stat(dir.c_str(), &st);
    t.user = ::getpwuid(st.st_uid)->pw_name;
    t.unit = core::unitFromCgroup(slurp(dir + "/cgroup"));
    const std::string stat = slurp(dir + "/stat");
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 22 && fields >> field; ++i) {
    }
    std::istringstream procStat(slurp("/proc/stat"));
    std::string line;
    std::uint64_t btime = 0;
    while (std::getline(procStat, line))
        if (line.rfind("btime ", 0) == 0) btime = std::stoull(line.substr(6));
    t.startTimeUs =
        btime * 1'000'000 + std::stoull(field) * 1'000'000 / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
    return t;
}

class HostDetails : public porteye::testing::DaemonTest {
protected:
    void SetUp() override {
        startDaemon({"--no-bus", "--socket", m_path, "--interval", "0.1", "--config", "/dev/null"});
    }

    /// The records of `port`, once porteyed has them.
    json recordsOf(std::uint16_t port) {
        RpcClient client(m_path);
        json reply;
        porteye::testing::eventually(
            [&] {
                reply = client.call("list", {{"port", port}});
                return reply.contains("result") && !reply["result"].empty();
            },
            kTimeout);
        return reply.value("result", json::array());
    }

    TempDir m_dir{0755};
    const std::string m_path = m_dir.path() + "/s.sock";
};

TEST_F(HostDetails, ARecordCarriesItsHoldersDetailsAsProcSaysThem) {
    MarkedListener holder("marker-XYZ-details");
    ASSERT_NE(holder.port(), 0) << "the python3 listener did not start";
    const json records = recordsOf(holder.port());
    ASSERT_EQ(records.size(), 1U) << records.dump();
    const json& r = records[0];
    const ProcTruth truth = truthOf(holder.pid());
    EXPECT_EQ(r["pid"], holder.pid());
    EXPECT_EQ(r["cmdline"], truth.cmdline);
    EXPECT_NE(truth.cmdline.find("marker-XYZ-details"), std::string::npos);
    EXPECT_EQ(r["exe"], truth.exe);
    EXPECT_EQ(r["user"], truth.user);
    EXPECT_EQ(r["start_time"], truth.startTimeUs);
    if (truth.unit.empty()) {
        EXPECT_TRUE(r["unit"].is_null()) << r.dump();
    } else {
        EXPECT_EQ(r["unit"], truth.unit);
    }
    ASSERT_TRUE(r["memory_rss"].is_number_unsigned()) << r.dump();
    EXPECT_GT(r["memory_rss"].get<std::uint64_t>(), 8U << 20) << "the holder keeps 8 MiB resident";
    ASSERT_TRUE(r["cpu_percent"].is_number()) << r.dump();
    EXPECT_GE(r["cpu_percent"].get<double>(), 0.0);
}

TEST_F(HostDetails, HistoryCarriesDetailsButNoUsage) {
    MarkedListener holder("marker-XYZ-history");
    ASSERT_NE(holder.port(), 0);
    recordsOf(holder.port());
    RpcClient client(m_path);
    json reply;
    porteye::testing::eventually(
        [&] {
            reply = client.call("history", {{"port", holder.port()}});
            return reply.contains("result") && !reply["result"].empty();
        },
        kTimeout);
    ASSERT_FALSE(reply.value("result", json::array()).empty()) << reply.dump();
    const json& record = reply["result"][0]["record"];
    EXPECT_EQ(record["cmdline"], truthOf(holder.pid()).cmdline);
    EXPECT_TRUE(record["cpu_percent"].is_null()) << "usage is of the moment a list is answered";
    EXPECT_TRUE(record["memory_rss"].is_null());
}

TEST_F(HostDetails, PorteyectlListJsonCarriesTheKeysAndExtendedShowsThem) {
    MarkedListener holder("marker-XYZ-cli");
    ASSERT_NE(holder.port(), 0);
    recordsOf(holder.port());
    const auto port = std::to_string(holder.port());
    const auto asJson = porteye::testing::run(
        {porteye::testing::porteyectlPath(), "--socket", m_path, "--json", "list", "--port", port});
    ASSERT_EQ(asJson.exitCode, 0) << asJson.err;
    const auto records = json::parse(asJson.out);
    ASSERT_EQ(records.size(), 1U) << asJson.out;
    for (const char* key : {"cmdline", "user", "exe", "start_time", "unit", "cpu_percent", "memory_rss"})
        EXPECT_TRUE(records[0].contains(key)) << key << " in " << asJson.out;
    EXPECT_NE(records[0]["cmdline"].get<std::string>().find("marker-XYZ-cli"), std::string::npos);
    if (::geteuid() == 0) {
        EXPECT_TRUE(asJson.err.empty()) << "root's porteyed sees everything: no notice\n" << asJson.err;
    }

    const auto table =
        porteye::testing::run({porteye::testing::porteyectlPath(), "--socket", m_path, "list", "-e", "--port", port});
    ASSERT_EQ(table.exitCode, 0) << table.err;
    for (const char* column : {"User", "Unit", "CPU%", "RSS", "Command", "marker-XYZ-cli"})
        EXPECT_NE(table.out.find(column), std::string::npos) << column << " in\n" << table.out;
}

TEST_F(HostDetails, StatusSaysPorteyedSeesAllProcessesAsRoot) {
    if (::geteuid() != 0) GTEST_SKIP() << "porteyed runs as this user";
    RpcClient client(m_path);
    const json status = client.call("status");
    EXPECT_EQ(status["result"]["view"], "all") << status.dump();
    EXPECT_NE(m_daemon->log().find("sees all processes"), std::string::npos) << m_daemon->log();
}

TEST(HostDetailsView, AnUnprivilegedPorteyedSaysItSeesOnlyItsOwnUser) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to start porteyed as nobody";
    TempDir dir(0755);
    ::chmod(dir.path().c_str(), 0777);
    const std::string path = dir.path() + "/s.sock";
    Subprocess daemon(
        {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
         porteye::testing::porteyedPath(), "--no-bus", "--socket", path, "--interval", "0.1", "--config", "/dev/null"},
        {}, dir.path() + "/daemon");
    ASSERT_TRUE(porteye::testing::eventually([&] { return RpcClient(path).connected(); }, kTimeout))
        << "porteyed as nobody did not start";
    RpcClient client(path);
    const json status = client.call("status");
    EXPECT_EQ(status["result"]["view"], "own-user") << status.dump();

    for (const char* command : {"status", "list"}) {
        const auto result = porteye::testing::run({porteye::testing::porteyectlPath(), "--socket", path, command});
        EXPECT_EQ(result.exitCode, 0) << result.err;
        EXPECT_NE(result.err.find("sees only its own user's processes"), std::string::npos)
            << command << ": " << result.err;
    }
    EXPECT_EQ(daemon.stop(), 0);
    daemon.collect();
    EXPECT_NE(daemon.err().find("sees only its own user's processes"), std::string::npos) << daemon.err();
}

}  // namespace
}  // namespace porteye::control
