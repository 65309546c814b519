// SPDX-License-Identifier: MIT
#include "flow/EventDebugLog.hpp"

#include <spdlog/spdlog.h>

namespace porteye::flow {

std::string EventDebugLog::describe(const core::PortEvent& e) {
    const auto& r = e.record;
    std::string owner = r.pid ? " pid " + std::to_string(r.pid) + " (" + r.process + ")" : " no owner";
    return std::string(core::actionName(e.action)) + " " + std::string(core::protocolName(r.protocol)) + " " +
           r.localAddress + ":" + std::to_string(r.localPort) + " -> " + r.remoteAddress + ":" +
           std::to_string(r.remotePort) + " " + std::string(core::stateName(r.state)) + owner + " #" +
           std::to_string(e.sequence);
}

void EventDebugLog::onEvents(const std::vector<core::PortEvent>& events) {
    // At info level these lines doubled every journal entry, and their formatting was a tenth
    // of an event's cost: checked once per batch, before any is formatted.
    if (!spdlog::should_log(spdlog::level::debug)) return;
    std::size_t logged = 0;
    for (const auto& e : events) {
        if (logged++ == m_max) {
            spdlog::debug("... and {} more changes", events.size() - m_max);
            break;
        }
        spdlog::debug("{}", describe(e));
    }
}

}  // namespace porteye::flow
