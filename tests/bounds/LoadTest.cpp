// SPDX-License-Identifier: MIT
// The greedy-client load of issue 8 on the real porteyed: 100 control-socket clients that
// subscribe to `events` and never read, a burst of 6,000 loopback connections, and four users
// (made here with useradd) each at their watch quota. porteyed's peak RSS must stay under
// 200 MiB (it reached 462 MiB before output was budgeted per uid), root's `status` must be
// answered throughout, and a subscriber that reads must lose no event.
#include "support/RpcClient.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::errorCode;
using porteye::testing::errorName;
using porteye::testing::RpcClient;
using porteye::testing::TempDir;
using namespace std::chrono_literals;

constexpr int kGreedySubscribers = 100;
constexpr int kChurnConnections = 6000;
constexpr int kUsers = 4;
constexpr int kWatchQuotaPerUid = 256;  // service::ServiceOptions::maxWatchesPerUid
constexpr int kConnectionsPerUid = 32;  // TransportLimits::maxClientsPerUid
constexpr int kLimitExceeded = -32004;  // core/Errors.hpp
constexpr std::size_t kPeakRssLimitKiB = 200 * 1024;

/// A system user made with useradd for this test and removed with userdel afterwards.
class TestUser {
public:
    explicit TestUser(std::string name) : m_name(std::move(name)) {
        const auto made = porteye::testing::runAccountTool(
            {"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", m_name});
        if (made.exitCode != 0) throw std::runtime_error("useradd " + m_name + " failed: " + made.err);
        const passwd* pw = ::getpwnam(m_name.c_str());
        if (pw == nullptr) throw std::runtime_error("useradd made no " + m_name);
        m_uid = pw->pw_uid;
        m_gid = pw->pw_gid;
    }
    ~TestUser() { porteye::testing::runAccountTool({"userdel", m_name}); }
    TestUser(const TestUser&) = delete;
    TestUser& operator=(const TestUser&) = delete;
    uid_t uid() const { return m_uid; }
    gid_t gid() const { return m_gid; }

private:
    std::string m_name;
    uid_t m_uid = 0;
    gid_t m_gid = 0;
};

/// porteyed's VmHWM (peak resident set) in KiB, 0 when unreadable.
std::size_t peakRssKiB(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6));
    return 0;
}

/// In a forked child running as `user`: starts its own `sleep`, fills the uid's watch quota
/// with watches of it over one connection, checks the next watch and the next connection over
/// the quotas are refused, writes one byte to `readyFd`, then keeps reading its connection
/// (a well-behaved client) until `stopFd` closes. Exit codes name the failed check.
[[noreturn]] void runUserAtQuota(const TestUser& user, const std::string& path, int readyFd, int stopFd,
                                 bool checkConnectionQuota) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(user.gid(), user.gid(), user.gid()) != 0 ||
        ::setresuid(user.uid(), user.uid(), user.uid()) != 0)
        ::_exit(10);
    const pid_t sleeper = ::fork();
    if (sleeper == 0) {
        ::execlp("sleep", "sleep", "600", nullptr);
        ::_exit(127);
    }
    if (sleeper < 0) ::_exit(11);
    const auto fail = [sleeper](int code) {
        ::kill(sleeper, SIGKILL);
        ::waitpid(sleeper, nullptr, 0);
        ::_exit(code);
    };
    RpcClient client(path);
    if (!client.connected()) fail(12);
    std::string requests;
    for (int i = 0; i < kWatchQuotaPerUid; ++i)
        requests += json{{"jsonrpc", "2.0"},
                         {"id", 1000 + i},
                         {"method", "watch"},
                         {"params", {{"pid", sleeper}, {"interval", 1}}}}
                        .dump() +
                    "\n";
    if (!client.sendRaw(requests)) fail(13);
    for (int confirmed = 0; confirmed < kWatchQuotaPerUid;) {
        auto reply = client.read(30s);
        if (!reply) fail(14);
        if (reply->contains("error")) fail(15);
        if (reply->contains("result")) ++confirmed;
    }
    const json over = client.call("watch", {{"pid", sleeper}});
    if (errorCode(over) != kLimitExceeded || errorName(over) != "LimitExceeded") fail(16);

    std::vector<std::unique_ptr<RpcClient>> extra;
    if (checkConnectionQuota) {
        // One connection is open; the quota allows kConnectionsPerUid in all.
        for (int i = 1; i < kConnectionsPerUid; ++i) {
            extra.push_back(std::make_unique<RpcClient>(path));
            if (!extra.back()->call("status").contains("result")) fail(17);
        }
        RpcClient refused(path);
        const json reply = refused.call("status");
        if (errorCode(reply) != kLimitExceeded) fail(18);
    }
    extra.clear();

    if (::write(readyFd, "1", 1) != 1) fail(19);
    char chunk[65536];
    for (;;) {
        pollfd fds[2] = {{client.fd(), POLLIN, 0}, {stopFd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents != 0) break;
        if (fds[0].revents != 0 && ::recv(client.fd(), chunk, sizeof chunk, 0) <= 0) fail(20);
    }
    fail(0);
    ::_exit(0);  // not reached: fail() exits
}

