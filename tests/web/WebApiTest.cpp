// SPDX-License-Identifier: MIT
// `porteyectl web` end to end: a real porteyed on a control socket, the real porteyectl serving the
// page, HTTP requests from this process (root) and from a child running as nobody.
// The host is shared: only sockets made here are asserted on.
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <functional>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

namespace porteye::web {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::eventually;
using porteye::testing::PortHolder;
using porteye::testing::Subprocess;
using porteye::testing::TempDir;

std::string commOf(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

/// A TCP connection to 127.0.0.1:port with `request` written; -1 when it fails.
int connectAndSend(std::uint16_t port, const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// How many of `fds` the server closes (end of file; replies read and dropped) within `timeout`.
std::size_t countClosedWithin(std::vector<int> fds, std::chrono::milliseconds timeout) {
    std::size_t count = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::vector<pollfd> polls;
        for (int fd : fds)
            if (fd >= 0) polls.push_back({fd, POLLIN, 0});
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (polls.empty() || left.count() <= 0) break;
        if (::poll(polls.data(), polls.size(), static_cast<int>(left.count())) <= 0) break;
        for (const auto& p : polls) {
            if (!p.revents) continue;
            char buffer[4096];
            if (::read(p.fd, buffer, sizeof(buffer)) > 0) continue;
            ++count;
            std::replace(fds.begin(), fds.end(), p.fd, -1);
        }
    }
    return count;
}

/// A loopback connection from the current (forked, unprivileged) process; -1 when refused.
int connectLoopback(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    ::close(fd);
    return -1;
}

/// Forks a child that becomes nobody and runs `body` (only system calls: this process has
/// threads); returns its pid and the read end of a pipe whose write end `body` gets.
pid_t forkAsNobody(const std::function<void(int)>& body, int& readEnd) {
    int pipeFds[2];
    if (::pipe(pipeFds) != 0) return -1;
    const pid_t child = ::fork();
    if (child == 0) {
        ::close(pipeFds[0]);
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
            ::setresuid(65534, 65534, 65534) != 0)
            ::_exit(2);
        body(pipeFds[1]);
        ::_exit(0);
    }
    ::close(pipeFds[1]);
    readEnd = pipeFds[0];
    return child;
}

struct NobodyResult {
    std::size_t connected = 0;
    std::size_t closedUnanswered = 0;  ///< closed by the server without a byte of reply
};

/// As nobody: `count` connections that send nothing; counts those the server closes unanswered
/// within `timeout`.
NobodyResult asNobody(std::uint16_t port, std::size_t count, std::chrono::milliseconds timeout) {
    int readEnd = -1;
    const pid_t child = forkAsNobody(
        [&](int out) {
            NobodyResult result;
            std::vector<pollfd> polls;
            for (std::size_t i = 0; i < count; ++i) {
                const int fd = connectLoopback(port);
                if (fd < 0) continue;
                ++result.connected;
                polls.push_back({fd, POLLIN, 0});
            }
            const auto deadline = std::chrono::steady_clock::now() + timeout;
            for (std::size_t done = 0; done < polls.size();) {
                const auto left =
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
                if (left.count() <= 0 || ::poll(polls.data(), polls.size(), static_cast<int>(left.count())) <= 0) break;
                for (auto& p : polls) {
                    if (!p.revents || p.fd < 0) continue;
                    char c;
                    const ssize_t n = ::read(p.fd, &c, 1);
                    if (n == 0 || (n < 0 && errno == ECONNRESET)) ++result.closedUnanswered;
                    p.fd = -1;  // a reply byte or a close: this one is decided
                    ++done;
                }
            }
            if (::write(out, &result, sizeof(result)) < 0) ::_exit(5);
        },
        readEnd);
    NobodyResult result;
    if (child < 0 || ::read(readEnd, &result, sizeof(result)) != sizeof(result)) result = {};
    ::close(readEnd);
    ::waitpid(child, nullptr, 0);
    return result;
}

/// As nobody (a child to be killed): `count` connections, each sent one byte of a request line
/// per second, for ever. Returns once every connection is open.
pid_t trickleAsNobody(std::uint16_t port, std::size_t count) {
    int readEnd = -1;
    const pid_t child = forkAsNobody(
        [&](int out) {
            ::signal(SIGPIPE, SIG_IGN);
            std::vector<int> fds;
            for (std::size_t i = 0; i < count; ++i)
                if (const int fd = connectLoopback(port); fd >= 0) fds.push_back(fd);
            if (::write(out, "r", 1) < 0) ::_exit(5);
            // The attack is paced on purpose: a byte a second keeps a per-read timeout from firing.
            for (;;) {
                for (int fd : fds)
                    if (::write(fd, "G", 1) < 0) continue;
                ::sleep(1);
            }
        },
        readEnd);
    char ready = 0;
    const bool ok = child > 0 && ::read(readEnd, &ready, 1) == 1;
    ::close(readEnd);
    return ok ? child : -1;
}

/// GET over plain sockets as nobody; returns the HTTP status (0 when no answer).
int statusAsNobody(std::uint16_t port, const std::string& target) {
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n\r\n";
    int readEnd = -1;
    const pid_t child = forkAsNobody(
        [&](int out) {
            const int fd = connectLoopback(port);
            if (fd < 0 || ::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size()))
                ::_exit(3);
            char buffer[64] = {};
            ssize_t got = 0;
            while (got < 12) {
                const ssize_t n = ::read(fd, buffer + got, sizeof(buffer) - 1 - static_cast<std::size_t>(got));
                if (n <= 0) break;
                got += n;
            }
            if (::write(out, buffer, static_cast<std::size_t>(got)) < 0) ::_exit(5);
        },
        readEnd);
    std::string reply;
    char chunk[64];
    ssize_t n = 0;
    while (child > 0 && (n = ::read(readEnd, chunk, sizeof(chunk))) > 0)
        reply.append(chunk, static_cast<std::size_t>(n));
    ::close(readEnd);
    ::waitpid(child, nullptr, 0);
    if (reply.rfind("HTTP/1.1 ", 0) != 0 || reply.size() < 12) return 0;
    return std::stoi(reply.substr(9, 3));
}

