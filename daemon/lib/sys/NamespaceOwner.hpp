// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace porteye::sys {

/// The uid that owns the user namespace of the namespace at `path` (e.g. /proc/<pid>/ns/net):
/// who made it, whatever uid its processes claim inside. nullopt when it cannot be opened
/// (gone) or the kernel lacks NS_GET_USERNS/NS_GET_OWNER_UID.
std::optional<std::uint32_t> namespaceOwnerUid(const std::string& path);

}  // namespace porteye::sys
