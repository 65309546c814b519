// SPDX-License-Identifier: MIT
// `porteyectl web` end to end: a real porteyed on a control socket, the real porteyectl serving the
// page, HTTP requests from this process (root) and from a child running as nobody.
// The host is shared: only sockets made here are asserted on.
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

#include <cstring>
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

/// GET over plain sockets from a forked child that first becomes `nobody`; returns the HTTP status
/// (0 when no answer). Only system calls run after fork, so the threads of this process do not matter.
int statusAsNobody(std::uint16_t port, const std::string& target) {
    int pipeFds[2];
    if (::pipe(pipeFds) != 0) return 0;
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    const pid_t child = ::fork();
    if (child == 0) {
        ::close(pipeFds[0]);
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
            ::setresuid(65534, 65534, 65534) != 0)
            ::_exit(2);
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) ::_exit(3);
        if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) ::_exit(4);
        char buffer[64] = {};
        ssize_t got = 0;
        while (got < 12) {
            const ssize_t n = ::read(fd, buffer + got, sizeof(buffer) - 1 - static_cast<std::size_t>(got));
            if (n <= 0) break;
            got += n;
        }
        if (::write(pipeFds[1], buffer, static_cast<std::size_t>(got)) < 0) ::_exit(5);
        ::_exit(0);
    }
    ::close(pipeFds[1]);
    std::string reply;
    char chunk[64];
    ssize_t n = 0;
    while ((n = ::read(pipeFds[0], chunk, sizeof(chunk))) > 0)
        reply.append(chunk, static_cast<std::size_t>(n));
    ::close(pipeFds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
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

class WebApi : public ::testing::Test {
protected:
    void SetUp() override {
        m_daemon = std::make_unique<DaemonProcess>(
            std::vector<std::string>{"--no-bus", "--socket", m_socket, "--interval", "0.1", "--config", "/dev/null"});
        ASSERT_TRUE(m_daemon->ready()) << "porteyed never sent READY=1:\n" << m_daemon->log();
        m_web = std::make_unique<Subprocess>(std::vector<std::string>{porteye::testing::porteyectlPath(), "--socket",
                                                                      m_socket, "web", "--listen", "127.0.0.1:0"},
                                             std::map<std::string, std::string>{}, m_dir.path() + "/web");
        std::smatch match;
        const std::regex url(R"(http://127\.0\.0\.1:([0-9]+)/\?token=([0-9a-f]{64}))");
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
        if (m_daemon) {
            EXPECT_EQ(m_daemon->stop(), 0) << m_daemon->log();
        }
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
    std::unique_ptr<DaemonProcess> m_daemon;
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

TEST_F(WebApi, EveryRequestNeedsTheToken) {
    for (const std::string target : {"/", "/app.js", "/api/ports", "/api/history", "/api/status", "/api/events"}) {
        auto none = m_client->Get(target.c_str());
        ASSERT_TRUE(none) << target;
        EXPECT_EQ(none->status, 401) << target;
        auto wrong = m_client->Get(target.c_str(), {{"Authorization", "Bearer " + std::string(64, '0')}});
        ASSERT_TRUE(wrong) << target;
        EXPECT_EQ(wrong->status, 401) << target;
        auto wrongCookie =
            m_client->Get(target.c_str(), {{"Cookie", "porteye_token_" + std::to_string(m_port) + "=nope"}});
        ASSERT_TRUE(wrongCookie) << target;
        EXPECT_EQ(wrongCookie->status, 401) << target;
    }
    EXPECT_EQ(json::parse(m_client->Get("/api/ports")->body)["error"].is_string(), true);

    // The printed URL: the token becomes a cookie and leaves the address bar.
    auto first = m_client->Get(("/?token=" + m_token).c_str());
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 303);
    EXPECT_EQ(first->get_header_value("Location"), "/");
    const auto cookie = first->get_header_value("Set-Cookie");
    EXPECT_NE(cookie.find("porteye_token_" + std::to_string(m_port) + "=" + m_token), std::string::npos) << cookie;
    EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
    EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);

    const httplib::Headers withCookie{{"Cookie", "a=b; porteye_token_" + std::to_string(m_port) + "=" + m_token}};
    auto page = m_client->Get("/", withCookie);
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_NE(page->body.find("<title>PortEye</title>"), std::string::npos);
    EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
    for (const char* asset : {"/app.js", "/style.css"}) {
        auto res = m_client->Get(asset, withCookie);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200) << asset;
    }
    auto api = m_client->Get("/api/status", withCookie);
    ASSERT_TRUE(api);
    EXPECT_EQ(api->status, 200);
    EXPECT_EQ(m_client->Get(("/api/status?token=" + m_token).c_str())->status, 200);
}

TEST_F(WebApi, AnotherUsersRequestIsRefusedEvenWithTheToken) {
    // This page runs as root; nobody holds the right token and still gets 403 (the peer check).
    ASSERT_EQ(::geteuid(), 0U) << "run as root: the test switches to nobody";
    EXPECT_EQ(statusAsNobody(m_port, "/api/ports?token=" + m_token), 403);
    EXPECT_EQ(statusAsNobody(m_port, "/?token=" + m_token), 403);
    EXPECT_EQ(statusAsNobody(m_port, "/api/events?token=" + m_token), 403);
    // The same request from root, the page's own user, is served.
    auto res = m_client->Get(("/api/ports?token=" + m_token).c_str());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
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

    m_daemon = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--no-bus", "--socket", m_socket, "--interval", "0.1", "--config", "/dev/null"});
    ASSERT_TRUE(m_daemon->ready()) << m_daemon->log();
    EXPECT_TRUE(eventually([&] { return stream.seen("event: resync\n"); }, 20s)) << stream.received();
    // Back to live: a new socket reaches the same stream.
    PortHolder holder;
    const auto port = holder.open();
    EXPECT_TRUE(eventually([&] { return stream.seen("\"local_port\":" + std::to_string(port)); }, 20s));
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
    const std::regex url(R"(http://127\.0\.0\.1:([0-9]+)/\?token=([0-9a-f]{64}))");
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
    const std::regex url(R"(http://127\.0\.0\.1:([0-9]+)/\?token=([0-9a-f]{64}))");
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
        {"node", dir + "/browser.mjs", "http://127.0.0.1:" + std::to_string(m_port) + "/?token=" + m_token, screenshot},
        {}, 120s);
    EXPECT_EQ(result.exitCode, 0) << result.out << result.err << "\nporteyectl web:\n" << m_web->err();
    EXPECT_EQ(::access(screenshot.c_str(), F_OK), 0);
    std::cout << result.out;
}

}  // namespace
}  // namespace porteye::web