/// A connected TCP client to 127.0.0.1:port, closed on destruction.
class Connection {
public:
    explicit Connection(std::uint16_t port) : m_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        m_connected = ::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    }
    ~Connection() { ::close(m_fd); }
    bool connected() const { return m_connected; }

private:
    int m_fd;
    bool m_connected = false;
};

/// Reads /api/events on a thread of its own, keeping everything received.
class SseReader {
public:
    SseReader(std::uint16_t port, const std::string& token) : m_client("127.0.0.1", port) {
        m_client.set_read_timeout(60s);
        m_thread = std::thread([this, token] {
            m_client.Get(
                "/api/events", {{"Authorization", "Bearer " + token}},
                [this](const httplib::Response& res) {
                    std::lock_guard lock(m_mutex);
                    m_contentType = res.get_header_value("Content-Type");
                    return true;
                },
                [this](const char* data, std::size_t length) {
                    std::lock_guard lock(m_mutex);
                    m_received.append(data, length);
                    return !m_stop.load();
                });
        });
    }
    ~SseReader() {
        m_stop = true;
        m_client.stop();
        m_thread.join();
    }
    bool seen(const std::string& needle) {
        std::lock_guard lock(m_mutex);
        return m_received.find(needle) != std::string::npos;
    }
    std::string received() {
        std::lock_guard lock(m_mutex);
        return m_received;
    }
    std::string contentType() {
        std::lock_guard lock(m_mutex);
        return m_contentType;
    }

private:
    httplib::Client m_client;
    std::mutex m_mutex;
    std::string m_received;
    std::string m_contentType;
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
};

