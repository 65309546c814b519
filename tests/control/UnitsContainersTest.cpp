// SPDX-License-Identifier: MIT
// The unit and container behind a socket, end to end on the real kernel: a listener this test
// starts inside a cgroup laid out as Docker's systemd driver lays out a container
// (<cgroup2>/porteye-test-N/docker-<64 hex>.scope) is listed by a real porteyed, through a real
// porteyectl, with runtime docker, that id and that unit, and the --container/--unit filters find
// it. And the table porteyectl prints for records in containers.
#include "Output.hpp"
#include "fakes/FakeSources.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace porteye::control {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using porteye::testing::DaemonProcess;
using porteye::testing::Subprocess;
using porteye::testing::TempDir;
constexpr auto kTimeout = std::chrono::seconds(20);

const std::string kId = "7e1f0c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

/// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a
/// hybrid host); nullopt without one.
std::optional<fs::path> cgroup2Mount() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // "... mountpoint options ... - cgroup2 source superoptions"
        const auto dash = line.find(" - ");
        if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
        std::istringstream fields(line.substr(0, dash));
        std::string field;
        for (int i = 0; i < 5 && fields >> field; ++i) {
        }
        return fs::path(field);
    }
    return std::nullopt;
}

/// <cgroup2>/porteye-test-<pid>/docker-<id>.scope, removed (leaf first) when the test ends.
class ContainerCgroup {
public:
    ContainerCgroup() {
        const auto mount = cgroup2Mount();
        if (!mount) return;
        m_parent = *mount / ("porteye-test-" + std::to_string(::getpid()));
        m_leaf = m_parent / ("docker-" + kId + ".scope");
        std::error_code ec;
        if (!fs::create_directories(m_leaf, ec) || ec) m_leaf.clear();
    }
    ContainerCgroup(const ContainerCgroup&) = delete;
    ContainerCgroup& operator=(const ContainerCgroup&) = delete;
    ~ContainerCgroup() {
        // rmdir, not remove_all: a cgroup's files cannot be unlinked, the directory goes once empty.
        if (!m_leaf.empty())
            porteye::testing::eventually([&] { return ::rmdir(m_leaf.c_str()) == 0 || errno == ENOENT; }, kTimeout);
        if (!m_parent.empty()) ::rmdir(m_parent.c_str());
    }
    bool ok() const { return !m_leaf.empty(); }
    fs::path procs() const { return m_leaf / "cgroup.procs"; }

private:
    fs::path m_parent;
    fs::path m_leaf;
};

json listJson(const std::string& socket, const std::vector<std::string>& filter) {
    std::vector<std::string> argv{porteye::testing::porteyectlPath(), "--socket", socket, "list", "--json"};
    argv.insert(argv.end(), filter.begin(), filter.end());
    const auto r = porteye::testing::run(argv);
    if (r.exitCode != 0) return json{{"exit", r.exitCode}, {"err", r.err}};
    // --json prints one JSON array.
    return json::parse(r.out, nullptr, false);
}

TEST(UnitsContainers, AListenerInADockerScopeNamesItsRuntimeIdAndUnit) {
    ContainerCgroup cgroup;
    if (!cgroup.ok()) GTEST_SKIP() << "no writable cgroup v2 hierarchy here (needs root)";
    // The child joins the cgroup before it execs the listener, so porteyed never sees it outside.
    Subprocess holder({"sh", "-c",
                       "echo $$ > '" + cgroup.procs().string() +
                           "' && exec python3 -c \"import socket,time\n"
                           "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
                           "print(s.getsockname()[1], flush=True)\n"
                           "time.sleep(600)\n\""});
    ASSERT_TRUE(
        holder.waitForOutput([](const std::string& out) { return out.find('\n') != std::string::npos; }, kTimeout))
        << holder.err();
    const std::string port = std::to_string(std::stoi(holder.out()));

    TempDir dir{0755};
    const std::string socket = dir.path() + "/s.sock";
    DaemonProcess daemon({"--no-bus", "--socket", socket, "--interval", "0.1", "--config", "/dev/null"});
    ASSERT_TRUE(daemon.ready()) << daemon.log();

    json records;
    ASSERT_TRUE(porteye::testing::eventually(
        [&] {
            records = listJson(socket, {"--port", port});
            return records.is_array() && !records.empty();
        },
        kTimeout))
        << records.dump();
    ASSERT_EQ(records.size(), 1U) << records.dump();
    const json& r = records[0];
    EXPECT_EQ(r["pid"], holder.pid());
    EXPECT_EQ(r["container_runtime"], "docker") << r.dump();
    EXPECT_EQ(r["container_id"], kId);
    EXPECT_EQ(r["unit"], "docker-" + kId + ".scope");

    // The filters, through porteyectl's flags and the daemon's parser.
    EXPECT_EQ(listJson(socket, {"--port", port, "--container", kId.substr(0, 12)}).size(), 1U);
    EXPECT_EQ(listJson(socket, {"--container", kId.substr(0, 12)}).size(), 1U) << "nothing else is in it";
    EXPECT_EQ(listJson(socket, {"--port", port, "--container", "0000"}), json::array());
    EXPECT_EQ(listJson(socket, {"--port", port, "--unit", "docker-" + kId + ".scope"}).size(), 1U);
    EXPECT_EQ(listJson(socket, {"--port", port, "--unit", "docker.service"}), json::array());
    const json empty = listJson(socket, {"--container", ""});
    EXPECT_EQ(empty.value("exit", 0), 2) << "an empty filter is a usage error: " << empty.dump();

    holder.stop(9);
    EXPECT_EQ(daemon.stop(), 0) << daemon.log();
}

core::SocketRecord recordIn(std::string runtime, std::string id, std::string name) {
    core::SocketRecord r = fakes::tcpSocket(1, 8080);
    r.pid = 42;
    r.process = "nginx";
    auto d = std::make_shared<core::ProcessDetails>();
    d->unit = "docker-" + id + ".scope";
    d->containerRuntime = std::move(runtime);
    d->containerId = std::move(id);
    d->containerName = std::move(name);
    r.details = d;
    return r;
}

TEST(UnitsContainers, TheTableShowsAContainerColumnOnlyWhenARecordIsInOne) {
    core::SocketRecord plain = fakes::tcpSocket(2, 22);
    std::ostringstream without;
    cli::printSocketTable(without, {plain}, false);
    EXPECT_EQ(without.str().find("Container"), std::string::npos) << without.str();

    std::ostringstream with;
    cli::printSocketTable(with, {plain, recordIn("docker", kId, "web"), recordIn("podman", kId, "")}, false);
    const std::string text = with.str();
    EXPECT_NE(text.find("Container"), std::string::npos) << text;
    EXPECT_NE(text.find("docker:web"), std::string::npos) << text;
    EXPECT_NE(text.find("podman:" + kId.substr(0, 12) + "\n"), std::string::npos) << "12 digits, as docker ps";
    EXPECT_EQ(text.find(kId.substr(0, 13)), std::string::npos) << text;

    std::ostringstream extended;
    cli::printSocketTable(extended, {plain}, false, true);
    EXPECT_NE(extended.str().find("Container"), std::string::npos) << "list -e always has it";
}

}  // namespace
}  // namespace porteye::control
