// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"
#include "core/PortEvent.hpp"

#include <vector>

namespace porteye::flow {

/// Where a batch of the monitor's events goes: the store, the journal, /metrics, D-Bus and the
/// control socket each implement it and register with the one EventFanout. Loop thread only.
class IEventSink {
public:
    virtual ~IEventSink() = default;
    /// One batch of opens and closes, in sequence order.
    virtual void onEvents(const std::vector<core::PortEvent>& events) = 0;
    /// Listeners the allowlist does not expect: after the batch that opened them, or after a
    /// (re)load of the allowlist for those already open. Most sinks ignore alerts.
    virtual void onUnexpected(const std::vector<core::UnexpectedListener>& /*alerts*/) {}
};

}  // namespace porteye::flow