class WebApi : public porteye::testing::DaemonTest {
protected:
    void SetUp() override {
        startDaemon({"--no-bus", "--socket", m_socket, "--interval", "0.1", "--config", "/dev/null"});
        if (HasFatalFailure()) return;
        m_web = std::make_unique<Subprocess>(std::vector<std::string>{porteye::testing::porteyectlPath(), "--socket",
                                                                      m_socket, "web", "--listen", "127.0.0.1:0"},
                                             std::map<std::string, std::string>{}, m_dir.path() + "/web");
        std::smatch match;
        const std::regex url(R"(http://127\.0\.0\.1:([0-9]+)/#token=([0-9a-f]{64}))");
        ASSERT_TRUE(
            m_web->waitForOutput([&](const std::string& out) { return std::regex_search(out, match, url); }, 20s))
            << m_web->out() << m_web->err();
        m_port = static_cast<std::uint16_t>(std::stoi(match[1].str()));
        m_token = match[2].str();
        m_client = std::make_unique<httplib::Client>("127.0.0.1", m_port);
        m_client->set_read_timeout(20s);
    }
    void TearDown() override {
        if (m_web) {
            EXPECT_EQ(m_web->stop(), 0) << m_web->err();
        }
        stopDaemon();
    }

    httplib::Result get(const std::string& target, httplib::Headers headers = {}) {
        headers.emplace("Authorization", "Bearer " + m_token);
        return m_client->Get(target.c_str(), headers);
    }
    /// A 200 reply's JSON body; null (and a recorded failure) otherwise.
    json getJson(const std::string& target) {
        auto res = get(target);
        EXPECT_TRUE(res) << target;
        if (!res) return nullptr;
        EXPECT_EQ(res->status, 200) << target << ": " << res->body;
        EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
        return res->status == 200 ? json::parse(res->body) : json(nullptr);
    }
    /// Asks until `done` holds for the reply (porteyed polls every 0.1 s); returns the last reply.
    json getJsonWhen(const std::string& target, const std::function<bool(const json&)>& done) {
        json reply;
        EXPECT_TRUE(eventually([&] { return done(reply = getJson(target)); }, 20s)) << target << ": " << reply;
        return reply;
    }

    static std::size_t countPort(const json& records, std::uint16_t port, const char* state = nullptr) {
        std::size_t n = 0;
        for (const auto& r : records)
            if ((r["local_port"] == port || r["remote_port"] == port) && (!state || r["state"] == state)) ++n;
        return n;
    }
    static std::size_t countEvents(const json& events, std::uint16_t port, const char* action) {
        std::size_t n = 0;
        for (const auto& e : events)
            if (e["record"]["local_port"] == port && e["action"] == action) ++n;
        return n;
    }

    TempDir m_dir;
    const std::string m_socket = m_dir.path() + "/porteyed.sock";
    std::unique_ptr<Subprocess> m_web;
    std::unique_ptr<httplib::Client> m_client;
    std::uint16_t m_port = 0;
    std::string m_token;
};

TEST_F(WebApi, PortsFilterByPortProcessStateProtocolAndListening) {
    PortHolder holder;
    const auto port = holder.open();
    const std::string p = std::to_string(port);
    const std::string comm = commOf(holder.pid());

    auto byPort = getJsonWhen("/api/ports?port=" + p, [&](const json& r) { return countPort(r, port) == 1; });
    ASSERT_TRUE(byPort.is_array());
    for (const auto& r : byPort) {
        EXPECT_TRUE(r["local_port"] == port || r["remote_port"] == port) << r;
        EXPECT_EQ(r["state"], "LISTEN") << "listening is the default of /api/ports";
    }
    EXPECT_EQ(byPort[0]["pid"], holder.pid());
    EXPECT_EQ(byPort[0]["process"], comm);
    EXPECT_EQ(byPort[0]["protocol"], "tcp");

    // The seed's empty filters (?port=&process=) mean no filter.
    EXPECT_EQ(countPort(getJson("/api/ports?port=&process="), port), 1U);
    EXPECT_EQ(countPort(getJson("/api/ports?process=" + comm), port), 1U);
    EXPECT_EQ(countPort(getJson("/api/ports?port=" + p + "&process=no-such-process-name"), port), 0U);
    EXPECT_EQ(countPort(getJson("/api/ports?port=" + p + "&pid=" + std::to_string(holder.pid())), port), 1U);
    EXPECT_EQ(countPort(getJson("/api/ports?port=" + p + "&protocol=tcp"), port), 1U);
    EXPECT_EQ(getJson("/api/ports?port=" + p + "&protocol=udp").size(), 0U);
    // The unit, container and netns filters pass through to the shared parser (empty = none).
    EXPECT_EQ(countPort(getJson("/api/ports?port=" + p + "&unit=&container=&netns="), port), 1U);
    EXPECT_EQ(getJson("/api/ports?port=" + p + "&unit=no-such.service").size(), 0U);
    EXPECT_EQ(getJson("/api/ports?port=" + p + "&container=0000").size(), 0U);
    EXPECT_EQ(getJson("/api/ports?port=" + p + "&netns=1").size(), 0U);

    // A connection to it: ESTABLISHED sockets appear only with listening=false.
    Connection connection(port);
    ASSERT_TRUE(connection.connected());
    getJsonWhen("/api/ports?listening=false&port=" + p,
                [&](const json& r) { return countPort(r, port, "ESTABLISHED") >= 1; });
    EXPECT_EQ(countPort(getJson("/api/ports?port=" + p), port, "ESTABLISHED"), 0U);
    const auto established = getJson("/api/ports?listening=false&state=ESTABLISHED&port=" + p);
    EXPECT_GE(countPort(established, port, "ESTABLISHED"), 1U);
    EXPECT_EQ(countPort(established, port, "LISTEN"), 0U);
}

