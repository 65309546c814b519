// SPDX-License-Identifier: MIT
// Container names from a fake runtime state tree (/var/lib): what each runtime's files give,
// and that missing, oversized, garbled or hostile files give no name and never block or throw.
#include "sys/ContainerNames.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <sys/stat.h>
#include <unistd.h>

namespace porteye::sys {
namespace {

namespace fs = std::filesystem;

const std::string kId = "3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
const std::string kId2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

class StateDir {
public:
    StateDir() {
        std::string tmpl = "/tmp/porteye-varlib-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
        m_root = tmpl;
    }
    StateDir(const StateDir&) = delete;
    StateDir& operator=(const StateDir&) = delete;
    ~StateDir() {
        std::error_code ec;
        fs::remove_all(m_root, ec);
    }
    const fs::path& root() const { return m_root; }
    void write(const fs::path& rel, const std::string& content) const {
        fs::create_directories((m_root / rel).parent_path());
        std::ofstream(m_root / rel, std::ios::binary) << content;
    }
    fs::path dockerConfig(const std::string& id) const { return fs::path("docker/containers") / id / "config.v2.json"; }
    static fs::path storageJson() { return "containers/storage/overlay-containers/containers.json"; }

private:
    fs::path m_root;
};

core::CgroupOwner in(std::string runtime, std::string id, bool userDelegated = false) {
    core::CgroupOwner o;
    o.containerRuntime = std::move(runtime);
    o.containerId = std::move(id);
    o.userDelegated = userDelegated;
    return o;
}

TEST(ContainerNames, ReadsDockersNameWithoutItsSlash) {
    StateDir state;
    state.write(state.dockerConfig(kId), R"({"Name":"/web","Config":{"Env":["TOKEN=secret"]}})");
    ContainerNames names(state.root());
    EXPECT_EQ(names.nameOf(in("docker", kId)), "web");
    EXPECT_EQ(names.nameOf(in("docker", kId2)), "") << "no state for this id";
}

TEST(ContainerNames, ReadsPodmanAndCrioNamesFromContainersJson) {
    StateDir state;
    state.write(StateDir::storageJson(),
                R"([{"id":")" + kId + R"(","names":["db"],"image":"x","layer":"y","metadata":"{}"},)" + R"({"id":")" +
                    kId2 + R"(","names":["k8s_nginx_web-0_default_1_0","alias"]},)" +
                    R"({"id":"broken"},42,{"id":7,"names":["n"]},{"id":"a","names":[3]}])");
    ContainerNames names(state.root());
    EXPECT_EQ(names.nameOf(in("podman", kId)), "db");
    EXPECT_EQ(names.nameOf(in("crio", kId2)), "k8s_nginx_web-0_default_1_0");
    // A container created later: the file changed, so it is read again.
    state.write(StateDir::storageJson(), R"([{"id":")" + kId + R"(","names":["db-2"]}])");
    EXPECT_EQ(names.nameOf(in("podman", kId)), "db-2");
    EXPECT_EQ(names.nameOf(in("crio", kId2)), "");
}

TEST(ContainerNames, MachinesAreTheirOwnNames) {
    ContainerNames names("/nonexistent");
    EXPECT_EQ(names.nameOf(in("nspawn", "web")), "web");
    EXPECT_EQ(names.nameOf(in("machine", "vm1")), "vm1");
    EXPECT_EQ(names.nameOf(in("lxc", "box")), "box");
    EXPECT_EQ(names.nameOf(in("containerd", kId)), "") << "containerd's names live behind the CRI";
    EXPECT_EQ(names.nameOf(in("kubernetes", kId)), "");
    EXPECT_EQ(names.nameOf(core::CgroupOwner{}), "");
}

TEST(ContainerNames, RootlessContainersAreNotLookedUpInTheSystemsState) {
    StateDir state;
    state.write(state.dockerConfig(kId), R"({"Name":"/system-web"})");
    state.write(StateDir::storageJson(), R"([{"id":")" + kId + R"(","names":["system-db"]}])");
    ContainerNames names(state.root());
    EXPECT_EQ(names.nameOf(in("docker", kId, true)), "") << "a user's cgroup may borrow a system container's id";
    EXPECT_EQ(names.nameOf(in("podman", kId, true)), "");
}

TEST(ContainerNames, BadFilesGiveNoNameAndNeverBlockOrThrow) {
    StateDir state;
    const std::string ids[] = {
        "1000000000000000000000000000000000000000000000000000000000000000",
        "2000000000000000000000000000000000000000000000000000000000000000",
        "3000000000000000000000000000000000000000000000000000000000000000",
        "4000000000000000000000000000000000000000000000000000000000000000",
        "5000000000000000000000000000000000000000000000000000000000000000",
        "6000000000000000000000000000000000000000000000000000000000000000",
    };
    state.write(state.dockerConfig(ids[0]), "{\"Name\":\"/trunc");
    state.write(state.dockerConfig(ids[1]), R"({"Name":42})");
    state.write(state.dockerConfig(ids[2]), std::string(ContainerNames::kMaxConfigBytes + 1, ' ') + R"({"Name":"/x"})");
    state.write(state.dockerConfig(ids[3]), std::string(100000, '[') + std::string(100000, ']'));
    state.write(state.dockerConfig(ids[4]), "{\"Name\":\"/ev\\u001b[31m\xff\"}");
    // A FIFO where the file should be: opened non-blocking, refused as not a regular file.
    fs::create_directories(state.root() / state.dockerConfig(ids[5]).parent_path());
    ASSERT_EQ(::mkfifo((state.root() / state.dockerConfig(ids[5])).c_str(), 0600), 0);
    ContainerNames names(state.root());
    EXPECT_EQ(names.nameOf(in("docker", ids[0])), "") << "truncated JSON";
    EXPECT_EQ(names.nameOf(in("docker", ids[1])), "") << "a name that is no string";
    EXPECT_EQ(names.nameOf(in("docker", ids[2])), "") << "over the 1 MiB cap";
    EXPECT_EQ(names.nameOf(in("docker", ids[3])), "") << "deep nesting";
    EXPECT_EQ(names.nameOf(in("docker", ids[5])), "") << "a FIFO";
    // Invalid UTF-8 makes nlohmann refuse the file; a control character parses and is escaped.
    EXPECT_EQ(names.nameOf(in("docker", ids[4])), "");
    state.write(state.dockerConfig(ids[4]), "{\"Name\":\"/ev\\u001b[31m\"}");
    EXPECT_EQ(names.nameOf(in("docker", ids[4])), "ev\\x1b[31m");
    // Only a 64-hex id is ever part of a path.
    state.write("docker/containers/../x/config.v2.json", R"({"Name":"/escaped"})");
    EXPECT_EQ(names.nameOf(in("docker", "../x")), "");
    state.write(StateDir::storageJson(), "{not json");
    EXPECT_EQ(names.nameOf(in("podman", kId)), "");
}

}  // namespace
}  // namespace porteye::sys
