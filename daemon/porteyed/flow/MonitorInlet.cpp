// SPDX-License-Identifier: MIT
#include "flow/MonitorInlet.hpp"

#include <spdlog/spdlog.h>

namespace porteye::flow {

core::PollResult MonitorInlet::poll(const std::vector<core::DumpRequest>& plan) {
    return m_monitor.poll(plan);
}

void MonitorInlet::kernelEvents(const std::vector<core::KernelSocketEvent>& events) {
    if (!events.empty()) m_monitor.applyKernelEvents(events);
}

void MonitorInlet::kernelEventsLost() {
    resync();
}

void MonitorInlet::destroyed(const std::vector<core::SocketRecord>& records, bool overrun) {
    if (m_countDestroyed) m_countDestroyed(records.size(), overrun);
    m_monitor.applyDestroyed(records);
    // The kernel dropped notifications: only a full dump can tell what closed.
    if (overrun) resync();
}

std::size_t MonitorInlet::namespaceGone(std::uint64_t netns) {
    return m_monitor.dropNamespace(netns);
}

void MonitorInlet::resync() {
    ++m_resyncs;
    spdlog::debug("resynchronising: every namespace's sockets dumped in full");
    if (m_fullPlan) m_monitor.poll(m_fullPlan());
}

}  // namespace porteye::flow
