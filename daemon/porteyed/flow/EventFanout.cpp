// SPDX-License-Identifier: MIT
#include "flow/EventFanout.hpp"

#include <algorithm>

namespace porteye::flow {

void EventFanout::add(IEventSink& sink) {
    m_sinks.push_back(&sink);
}

void EventFanout::remove(IEventSink& sink) {
    // A sink that goes away while a batch is being delivered (a bus lost mid-emit) is blanked,
    // not erased, so the loop over the sinks stays valid; the blanks go when it ends.
    auto it = std::find(m_sinks.begin(), m_sinks.end(), &sink);
    if (it == m_sinks.end()) return;
    if (m_depth > 0)
        *it = nullptr;
    else
        m_sinks.erase(it);
}

template <typename Call>
void EventFanout::each(Call call) {
    ++m_depth;
    for (std::size_t i = 0; i < m_sinks.size(); ++i)
        if (m_sinks[i] != nullptr) call(*m_sinks[i]);
    if (--m_depth == 0) std::erase(m_sinks, nullptr);
}

void EventFanout::publish(const std::vector<core::PortEvent>& events) {
    each([&](IEventSink& sink) { sink.onEvents(events); });
    if (m_check) publishUnexpected(m_check(events));
}

void EventFanout::publishUnexpected(const std::vector<core::UnexpectedListener>& raised) {
    if (raised.empty()) return;
    const auto alerts = m_filter ? m_filter(raised) : raised;
    if (alerts.empty()) return;
    each([&](IEventSink& sink) { sink.onUnexpected(alerts); });
}

std::size_t EventFanout::sinkCount() const {
    return static_cast<std::size_t>(
        std::count_if(m_sinks.begin(), m_sinks.end(), [](auto* s) { return s != nullptr; }));
}

}  // namespace porteye::flow
