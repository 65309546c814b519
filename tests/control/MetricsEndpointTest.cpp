// SPDX-License-Identifier: MIT
// porteyed --metrics-listen end to end: the real daemon as a subprocess, scraped over TCP and a
// Unix socket by a plain HTTP client, the body parsed by Debian's python3-prometheus-client (the
// parser Prometheus's own Python tooling uses). And clients that misbehave: a megabyte of
// headers, or nothing at all, are cut off without holding up a scrape.
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using porteye::testing::DaemonProcess;
using porteye::testing::PortHolder;
using porteye::testing::Subprocess;
using porteye::testing::TempDir;
constexpr auto kTimeout = std::chrono::seconds(20);

// The system's python3 has Debian's packages (python3-prometheus-client); a python3 earlier in
// PATH (pyenv, a venv) may not.
constexpr const char* kPython = "/usr/bin/python3";

constexpr const char* kParseScript = R"(
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families, labels, listeners, samples = {}, set(), [], {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    families[family.name] = family.type
    for s in family.samples:
        labels.update(s.labels)
        if s.name == 'porteye_listening_socket_info':
            listeners.append(s.labels)
        key = s.name + json.dumps(s.labels, sort_keys=True)
        samples[key] = s.value
print(json.dumps({'families': families, 'labels': sorted(labels), 'listeners': listeners, 'samples': samples}))
)";

/// A connected stream socket to "HOST:PORT" (IPv4) or a Unix path; -1 on failure.
int connectTo(const std::string& address) {
    if (!address.empty() && address.front() == '/') {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, address.c_str(), sizeof addr.sun_path - 1);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }
    const auto colon = address.rfind(':');
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
    inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Reads until the peer closes (or the timeout); returns what came, and whether it closed.
std::pair<std::string, bool> readUntilClosed(int fd, std::chrono::milliseconds timeout) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return {out, false};
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[65536];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) return {out, true};
        if (n < 0) return {out, errno == ECONNRESET};
        out.append(buf, static_cast<std::size_t>(n));
    }
}

/// One HTTP exchange: the whole response (status line, headers, body), "" on failure.
/// With `halfClose`, the client shuts its sending side after the request, as `socat -` and
/// `printf … | nc` do.
std::string httpRequest(const std::string& address, const std::string& request, bool halfClose = false) {
    const int fd = connectTo(address);
    if (fd < 0) return {};
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    if (halfClose) ::shutdown(fd, SHUT_WR);
    auto [response, closed] = readUntilClosed(fd, kTimeout);
    ::close(fd);
    return closed ? response : std::string();
}

