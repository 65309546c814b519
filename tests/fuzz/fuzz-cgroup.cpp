// SPDX-License-Identifier: MIT
// The text of /proc/<pid>/cgroup: any process can name its sub-cgroups (with Delegate=yes or in
// a user's manager), so the parser that turns it into a unit and a container sees chosen bytes.
// Every string it returns goes to D-Bus and JSON as it is, so it must be safe text.
#include "core/CgroupUnit.hpp"
#include "fuzz/SafeText.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace porteye;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const core::CgroupOwner owner = core::ownerFromCgroup(text);
    if (!fuzz::isDisplaySafe(owner.unit) || !fuzz::isDisplaySafe(owner.containerRuntime) ||
        !fuzz::isDisplaySafe(owner.containerId)) {
        std::fprintf(stderr, "fuzz-cgroup: unsafe text in the owner\n");
        std::abort();
    }
    if (core::unitFromCgroup(text) != owner.unit) std::abort();
    return 0;
}
