// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>

namespace porteye::core {

/// The systemd unit a process runs in, from the text of /proc/<pid>/cgroup: the last
/// `*.service` or `*.scope` component of the cgroup v2 path ("0::/system.slice/nginx.service"
/// -> "nginx.service"; ".../user@1000.service/app.slice/foo.service" -> "foo.service"), or of
/// the v1 `name=systemd` hierarchy when there is no v2 line. "" when the process is in no unit
/// (the root cgroup, a bare slice) or the text holds no such line. Escaped (core/Escape.hpp):
/// delegated cgroups can be named by their user. Never throws on malformed input.
std::string unitFromCgroup(std::string_view cgroupFile);

}  // namespace porteye::core
