// SPDX-License-Identifier: MIT
// Seeded fuzzing of the control socket against the real porteyed: thousands of
// mutated and hostile lines; every reply must be a well-formed JSON-RPC message
// and the daemon must keep serving with nothing lost.
#include "support/RpcClient.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <poll.h>
#include <unistd.h>

#include <random>

using namespace porteye::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kSeeds = {
    R"({"jsonrpc":"2.0","id":1,"method":"status"})",
    R"({"jsonrpc":"2.0","id":2,"method":"list","params":{"port":22,"state":"LISTEN","process":"ssh"}})",
    R"({"jsonrpc":"2.0","id":3,"method":"history","params":{"limit":5,"action":"added","since":0}})",
    R"({"jsonrpc":"2.0","id":4,"method":"watch","params":{"pid":1,"interval":0.5,"children":true}})",
    R"({"jsonrpc":"2.0","id":5,"method":"unwatch","params":{"watch":1}})",
    R"({"jsonrpc":"2.0","id":6,"method":"events","params":{"listening":true}})",
    R"({"jsonrpc":"2.0","id":7,"method":"unsubscribe","params":{"subscription":1}})",
};

const std::vector<std::string> kHostile = {
    "",
    "{",
    "}",
    "[]",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "null",
    "1e999",
    "\"\\ud800\"",
    R"({"jsonrpc":"2.0","id":{},"method":"status"})",
    R"({"jsonrpc":"2.0","id":1,"method":"list","params":{"port":-1}})",
    R"({"jsonrpc":"2.0","id":1,"method":"list","params":{"pid":18446744073709551615}})",
    R"({"jsonrpc":"2.0","id":1,"method":"history","params":{"limit":1e300}})",
    R"({"jsonrpc":"2.0","id":1,"method":"watch","params":{"pid":1,"interval":-0.0}})",
    R"({"jsonrpc":"2.0","id":1,"method":"watch","params":{"pid":1,"interval":1e-320}})",
    R"({"jsonrpc":"2.0","id":1,"method":"status","params":[1,2,3]})",
    R"({"jsonrpc":"1.0","id":1,"method":"status"})",
    std::string("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"st\0tus\"}", 38),
    "\xff\xfe\xfd",
    std::string(1000, '{'),
};

std::string mutate(std::string line, std::mt19937& rng) {
    std::uniform_int_distribution<int> op(0, 5);
    std::uniform_int_distribution<int> byte(0, 255);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < edits && !line.empty(); ++i) {
        const std::size_t at = rng() % line.size();
        switch (op(rng)) {
            case 0:
                line[at] = static_cast<char>(byte(rng));
                break;
            case 1:
                line.erase(at, 1 + rng() % 8);
                break;
            case 2:
                line.insert(at, 1, static_cast<char>(byte(rng)));
                break;
            case 3:
                line = line.substr(0, at);
                break;
            case 4:
                line.insert(at, line.substr(rng() % line.size(), 1 + rng() % 16));
                break;
            default:
                line.insert(at, "\"" + std::to_string(static_cast<int>(rng())) + "\"");
                break;
        }
    }
    std::erase(line, '\n');  // one request per line: a newline would just split it in two
    return line;
}

/// Everything the daemon sent so far on `fd`, without blocking for long.
std::string drain(int fd, std::chrono::milliseconds wait) {
    std::string out;
    char buf[65536];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, static_cast<int>(wait.count())) > 0) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        wait = 50ms;
    }
    return out;
}

}  // namespace

TEST(ControlSocketFuzz, MutatedAndHostileLinesGetWellFormedAnswersAndTheDaemonKeepsServing) {
    TempDir dir(0755);
    const auto path = dir.path() + "/s.sock";
    DaemonProcess daemon({"--no-bus", "--socket", path, "--interval", "0.2"});
    ASSERT_TRUE(daemon.ready()) << daemon.process().err();

    std::mt19937 rng(0x9e3779b9);
    std::size_t replies = 0;
    for (int round = 0; round < 20; ++round) {
        RpcClient client(path);
        ASSERT_TRUE(client.connected());
        std::string batch;
        for (const auto& hostile : kHostile)
            batch += hostile + "\n";
        for (int i = 0; i < 200; ++i)
            batch += mutate(kSeeds[rng() % kSeeds.size()], rng) + "\n";
        if (!client.sendRaw(batch)) continue;  // dropped for misbehaving is acceptable; the daemon must live on
        std::istringstream lines(drain(client.fd(), 2s));
        for (std::string line; std::getline(lines, line);) {
            const auto reply = json::parse(line, nullptr, false);
            ASSERT_FALSE(reply.is_discarded()) << "not JSON: " << line;
            ASSERT_EQ(reply.value("jsonrpc", ""), "2.0") << line;
            ASSERT_TRUE(reply.contains("result") || reply.contains("error") || reply.contains("method")) << line;
            if (reply.contains("error")) {
                EXPECT_TRUE(reply["error"]["code"].is_number_integer()) << line;
                EXPECT_TRUE(reply["error"]["message"].is_string()) << line;
            }
            ++replies;
        }
        ASSERT_FALSE(daemon.process().wait(0ms)) << "porteyed died in round " << round << ":\n"
                                                 << daemon.process().err();
    }
    EXPECT_GT(replies, 1000u) << "the fuzz must actually reach the request handler";

    RpcClient fresh(path);
    const auto status = fresh.call("status");
    ASSERT_TRUE(status.contains("result")) << status.dump();
    EXPECT_EQ(status["result"]["watches"], 0) << "watches of closed connections are gone";
    EXPECT_EQ(daemon.stop(), 0);
}
