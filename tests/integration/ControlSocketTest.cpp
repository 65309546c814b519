// SPDX-License-Identifier: MIT
// The control socket of the real porteyed, started as a subprocess with --no-bus.
// The host is shared: only sockets and processes made here are asserted on.
#include "protocol/JsonRpc.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr auto kTimeout = std::chrono::seconds(20);
constexpr std::size_t kMaxClients = 256;  // ControlServer's documented limit

/// A blocking client speaking newline-delimited JSON-RPC, with timeouts on every read.
class RpcClient {
public:
    explicit RpcClient(const std::string& path) {
        m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        m_connected = ::connect(m_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
    }
    ~RpcClient() { ::close(m_fd); }
    RpcClient(const RpcClient&) = delete;
    RpcClient& operator=(const RpcClient&) = delete;

    bool connected() const { return m_connected; }
    int fd() const { return m_fd; }

    bool sendRaw(const std::string& bytes) {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            const ssize_t n = ::send(m_fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            sent += static_cast<std::size_t>(n);
        }
        return true;
    }

    /// The next message, or nullopt on EOF, error or timeout.
    std::optional<json> read(std::chrono::milliseconds timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kTimeout)) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            const auto newline = m_buffer.find('\n');
            if (newline != std::string::npos) {
                const std::string line = m_buffer.substr(0, newline);
                m_buffer.erase(0, newline + 1);
                return json::parse(line);
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) return std::nullopt;
            pollfd pfd{m_fd, POLLIN, 0};
            if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
            char chunk[65536];
            const ssize_t n = ::recv(m_fd, chunk, sizeof(chunk), 0);
            if (n <= 0) return std::nullopt;
            m_buffer.append(chunk, static_cast<std::size_t>(n));
        }
    }

    /// Sends a request and returns the whole reply message (result or error), skipping notifications.
    json call(const std::string& method, const json& params = nullptr) {
        const std::uint64_t id = m_nextId++;
        // Even when sending fails (the daemon closed on us), a line it sent first is still readable.
        (void)sendRaw(protocol::rpc::toLine(protocol::rpc::request(id, method, params)));
        for (;;) {
            auto message = read();
            if (!message) return json{{"read", "failed"}};
            if (message->contains("id") && (*message)["id"] == id) return *message;
            if (message->contains("error")) return *message;  // a connection-level error (id null)
        }
    }

    /// Reads until a notification of `method` satisfies `pred`.
    std::optional<json> waitNotification(const std::string& method, const std::function<bool(const json&)>& pred) {
        const auto deadline = Clock::now() + kTimeout;
        while (Clock::now() < deadline) {
            auto message = read(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
            if (!message) return std::nullopt;
            if (message->value("method", "") == method && pred((*message)["params"])) return (*message)["params"];
        }
        return std::nullopt;
    }

private:
    int m_fd = -1;
    bool m_connected = false;
    std::string m_buffer;
    std::uint64_t m_nextId = 1;
};

