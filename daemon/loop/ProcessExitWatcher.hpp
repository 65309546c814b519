// SPDX-License-Identifier: MIT
#pragma once

#include "service/PortService.hpp"

#include <functional>
#include <map>
#include <memory>

struct sd_event;
struct sd_event_source;

namespace porteye::loop {

/// Tells when watched processes exit: given a watch and a pollable fd that becomes
/// readable when its process exits (a pidfd), calls back once, the moment it does.
/// It polls the fd but does not own it: whoever handed it over closes it, after
/// remove().
class ProcessExitWatcher {
public:
    /// Called on the loop thread; may call remove() for this watch (and usually does,
    /// through the watch's end).
    using OnExit = std::function<void(service::WatchId)>;

    ProcessExitWatcher(sd_event* event, OnExit onExit);
    ~ProcessExitWatcher();
    ProcessExitWatcher(const ProcessExitWatcher&) = delete;
    ProcessExitWatcher& operator=(const ProcessExitWatcher&) = delete;

    /// Starts polling `exitFd` for `id` (replacing what was polled for it). False when
    /// sd-event refuses the fd; the exit is then seen at the watch's next step.
    bool add(service::WatchId id, int exitFd);
    /// Stops polling for `id`; a no-op when it is not polled.
    void remove(service::WatchId id);
    std::size_t size() const { return m_entries.size(); }

private:
    struct Entry {
        ProcessExitWatcher* watcher = nullptr;
        service::WatchId id = 0;
        sd_event_source* source = nullptr;
    };
    static int onReadable(sd_event_source* source, int fd, std::uint32_t events, void* userdata);

    sd_event* m_event;
    OnExit m_onExit;
    std::map<service::WatchId, std::unique_ptr<Entry>> m_entries;
};

}  // namespace porteye::loop
