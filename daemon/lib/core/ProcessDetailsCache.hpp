// SPDX-License-Identifier: MIT
#pragma once

#include "core/IProcessTable.hpp"
#include "core/ProcessInfo.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

namespace porteye::core {

/// The details of each process that holds sockets, read once per (pid, start time) and shared
/// by pointer: a steady poll for processes already known reads nothing and copies a shared_ptr.
/// Whoever follows processes drops the vanished ones (forget, retainOnly). Not thread-safe.
class ProcessDetailsCache {
public:
    explicit ProcessDetailsCache(IProcessTable& table) : m_table(table) {}

    /// The details of the process `info` names (pid and start time); read on a miss, or when the
    /// PID now names a process that started at another time. Null for pid 0 and for a process
    /// that could not be read (gone); a failed read is not remembered.
    std::shared_ptr<const ProcessDetails> get(const ProcessInfo& info);
    void forget(std::uint32_t pid) { m_entries.erase(pid); }
    /// Drops every entry whose pid `keep` refuses.
    void retainOnly(const std::function<bool(std::uint32_t pid)>& keep);

    std::size_t size() const { return m_entries.size(); }
    /// How many details() reads the cache made (for tests and benchmarks).
    std::uint64_t reads() const { return m_reads; }

private:
    struct Entry {
        std::uint64_t startTimeTicks = 0;
        std::shared_ptr<const ProcessDetails> details;
    };
    IProcessTable& m_table;
    std::unordered_map<std::uint32_t, Entry> m_entries;
    std::uint64_t m_reads = 0;
};

}  // namespace porteye::core