/// porteyed --no-bus --socket DIR/s.sock --interval 0.1, waited for with a bounded retry loop.
class DaemonProcess {
public:
    DaemonProcess() {
        char dirTemplate[] = "/tmp/porteye-ctl-XXXXXX";
        m_dir = ::mkdtemp(dirTemplate);
        ::chmod(m_dir.c_str(), 0755);  // the unprivileged test client must reach the socket
        m_path = m_dir + "/s.sock";
    }
    ~DaemonProcess() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
        std::error_code ignored;
        std::filesystem::remove_all(m_dir, ignored);
    }
    DaemonProcess(const DaemonProcess&) = delete;
    DaemonProcess& operator=(const DaemonProcess&) = delete;

    const std::string& path() const { return m_path; }
    const std::string& dir() const { return m_dir; }
    std::string log() const {
        std::string text;
        if (FILE* f = std::fopen((m_dir + "/log").c_str(), "r")) {
            char buf[4096];
            std::size_t n;
            while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
            std::fclose(f);
        }
        return text;
    }

    /// Starts porteyed; returns its pid. Does not wait.
    pid_t spawn() {
        std::vector<std::string> args{PORTEYE_BINARY_DIR "/daemon/porteyed", "--no-bus", "--socket", m_path,
                                      "--interval", "0.1", "--config", "/dev/null", "--log-level", "debug"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const int logFd = ::open((m_dir + "/log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::dup2(logFd, 1);
            ::dup2(logFd, 2);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(logFd);
        return pid;
    }

    /// Starts porteyed and waits until the socket answers `status`.
    ::testing::AssertionResult start() {
        m_pid = spawn();
        if (m_pid < 0) return ::testing::AssertionFailure() << "fork failed";
        const auto deadline = Clock::now() + kTimeout;
        while (Clock::now() < deadline) {
            int status = 0;
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_pid = -1;
                return ::testing::AssertionFailure() << "porteyed exited early (status " << status << "): " << log();
            }
            RpcClient probe(m_path);
            if (probe.connected()) {
                auto reply = probe.call("status");
                if (reply.contains("result")) return ::testing::AssertionSuccess();
            }
            ::usleep(20'000);  // polling for readiness, bounded by the deadline
        }
        return ::testing::AssertionFailure() << "porteyed did not answer on " << m_path << ": " << log();
    }

    /// SIGTERM, then the exit status (-1 if it did not exit normally).
    int stop() {
        if (m_pid <= 0) return -1;
        ::kill(m_pid, SIGTERM);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
        m_pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    std::string m_dir;
    std::string m_path;
    pid_t m_pid = -1;
};

/// A TCP listener on 127.0.0.1 with a kernel-chosen port.
class Listener {
public:
    Listener() {
        m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(m_fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
        ::listen(m_fd, 4);
        socklen_t len = sizeof(addr);
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len);
        m_port = ntohs(addr.sin_port);
    }
    ~Listener() { close(); }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    std::uint16_t port() const { return m_port; }
    void close() {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = -1;
    }

private:
    int m_fd = -1;
    std::uint16_t m_port = 0;
};

/// Repeats `call` until its result satisfies `done` (the daemon polls every 0.1 s).
json eventually(RpcClient& client, const std::string& method, const json& params,
                const std::function<bool(const json&)>& done) {
    const auto deadline = Clock::now() + kTimeout;
    json reply;
    while (Clock::now() < deadline) {
        reply = client.call(method, params);
        if (reply.contains("result") && done(reply["result"])) return reply["result"];
        ::usleep(20'000);
    }
    ADD_FAILURE() << method << " never satisfied the condition; last reply: " << reply.dump();
    return json();
}

/// Drains what the daemon sent and reports whether it then closed the connection.
bool closedByPeer(int fd) {
    char chunk[65536];
    for (;;) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 10'000) <= 0) return false;
        const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET || errno == EPIPE;
    }
}

int errorCode(const json& reply) {
    if (!reply.contains("error")) return 0;
    return reply["error"]["code"].get<int>();
}

class ControlSocket : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(m_daemon.start()); }
    void TearDown() override {
        EXPECT_EQ(m_daemon.stop(), 0) << m_daemon.log();
        EXPECT_FALSE(std::filesystem::exists(m_daemon.path())) << "the socket file was not removed";
    }
    DaemonProcess m_daemon;
};

TEST_F(ControlSocket, StatusReportsTheServiceFields) {
    RpcClient client(m_daemon.path());
    const json reply = client.call("status");
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const json& s = reply["result"];
    for (const char* key : {"version", "poll_interval", "sockets", "history_size", "history_capacity",
                            "history_dropped", "next_sequence", "watches", "protocol_version"})
        EXPECT_TRUE(s.contains(key)) << key;
    EXPECT_EQ(reply["jsonrpc"], "2.0");
    EXPECT_EQ(reply["id"], 1);
    EXPECT_DOUBLE_EQ(s["poll_interval"].get<double>(), 0.1);
    EXPECT_EQ(s["history_capacity"], 10000);
    EXPECT_EQ(s["watches"], 0);
    EXPECT_EQ(s["protocol_version"], 1);
    EXPECT_FALSE(s["version"].get<std::string>().empty());
}

TEST_F(ControlSocket, ListShowsAListenerWithItsPidPortAndState) {
    RpcClient client(m_daemon.path());
    Listener listener;
    const json found = eventually(client, "list", {{"port", listener.port()}},
                                  [](const json& r) { return r.is_array() && !r.empty(); });
    ASSERT_EQ(found.size(), 1U) << found.dump();
    EXPECT_EQ(found[0]["pid"], static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(found[0]["local_port"], listener.port());
    EXPECT_EQ(found[0]["state"], "LISTEN");
    EXPECT_EQ(found[0]["protocol"], "tcp");
    EXPECT_EQ(found[0]["local_address"], "127.0.0.1");

    // Filters narrow: by pid + listening, and a state that does not match.
    const json mine = client.call("list", {{"pid", ::getpid()}, {"listening", true}});
    ASSERT_TRUE(mine.contains("result"));
    bool seen = false;
    for (const auto& r : mine["result"]) seen = seen || r["local_port"] == listener.port();
    EXPECT_TRUE(seen);
    const json none = client.call("list", {{"port", listener.port()}, {"state", "ESTABLISHED"}});
    EXPECT_TRUE(none["result"].empty()) << none.dump();
    // Omitted and null params mean "everything".
    EXPECT_TRUE(client.call("list")["result"].is_array());
    EXPECT_TRUE(client.call("list", json::object())["result"].is_array());
}

TEST_F(ControlSocket, HistoryShowsAddedThenRemovedAfterTheListenerCloses) {
    RpcClient client(m_daemon.path());
    Listener listener;
    const auto port = listener.port();
    eventually(client, "list", {{"port", port}}, [](const json& r) { return !r.empty(); });
    listener.close();
    const json events = eventually(client, "history", {{"port", port}}, [](const json& r) { return r.size() >= 2; });
    ASSERT_EQ(events.size(), 2U) << events.dump();
    EXPECT_EQ(events[0]["action"], "added");
    EXPECT_EQ(events[1]["action"], "removed");
    EXPECT_LT(events[0]["sequence"].get<std::uint64_t>(), events[1]["sequence"].get<std::uint64_t>());
    EXPECT_EQ(events[0]["record"]["pid"], static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(events[0]["record"]["local_port"], port);
    const json removedOnly = client.call("history", {{"port", port}, {"action", "removed"}, {"limit", 10}});
    ASSERT_EQ(removedOnly["result"].size(), 1U) << removedOnly.dump();
}

/// A child that opens a listener, closes it and exits, each step on a command from the parent.
class ScriptedChild {
public:
    ScriptedChild() {
        int toChild[2];
        int toParent[2];
        if (::pipe2(toChild, O_CLOEXEC) < 0 || ::pipe2(toParent, O_CLOEXEC) < 0) return;
        m_pid = ::fork();
        if (m_pid == 0) {
            ::close(toChild[1]);
            ::close(toParent[0]);
            char command = 0;
            int listener = -1;
            while (::read(toChild[0], &command, 1) == 1) {
                if (command == 'o') {
                    listener = ::socket(AF_INET, SOCK_STREAM, 0);
                    sockaddr_in addr{};
                    addr.sin_family = AF_INET;
                    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                    ::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
                    ::listen(listener, 1);
                    socklen_t len = sizeof(addr);
                    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
                    const std::uint16_t port = ntohs(addr.sin_port);
                    if (::write(toParent[1], &port, sizeof(port)) < 0) {}
                } else if (command == 'c') {
                    ::close(listener);
                    if (::write(toParent[1], "k", 1) < 0) {}
                } else {
                    break;
                }
            }
            ::_exit(0);
        }
        ::close(toChild[0]);
        ::close(toParent[1]);
        m_commands = toChild[1];
        m_replies = toParent[0];
    }
    ~ScriptedChild() {
        ::close(m_commands);
        ::close(m_replies);
        reap();
    }
    ScriptedChild(const ScriptedChild&) = delete;
    ScriptedChild& operator=(const ScriptedChild&) = delete;

    pid_t pid() const { return m_pid; }
    std::uint16_t open() {
        std::uint16_t port = 0;
        if (::write(m_commands, "o", 1) < 0) {}
        if (::read(m_replies, &port, sizeof(port)) < 0) {}
        return port;
    }
    void closeListener() {
        char ok = 0;
        if (::write(m_commands, "c", 1) < 0) {}
        if (::read(m_replies, &ok, 1) < 0) {}
    }
    /// Tells the child to exit and reaps it (a zombie would still look alive in /proc).
    void exitAndReap() {
        if (::write(m_commands, "x", 1) < 0) {}
        reap();
    }

private:
    void reap() {
        if (m_pid > 0) ::waitpid(m_pid, nullptr, 0);
        m_pid = -1;
    }
    pid_t m_pid = -1;
    int m_commands = -1;
    int m_replies = -1;
};

bool containsPort(const json& ports, std::uint16_t port) {
    for (const auto& p : ports)
        if (p == port) return true;
    return false;
}

TEST_F(ControlSocket, WatchStreamsAChildsOpenedAndClosedPortsThenItsExit) {
    ScriptedChild child;
    ASSERT_GT(child.pid(), 0);
    const auto pid = static_cast<std::uint32_t>(child.pid());
    RpcClient client(m_daemon.path());
    const json reply = client.call("watch", {{"pid", pid}, {"interval", 0.1}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto id = reply["result"]["watch"].get<std::uint64_t>();
    EXPECT_EQ(client.call("status")["result"]["watches"], 1);

    const auto port = child.open();
    auto opened = client.waitNotification("watch.changed", [&](const json& p) {
        return p["watch"] == id && containsPort(p["new_ports"], port);
    });
    ASSERT_TRUE(opened) << "no watch.changed with new_ports " << port;
    EXPECT_EQ((*opened)["pid"], pid);
    EXPECT_TRUE(containsPort((*opened)["active_ports"], port));
    EXPECT_FALSE((*opened)["timestamp"].get<std::string>().empty());
    // The shared parser reads what the daemon wrote.
    const auto change = protocol::rpc::portChangeFromJson(*opened);
    EXPECT_TRUE(change.opened.contains(port));

    child.closeListener();
    auto closed = client.waitNotification("watch.changed", [&](const json& p) {
        return p["watch"] == id && containsPort(p["closed_ports"], port);
    });
    ASSERT_TRUE(closed) << "no watch.changed with closed_ports " << port;
    EXPECT_FALSE(containsPort((*closed)["active_ports"], port));

    child.exitAndReap();
    auto exited = client.waitNotification("watch.exited", [&](const json& p) { return p["watch"] == id; });
    ASSERT_TRUE(exited) << "no watch.exited";
    EXPECT_EQ((*exited)["pid"], pid);
    EXPECT_EQ(client.call("status")["result"]["watches"], 0);
    // The watch is gone: unwatch says so.
    EXPECT_EQ(errorCode(client.call("unwatch", {{"watch", id}})), protocol::rpc::kNoSuchWatch);
}

TEST_F(ControlSocket, EventsStreamHostChangesMatchingTheFilter) {
    RpcClient client(m_daemon.path());
    const json reply = client.call("events", {{"pid", ::getpid()}, {"listening", true}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto subscription = reply["result"]["subscription"].get<std::uint64_t>();
    Listener listener;
    auto event = client.waitNotification("event", [&](const json& p) {
        return p["record"]["local_port"] == listener.port() && p["action"] == "added";
    });
    ASSERT_TRUE(event);
    EXPECT_EQ((*event)["subscription"], subscription);
    EXPECT_EQ((*event)["record"]["pid"], static_cast<std::uint32_t>(::getpid()));
    EXPECT_GT((*event)["sequence"].get<std::uint64_t>(), 0U);

    EXPECT_EQ(client.call("unsubscribe", {{"subscription", subscription}})["result"], true);
    EXPECT_EQ(errorCode(client.call("unsubscribe", {{"subscription", subscription}})), protocol::rpc::kNoSuchWatch);
}

TEST_F(ControlSocket, UnwatchEndsAWatchOnce) {
    RpcClient client(m_daemon.path());
    const json reply = client.call("watch", {{"pid", ::getpid()}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto id = reply["result"]["watch"];
    EXPECT_EQ(client.call("unwatch", {{"watch", id}})["result"], true);
    EXPECT_EQ(errorCode(client.call("unwatch", {{"watch", id}})), protocol::rpc::kNoSuchWatch);
    EXPECT_EQ(errorCode(client.call("watch", {{"pid", 0x7ffffff0}})), protocol::rpc::kNoSuchProcess);
}

TEST_F(ControlSocket, MalformedJsonGetsAParseErrorAndTheConnectionStaysUsable) {
    RpcClient client(m_daemon.path());
    ASSERT_TRUE(client.sendRaw("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \n"));
    auto error = client.read();
    ASSERT_TRUE(error);
    EXPECT_EQ(errorCode(*error), protocol::rpc::kParseError) << error->dump();
    EXPECT_EQ((*error)["id"], nullptr);
    EXPECT_FALSE((*error)["error"]["message"].get<std::string>().empty());
    ASSERT_TRUE(client.sendRaw(std::string("\xff\xfe garbage \x01\n")));
    EXPECT_EQ(errorCode(*client.read()), protocol::rpc::kParseError);
    ASSERT_TRUE(client.sendRaw("{\"jsonrpc\":\"2.0\",\"id\":1e999,\"method\":\"status\"}\n"));
    EXPECT_EQ(errorCode(*client.read()), protocol::rpc::kParseError);
    EXPECT_TRUE(client.call("status").contains("result"));
}

TEST_F(ControlSocket, UnknownMethodGetsMethodNotFound) {
    RpcClient client(m_daemon.path());
    const json reply = client.call("frobnicate");
    EXPECT_EQ(errorCode(reply), protocol::rpc::kMethodNotFound) << reply.dump();
    EXPECT_NE(reply["error"]["message"].get<std::string>().find("frobnicate"), std::string::npos);
    EXPECT_EQ(reply["id"], 1);
    EXPECT_TRUE(client.call("status").contains("result"));
}

TEST_F(ControlSocket, WrongParamTypesGetInvalidParams) {
    RpcClient client(m_daemon.path());
    constexpr int kInvalid = protocol::rpc::kInvalidParams;
    EXPECT_EQ(errorCode(client.call("list", {{"pid", "one"}})), kInvalid);
    EXPECT_EQ(errorCode(client.call("list", {{"port", 70000}})), kInvalid);
    EXPECT_EQ(errorCode(client.call("list", {{"state", "SLEEPING"}})), kInvalid);
    EXPECT_EQ(errorCode(client.call("list", {{"no_such_key", 1}})), kInvalid);
    EXPECT_EQ(errorCode(client.call("list", json::array({1, 2}))), kInvalid);
    EXPECT_EQ(errorCode(client.call("history", {{"limit", -1}})), kInvalid);
    EXPECT_EQ(errorCode(client.call("history", {{"action", "opened"}})), kInvalid);
    EXPECT_EQ(errorCode(client.call("watch")), kInvalid);
    EXPECT_EQ(errorCode(client.call("watch", {{"pid", "abc"}})), kInvalid);
    EXPECT_EQ(errorCode(client.call("watch", {{"pid", ::getpid()}, {"interval", "fast"}})), kInvalid);
    EXPECT_EQ(errorCode(client.call("watch", {{"pid", ::getpid()}, {"interval", 0.0}})), kInvalid);  // service range
    EXPECT_EQ(errorCode(client.call("unwatch", {{"watch", "w"}})), kInvalid);
    EXPECT_EQ(errorCode(client.call("status", {{"verbose", true}})), kInvalid);
    // Not JSON-RPC requests at all.
    ASSERT_TRUE(client.sendRaw("{\"jsonrpc\":\"1.0\",\"id\":9,\"method\":\"status\"}\n"));
    EXPECT_EQ(errorCode(*client.read()), protocol::rpc::kInvalidRequest);
    ASSERT_TRUE(client.sendRaw("[{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"status\"}]\n"));
    const auto batch = client.read();
    EXPECT_EQ(errorCode(*batch), protocol::rpc::kInvalidRequest);
    EXPECT_NE((*batch)["error"]["message"].get<std::string>().find("batch"), std::string::npos);
    ASSERT_TRUE(client.sendRaw("42\n"));
    EXPECT_EQ(errorCode(*client.read()), protocol::rpc::kInvalidRequest);
    EXPECT_TRUE(client.call("status").contains("result"));
}

TEST_F(ControlSocket, NotificationsGetNoReply) {
    RpcClient client(m_daemon.path());
    ASSERT_TRUE(client.sendRaw("{\"jsonrpc\":\"2.0\",\"method\":\"status\"}\n"
                               "{\"jsonrpc\":\"2.0\",\"method\":\"no_such_method\"}\n"
                               "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"status\"}\n"));
    const auto reply = client.read();
    ASSERT_TRUE(reply);
    EXPECT_EQ((*reply)["id"], "abc") << reply->dump();
}

TEST_F(ControlSocket, OverlongLineGetsOneInvalidRequestAndTheConnectionStaysUsable) {
    RpcClient client(m_daemon.path());
    std::string line = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"list\",\"params\":{\"process\":\"";
    line.append(100 * 1024, 'x');
    line += "\"}}\n";
    ASSERT_TRUE(client.sendRaw(line));
    const auto error = client.read();
    ASSERT_TRUE(error);
    EXPECT_EQ(errorCode(*error), protocol::rpc::kInvalidRequest) << error->dump();
    EXPECT_EQ((*error)["id"], nullptr);
    // Exactly one error, then the next request is answered.
    const json reply = client.call("status");
    EXPECT_TRUE(reply.contains("result")) << reply.dump();
    EXPECT_EQ(reply["id"], 1);
}

TEST_F(ControlSocket, ClientThatNeverReadsIsDroppedWhileOthersAreServed) {
    RpcClient reader(m_daemon.path());
    RpcClient sluggard(m_daemon.path());
    ASSERT_TRUE(sluggard.call("events").contains("result"));
    ASSERT_TRUE(sluggard.call("watch", {{"pid", ::getpid()}}).contains("result"));
    EXPECT_EQ(reader.call("status")["result"]["watches"], 1);

    timeval timeout{10, 0};
    ::setsockopt(sluggard.fd(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    const std::string request = protocol::rpc::toLine(protocol::rpc::request(7, "list"));
    std::string burst;
    for (int i = 0; i < 100; ++i) burst += request;
    bool dropped = false;
    for (int i = 0; i < 20'000 && !dropped; ++i) {
        if (!sluggard.sendRaw(burst)) dropped = true;
        if (i % 50 == 0) {
            ASSERT_TRUE(reader.call("status").contains("result")) << "the other client starved";
        }
    }
    EXPECT_TRUE(dropped) << "a client that never reads was not dropped";
    EXPECT_TRUE(closedByPeer(sluggard.fd()));
    const json status = reader.call("status");
    ASSERT_TRUE(status.contains("result"));
    EXPECT_EQ(status["result"]["watches"], 0) << "the dropped client's watch was not removed";
    EXPECT_NE(m_daemon.log().find("does not read"), std::string::npos);
}

TEST_F(ControlSocket, ClientsBeyondTheLimitGetAnErrorAndTheDaemonKeepsServing) {
    constexpr std::size_t kAttempts = 300;
    std::vector<std::unique_ptr<RpcClient>> clients;
    for (std::size_t i = 0; i < kAttempts; ++i) {
        clients.push_back(std::make_unique<RpcClient>(m_daemon.path()));
        ASSERT_TRUE(clients.back()->connected()) << i;
    }
    std::size_t served = 0;
    std::size_t refused = 0;
    for (auto& client : clients) {
        const json reply = client->call("status");
        if (reply.contains("result")) {
            ++served;
        } else if (errorCode(reply) == protocol::rpc::kLimitExceeded) {
            ++refused;
        } else {
            ADD_FAILURE() << reply.dump();
        }
    }
    EXPECT_LE(served, kMaxClients);
    EXPECT_GE(served, kMaxClients - 2);  // the readiness probe may still be counted for a moment
    EXPECT_EQ(served + refused, kAttempts);
    clients.clear();
    RpcClient after(m_daemon.path());
    EXPECT_TRUE(after.call("status").contains("result"));
}

TEST_F(ControlSocket, UnprivilegedClientSeesOnlyItsOwnSocketsAndCannotWatchRoot) {
    if (::getuid() != 0) GTEST_SKIP() << "needs root to drop to uid 65534";
    Listener rootListener;
    RpcClient root(m_daemon.path());
    eventually(root, "list", {{"port", rootListener.port()}}, [](const json& r) { return !r.empty(); });

    const pid_t child = ::fork();
    if (child == 0) {
        // Exit codes name the failed check.
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
        Listener own;
        RpcClient client(m_daemon.path());
        if (!client.connected()) ::_exit(11);
        bool sawOwn = false;
        const auto deadline = Clock::now() + kTimeout;
        while (!sawOwn && Clock::now() < deadline) {
            const json reply = client.call("list");
            if (!reply.contains("result")) ::_exit(12);
            for (const auto& r : reply["result"]) {
                if (r["uid"] != 65534) ::_exit(13);
                if (r["local_port"] == rootListener.port()) ::_exit(14);
                if (r["local_port"] == own.port()) sawOwn = true;
            }
            if (!sawOwn) ::usleep(20'000);
        }
        if (!sawOwn) ::_exit(15);
        const json byPort = client.call("list", {{"port", rootListener.port()}});
        if (!byPort.contains("result") || !byPort["result"].empty()) ::_exit(16);
        const json history = client.call("history", {{"port", rootListener.port()}});
        if (!history.contains("result") || !history["result"].empty()) ::_exit(17);
        if (errorCode(client.call("watch", {{"pid", ::getppid()}})) != protocol::rpc::kAccessDenied) ::_exit(18);
        ::_exit(0);
    }
    ASSERT_GT(child, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "failed check " << WEXITSTATUS(status) << "\n" << m_daemon.log();
}

TEST(ControlSocketStartup, ReplacesAStaleSocketFileButNotALiveOne) {
    DaemonProcess first;
    {
        // A socket file nobody listens on, as a crashed daemon leaves behind.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, first.path().c_str(), sizeof(addr.sun_path) - 1);
        ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
        ::close(fd);
    }
    ASSERT_TRUE(first.start());

    // A second daemon on the same path must not steal it.
    const pid_t second = first.spawn();
    int status = 0;
    ASSERT_EQ(::waitpid(second, &status, 0), second);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1);
    EXPECT_NE(first.log().find("already serving"), std::string::npos) << first.log();
    RpcClient client(first.path());
    EXPECT_TRUE(client.call("status").contains("result"));
    EXPECT_EQ(first.stop(), 0);
}

}  // namespace
}  // namespace porteye::control
