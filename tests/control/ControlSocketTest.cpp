// SPDX-License-Identifier: MIT
// The control socket of the real porteyed, started as a subprocess with --no-bus.
// The host is shared: only sockets and processes made here are asserted on.
#include "wire/JsonRpc.hpp"
#include "support/RpcClient.hpp"
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace porteye::control {
namespace {

using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::errorCode;
using porteye::testing::PortHolder;
using porteye::testing::RpcClient;
using porteye::testing::TempDir;
using Clock = std::chrono::steady_clock;
constexpr auto kTimeout = std::chrono::seconds(20);
constexpr std::size_t kMaxClients = 256;  // ControlServer's documented limit

/// porteyed serving only the control socket at `path`, polling every 0.1 s.
std::vector<std::string> socketOnly(const std::string& path) {
    return {"--no-bus", "--socket", path, "--interval", "0.1", "--config", "/dev/null", "--log-level", "debug"};
}

/// Repeats `call` until its result satisfies `done` (the daemon polls every 0.1 s).
json eventually(RpcClient& client, const std::string& method, const json& params,
                const std::function<bool(const json&)>& done) {
    json reply;
    if (porteye::testing::eventually(
            [&] {
                reply = client.call(method, params);
                return reply.contains("result") && done(reply["result"]);
            },
            kTimeout))
        return reply["result"];
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

bool containsPort(const json& ports, std::uint16_t port) {
    for (const auto& p : ports)
        if (p == port) return true;
    return false;
}

class ControlSocket : public porteye::testing::DaemonTest {
protected:
    void SetUp() override { startDaemon(socketOnly(m_path)); }
    void TearDown() override {
        stopDaemon();
        EXPECT_FALSE(std::filesystem::exists(m_path)) << "the socket file was not removed";
    }
    TempDir m_dir{0755};  // the unprivileged test client must reach the socket
    const std::string m_path = m_dir.path() + "/s.sock";
};

TEST_F(ControlSocket, StatusReportsTheServiceFields) {
    RpcClient client(m_path);
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
    RpcClient client(m_path);
    PortHolder holder;
    const auto port = holder.open();
    const auto pid = static_cast<std::uint32_t>(holder.pid());
    const json found =
        eventually(client, "list", {{"port", port}}, [](const json& r) { return r.is_array() && !r.empty(); });
    ASSERT_EQ(found.size(), 1U) << found.dump();
    EXPECT_EQ(found[0]["pid"], pid);
    EXPECT_EQ(found[0]["local_port"], port);
    EXPECT_EQ(found[0]["state"], "LISTEN");
    EXPECT_EQ(found[0]["protocol"], "tcp");
    EXPECT_EQ(found[0]["local_address"], "127.0.0.1");

    // Filters narrow: by pid + listening, and a state that does not match.
    const json mine = client.call("list", {{"pid", pid}, {"listening", true}});
    ASSERT_TRUE(mine.contains("result"));
    bool seen = false;
    for (const auto& r : mine["result"])
        seen = seen || r["local_port"] == port;
    EXPECT_TRUE(seen);
    const json none = client.call("list", {{"port", port}, {"state", "ESTABLISHED"}});
    EXPECT_TRUE(none["result"].empty()) << none.dump();
    // Omitted and null params mean "everything".
    EXPECT_TRUE(client.call("list")["result"].is_array());
    EXPECT_TRUE(client.call("list", json::object())["result"].is_array());
}

TEST_F(ControlSocket, HistoryShowsAddedThenRemovedAfterTheListenerCloses) {
    RpcClient client(m_path);
    PortHolder holder;
    const auto port = holder.open();
    eventually(client, "list", {{"port", port}}, [](const json& r) { return !r.empty(); });
    holder.close();
    const json events = eventually(client, "history", {{"port", port}}, [](const json& r) { return r.size() >= 2; });
    ASSERT_EQ(events.size(), 2U) << events.dump();
    EXPECT_EQ(events[0]["action"], "added");
    EXPECT_EQ(events[1]["action"], "removed");
    EXPECT_LT(events[0]["sequence"].get<std::uint64_t>(), events[1]["sequence"].get<std::uint64_t>());
    EXPECT_EQ(events[0]["record"]["pid"], static_cast<std::uint32_t>(holder.pid()));
    EXPECT_EQ(events[0]["record"]["local_port"], port);
    const json removedOnly = client.call("history", {{"port", port}, {"action", "removed"}, {"limit", 10}});
    ASSERT_EQ(removedOnly["result"].size(), 1U) << removedOnly.dump();
}

TEST_F(ControlSocket, WatchStreamsAChildsOpenedAndClosedPortsThenItsExit) {
    PortHolder child;  // opens a listener, closes it and exits, each step on our command
    ASSERT_GT(child.pid(), 0);
    const auto pid = static_cast<std::uint32_t>(child.pid());
    RpcClient client(m_path);
    const json reply = client.call("watch", {{"pid", pid}, {"interval", 0.1}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto id = reply["result"]["watch"].get<std::uint64_t>();
    EXPECT_EQ(client.call("status")["result"]["watches"], 1);

    const auto port = child.open();
    auto opened = client.waitNotification(
        "watch.changed", [&](const json& p) { return p["watch"] == id && containsPort(p["new_ports"], port); });
    ASSERT_TRUE(opened) << "no watch.changed with new_ports " << port;
    EXPECT_EQ((*opened)["pid"], pid);
    EXPECT_TRUE(containsPort((*opened)["active_ports"], port));
    EXPECT_FALSE((*opened)["timestamp"].get<std::string>().empty());
    // The shared parser reads what the daemon wrote.
    const auto change = protocol::rpc::portChangeFromJson(*opened);
    EXPECT_TRUE(change.opened.contains(port));

    child.close();
    auto closed = client.waitNotification(
        "watch.changed", [&](const json& p) { return p["watch"] == id && containsPort(p["closed_ports"], port); });
    ASSERT_TRUE(closed) << "no watch.changed with closed_ports " << port;
    EXPECT_FALSE(containsPort((*closed)["active_ports"], port));

    child.exit();  // reaped: a zombie would still look alive in /proc
    auto exited = client.waitNotification("watch.exited", [&](const json& p) { return p["watch"] == id; });
    ASSERT_TRUE(exited) << "no watch.exited";
    EXPECT_EQ((*exited)["pid"], pid);
    EXPECT_EQ(client.call("status")["result"]["watches"], 0);
    // The watch is gone: unwatch says so.
    EXPECT_EQ(errorCode(client.call("unwatch", {{"watch", id}})), protocol::rpc::kNoSuchWatch);
}

TEST_F(ControlSocket, BoundUdpIsListedAsUnconnWatchedAndItsCloseIsInTheHistory) {
    PortHolder holder;
    const auto pid = static_cast<std::uint32_t>(holder.pid());
    RpcClient client(m_path);
    const json reply = client.call("watch", {{"pid", pid}, {"interval", 0.1}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto id = reply["result"]["watch"].get<std::uint64_t>();

    const auto port = holder.openUdp();
    auto opened = client.waitNotification(
        "watch.changed", [&](const json& p) { return p["watch"] == id && containsPort(p["new_ports"], port); });
    ASSERT_TRUE(opened) << "no watch.changed with the UDP port " << port;

    const json found = eventually(client, "list", {{"port", port}, {"protocol", "udp"}},
                                  [](const json& r) { return r.is_array() && !r.empty(); });
    ASSERT_EQ(found.size(), 1U) << found.dump();
    EXPECT_EQ(found[0]["protocol"], "udp");
    EXPECT_EQ(found[0]["state"], "UNCONN");
    EXPECT_EQ(found[0]["pid"], pid);
    EXPECT_EQ(client.call("list", {{"port", port}, {"listening", true}})["result"].size(), 1U)
        << "listening includes bound UDP, as ss -l";
    EXPECT_EQ(client.call("list", {{"port", port}, {"state", "unconn"}})["result"].size(), 1U);
    // Another test's TCP socket may use the same port number: ask about this holder only.
    EXPECT_TRUE(client.call("list", {{"port", port}, {"protocol", "tcp"}, {"pid", pid}})["result"].empty());

    holder.close();
    auto closed = client.waitNotification(
        "watch.changed", [&](const json& p) { return p["watch"] == id && containsPort(p["closed_ports"], port); });
    ASSERT_TRUE(closed) << "no watch.changed with the closed UDP port";
    const json removed = eventually(client, "history", {{"port", port}, {"action", "removed"}},
                                    [](const json& r) { return r.is_array() && !r.empty(); });
    ASSERT_EQ(removed.size(), 1U) << removed.dump();
    EXPECT_EQ(removed[0]["record"]["protocol"], "udp");
    EXPECT_EQ(removed[0]["record"]["state"], "UNCONN");
}

TEST_F(ControlSocket, EventsStreamHostChangesMatchingTheFilter) {
    PortHolder holder;
    const auto pid = static_cast<std::uint32_t>(holder.pid());
    RpcClient client(m_path);
    const json reply = client.call("events", {{"pid", pid}, {"listening", true}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto subscription = reply["result"]["subscription"].get<std::uint64_t>();
    const auto port = holder.open();
    auto event = client.waitNotification(
        "event", [&](const json& p) { return p["record"]["local_port"] == port && p["action"] == "added"; });
    ASSERT_TRUE(event);
    EXPECT_EQ((*event)["subscription"], subscription);
    EXPECT_EQ((*event)["record"]["pid"], pid);
    EXPECT_GT((*event)["sequence"].get<std::uint64_t>(), 0U);

    EXPECT_EQ(client.call("unsubscribe", {{"subscription", subscription}})["result"], true);
    EXPECT_EQ(errorCode(client.call("unsubscribe", {{"subscription", subscription}})), protocol::rpc::kNoSuchWatch);
}

TEST_F(ControlSocket, UnwatchEndsAWatchOnce) {
    RpcClient client(m_path);
    const json reply = client.call("watch", {{"pid", ::getpid()}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto id = reply["result"]["watch"];
    EXPECT_EQ(client.call("unwatch", {{"watch", id}})["result"], true);
    EXPECT_EQ(errorCode(client.call("unwatch", {{"watch", id}})), protocol::rpc::kNoSuchWatch);
    EXPECT_EQ(errorCode(client.call("watch", {{"pid", 0x7ffffff0}})), protocol::rpc::kNoSuchProcess);
}

TEST_F(ControlSocket, MalformedJsonGetsAParseErrorAndTheConnectionStaysUsable) {
    RpcClient client(m_path);
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
    RpcClient client(m_path);
    const json reply = client.call("frobnicate");
    EXPECT_EQ(errorCode(reply), protocol::rpc::kMethodNotFound) << reply.dump();
    EXPECT_NE(reply["error"]["message"].get<std::string>().find("frobnicate"), std::string::npos);
    EXPECT_EQ(reply["id"], 1);
    EXPECT_TRUE(client.call("status").contains("result"));
}

TEST_F(ControlSocket, WrongParamTypesGetInvalidParams) {
    RpcClient client(m_path);
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
    RpcClient client(m_path);
    ASSERT_TRUE(
        client.sendRaw("{\"jsonrpc\":\"2.0\",\"method\":\"status\"}\n"
                       "{\"jsonrpc\":\"2.0\",\"method\":\"no_such_method\"}\n"
                       "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"status\"}\n"));
    const auto reply = client.read();
    ASSERT_TRUE(reply);
    EXPECT_EQ((*reply)["id"], "abc") << reply->dump();
}

TEST_F(ControlSocket, OverlongLineGetsOneInvalidRequestAndTheConnectionStaysUsable) {
    RpcClient client(m_path);
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

TEST_F(ControlSocket, ClientThatPipelinesWithoutReadingIsNotReadFromAndHoldsLittle) {
    RpcClient reader(m_path);
    RpcClient sluggard(m_path);
    ASSERT_TRUE(sluggard.call("watch", {{"pid", ::getpid()}}).contains("result"));

    // It sends requests and reads nothing. Backpressure: once its unsent replies are over the
    // low-water mark, porteyed stops reading it, so its sends block (here: time out) instead of
    // growing a queue in the daemon until it is dropped.
    timeval timeout{2, 0};
    ::setsockopt(sluggard.fd(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    const std::string request = protocol::rpc::toLine(protocol::rpc::request(7, "status"));
    std::string burst;
    for (int i = 0; i < 100; ++i)
        burst += request;
    bool blocked = false;
    std::size_t sentRequests = 0;
    for (int i = 0; i < 20'000 && !blocked; ++i) {
        if (!sluggard.sendRaw(burst)) {
            blocked = true;
        } else {
            sentRequests += 100;
        }
        if (i % 50 == 0) {
            ASSERT_TRUE(reader.call("status").contains("result")) << "the other client starved";
        }
    }
    EXPECT_TRUE(blocked) << "porteyed kept reading a client that never reads its replies";
    EXPECT_TRUE(reader.call("status").contains("result"));

    // Not dropped: it reads now and gets its replies, in order, and its watch is still there.
    // What it can read is what the kernel's socket buffers and the daemon's bounded queue held.
    std::size_t replies = 0;
    std::size_t bytes = 0;
    for (;;) {
        auto message = sluggard.read(std::chrono::milliseconds(500));
        if (!message) break;
        bytes += message->dump().size() + 1;
        if (message->contains("result") && (*message)["id"] == 7) ++replies;
    }
    EXPECT_GT(replies, 0U);
    EXPECT_LE(replies, sentRequests + 100);
    EXPECT_LT(bytes, 8U * 1024 * 1024) << "more output was queued than socket buffers plus the low-water mark";
    timeval forever{0, 0};
    ::setsockopt(sluggard.fd(), SOL_SOCKET, SO_SNDTIMEO, &forever, sizeof(forever));
    // Requests it sent but porteyed had not read yet are answered once it drained.
    for (;;) {
        const json reply = sluggard.call("status");
        ASSERT_TRUE(reply.contains("result") || reply.contains("id")) << reply.dump();
        if (reply["id"] != 7) break;
    }
    EXPECT_EQ(reader.call("status")["result"]["watches"], 1) << "the slow client's watch was removed";
    EXPECT_EQ(m_daemon->log().find("does not read"), std::string::npos) << m_daemon->log();
}

TEST_F(ControlSocket, SubscriberThatNeverReadsIsDroppedAndItsWatchesEnd) {
    RpcClient reader(m_path);
    RpcClient sluggard(m_path);
    ASSERT_TRUE(sluggard.call("events").contains("result"));
    ASSERT_TRUE(sluggard.call("watch", {{"pid", ::getpid()}}).contains("result"));
    EXPECT_EQ(reader.call("status")["result"]["watches"], 1);
    // Events it never reads: loopback connections made and closed (each leaves a TIME_WAIT
    // record), until porteyed gives up on it (over 4 MiB unsent).
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 1024), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    bool dropped = false;
    for (int round = 0; round < 60 && !dropped; ++round) {
        for (int i = 0; i < 1000; ++i) {
            const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
            ::close(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
            ::close(c);
        }
        ASSERT_TRUE(reader.call("status").contains("result")) << "the other client starved";
        dropped = porteye::testing::eventually(
            [&] {
                pollfd pfd{sluggard.fd(), POLLRDHUP, 0};
                return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP)) != 0;
            },
            std::chrono::milliseconds(300));
    }
    ::close(listener);
    ASSERT_TRUE(dropped) << "a subscriber that never reads was not dropped";
    EXPECT_TRUE(closedByPeer(sluggard.fd()));
    const json status = reader.call("status");
    ASSERT_TRUE(status.contains("result"));
    EXPECT_EQ(status["result"]["watches"], 0) << "the dropped client's watch was not removed";
    EXPECT_NE(m_daemon->log().find("dropped client"), std::string::npos) << m_daemon->log();
}

TEST_F(ControlSocket, ErrorObjectsNameTheErrorAsDbusDoes) {
    RpcClient client(m_path);
    using porteye::testing::errorName;
    EXPECT_EQ(errorName(client.call("watch", {{"pid", 4'194'303}})), "NoSuchProcess");
    EXPECT_EQ(errorName(client.call("list", {{"port", "x"}})), "InvalidArgument");
    EXPECT_EQ(errorName(client.call("unwatch", {{"watch", 99}})), "NoSuchWatch");
    EXPECT_EQ(errorName(client.call("history", {{"limit", 60'000}})), "ReplyTooLarge");
    EXPECT_EQ(errorName(client.call("frobnicate")), "MethodNotFound");
    EXPECT_EQ(errorName(client.call("unwatch", {{"watch", 1}, {"extra", 2}})), "InvalidArgument");
    ASSERT_TRUE(client.sendRaw("{oops\n"));
    EXPECT_EQ(errorName(*client.read()), "ParseError");
    // The code and the name come from the same table.
    const json reply = client.call("watch", {{"pid", 4'194'303}});
    EXPECT_EQ(errorCode(reply), protocol::rpc::kNoSuchProcess);
}

TEST_F(ControlSocket, EventsAndWatchChangesCarryTheInstanceIdOfStatus) {
    RpcClient client(m_path);
    const std::string instance = client.call("status")["result"]["instance_id"].get<std::string>();
    EXPECT_EQ(instance.size(), 32U) << instance;
    PortHolder holder;
    ASSERT_TRUE(client.call("events", {{"pid", holder.pid()}}).contains("result"));
    ASSERT_TRUE(client.call("watch", {{"pid", holder.pid()}, {"interval", 0.1}}).contains("result"));
    const auto port = holder.open();
    // The host event and the watch step race each other: read both from one stream.
    std::optional<json> event;
    std::optional<json> change;
    const auto deadline = Clock::now() + kTimeout;
    while ((!event || !change) && Clock::now() < deadline) {
        auto message = client.read(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
        if (!message) break;
        const auto method = message->value("method", "");
        const json& params = (*message)["params"];
        if (method == "event" && params["record"]["local_port"] == port) event = params;
        if (method == "watch.changed" && containsPort(params["new_ports"], port)) change = params;
    }
    ASSERT_TRUE(event);
    EXPECT_EQ((*event)["instance_id"], instance);
    ASSERT_TRUE(change);
    EXPECT_EQ((*change)["instance_id"], instance);
}

TEST_F(ControlSocket, RootsUnwatchOfAnotherClientsWatchTellsThatClientWhy) {
    RpcClient owner(m_path);
    RpcClient admin(m_path);
    const json reply = owner.call("watch", {{"pid", ::getpid()}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    const auto id = reply["result"]["watch"];
    EXPECT_EQ(admin.call("unwatch", {{"watch", id}})["result"], true);
    auto ended = owner.waitNotification("watch.ended", [&](const json& p) { return p["watch"] == id; });
    ASSERT_TRUE(ended) << "the watch's own client was not told";
    EXPECT_EQ((*ended)["reason"], "unwatched");
    EXPECT_EQ((*ended)["pid"], ::getpid());
    EXPECT_FALSE((*ended)["instance_id"].get<std::string>().empty());
    EXPECT_EQ(errorCode(owner.call("unwatch", {{"watch", id}})), protocol::rpc::kNoSuchWatch);
}

TEST_F(ControlSocket, ClientsBeyondTheLimitGetAnErrorAndTheDaemonKeepsServing) {
    constexpr std::size_t kAttempts = 300;
    std::vector<std::unique_ptr<RpcClient>> clients;
    for (std::size_t i = 0; i < kAttempts; ++i) {
        clients.push_back(std::make_unique<RpcClient>(m_path));
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
    EXPECT_GE(served, kMaxClients - 2);  // slack for a client the daemon has not reaped yet
    EXPECT_EQ(served + refused, kAttempts);
    clients.clear();
    RpcClient after(m_path);
    EXPECT_TRUE(after.call("status").contains("result"));
}

TEST_F(ControlSocket, OneUserGetsAtMost32ConnectionsAndRootStillGetsIn) {
    if (::getuid() != 0) GTEST_SKIP() << "needs root to drop to uid 65534";
    int done[2];
    int release[2];
    ASSERT_EQ(::pipe(done), 0);
    ASSERT_EQ(::pipe(release), 0);
    const pid_t child = ::fork();
    if (child == 0) {
        ::close(done[0]);
        ::close(release[1]);
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
        std::vector<std::unique_ptr<RpcClient>> clients;
        int served = 0;
        int refused = 0;
        for (int i = 0; i < 40; ++i) {
            clients.push_back(std::make_unique<RpcClient>(m_path));
            const json reply = clients.back()->call("status");
            if (reply.contains("result")) ++served;
            if (errorCode(reply) == protocol::rpc::kLimitExceeded &&
                reply["error"]["message"].get<std::string>().find("uid 65534") != std::string::npos)
                ++refused;
        }
        // Hold the 32 connections while root connects.
        const char result = static_cast<char>(served == 32 && refused == 8 ? 0 : 1);
        if (::write(done[1], &result, 1) != 1) ::_exit(11);
        char byte = 0;
        if (::read(release[0], &byte, 1) < 0) ::_exit(12);
        ::_exit(result);
    }
    ASSERT_GT(child, 0);
    ::close(done[1]);
    ::close(release[0]);
    char result = 2;
    ASSERT_EQ(::read(done[0], &result, 1), 1);
    RpcClient root(m_path);
    EXPECT_TRUE(root.call("status").contains("result")) << "root was locked out by one user's connections";
    ::close(release[1]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_EQ(result, 0) << "uid 65534 did not get exactly 32 connections and 8 refusals\n" << m_daemon->log();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ::close(done[0]);
}

TEST_F(ControlSocket, UnprivilegedClientSeesOnlyItsOwnSocketsAndCannotWatchRoot) {
    if (::getuid() != 0) GTEST_SKIP() << "needs root to drop to uid 65534";
    PortHolder rootHolder;
    const auto rootPort = rootHolder.open();
    RpcClient root(m_path);
    eventually(root, "list", {{"port", rootPort}}, [](const json& r) { return !r.empty(); });

    const pid_t child = ::fork();
    if (child == 0) {
        // Exit codes name the failed check.
        const auto check = [&]() -> int {
            if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) return 10;
            PortHolder own;  // its child inherits uid 65534
            std::uint16_t ownPort = 0;
            try {
                ownPort = own.open();
            } catch (const std::exception&) {
                return 19;
            }
            RpcClient client(m_path);
            if (!client.connected()) return 11;
            bool sawOwn = false;
            const auto deadline = Clock::now() + kTimeout;
            while (!sawOwn && Clock::now() < deadline) {
                const json reply = client.call("list");
                if (!reply.contains("result")) return 12;
                for (const auto& r : reply["result"]) {
                    if (r["uid"] != 65534) return 13;
                    if (r["local_port"] == rootPort) return 14;
                    if (r["local_port"] == ownPort) sawOwn = true;
                }
                if (!sawOwn) ::usleep(20'000);
            }
            if (!sawOwn) return 15;
            const json byPort = client.call("list", {{"port", rootPort}});
            if (!byPort.contains("result") || !byPort["result"].empty()) return 16;
            const json history = client.call("history", {{"port", rootPort}});
            if (!history.contains("result") || !history["result"].empty()) return 17;
            // Another user's process and no process at all get the same answer, so a PID's
            // existence does not leak (hidepid-like).
            const auto rootPid = static_cast<std::uint32_t>(::getppid());
            constexpr std::uint32_t kFreePid = 4'194'303;  // PID_MAX_LIMIT - 1: never a live process here
            const json denied = client.call("watch", {{"pid", rootPid}});
            const json missing = client.call("watch", {{"pid", kFreePid}});
            if (errorCode(denied) != protocol::rpc::kNoSuchProcess) return 18;
            if (errorCode(missing) != protocol::rpc::kNoSuchProcess) return 20;
            auto text = [](const json& reply, std::uint32_t pid) {
                std::string m = reply["error"]["message"].get<std::string>();
                const auto at = m.find(std::to_string(pid));
                if (at != std::string::npos) m.replace(at, std::to_string(pid).size(), "N");
                return m;
            };
            if (text(denied, rootPid) != text(missing, kFreePid)) return 21;
            return 0;
        };
        ::_exit(check());
    }
    ASSERT_GT(child, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "failed check " << WEXITSTATUS(status) << "\n" << m_daemon->log();
}

TEST(ControlSocketStartup, InstanceIdChangesAcrossARestartSoResumingClientsKnow) {
    TempDir dir;
    const auto path = dir.path() + "/s.sock";
    std::string first;
    {
        DaemonProcess daemon(socketOnly(path));
        ASSERT_TRUE(daemon.ready()) << daemon.log();
        RpcClient client(path);
        const json status = client.call("status");
        ASSERT_TRUE(status.contains("result")) << status.dump();
        first = status["result"]["instance_id"].get<std::string>();
        EXPECT_EQ(daemon.stop(), 0) << daemon.log();
    }
    DaemonProcess daemon(socketOnly(path));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    RpcClient client(path);
    const json status = client.call("status");
    ASSERT_TRUE(status.contains("result")) << status.dump();
    EXPECT_FALSE(first.empty());
    EXPECT_NE(status["result"]["instance_id"], first) << "a restarted daemon kept its instance id";
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

TEST(ControlSocketStartup, StoppingTellsWatchersTheirWatchEndedWithShutdown) {
    TempDir dir;
    const auto path = dir.path() + "/s.sock";
    DaemonProcess daemon(socketOnly(path));
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    RpcClient client(path);
    const json reply = client.call("watch", {{"pid", ::getpid()}});
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
    auto ended = client.waitNotification("watch.ended", [](const json&) { return true; });
    ASSERT_TRUE(ended) << "no watch.ended before the connection closed\n" << daemon.log();
    EXPECT_EQ((*ended)["watch"], reply["result"]["watch"]);
    EXPECT_EQ((*ended)["reason"], "shutdown");
}

TEST(ControlSocketStartup, ReplacesAStaleSocketFileButNotALiveOne) {
    TempDir dir;
    const auto path = dir.path() + "/s.sock";
    {
        // A socket file nobody listens on, as a crashed daemon leaves behind.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
        ::close(fd);
    }
    DaemonProcess first(socketOnly(path));
    ASSERT_TRUE(first.ready()) << first.log();

    // A second daemon on the same path must not steal it.
    std::vector<std::string> args{porteye::testing::porteyedPath(), "--state-dir", ""};
    for (auto& a : socketOnly(path))
        args.push_back(std::move(a));
    const auto second = porteye::testing::run(args, {}, kTimeout);
    EXPECT_EQ(second.exitCode, 1);
    EXPECT_NE(second.err.find("already serving"), std::string::npos) << second.err;
    RpcClient client(path);
    EXPECT_TRUE(client.call("status").contains("result"));
    EXPECT_EQ(first.stop(), 0) << first.log();
}

}  // namespace
}  // namespace porteye::control
