// SPDX-License-Identifier: MIT
#pragma once

#include "journal/AlertLimiter.hpp"
#include "journal/JournalEntry.hpp"
#include "journal/TokenBucket.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace porteye::journal {

struct JournalLimits {
    /// Listener entries: a burst of 1,000 (a host starting its services), then 100 a second.
    double listenerRate = 100;
    double listenerBurst = 1000;
    /// Connection entries (journal_events = all): a burst of 200, then 50 a second, so a
    /// churn of 50,000 connections a second costs the journal 50 entries a second, not 50,000.
    double connectionRate = 50;
    double connectionBurst = 200;
    /// How often a count of held-back entries is written (once per interval at most).
    std::uint64_t reportIntervalUsec = 30'000'000;
    /// Unexpected-listener alerts: per uid (AlertLimiter), their held-back counts every 5 s at most.
    AlertLimits alerts;
    std::uint64_t alertReportIntervalUsec = 5'000'000;
};

struct JournalStats {
    std::uint64_t sent = 0;            ///< entries handed to the journal
    std::uint64_t suppressed = 0;      ///< entries the rate limit held back
    std::uint64_t failed = 0;          ///< entries the journal refused (sd_journal_sendv < 0)
    std::uint64_t alertsHeldBack = 0;  ///< unexpected-listener alerts the per-uid limit held back
};

/// porteyed's one journal writer: port events (one entry per event, journal/JournalEntry.hpp)
/// within a token bucket per kind (listeners, connections) so churn cannot flood the journal, and
/// unexpected-listener alerts within a bucket per uid (AlertLimiter); what was held back is
/// counted in an entry of its own once per interval. Loop thread only.
class JournalEventLog {
public:
    /// Sends one entry's "KEY=value" fields; returns < 0 on failure. The default is sd_journal_sendv.
    using Sender = std::function<int(const std::vector<std::string>&)>;

    JournalEventLog(JournalEvents setting, JournalLimits limits = {}, Sender sender = {});

    void onEvents(const std::vector<core::PortEvent>& events, std::uint64_t nowUsec);
    /// The alerts the per-uid limit lets through (AlertLimiter), for every front-end to tell the
    /// same ones; the rest are counted and summarised by flush(). The service's alert counters
    /// see every alert.
    std::vector<core::UnexpectedListener> admitAlerts(const std::vector<core::UnexpectedListener>& alerts,
                                                      std::uint64_t nowUsec);
    /// One warning entry per alert (whatever `setting` says: they are warnings).
    void onAlerts(const std::vector<core::UnexpectedListener>& alerts, std::uint64_t nowUsec);
    /// Writes the held-back counts when their interval is over; call it now and then (each poll)
    /// so a burst followed by silence is still reported.
    void flush(std::uint64_t nowUsec);
    void setSetting(JournalEvents setting) { m_setting = setting; }
    JournalEvents setting() const { return m_setting; }
    const JournalStats& stats() const { return m_stats; }

    /// sd_journal_sendv on the fields, as they are (binary-safe: lengths, not NUL-terminated).
    static int sendToJournal(const std::vector<std::string>& fields);

private:
    struct Kind {
        const char* name;
        TokenBucket bucket;
        std::uint64_t suppressed = 0;  ///< since the last report
        std::uint64_t firstSuppressedUsec = 0;
    };
    void send(const std::vector<std::string>& fields);
    void report(Kind& kind, std::uint64_t nowUsec, bool force);

    JournalEvents m_setting;
    JournalLimits m_limits;
    Sender m_sender;
    Kind m_listeners;
    Kind m_connections;
    AlertLimiter m_alerts;
    JournalStats m_stats;
};

}  // namespace porteye::journal
