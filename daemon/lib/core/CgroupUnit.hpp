// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>

namespace porteye::core {

/// What a process's cgroup says about who runs it: the systemd unit and, for a container, its
/// runtime and id. Read from the text of /proc/<pid>/cgroup by ownerFromCgroup().
struct CgroupOwner {
    /// The systemd unit. For a unit of the host's manager (PID 1) its bare name: "nginx.service",
    /// "session-3.scope", "docker-<id>.scope" (Docker's systemd driver runs each container in a
    /// scope of its own). For a unit of a manager nested in a unit (a user's `user@UID.service`,
    /// a container's own systemd) the host's unit, a '/', and the innermost unit:
    /// "user@1000.service/app.service", "systemd-nspawn@web.service/nginx.service"; so a name that
    /// a user gives a unit of theirs never reads as a system service. Slices are left out. ""
    /// outside any unit (the root cgroup, a bare slice, a cgroupfs container such as /docker/<id>).
    std::string unit;
    /// "docker", "podman", "containerd", "crio", "kubernetes" (a pod's container under the
    /// kubelet's cgroupfs driver, runtime unnamed), "nspawn", "machine" (a machine-NAME.scope
    /// registered with systemd-machined: nspawn or a VM), "lxc"; "" when not in a container.
    std::string containerRuntime;
    /// 64 lowercase hex digits for the OCI runtimes; the machine or container name for nspawn,
    /// machine and lxc (systemd's \xNN unit-name escapes undone).
    std::string containerId;
    /// The container was found below a user's service manager (`user@UID.service`: rootless
    /// Podman or Docker). That user named those cgroups, so the runtime and id are what the user
    /// chose, and the container's name must not be looked up in the system's runtime state.
    bool userDelegated = false;

    bool operator==(const CgroupOwner&) const = default;
};

/// The unit and container of a process from the text of /proc/<pid>/cgroup. The cgroup v2 line
/// ("0::/path") decides, else (no such line, or no unit on it) the v1 `name=systemd` hierarchy; a
/// container found on neither is
/// looked for on the other v1 lines (cgroupfs drivers on a v1 or hybrid host).
///
/// Only cgroups that the host's managers place are trusted to name a container: the container
/// is recognised at or above the first unit of the path (docker-<id>.scope, /docker/<id>,
/// /kubepods/.../pod<uid>/<id>, /lxc.payload.NAME), or one unit further below a
/// `user@UID.service` (then userDelegated). A service with Delegate=yes that names a sub-cgroup
/// "docker-<id>.scope" is not taken for that container; the conmon scopes of Podman and CRI-O
/// (libpod-conmon-<id>, crio-conmon-<id>) are not containers. All strings are escaped
/// (core/Escape.hpp). Never throws on malformed input; linear in the size of the text.
CgroupOwner ownerFromCgroup(std::string_view cgroupFile);

/// ownerFromCgroup(cgroupFile).unit.
std::string unitFromCgroup(std::string_view cgroupFile);

}  // namespace porteye::core