/// A subscriber that reads everything, on its own thread, keeping each event's sequence number.
class ReadingSubscriber {
public:
    explicit ReadingSubscriber(const std::string& path) : m_client(path) {
        const json reply = m_client.call("events");
        if (!reply.contains("result")) throw std::runtime_error("events failed: " + reply.dump());
        m_thread = std::thread([this] { loop(); });
    }
    ~ReadingSubscriber() {
        m_stop = true;
        m_thread.join();
    }
    void stop() {
        m_stop = true;
        m_thread.join();
        m_thread = std::thread([] {});
    }
    /// Set before the marker listener opens; the reader then watches for its "added".
    void expectMarker(std::uint16_t port) { m_markerPort = port; }
    bool sawMarker() const { return m_sawMarker; }
    std::vector<std::uint64_t> sequences() {
        std::lock_guard lock(m_mutex);
        return m_sequences;
    }
    std::set<std::string> instanceIds() {
        std::lock_guard lock(m_mutex);
        return m_instances;
    }

private:
    void loop() {
        while (!m_stop) {
            auto message = m_client.read(100ms);
            if (!message || message->value("method", "") != "event") continue;
            const json& params = (*message)["params"];
            std::lock_guard lock(m_mutex);
            m_sequences.push_back(params["sequence"].get<std::uint64_t>());
            m_instances.insert(params.value("instance_id", std::string("(none)")));
            if (m_markerPort != 0 && params["action"] == "added" &&
                params["record"]["local_port"] == m_markerPort.load() && params["record"]["state"] == "LISTEN")
                m_sawMarker = true;
        }
    }

    RpcClient m_client;
    std::atomic<bool> m_stop{false};
    std::atomic<std::uint16_t> m_markerPort{0};
    std::atomic<bool> m_sawMarker{false};
    std::mutex m_mutex;
    std::vector<std::uint64_t> m_sequences;
    std::set<std::string> m_instances;
    std::thread m_thread;
};

/// A TCP listener on 127.0.0.1 with a kernel-chosen port.
int loopbackListener(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1024) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::runtime_error("cannot listen on 127.0.0.1");
    port = ntohs(addr.sin_port);
    return fd;
}

/// Whether the daemon has closed this never-read connection (it was dropped).
bool droppedByDaemon(int fd) {
    pollfd pfd{fd, POLLRDHUP, 0};
    return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP)) != 0;
}