TEST_F(WebApi, BoundUdpSocketsCountAsListening) {
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t length = sizeof(addr);
    ::getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &length);
    const auto port = ntohs(addr.sin_port);
    const std::string p = std::to_string(port);
    const auto records = getJsonWhen("/api/ports?protocol=udp&port=" + p,
                                     [&](const json& r) { return countPort(r, port, "UNCONN") == 1; });
    EXPECT_EQ(records[0]["pid"], ::getpid());
    EXPECT_EQ(getJson("/api/ports?protocol=tcp&port=" + p).size(), 0U);
    EXPECT_EQ(countPort(getJson("/api/ports?state=UNCONN&listening=false&port=" + p), port, "UNCONN"), 1U);
    ::close(udp);
}

TEST_F(WebApi, HistoryFiltersAndLimit) {
    PortHolder holder;
    const auto port = holder.open();
    const std::string p = std::to_string(port);
    getJsonWhen("/api/ports?port=" + p, [&](const json& r) { return countPort(r, port) == 1; });
    holder.close();
    const auto both = getJsonWhen("/api/history?port=" + p, [&](const json& r) {
        return countEvents(r, port, "added") == 1 && countEvents(r, port, "removed") == 1;
    });
    // Oldest first, each with its sequence number.
    ASSERT_EQ(both.size(), 2U) << both;
    EXPECT_LT(both[0]["sequence"].get<std::uint64_t>(), both[1]["sequence"].get<std::uint64_t>());

    const auto newest = getJson("/api/history?limit=1&port=" + p);
    ASSERT_EQ(newest.size(), 1U);
    EXPECT_EQ(newest[0]["action"], "removed");
    EXPECT_EQ(countEvents(getJson("/api/history?action=added&port=" + p), port, "removed"), 0U);
    const std::string comm = commOf(::getpid()).substr(0, 8);  // the holder is a fork of this test
    EXPECT_EQ(getJson("/api/history?port=" + p + "&process=" + comm).size(), 2U);
    EXPECT_EQ(getJson("/api/history?port=" + p + "&process=no-such-process-name").size(), 0U);
    EXPECT_EQ(getJson("/api/history?port=" + p + "&protocol=tcp&pid=" + std::to_string(holder.pid())).size(), 2U);
    EXPECT_EQ(getJson("/api/history?port=" + p + "&since=" + both[1]["time_us"].dump()).size(), 1U);
    // limit defaults to 100, as the seed's.
    EXPECT_LE(getJson("/api/history").size(), 100U);
}

TEST_F(WebApi, BadParametersAre400WithAMessage) {
    for (const std::string target :
         {"/api/ports?port=abc", "/api/ports?port=70000", "/api/ports?port=-1", "/api/ports?listening=maybe",
          "/api/ports?state=NOPE", "/api/ports?protocol=sctp", "/api/ports?colour=blue", "/api/ports?port=1&port=2",
          "/api/ports?pid=1.5", "/api/history?limit=x", "/api/history?limit=-1", "/api/history?limit=99999999999",
          "/api/history?action=opened", "/api/history?since=yesterday", "/api/history?port=0x10",
          "/api/status?verbose=1"}) {
        auto res = get(target);
        ASSERT_TRUE(res) << target;
        EXPECT_EQ(res->status, 400) << target << ": " << res->body;
        const auto body = json::parse(res->body, nullptr, false);
        ASSERT_TRUE(body.is_object()) << target << ": " << res->body;
        EXPECT_TRUE(body.contains("error") && body["error"].is_string() && !body["error"].get<std::string>().empty())
            << target << ": " << res->body;
    }
}

