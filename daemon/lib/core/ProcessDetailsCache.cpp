// SPDX-License-Identifier: MIT
#include "core/ProcessDetailsCache.hpp"

namespace porteye::core {

std::shared_ptr<const ProcessDetails> ProcessDetailsCache::get(const ProcessInfo& info) {
    if (info.pid == 0) return nullptr;
    auto it = m_entries.find(info.pid);
    if (it != m_entries.end() && it->second.startTimeTicks == info.startTimeTicks) return it->second.details;
    ++m_reads;
    // The start time goes with the read: a PID reused between the walk and this read yields
    // nothing rather than the new process's details under the old one's name.
    auto read = m_table.details(info.pid, info.startTimeTicks);
    if (!read) {
        if (it != m_entries.end()) m_entries.erase(it);
        return nullptr;
    }
    auto details = std::make_shared<const ProcessDetails>(std::move(*read));
    m_entries[info.pid] = Entry{info.startTimeTicks, details};
    return details;
}

void ProcessDetailsCache::retainOnly(const std::function<bool(std::uint32_t)>& keep) {
    std::erase_if(m_entries, [&](const auto& entry) { return !keep(entry.first); });
}

}  // namespace porteye::core
