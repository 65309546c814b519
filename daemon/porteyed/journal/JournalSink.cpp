// SPDX-License-Identifier: MIT
#include "journal/JournalSink.hpp"

#include "journal/UnexpectedListenerJournal.hpp"

namespace porteye::journal {

void JournalSink::onEvents(const std::vector<core::PortEvent>& events) {
    m_log.onEvents(events, m_now());
}

void JournalSink::onUnexpected(const std::vector<core::UnexpectedListener>& alerts) {
    for (const auto& alert : alerts)
        journalUnexpected(alert);
}

}  // namespace porteye::journal
