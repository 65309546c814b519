// SPDX-License-Identifier: MIT
// The cgroup -> unit and container parser, table-driven over the layouts of each runtime (as
// /proc/<pid>/cgroup shows them on hosts running that runtime) and hostile text.
#include "core/CgroupUnit.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace porteye::core;

namespace {

const std::string kId = "3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
const std::string kId2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Case {
    const char* name;
    std::string text;
    CgroupOwner want;
};

CgroupOwner owner(std::string unit, std::string runtime = {}, std::string id = {}, bool userDelegated = false) {
    return CgroupOwner{std::move(unit), std::move(runtime), std::move(id), userDelegated};
}

}  // namespace

TEST(CgroupOwner, NamesTheRuntimeAndIdOfEachLayout) {
    const std::string pod = "pod8d2c6a9e-1b3f-4c5d-9e8f-7a6b5c4d3e2f";
    const std::string podUnderscored = "pod8d2c6a9e_1b3f_4c5d_9e8f_7a6b5c4d3e2f";
    const Case cases[] = {
        {"plain service", "0::/system.slice/nginx.service\n", owner("nginx.service")},
        {"docker, systemd driver", "0::/system.slice/docker-" + kId + ".scope\n",
         owner("docker-" + kId + ".scope", "docker", kId)},
        {"docker, cgroupfs driver", "0::/docker/" + kId + "\n", owner("", "docker", kId)},
        {"docker, v1 cgroupfs",
         "12:pids:/docker/" + kId + "\n4:memory:/docker/" + kId + "\n1:name=systemd:/docker/" + kId + "\n",
         owner("", "docker", kId)},
        {"docker, hybrid host: only v1 controllers see it",
         "4:memory:/docker/" + kId +
             "\n1:name=systemd:/system.slice/containerd.service\n0::/system.slice/containerd.service\n",
         owner("containerd.service", "docker", kId)},
        {"podman rootful", "0::/machine.slice/libpod-" + kId + ".scope/container\n",
         owner("libpod-" + kId + ".scope", "podman", kId)},
        {"podman rootful, no payload cgroup", "0::/machine.slice/libpod-" + kId + ".scope\n",
         owner("libpod-" + kId + ".scope", "podman", kId)},
        {"podman conmon is not the container", "0::/machine.slice/libpod-conmon-" + kId + ".scope\n",
         owner("libpod-conmon-" + kId + ".scope")},
        {"podman rootless",
         "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope/container\n",
         owner("user@1000.service/libpod-" + kId + ".scope", "podman", kId, true)},
        {"podman cgroupfs manager", "0::/libpod_parent/libpod-" + kId + "\n", owner("", "podman", kId)},
        {"containerd via kubelet, systemd driver",
         "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-" + podUnderscored +
             ".slice/cri-containerd-" + kId + ".scope\n",
         owner("cri-containerd-" + kId + ".scope", "containerd", kId)},
        {"kubelet cgroupfs driver", "0::/kubepods/besteffort/" + pod + "/" + kId + "\n", owner("", "kubernetes", kId)},
        {"kubelet cgroupfs driver, guaranteed pod", "0::/kubepods/" + pod + "/" + kId + "\n",
         owner("", "kubernetes", kId)},
        {"cri-o",
         "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-" + podUnderscored + ".slice/crio-" + kId +
             ".scope\n",
         owner("crio-" + kId + ".scope", "crio", kId)},
        {"cri-o conmon is not the container", "0::/system.slice/crio-conmon-" + kId + ".scope\n",
         owner("crio-conmon-" + kId + ".scope")},
        {"nspawn service", "0::/machine.slice/systemd-nspawn@web.service/payload/system.slice/nginx.service\n",
         owner("systemd-nspawn@web.service/nginx.service", "nspawn", "web")},
        {"nspawn name with systemd escapes", "0::/machine.slice/systemd-nspawn@my\\x2dbox.service/payload\n",
         owner("systemd-nspawn@my\\\\x2dbox.service", "nspawn", "my-box")},
        {"machined scope", "0::/machine.slice/machine-web.scope/payload/init.scope\n",
         owner("machine-web.scope/init.scope", "machine", "web")},
        {"lxc 4+", "0::/lxc.payload.web/system.slice/nginx.service\n", owner("nginx.service", "lxc", "web")},
        {"lxc monitor is not the container", "0::/lxc.monitor.web\n", owner("")},
        {"lxc before 4.0", "0::/lxc/web/init.scope\n", owner("init.scope", "lxc", "web")},
        {"docker in a deleted cgroup", "0::/system.slice/docker-" + kId + ".scope (deleted)\n",
         owner("docker-" + kId + ".scope", "docker", kId)},
        {"user service", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-web.service\n",
         owner("user@1000.service/app-web.service")},
        {"the user manager itself", "0::/user.slice/user-1000.slice/user@1000.service/init.scope\n",
         owner("user@1000.service/init.scope")},
        {"outermost container wins", "0::/system.slice/docker-" + kId + ".scope/docker/" + kId2 + "\n",
         owner("docker-" + kId + ".scope", "docker", kId)},
    };
    for (const auto& c : cases)
        EXPECT_EQ(ownerFromCgroup(c.text), c.want) << c.name << "\n  " << c.text;
}