std::string get(const std::string& address, const std::string& path = "/metrics") {
    return httpRequest(address, "GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
}

std::string bodyOf(const std::string& response) {
    const auto end = response.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : response.substr(end + 4);
}

std::string comm(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

class MetricsEndpoint : public porteye::testing::DaemonTest {
protected:
    /// Starts porteyed serving metrics on `listen`; returns the bound address from its log.
    std::string start(const std::string& listen) {
        std::vector<std::string> args{
            "--no-bus",    "--socket", m_dir.path() + "/s.sock", "--interval", "0.1", "--config", "/dev/null",
            "--state-dir", "",         "--metrics-listen",       listen};
        args.insert(args.end(), m_extraArgs.begin(), m_extraArgs.end());
        startDaemon(args);
        if (HasFatalFailure()) return {};
        std::smatch m;
        const std::string log = m_daemon->log();
        static const std::regex bound("serving Prometheus metrics on (\\S+) ");
        if (!std::regex_search(log, m, bound)) {
            ADD_FAILURE() << "porteyed did not say where it serves metrics:\n" << log;
            return {};
        }
        return m[1];
    }

    /// The body parsed by prometheus_client: families, label names, listener series, samples.
    json parse(const std::string& body) {
        const std::string file = m_dir.path() + "/metrics.txt";
        std::ofstream(file) << body;
        const auto result = porteye::testing::run({kPython, "-c", kParseScript, file});
        if (result.exitCode != 0) {
            ADD_FAILURE() << "prometheus_client could not parse /metrics:\n" << result.err << "\n" << body;
            return json::object();
        }
        return json::parse(result.out);
    }

    /// Scrapes until `predicate(parsed)` holds (porteyed sees a new socket within a poll or two).
    json scrapeUntil(const std::string& address, const std::function<bool(const json&)>& predicate) {
        json parsed;
        porteye::testing::eventually(
            [&] {
                const auto response = get(address);
                if (response.rfind("HTTP/1.1 200 OK\r\n", 0) != 0) return false;
                parsed = parse(bodyOf(response));
                return predicate(parsed);
            },
            kTimeout);
        return parsed;
    }

    static bool hasListener(const json& parsed, std::uint16_t port, const std::string& process) {
        for (const auto& l : parsed.value("listeners", json::array()))
            if (l.value("port", "") == std::to_string(port) && l.value("process", "") == process &&
                l.value("address", "") == "127.0.0.1" && l.value("protocol", "") == "tcp")
                return true;
        return false;
    }

    TempDir m_dir{0755};
    std::vector<std::string> m_extraArgs;
};

TEST_F(MetricsEndpoint, ServesAListenerTheTestOpenedAsOneSeriesWithoutPid) {
    const std::string address = start("127.0.0.1:0");
    ASSERT_FALSE(address.empty());
    PortHolder holder;
    const std::uint16_t port = holder.open();
    ASSERT_NE(port, 0);
    const std::string process = comm(holder.pid());
    const json parsed = scrapeUntil(address, [&](const json& p) { return hasListener(p, port, process); });
    ASSERT_TRUE(hasListener(parsed, port, process)) << parsed.dump(1);

    // No pid label anywhere, ever; the listener labels are the documented ones.
    const auto labels = parsed["labels"].get<std::vector<std::string>>();
    for (const auto& name : labels)
        EXPECT_EQ(name.find("pid"), std::string::npos) << "label " << name;
    for (const char* name : {"protocol", "family", "address", "port", "process", "unit", "container", "netns"})
        EXPECT_NE(std::find(labels.begin(), labels.end(), name), labels.end()) << name;

    // Counters and self-metrics are there, with the types a scraper expects.
    const json& families = parsed["families"];
    EXPECT_EQ(families.value("porteye_events", ""), "counter") << families.dump(1);
    EXPECT_EQ(families.value("porteye_polls", ""), "counter");
    EXPECT_EQ(families.value("porteye_poll_duration_seconds", ""), "histogram");
    EXPECT_EQ(families.value("porteye_build_info", ""), "gauge");
    for (const char* name :
         {"porteye_connections", "porteye_dump_sockets", "porteye_owners_resolved", "porteye_destroy_notifications",
          "porteye_dropped_notifications", "porteye_resyncs", "porteye_control_clients", "porteye_watches",
          "porteye_history_size", "porteye_history_capacity", "porteye_store_state"})
        EXPECT_TRUE(families.contains(name)) << name;
    const json& samples = parsed["samples"];
    EXPECT_GE(samples.value("porteye_events_total{\"action\": \"added\", \"protocol\": \"tcp\"}", 0.0), 1.0)
        << "the listener's own added event";
    EXPECT_EQ(samples.value("porteye_store_state{\"state\": \"disabled\"}", 0.0), 1.0);
    EXPECT_GE(samples.value("porteye_polls_total{}", 0.0), 1.0);

    // Closed: the series goes away.
    holder.close();
    const json after = scrapeUntil(address, [&](const json& p) { return !hasListener(p, port, process); });
    EXPECT_FALSE(hasListener(after, port, process));
}

TEST_F(MetricsEndpoint, ServesOnAUnixSocketPathOnlyToOwnerAndGroup) {
    const std::string path = m_dir.path() + "/metrics.sock";
    ASSERT_EQ(start(path), path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u) << "every user's listeners: not for everyone";
    PortHolder holder;
    const std::uint16_t port = holder.open();
    const std::string process = comm(holder.pid());
    const json parsed = scrapeUntil(path, [&](const json& p) { return hasListener(p, port, process); });
    EXPECT_TRUE(hasListener(parsed, port, process)) << parsed.dump(1);
    m_daemon->stop();
    m_daemon.reset();
    EXPECT_NE(::access(path.c_str(), F_OK), 0) << "porteyed removes its socket on exit";
}

TEST_F(MetricsEndpoint, AnswersOtherPathsAndMethodsWithoutTheBody) {
    const std::string address = start("127.0.0.1:0");
    ASSERT_FALSE(address.empty());
    EXPECT_EQ(get(address, "/").rfind("HTTP/1.1 404 ", 0), 0u);
    EXPECT_EQ(get(address, "/metrics?x=1").rfind("HTTP/1.1 200 OK", 0), 0u);
    const auto post = httpRequest(address, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0u) << post;
    EXPECT_NE(post.find("Allow: GET"), std::string::npos);
    EXPECT_EQ(httpRequest(address, "nonsense\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
    // A client that half-closes after its request still gets the answer.
    const auto halfClosed = httpRequest(address, "GET /metrics HTTP/1.1\r\n\r\n", /*halfClose=*/true);
    EXPECT_EQ(halfClosed.rfind("HTTP/1.1 200 OK", 0), 0u) << halfClosed.substr(0, 200);
    // One that half-closes in the middle of its request gets a 400, never the body.
    const auto cut = httpRequest(address, "GET /metr", /*halfClose=*/true);
    EXPECT_TRUE(cut.empty() || cut.rfind("HTTP/1.1 400 ", 0) == 0) << cut;
    const auto ok = get(address);
    EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << ok.substr(0, 300);
}

TEST_F(MetricsEndpoint, AMegabyteOfHeadersIsCutOffAndDoesNotBlockAScrape) {
    const std::string address = start("127.0.0.1:0");
    ASSERT_FALSE(address.empty());
    const int hostile = connectTo(address);
    ASSERT_GE(hostile, 0);
    ::fcntl(hostile, F_SETFL, O_NONBLOCK);
    const std::string junk = "GET /metrics HTTP/1.1\r\n" + std::string(1 << 20, 'X');
    std::size_t sent = 0;
    bool cut = false;
    std::string reply;
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (!cut && std::chrono::steady_clock::now() < deadline) {
        if (sent < junk.size()) {
            const ssize_t n = ::send(hostile, junk.data() + sent, junk.size() - sent, MSG_NOSIGNAL);
            if (n > 0) sent += static_cast<std::size_t>(n);
            if (n < 0 && errno != EAGAIN) cut = true;  // EPIPE/ECONNRESET: porteyed closed it
        }
        char buf[4096];
        const ssize_t r = ::recv(hostile, buf, sizeof buf, 0);
        if (r > 0) reply.append(buf, static_cast<std::size_t>(r));
        if (r == 0 || (r < 0 && errno != EAGAIN)) cut = true;
        if (!cut) {
            pollfd p{hostile, static_cast<short>(POLLIN | (sent < junk.size() ? POLLOUT : 0)), 0};
            ::poll(&p, 1, 100);
        }
    }
    ::close(hostile);
    EXPECT_TRUE(cut) << "porteyed kept reading a 1 MiB request";
    // (Loopback's socket buffers can absorb the whole megabyte, so how much was sent proves nothing;
    // the 431, when it arrives before the reset, says porteyed stopped at its cap.)
    if (!reply.empty()) {
        // cpp-httplib answers an over-long header line with 400.
        EXPECT_TRUE(reply.rfind("HTTP/1.1 431 ", 0) == 0 || reply.rfind("HTTP/1.1 400 ", 0) == 0) << reply;
    }
    EXPECT_EQ(get(address).rfind("HTTP/1.1 200 OK", 0), 0u);
}

TEST_F(MetricsEndpoint, SilentClientsAreCutOffAndTheRestAreBounded) {
    const std::string address = start("127.0.0.1:0");
    ASSERT_FALSE(address.empty());
    // A few clients that never send anything: a scrape still gets through at once.
    std::vector<int> silent;
    for (int i = 0; i < 4; ++i)
        silent.push_back(connectTo(address));
    EXPECT_EQ(get(address).rfind("HTTP/1.1 200 OK", 0), 0u);
    // ...and each is closed after the deadline (5 s), without a word from it.
    for (int fd : silent) {
        ASSERT_GE(fd, 0);
        EXPECT_TRUE(readUntilClosed(fd, kTimeout).second) << "a silent client was never cut off";
        ::close(fd);
    }
    // More than 16 at once: the extra ones are closed at accept, not queued.
    std::vector<int> crowd;
    for (int i = 0; i < 24; ++i)
        crowd.push_back(connectTo(address));
    int closedAtOnce = 0;
    for (int fd : crowd) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) > 0) {
            char c;
            if (::recv(fd, &c, 1, MSG_DONTWAIT) <= 0) ++closedAtOnce;
        }
    }
    EXPECT_GE(closedAtOnce, 8) << "porteyed held more than 16 clients";
    for (int fd : crowd)
        ::close(fd);
    // Once the crowd is gone, scrapes work again.
    EXPECT_TRUE(porteye::testing::eventually([&] { return get(address).rfind("HTTP/1.1 200 OK", 0) == 0; }, kTimeout));
}

TEST_F(MetricsEndpoint, RootsScrapesAreAnsweredWhileAnotherUserKeepsEveryConnectionBusy) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the flood as nobody";
    const std::string address = start("127.0.0.1:0");
    ASSERT_FALSE(address.empty());
    const auto colon = address.rfind(':');
    // nobody holds 40 idle connections and reopens each as soon as porteyed closes it.
    Subprocess flood({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c",
                      "import socket, selectors, sys\n"
                      "host, port = sys.argv[1], int(sys.argv[2]); sel = selectors.DefaultSelector()\n"
                      "def one():\n"
                      "    s = socket.create_connection((host, port)); s.setblocking(False)\n"
                      "    sel.register(s, selectors.EVENT_READ)\n"
                      "for i in range(40): one()\n"
                      "print('ready', flush=True)\n"
                      "while True:\n"
                      "    for key, _ in sel.select():\n"
                      "        try: data = key.fileobj.recv(4096)\n"
                      "        except OSError: data = b''\n"
                      "        if not data:\n"
                      "            sel.unregister(key.fileobj); key.fileobj.close()\n"
                      "            try: one()\n"
                      "            except OSError: pass\n",
                      address.substr(0, colon), address.substr(colon + 1)});
    ASSERT_TRUE(flood.waitForOutput("ready\n", 20s)) << flood.err();
    int answered = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        const int fd = connectTo(address);
        if (fd < 0) continue;
        const std::string request = "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
        (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
        auto [response, closed] = readUntilClosed(fd, 3s);
        ::close(fd);
        if (closed && response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0) ++answered;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    flood.stop(SIGKILL);
    std::cout << "root's scrapes under nobody's 40-connection flood: " << answered << " of 20 answered in " << seconds
              << " s\n";
    EXPECT_EQ(answered, 20);
}

TEST_F(MetricsEndpoint, ListenerSeriesAreCappedAndTheRestCounted) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the listeners as nobody";
    m_extraArgs = {"--metrics-max-listener-series", "5"};
    const std::string address = start("127.0.0.1:0");
    ASSERT_FALSE(address.empty());
    Subprocess many({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c",
                     "import socket, time\n"
                     "held = []\n"
                     "for i in range(30):\n"
                     "    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); held.append(s)\n"
                     "print('ready', flush=True); time.sleep(120)"});
    ASSERT_TRUE(many.waitForOutput("ready\n", 20s)) << many.err();
    std::string body;
    std::uint64_t truncated = 0;
    ASSERT_TRUE(porteye::testing::eventually(
        [&] {
            body = bodyOf(get(address));
            const std::regex gauge("\nporteye_listening_socket_info_truncated ([0-9]+)\n");
            std::smatch m;
            if (!std::regex_search(body, m, gauge)) return false;
            truncated = std::stoull(m[1]);
            return truncated >= 25;
        },
        kTimeout))
        << body.substr(0, 2000);
    std::size_t series = 0;
    for (auto at = body.find("\nporteye_listening_socket_info{"); at != std::string::npos;
         at = body.find("\nporteye_listening_socket_info{", at + 1))
        ++series;
    EXPECT_EQ(series, 5U);
    many.stop(SIGKILL);
}

TEST_F(MetricsEndpoint, RefusesABadAddressAtStart) {
    const auto result = porteye::testing::run({porteye::testing::porteyedPath(), "--no-bus", "--socket", "", "--config",
                                               "/dev/null", "--metrics-listen", "localhost:9656"});
    EXPECT_EQ(result.exitCode, 2) << result.err;
    EXPECT_NE(result.err.find("numeric"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace porteye::control