TEST(ControlSocketLoad, GreedySubscribersChurnAndUsersAtQuotaKeepPeakRssUnder200MiB) {
    if (::getuid() != 0) GTEST_SKIP() << "needs root for useradd and setresuid";
    TempDir dir(0755);  // the users' clients must reach the socket
    const std::string path = dir.path() + "/s.sock";
    DaemonProcess daemon(
        {"--no-bus", "--socket", path, "--interval", "0.1", "--config", "/dev/null", "--event-source", "auto"});
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    const pid_t daemonPid = daemon.process().pid();

    // Four users, each at its watch quota from a process of its own.
    std::vector<std::unique_ptr<TestUser>> users;
    const std::string prefix = "pel" + std::to_string(::getpid() % 100000);
    for (int i = 0; i < kUsers; ++i)
        users.push_back(std::make_unique<TestUser>(prefix + static_cast<char>('a' + i)));
    int ready[2];
    int stop[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(stop, O_CLOEXEC), 0);
    std::vector<pid_t> children;
    for (int i = 0; i < kUsers; ++i) {
        const pid_t child = ::fork();
        if (child == 0) {
            ::close(ready[0]);
            ::close(stop[1]);
            runUserAtQuota(*users[static_cast<std::size_t>(i)], path, ready[1], stop[0], i == 0);
        }
        ASSERT_GT(child, 0);
        children.push_back(child);
    }
    ::close(ready[1]);
    ::close(stop[0]);
    auto stopChildren = [&] {
        if (stop[1] >= 0) ::close(stop[1]);
        stop[1] = -1;
        std::vector<int> codes;
        for (pid_t child : children) {
            int status = 0;
            ::waitpid(child, &status, 0);
            codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
        children.clear();
        return codes;
    };
    // However the test ends, the users' processes end before userdel runs.
    struct Guard {
        std::function<std::vector<int>()>& stop;
        ~Guard() { stop(); }
    };
    std::function<std::vector<int>()> stopAll = stopChildren;
    Guard guard{stopAll};
    int readyCount = 0;
    for (char byte = 0; readyCount < kUsers; ++readyCount) {
        pollfd pfd{ready[0], POLLIN, 0};
        if (::poll(&pfd, 1, 60'000) <= 0 || ::read(ready[0], &byte, 1) != 1) break;
    }
    ::close(ready[0]);
    if (readyCount < kUsers) {
        const auto codes = stopChildren();
        FAIL() << "only " << readyCount
               << " users reached their quota; child exit codes: " << ::testing::PrintToString(codes) << "\n"
               << daemon.log();
    }

    RpcClient admin(path);
    json status = admin.call("status");
    ASSERT_TRUE(status.contains("result")) << status.dump();
    EXPECT_EQ(status["result"]["watches"], kUsers * kWatchQuotaPerUid);
    const std::string instance = status["result"]["instance_id"].get<std::string>();
    const std::size_t rssBefore = peakRssKiB(daemonPid);

    // 100 subscribers that never read, and one that reads everything.
    std::vector<std::unique_ptr<RpcClient>> greedy;
    for (int i = 0; i < kGreedySubscribers; ++i) {
        greedy.push_back(std::make_unique<RpcClient>(path));
        ASSERT_TRUE(greedy.back()->call("events").contains("result")) << i;
    }
    ReadingSubscriber reader(path);

    // The burst: connect and close on 127.0.0.1, asking root's status as it goes.
    std::uint16_t port = 0;
    const int listener = loopbackListener(port);
    sockaddr_in target{};
    target.sin_family = AF_INET;
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    target.sin_port = htons(port);
    int statusAnswers = 0;
    for (int i = 0; i < kChurnConnections; ++i) {
        const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(c, 0);
        ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&target), sizeof target), 0) << i;
        const int a = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        ASSERT_GE(a, 0);
        ::close(c);
        ::close(a);
        if (i % 500 == 499) {
            status = admin.call("status");
            ASSERT_TRUE(status.contains("result"))
                << "root's status went unanswered during the load: " << status.dump();
            ++statusAnswers;
        }
    }
    ::close(listener);

    // A marker the reader must see: everything before it has been published by then.
    std::uint16_t markerPort = 0;
    reader.expectMarker(0);
    const int marker = [&] {
        // The port is known only after bind; the reader matches the LISTEN "added" by port.
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        markerPort = ntohs(addr.sin_port);
        reader.expectMarker(markerPort);
        ::listen(fd, 1);
        return fd;
    }();
    const bool sawMarker = porteye::testing::eventually([&] { return reader.sawMarker(); }, 60s);
    ::close(marker);
    status = admin.call("status");
    ASSERT_TRUE(status.contains("result")) << status.dump();
    reader.stop();

    const std::size_t peak = peakRssKiB(daemonPid);
    int dropped = 0;
    for (const auto& client : greedy)
        dropped += droppedByDaemon(client->fd()) ? 1 : 0;
    auto sequences = reader.sequences();
    std::sort(sequences.begin(), sequences.end());
    std::size_t gaps = 0;
    std::size_t duplicates = 0;
    for (std::size_t i = 1; i < sequences.size(); ++i) {
        if (sequences[i] == sequences[i - 1]) ++duplicates;
        if (sequences[i] > sequences[i - 1] + 1) gaps += sequences[i] - sequences[i - 1] - 1;
    }
    std::printf(
        "[ measured ] porteyed peak RSS (VmHWM) %zu KiB (%.1f MiB) under the load, %zu KiB before it; "
        "%d of %d greedy subscribers dropped; reader got %zu events (sequences %llu..%llu), %zu missing; "
        "%d status answers during the churn\n",
        peak, static_cast<double>(peak) / 1024, rssBefore, dropped, kGreedySubscribers, sequences.size(),
        sequences.empty() ? 0ULL : static_cast<unsigned long long>(sequences.front()),
        sequences.empty() ? 0ULL : static_cast<unsigned long long>(sequences.back()), gaps, statusAnswers);

    EXPECT_LT(peak, kPeakRssLimitKiB) << "porteyed's peak RSS is over 200 MiB";
    EXPECT_TRUE(sawMarker) << "the reading subscriber never saw the marker listener";
    EXPECT_GE(sequences.size(), static_cast<std::size_t>(kChurnConnections)) << "fewer events than connections";
    EXPECT_EQ(gaps, 0U) << "the reading subscriber lost events";
    EXPECT_EQ(duplicates, 0U);
    EXPECT_EQ(reader.instanceIds(), std::set<std::string>{instance}) << "events carry status's instance_id";
    EXPECT_EQ(status["result"]["watches"], kUsers * kWatchQuotaPerUid) << "the users' watches survived the load";

    greedy.clear();
    const auto codes = stopChildren();
    EXPECT_EQ(codes, std::vector<int>(kUsers, 0)) << "a user's check failed (exit codes name it)";
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

}  // namespace
}  // namespace porteye::control