TEST_F(WebApi, StatusSaysWhoServesAndHowTheDaemonIs) {
    const auto status = getJson("/api/status");
    EXPECT_TRUE(status.contains("instance_id")) << status;
    EXPECT_TRUE(status.contains("host_wide")) << status;
    EXPECT_EQ(status["web"]["uid"], ::geteuid());
}

TEST_F(WebApi, EveryApiRequestNeedsTheTokenInAHeaderNeverACookie) {
    for (const std::string target : {"/api/ports", "/api/history", "/api/status", "/api/events"}) {
        auto none = m_client->Get(target.c_str());
        ASSERT_TRUE(none) << target;
        EXPECT_EQ(none->status, 401) << target;
        auto wrong = m_client->Get(target.c_str(), {{"Authorization", "Bearer " + std::string(64, '0')}});
        ASSERT_TRUE(wrong) << target;
        EXPECT_EQ(wrong->status, 401) << target;
        // Cookies reach every loopback port (RFC 6265 8.5): the right token in one is no key.
        auto cookie =
            m_client->Get(target.c_str(), {{"Cookie", "porteye_token_" + std::to_string(m_port) + "=" + m_token}});
        ASSERT_TRUE(cookie) << target;
        EXPECT_EQ(cookie->status, 401) << target;
    }
    EXPECT_EQ(json::parse(m_client->Get("/api/ports")->body)["error"].is_string(), true);

    // The page itself holds no data: served without the token, and it never sets a cookie.
    for (const std::string& target : std::vector<std::string>{"/", "/?token=" + m_token, "/app.js", "/style.css"}) {
        auto res = m_client->Get(target.c_str());
        ASSERT_TRUE(res) << target;
        EXPECT_EQ(res->status, 200) << target;
        EXPECT_FALSE(res->has_header("Set-Cookie")) << target;
    }
    auto page = m_client->Get("/");
    EXPECT_NE(page->body.find("<title>PortEye</title>"), std::string::npos);
    EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
    EXPECT_EQ(get("/api/status")->status, 200);
    EXPECT_EQ(m_client->Get(("/api/status?token=" + m_token).c_str())->status, 200);
}

TEST_F(WebApi, RefusesAnotherHostOrOriginEvenWithTheToken) {
    // A DNS-rebinding page: evil.test resolves to 127.0.0.1, the browser sends its own name.
    const std::string port = std::to_string(m_port);
    auto rebound = get("/api/ports", {{"Host", "evil.test:" + port}, {"Origin", "http://evil.test:" + port}});
    ASSERT_TRUE(rebound);
    EXPECT_EQ(rebound->status, 403) << rebound->body;
    EXPECT_EQ(get("/", {{"Host", "evil.test:" + port}})->status, 403);
    EXPECT_EQ(get("/api/status", {{"Host", "127.0.0.1:1"}})->status, 403);
    auto crossOrigin = get("/api/history", {{"Origin", "http://127.0.0.1:1"}});
    ASSERT_TRUE(crossOrigin);
    EXPECT_EQ(crossOrigin->status, 403) << crossOrigin->body;
    // Its own names are served.
    EXPECT_EQ(get("/api/status", {{"Host", "localhost:" + port}})->status, 200);
    EXPECT_EQ(get("/api/status", {{"Origin", "http://127.0.0.1:" + port}})->status, 200);
}

