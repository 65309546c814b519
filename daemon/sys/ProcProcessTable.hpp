// SPDX-License-Identifier: MIT
#pragma once

#include "core/IProcessTable.hpp"

#include <filesystem>

namespace porteye::sys {

/// IProcessTable over a /proc tree. The root is injectable so tests can feed
/// a fake tree of `socket:[N]` symlinks. Vanishing processes and fds are counted
/// in WalkStats, never thrown.
class ProcProcessTable final : public core::IProcessTable {
public:
    explicit ProcProcessTable(std::filesystem::path root = "/proc");

    core::OwnerScan findOwners(const std::unordered_set<std::uint64_t>& wanted) override;
    std::optional<core::ProcessSockets> socketsOf(std::uint32_t pid, core::WalkStats* stats = nullptr) override;
    bool exists(std::uint32_t pid) override;
    std::optional<core::ProcessInfo> info(std::uint32_t pid) override;
    std::vector<std::uint32_t> childrenOf(std::uint32_t pid) override;
    std::optional<core::ProcessUsage> usage(std::uint32_t pid) override;

private:
    std::filesystem::path m_root;
};

/// Parses the target of an fd symlink: "socket:[12345]" -> 12345; anything else -> 0.
std::uint64_t parseSocketLink(std::string_view target);

}  // namespace porteye::sys
