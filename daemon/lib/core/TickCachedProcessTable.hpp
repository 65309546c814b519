// SPDX-License-Identifier: MIT
#pragma once

#include "core/IProcessTable.hpp"

#include <map>
#include <optional>
#include <vector>

namespace porteye::core {

/// Remembers per-process reads until newTick(), so many watches of the same
/// process in one tick read its fd table once (1,000 watchers of one PID cost
/// one /proc/<pid>/fd walk a tick, not 1,000). findOwners is never cached.
class TickCachedProcessTable final : public IProcessTable {
public:
    explicit TickCachedProcessTable(IProcessTable& table) : m_table(table) {}

    void newTick() {
        m_sockets.clear();
        m_children.clear();
    }

    OwnerScan findOwners(const std::unordered_set<std::uint64_t>& wanted) override {
        return m_table.findOwners(wanted);
    }
    OwnerScan findOwnersAmong(const std::vector<std::uint32_t>& pids,
                              const std::function<bool(std::uint64_t)>& wanted) override {
        return m_table.findOwnersAmong(pids, wanted);
    }
    ProcessSockets socketsOf(std::uint32_t pid, WalkStats* stats = nullptr) override {
        auto it = m_sockets.find(pid);
        if (it == m_sockets.end()) it = m_sockets.emplace(pid, m_table.socketsOf(pid, stats)).first;
        return it->second;
    }
    std::optional<std::vector<ProcessId>> listProcesses() override { return m_table.listProcesses(); }
    bool exists(std::uint32_t pid) override { return m_table.exists(pid); }
    std::optional<ProcessInfo> info(std::uint32_t pid) override { return m_table.info(pid); }
    std::vector<std::uint32_t> childrenOf(std::uint32_t pid) override {
        auto it = m_children.find(pid);
        if (it == m_children.end()) it = m_children.emplace(pid, m_table.childrenOf(pid)).first;
        return it->second;
    }
    std::optional<ProcessUsage> usage(std::uint32_t pid) override { return m_table.usage(pid); }
    std::optional<ProcessDetails> details(std::uint32_t pid, std::uint64_t startTimeTicks) override {
        return m_table.details(pid, startTimeTicks);
    }
    PinResult pin(std::uint32_t pid) override { return m_table.pin(pid); }
    std::uint64_t netnsOf(std::uint32_t pid) override { return m_table.netnsOf(pid); }

private:
    IProcessTable& m_table;
    std::map<std::uint32_t, ProcessSockets> m_sockets;
    std::map<std::uint32_t, std::vector<std::uint32_t>> m_children;
};

}  // namespace porteye::core