TEST_F(WebApi, AnotherUsersConnectionIsClosedBeforeAByteIsRead) {
    ASSERT_EQ(::geteuid(), 0U) << "run as root: the test switches to nobody";
    // nobody connects and sends nothing: closed at once (before: held until the read timeout).
    const auto result = asNobody(m_port, 1, 3s);
    EXPECT_EQ(result.connected, 1U);
    EXPECT_EQ(result.closedUnanswered, 1U) << "the connection was not closed within 3 s";
    // With the token and a whole request, still no reply: nothing of it is read.
    EXPECT_EQ(statusAsNobody(m_port, "/api/ports?token=" + m_token), 0);
    EXPECT_EQ(statusAsNobody(m_port, "/"), 0);
    auto res = m_client->Get(("/api/ports?token=" + m_token).c_str());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST_F(WebApi, AnotherUsersTricklingConnectionsDoNotDelayTheOwner) {
    ASSERT_EQ(::geteuid(), 0U) << "run as root: the test switches to nobody";
    // 40 connections, each sent a byte of a request every second: more than the page's workers.
    const pid_t child = trickleAsNobody(m_port, 40);
    ASSERT_GT(child, 0);
    m_client->set_read_timeout(3s);
    std::vector<double> ms;
    for (int i = 0; i < 10; ++i) {
        const auto start = std::chrono::steady_clock::now();
        auto res = get("/api/status");
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        EXPECT_TRUE(res && res->status == 200) << "owner request " << i << " not answered in 3 s";
    }
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    std::sort(ms.begin(), ms.end());
    std::cout << "owner /api/status under 40 trickling connections: median " << ms[5] << " ms, max " << ms.back()
              << " ms\n";
}

TEST_F(WebApi, ErrorRepliesAndRefusedStreamsEndTheirConnection) {
    // 40 event streams asked at once on kept-alive connections: the bound refuses most, and a
    // refused one must not sit in keep-alive holding a worker.
    const std::string request = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(m_port) +
                                "\r\nAuthorization: Bearer " + m_token + "\r\n\r\n";
    std::vector<int> fds;
    for (int i = 0; i < 40; ++i)
        fds.push_back(connectAndSend(m_port, request));
    const auto closed = countClosedWithin(fds, 1s);
    EXPECT_GE(closed, 40U - 16U) << "refused streams were kept alive";
    // The page and its status are answered meanwhile.
    m_client->set_read_timeout(2s);
    EXPECT_EQ(m_client->Get("/")->status, 200);
    EXPECT_EQ(get("/api/status")->status, 200);
    for (int fd : fds)
        ::close(fd);
    // A 401 on a keep-alive request closes too.
    std::vector<int> bad{
        connectAndSend(m_port, "GET /api/ports HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(m_port) + "\r\n\r\n")};
    EXPECT_EQ(countClosedWithin(bad, 1s), 1U);
    ::close(bad[0]);
}

TEST_F(WebApi, EventsStreamCarriesEachChangeAsAServerSentEvent) {
    SseReader stream(m_port, m_token);
    ASSERT_TRUE(eventually([&] { return stream.seen("event: ready\n"); }, 20s)) << stream.received();
    EXPECT_EQ(stream.contentType(), "text/event-stream");
    PortHolder holder;
    const auto port = holder.open();
    const std::string portField = "\"local_port\":" + std::to_string(port);
    EXPECT_TRUE(eventually([&] { return stream.seen(portField) && stream.seen("\"action\":\"added\""); }, 20s));
    holder.close();
    EXPECT_TRUE(eventually([&] { return stream.seen("\"action\":\"removed\""); }, 20s));
    // Each event is one SSE message: id (the sequence), event name, one data line.
    const auto received = stream.received();
    EXPECT_TRUE(std::regex_search(received, std::regex("id: [0-9]+\nevent: port\ndata: \\{[^\n]*" + portField)))
        << received;
}

TEST_F(WebApi, SurvivesPorteydRestartingAndTellsThePage) {
    SseReader stream(m_port, m_token);
    ASSERT_TRUE(eventually([&] { return stream.seen("event: ready\n"); }, 20s));
    EXPECT_EQ(m_daemon->stop(), 0);
    m_daemon.reset();
    // Unreachable: REST says 503 with the reason, the stream says so.
    auto res = get("/api/ports");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_TRUE(json::parse(res->body)["error"].is_string());
    EXPECT_TRUE(eventually([&] { return stream.seen("event: daemon\n"); }, 20s)) << stream.received();

    startDaemon({"--no-bus", "--socket", m_socket, "--interval", "0.1", "--config", "/dev/null"});
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_TRUE(eventually([&] { return stream.seen("event: resync\n"); }, 20s)) << stream.received();
    // Back to live: a new socket reaches the same stream.
    PortHolder holder;
    const auto port = holder.open();
    EXPECT_TRUE(eventually([&] { return stream.seen("\"local_port\":" + std::to_string(port)); }, 20s))
        << port << " not in:\n"
        << stream.received() << "\nporteyed's log:\n"
        << m_daemon->log() << "\nporteyectl web's:\n"
        << m_web->err();
    EXPECT_EQ(get("/api/status")->status, 200);
}

TEST(WebOverDbus, ServesTheSameAnswersThroughTheBus) {
    // The default transport: every request opens its own bus connection on a pool thread.
    porteye::testing::PrivateBus bus(porteye::testing::policyFilePath());
    DaemonProcess daemon({"--bus-address", bus.address(), "--interval", "0.1", "--config", "/dev/null"});
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    TempDir dir;
    Subprocess web(
        {porteye::testing::porteyectlPath(), "--bus-address", bus.address(), "web", "--listen", "127.0.0.1:0"}, {},
        dir.path() + "/web");
    std::smatch match;
    const std::regex url(R"(http://127\.0\.0\.1:([0-9]+)/#token=([0-9a-f]{64}))");
    ASSERT_TRUE(web.waitForOutput([&](const std::string& out) { return std::regex_search(out, match, url); }, 20s));
    const auto port = static_cast<std::uint16_t>(std::stoi(match[1].str()));
    const std::string token = match[2].str();
    SseReader stream(port, token);
    ASSERT_TRUE(eventually([&] { return stream.seen("event: ready\n"); }, 20s));

    PortHolder holder;
    const auto held = holder.open();
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(20s);
    const httplib::Headers auth{{"Authorization", "Bearer " + token}};
    EXPECT_TRUE(eventually([&] {
        auto res = client.Get(("/api/ports?port=" + std::to_string(held)).c_str(), auth);
        return res && res->status == 200 && json::parse(res->body).size() == 1;
    }));
    EXPECT_TRUE(eventually([&] { return stream.seen("\"local_port\":" + std::to_string(held)); }, 20s))
        << stream.received();
    auto history = client.Get(("/api/history?port=" + std::to_string(held)).c_str(), auth);
    ASSERT_TRUE(history);
    EXPECT_EQ(history->status, 200) << history->body;
    auto bad = client.Get("/api/history?limit=many", auth);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_EQ(web.stop(SIGTERM), 0) << web.err();
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST(WebOverDbus, AnOrdinaryUsersPageIsLiveWithTheirOwnSocketsOnly) {
    // nobody runs the page and reads its stream (the peer check admits only the page's own user).
    porteye::testing::PrivateBus bus(porteye::testing::policyFilePath());
    DaemonProcess daemon({"--bus-address", bus.address(), "--interval", "0.1", "--config", "/dev/null"});
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    TempDir dir;
    Subprocess web(porteye::testing::asNobody({porteye::testing::porteyectlPath(), "--bus-address", bus.address(),
                                               "web", "--listen", "127.0.0.1:0"}),
                   {}, dir.path() + "/web");
    std::smatch match;
    const std::regex url(R"(http://127\.0\.0\.1:([0-9]+)/#token=([0-9a-f]{64}))");
    ASSERT_TRUE(web.waitForOutput([&](const std::string& out) { return std::regex_search(out, match, url); }, 20s))
        << web.err();
    const std::string base = "http://127.0.0.1:" + match[1].str();
    const std::string token = match[2].str();
    // Live once porteyed has nobody's subscription (its log names the uid).
    ASSERT_TRUE(eventually([&] { return daemon.log().find("(uid 65534)") != std::string::npos; }, 20s))
        << web.err() << daemon.log();
    Subprocess stream(
        porteye::testing::asNobody({"curl", "-sN", "-H", "Authorization: Bearer " + token, base + "/api/events"}));
    ASSERT_TRUE(stream.waitForOutput("event: ready\n", 20s)) << stream.out() << web.err();
    EXPECT_EQ(stream.out().find("\"live\":false"), std::string::npos) << stream.out();

    // Root's listener first, and known to porteyed before nobody's opens: sent to nobody, it
    // would be in the stream before nobody's own.
    PortHolder rootHolder;
    const auto rootPort = rootHolder.open();
    ASSERT_TRUE(eventually([&] {
        return porteye::testing::run({porteye::testing::porteyectlPath(), "--bus-address", bus.address(), "who",
                                      std::to_string(rootPort)})
                   .exitCode == 0;
    }));
    Subprocess listener(porteye::testing::nobodyListenerArgv());
    ASSERT_TRUE(listener.waitForOutput("\n", 5s)) << listener.err();
    const std::string nobodyPort = std::to_string(std::stoi(listener.out()));
    EXPECT_TRUE(stream.waitForOutput("\"local_port\":" + nobodyPort, 20s)) << stream.out() << web.err();
    EXPECT_EQ(stream.out().find("\"local_port\":" + std::to_string(rootPort)), std::string::npos) << stream.out();
    listener.stop();
    EXPECT_EQ(web.stop(SIGTERM), 0) << web.err();
    stream.stop();
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST(WebStop, SigtermStopsItWhileRequestsWaitForASilentDaemon) {
    // A "porteyed" that accepts connections and never answers: porteyectl web's event thread and a
    // REST request both sit waiting for replies when SIGTERM comes. Whichever thread takes the
    // signal, porteyectl must stop, with status 0.
    TempDir dir;
    const std::string path = dir.path() + "/silent.sock";
    const int silent = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(silent, 64), 0);

    Subprocess web({porteye::testing::porteyectlPath(), "--socket", path, "web", "--listen", "127.0.0.1:0"}, {},
                   dir.path() + "/web");
    std::smatch match;
    const std::regex url(R"(http://127\.0\.0\.1:([0-9]+)/#token=([0-9a-f]{64}))");
    ASSERT_TRUE(web.waitForOutput([&](const std::string& out) { return std::regex_search(out, match, url); }, 20s));
    const auto port = static_cast<std::uint16_t>(std::stoi(match[1].str()));
    const std::string token = match[2].str();
    std::thread pending([&] {
        httplib::Client client("127.0.0.1", port);
        client.set_read_timeout(60s);
        client.Get("/api/ports", {{"Authorization", "Bearer " + token}});
    });
    // Wait until the REST request is with the "daemon" too: two connections (events + request).
    int connections = 0;
    std::vector<int> accepted;
    ASSERT_TRUE(eventually([&] {
        pollfd fd{silent, POLLIN, 0};
        while (::poll(&fd, 1, 0) == 1) {
            accepted.push_back(::accept4(silent, nullptr, nullptr, SOCK_CLOEXEC));
            ++connections;
        }
        return connections >= 2;
    }));
    EXPECT_EQ(web.stop(SIGTERM), 0) << web.err();
    pending.join();
    for (int fd : accepted)
        ::close(fd);
    ::close(silent);
}

TEST_F(WebApi, PageInHeadlessChromiumFollowsAPortLive) {
    // tests/web/browser.mjs does the clicking; playwright-core comes from the committed lock file.
    const std::string dir = std::string(PORTEYE_SOURCE_DIR) + "/tests/web";
    if (::access("/usr/bin/chromium", X_OK) != 0) GTEST_SKIP() << "Debian's chromium is not installed";
    if (::access((dir + "/node_modules/playwright-core/package.json").c_str(), F_OK) != 0) {
        const auto npm = porteye::testing::run({"npm", "ci", "--prefix", dir, "--no-audit", "--no-fund"}, {}, 300s);
        ASSERT_EQ(npm.exitCode, 0) << npm.out << npm.err;
    }
    const std::string screenshot = std::string(PORTEYE_BINARY_DIR) + "/web.png";
    const auto result = porteye::testing::run(
        {"node", dir + "/browser.mjs", "http://127.0.0.1:" + std::to_string(m_port) + "/#token=" + m_token, screenshot},
        {}, 120s);
    EXPECT_EQ(result.exitCode, 0) << result.out << result.err << "\nporteyectl web:\n" << m_web->err();
    EXPECT_EQ(::access(screenshot.c_str(), F_OK), 0);
    std::cout << result.out;
}

}  // namespace
}  // namespace porteye::web