TEST(CgroupOwner, TrustsNoContainerNamedInsideAnotherUnit) {
    // A service with Delegate=yes names its own sub-cgroups: they cannot claim a container.
    EXPECT_EQ(ownerFromCgroup("0::/system.slice/evil.service/docker-" + kId + ".scope\n"),
              owner("evil.service/docker-" + kId + ".scope"));
    EXPECT_EQ(ownerFromCgroup("0::/system.slice/evil.service/docker/" + kId + "\n"), owner("evil.service"));
    // Nor a unit below a user's unit (one level of user manager is all a rootless runtime uses).
    EXPECT_EQ(ownerFromCgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service/libpod-" + kId +
                              ".scope\n"),
              owner("user@1000.service/libpod-" + kId + ".scope"));
    // A user's cgroups can still say "docker": reported, but flagged as the user's own naming.
    EXPECT_TRUE(
        ownerFromCgroup("0::/user.slice/user-1000.slice/user@1000.service/docker-" + kId + ".scope\n").userDelegated);
}

TEST(CgroupOwner, RefusesIdsThatAreNotSixtyFourLowercaseHexDigits) {
    for (const std::string& bad : {kId.substr(0, 63), kId + "0", std::string(64, 'A'), std::string(64, 'g'),
                                   kId.substr(0, 32) + "/" + kId.substr(33), std::string()}) {
        EXPECT_EQ(ownerFromCgroup("0::/system.slice/docker-" + bad + ".scope\n").containerRuntime, "") << bad;
        EXPECT_EQ(ownerFromCgroup("0::/docker/" + bad + "\n").containerRuntime, "") << bad;
    }
}

TEST(CgroupOwner, SurvivesHostileAndTruncatedText) {
    // Truncated mid-id (a reader's cap, a racing write): no container, no crash.
    const std::string line = "0::/system.slice/docker-" + kId + ".scope\n";
    for (std::size_t n = 0; n < line.size(); ++n) {
        const CgroupOwner o = ownerFromCgroup(line.substr(0, n));
        if (!o.containerRuntime.empty()) {
            EXPECT_GE(n, line.find(".scope")) << n;
            EXPECT_EQ(o.containerId, kId);
        }
    }
    // Control characters and invalid UTF-8 in delegated names come out escaped.
    const CgroupOwner esc = ownerFromCgroup("0::/machine.slice/systemd-nspawn@a\\x1bb\xff.service/payload\n");
    EXPECT_EQ(esc.containerRuntime, "nspawn");
    EXPECT_EQ(esc.containerId, "a\\x1bb\\xff");
    EXPECT_EQ(ownerFromCgroup("0::/lxc.payload.\x1b[2J\n").containerId, "\\x1b[2J");
    // Huge lines and many lines: linear, bounded.
    const std::string huge = "0::/" + std::string(1 << 20, 'a') + "/x.service\n";
    EXPECT_EQ(ownerFromCgroup(huge).unit, "x.service");
    std::string slashes = "0::" + std::string(1 << 20, '/') + "docker/" + kId + "\n";
    EXPECT_EQ(ownerFromCgroup(slashes).containerId, kId);
    std::string manyLines;
    for (int i = 0; i < 100000; ++i)
        manyLines += "7:memory:/x\n";
    manyLines += "0::/system.slice/docker-" + kId + ".scope\n";
    EXPECT_EQ(ownerFromCgroup(manyLines).containerRuntime, "docker");
    for (const char* junk :
         {"", ":", "::", "0::", "0:", "\n\n\n", "0::docker", "0::/docker", "0::/docker/", "0::/kubepods",
          "0::/kubepods/pod", "0::/lxc", "0::/lxc.payload.", "0::/machine-.scope", "0::/systemd-nspawn@.service"}) {
        const CgroupOwner o = ownerFromCgroup(junk);
        EXPECT_EQ(o.containerRuntime, "") << junk;
    }
    const std::string nuls = std::string("0::/sys\0tem.slice/docker-", 25) + kId + ".scope\n";
    EXPECT_EQ(ownerFromCgroup(nuls).containerId, kId);
}
