// SPDX-License-Identifier: MIT
#include "loop/ProcessExitWatcher.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <systemd/sd-event.h>

#include <algorithm>
#include <cstring>
#include <exception>

namespace porteye::loop {

ProcessExitWatcher::ProcessExitWatcher(sd_event* event, OnExit onExit) : m_event(event), m_onExit(std::move(onExit)) {}

ProcessExitWatcher::~ProcessExitWatcher() {
    for (auto& [id, entry] : m_entries)
        sd_event_source_disable_unref(entry->source);
}

bool ProcessExitWatcher::add(service::WatchId id, int exitFd) {
    remove(id);
    auto entry = std::make_unique<Entry>();
    entry->watcher = this;
    entry->id = id;
    if (int r = sd_event_add_io(m_event, &entry->source, exitFd, EPOLLIN, onReadable, entry.get()); r < 0) {
        spdlog::debug("watch {}: cannot poll its exit fd: {}", id, std::strerror(-r));
        return false;
    }
    Entry* raw = entry.get();
    raw->retry = std::make_unique<Timer>(
        m_event, [raw](std::uint64_t) { sd_event_source_set_enabled(raw->source, SD_EVENT_ONESHOT); });
    m_entries[id] = std::move(entry);
    return true;
}

void ProcessExitWatcher::remove(service::WatchId id) {
    auto it = m_entries.find(id);
    if (it == m_entries.end()) return;
    // Safe inside this source's own callback too: sd-event frees a dispatching source after it returns.
    sd_event_source_disable_unref(it->second->source);
    m_entries.erase(it);
}

int ProcessExitWatcher::onReadable(sd_event_source* source, int, std::uint32_t, void* userdata) {
    auto* entry = static_cast<Entry*>(userdata);
    ProcessExitWatcher* watcher = entry->watcher;
    const auto id = entry->id;
    // A pidfd stays readable after the exit: report it once. The callback usually ends
    // the watch, which remove()s this entry: `entry` is touched below only once it is
    // found still registered.
    sd_event_source_set_enabled(source, SD_EVENT_OFF);
    try {
        watcher->m_onExit(id);
    } catch (const std::exception& e) {
        spdlog::error("watch {}: handling its process's exit failed: {}", id, e.what());
    }
    // Still watched: the exit was not visible to the callback yet. Look again soon,
    // backing off so that a process that never looks exited costs next to nothing.
    auto it = watcher->m_entries.find(id);
    if (it != watcher->m_entries.end() && it->second.get() == entry) {
        constexpr std::uint64_t kFirstRetryUsec = 10'000, kMaxRetryUsec = 1'000'000;
        entry->retryDelayUsec =
            entry->retryDelayUsec == 0 ? kFirstRetryUsec : std::min(entry->retryDelayUsec * 2, kMaxRetryUsec);
        entry->retry->armIn(entry->retryDelayUsec);
    }
    return 0;
}

}  // namespace porteye::loop
