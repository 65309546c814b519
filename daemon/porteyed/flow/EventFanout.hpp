// SPDX-License-Identifier: MIT
#pragma once

#include "flow/IEventSink.hpp"

#include <functional>
#include <vector>

namespace porteye::flow {

/// The one door out of the core: every batch of events and every alert leaves porteyed through
/// here, to the sinks registered in order (the store first, so a client told of an event can
/// already find it in the history). Loop thread only.
class EventFanout {
public:
    /// The alerts a batch raises (PortService::checkExpected); null: none.
    using AlertCheck = std::function<std::vector<core::UnexpectedListener>(const std::vector<core::PortEvent>&)>;

    /// Which alerts are told (the journal's per-uid limit, JournalEventLog::admitAlerts); null: all.
    using AlertFilter =
        std::function<std::vector<core::UnexpectedListener>(const std::vector<core::UnexpectedListener>&)>;

    void setAlertCheck(AlertCheck check) { m_check = std::move(check); }
    void setAlertFilter(AlertFilter filter) { m_filter = std::move(filter); }
    /// Adds a sink after those already there; it must be removed before it is destroyed.
    void add(IEventSink& sink);
    /// Removes a sink; safe from inside a sink's callback (it gets nothing more).
    void remove(IEventSink& sink);

    /// Hands the batch to every sink, then the alerts it raises.
    void publish(const std::vector<core::PortEvent>& events);
    /// Hands alerts to every sink (those a batch raised, or a reload of the allowlist), those the
    /// filter lets through: every sink gets the same ones.
    void publishUnexpected(const std::vector<core::UnexpectedListener>& alerts);

    std::size_t sinkCount() const;

private:
    template <typename Call>
    void each(Call call);

    std::vector<IEventSink*> m_sinks;  // null: removed while a publish ran
    AlertCheck m_check;
    AlertFilter m_filter;
    int m_depth = 0;
};

}  // namespace porteye::flow
