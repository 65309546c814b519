// SPDX-License-Identifier: MIT
#include "journal/JournalEventLog.hpp"

#include <spdlog/spdlog.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <cstdlib>

namespace porteye::journal {

JournalEventLog::JournalEventLog(JournalEvents setting, JournalLimits limits, Sender sender)
    : m_setting(setting),
      m_limits(limits),
      m_sender(sender ? std::move(sender) : Sender(&JournalEventLog::sendToJournal)),
      m_listeners{"listeners", TokenBucket(limits.listenerRate, limits.listenerBurst)},
      m_connections{"connections", TokenBucket(limits.connectionRate, limits.connectionBurst)},
      m_alerts(limits.alerts) {}

namespace {

/// Warnings also go to stderr when porteyed's log does not reach the journal already (a
/// foreground run, the tests).
void echo(const std::string& message) {
    if (std::getenv("JOURNAL_STREAM") == nullptr) spdlog::warn("{}", message);
}

}  // namespace

std::vector<core::UnexpectedListener> JournalEventLog::admitAlerts(const std::vector<core::UnexpectedListener>& alerts,
                                                                   std::uint64_t nowUsec) {
    auto passed = m_alerts.admit(alerts, nowUsec);
    m_stats.alertsHeldBack = m_alerts.heldBackTotal();
    flush(nowUsec);
    return passed;
}

void JournalEventLog::onAlerts(const std::vector<core::UnexpectedListener>& alerts, std::uint64_t nowUsec) {
    for (const auto& alert : alerts) {
        send(alertFields(alert));
        echo(alertMessageOf(alert));
    }
    flush(nowUsec);
}

int JournalEventLog::sendToJournal(const std::vector<std::string>& fields) {
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (const auto& f : fields)
        iov.push_back(iovec{const_cast<char*>(f.data()), f.size()});
    return sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

void JournalEventLog::send(const std::vector<std::string>& fields) {
    // Without a journal (no systemd, a test) sendv fails with ENOENT or ECONNREFUSED: count, go on.
    if (m_sender(fields) < 0)
        ++m_stats.failed;
    else
        ++m_stats.sent;
}

void JournalEventLog::onEvents(const std::vector<core::PortEvent>& events, std::uint64_t nowUsec) {
    if (m_setting == JournalEvents::Off) return;
    for (const auto& e : events) {
        if (!journalled(m_setting, e)) continue;
        Kind& kind = e.record.listening() ? m_listeners : m_connections;
        if (!kind.bucket.take(nowUsec)) {
            if (kind.suppressed++ == 0) kind.firstSuppressedUsec = nowUsec;
            ++m_stats.suppressed;
            continue;
        }
        send(entryFields(e));
    }
    flush(nowUsec);
}

void JournalEventLog::flush(std::uint64_t nowUsec) {
    report(m_listeners, nowUsec, false);
    report(m_connections, nowUsec, false);
    for (const auto& held : m_alerts.heldBack(nowUsec, m_limits.alertReportIntervalUsec)) {
        const auto fields = heldBackAlertsFields(held.uid, held.count, held.seconds);
        send(fields);
        echo(fields.front().substr(sizeof("MESSAGE=") - 1));
    }
}

void JournalEventLog::report(Kind& kind, std::uint64_t nowUsec, bool force) {
    if (kind.suppressed == 0) return;
    const std::uint64_t elapsed = nowUsec > kind.firstSuppressedUsec ? nowUsec - kind.firstSuppressedUsec : 0;
    if (!force && elapsed < m_limits.reportIntervalUsec) return;
    send(suppressedFields(kind.suppressed, kind.name, static_cast<double>(elapsed) / 1e6));
    kind.suppressed = 0;
}

}  // namespace porteye::journal
