// SPDX-License-Identifier: MIT
#pragma once

#include "flow/IEventSink.hpp"
#include "journal/JournalEventLog.hpp"

#include <cstdint>
#include <functional>

namespace porteye::journal {

/// The journal as a sink of the fan-out: port events through JournalEventLog (its fields and
/// rate limit), unexpected listeners (those the per-uid limit let through, the fan-out's filter)
/// through the same writer and entry builder. Loop thread only.
class JournalSink final : public flow::IEventSink {
public:
    /// `nowUsec`: the loop's monotonic clock, which the rate limit runs on.
    JournalSink(JournalEventLog& log, std::function<std::uint64_t()> nowUsec) : m_log(log), m_now(std::move(nowUsec)) {}

    void onEvents(const std::vector<core::PortEvent>& events) override;
    void onUnexpected(const std::vector<core::UnexpectedListener>& alerts) override;

private:
    JournalEventLog& m_log;
    std::function<std::uint64_t()> m_now;
};

}  // namespace porteye::journal
