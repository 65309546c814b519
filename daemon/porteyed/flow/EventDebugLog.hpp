// SPDX-License-Identifier: MIT
#pragma once

#include "flow/IEventSink.hpp"

#include <cstddef>
#include <string>

namespace porteye::flow {

/// Logs each change at debug level, at most `maxPerBatch` lines a batch. The journal entries
/// (journal/) are the record of each change; these lines are for debugging.
class EventDebugLog final : public IEventSink {
public:
    explicit EventDebugLog(std::size_t maxPerBatch = 20) : m_max(maxPerBatch) {}
    void onEvents(const std::vector<core::PortEvent>& events) override;

    /// One line: "added tcp 0.0.0.0:80 -> 0.0.0.0:0 LISTEN pid 42 (nginx) #7".
    static std::string describe(const core::PortEvent& event);

private:
    std::size_t m_max;
};

}  // namespace porteye::flow
