// SPDX-License-Identifier: MIT
#include "journal/JournalSink.hpp"

namespace porteye::journal {

void JournalSink::onEvents(const std::vector<core::PortEvent>& events) {
    m_log.onEvents(events, m_now());
}

void JournalSink::onUnexpected(const std::vector<core::UnexpectedListener>& alerts) {
    m_log.onAlerts(alerts, m_now());
}

}  // namespace porteye::journal
