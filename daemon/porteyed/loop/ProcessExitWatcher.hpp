// SPDX-License-Identifier: MIT
#pragma once

#include "loop/Timer.hpp"
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
/// remove(). When the callback leaves the watch in place (the exit was not visible
/// yet: a pidfd turns readable a moment before /proc shows a zombie), it calls back
/// again after 10 ms, then 20, 40, ... up to 1 s.
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
        std::unique_ptr<Timer> retry;  ///< polls the fd again when a callback kept the watch
        std::uint64_t retryDelayUsec = 0;
    };
    static int onReadable(sd_event_source* source, int fd, std::uint32_t events, void* userdata);

    sd_event* m_event;
    OnExit m_onExit;
    std::map<service::WatchId, std::unique_ptr<Entry>> m_entries;
};

}  // namespace porteye::loop
