// SPDX-License-Identifier: MIT
#pragma once

#include "core/KernelSocketEvent.hpp"
#include "core/PortMonitor.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace porteye::flow {

/// The one door into the core: dump plans, kernel socket events, destroy notifications and
/// namespaces that went away reach core::PortMonitor only through here, and every input that
/// says "some were lost" (a destroy overrun, a lost kernel event) becomes one resync here.
/// Loop thread only.
class MonitorInlet {
public:
    /// The dumps a resync asks for: every part of every followed namespace, all states.
    using FullPlan = std::function<std::vector<core::DumpRequest>()>;
    /// Told of each batch of destroy notifications (for /metrics), before it is applied.
    using DestroyCounter = std::function<void(std::size_t records, bool overrun)>;

    explicit MonitorInlet(core::PortMonitor& monitor) : m_monitor(monitor) {}

    void setFullPlan(FullPlan plan) { m_fullPlan = std::move(plan); }
    void setDestroyCounter(DestroyCounter counter) { m_countDestroyed = std::move(counter); }

    /// One poll over these dumps (a poll timer tick, or a namespace just attached).
    core::PollResult poll(const std::vector<core::DumpRequest>& plan);
    /// What the kernel event source reported, in order.
    void kernelEvents(const std::vector<core::KernelSocketEvent>& events);
    /// The kernel event source lost events: only a full dump can tell what changed.
    void kernelEventsLost();
    /// Sockets the kernel announced destroyed (any namespace); `overrun`: it dropped some.
    void destroyed(const std::vector<core::SocketRecord>& records, bool overrun);
    /// A followed network namespace is gone: its sockets are removed at once.
    std::size_t namespaceGone(std::uint64_t netns);
    /// Every part of every namespace dumped now.
    void resync();

    /// Resyncs so far (status, /metrics).
    std::uint64_t resyncs() const { return m_resyncs; }

private:
    core::PortMonitor& m_monitor;
    FullPlan m_fullPlan;
    DestroyCounter m_countDestroyed;
    std::uint64_t m_resyncs = 0;
};

}  // namespace porteye::flow
