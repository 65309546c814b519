// SPDX-License-Identifier: MIT
#include "loop/Timer.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-event.h>

#include <cstdint>
#include <ctime>
#include <exception>
#include <system_error>

namespace porteye::loop {

Timer::Timer(sd_event* event, Callback callback) : m_event(event), m_callback(std::move(callback)) {
    // Created far in the future and off: the owner arms it when it knows when. The accuracy
    // given here is replaced by every armAt(), but is explicit all the same.
    if (int r = sd_event_add_time(m_event, &m_source, CLOCK_MONOTONIC, UINT64_MAX, 1000, onTime, this); r < 0)
        throw std::system_error(-r, std::generic_category(), "sd_event_add_time");
    sd_event_source_set_enabled(m_source, SD_EVENT_OFF);
}

Timer::~Timer() {
    sd_event_source_disable_unref(m_source);
}

void Timer::armAt(std::uint64_t usec, std::uint64_t accuracyUsec) {
    sd_event_source_set_time(m_source, usec);
    sd_event_source_set_time_accuracy(m_source, accuracyUsec < 1 ? 1 : accuracyUsec);
    sd_event_source_set_enabled(m_source, SD_EVENT_ONESHOT);
}

void Timer::armIn(std::uint64_t delayUsec) {
    armAt(now() + delayUsec, accuracyFor(delayUsec));
}

void Timer::disarm() {
    sd_event_source_set_enabled(m_source, SD_EVENT_OFF);
}

std::uint64_t Timer::now() const {
    std::uint64_t usec = 0;
    sd_event_now(m_event, CLOCK_MONOTONIC, &usec);
    return usec;
}

int Timer::onTime(sd_event_source*, std::uint64_t usec, void* self) {
    // No exception may cross into sd-event's C code; a failed tick is logged and the loop runs on.
    try {
        static_cast<Timer*>(self)->m_callback(usec);
    } catch (const std::exception& e) {
        spdlog::error("timer callback failed: {}", e.what());
    }
    return 0;
}

}  // namespace porteye::loop
