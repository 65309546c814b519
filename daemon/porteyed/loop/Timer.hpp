// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <functional>

struct sd_event;
struct sd_event_source;

namespace porteye::loop {

/// The accuracy to arm a timer of `intervalUsec` with: a tenth of the interval, at
/// most 1 ms, at least 1 µs. sd-event reads an accuracy of 0 as its default, 250 ms,
/// which turns a 0.05 s timer into one that fires about four times a second.
constexpr std::uint64_t accuracyFor(std::uint64_t intervalUsec) {
    constexpr std::uint64_t kMaxAccuracyUsec = 1000;
    const std::uint64_t tenth = intervalUsec / 10;
    return tenth < 1 ? 1 : tenth > kMaxAccuracyUsec ? kMaxAccuracyUsec : tenth;
}

/// One one-shot CLOCK_MONOTONIC timer on an sd-event loop, armed and re-armed by its
/// owner, always with an explicit accuracy. Owns its event source. The callback may
/// re-arm the timer, but must not destroy it.
class Timer {
public:
    /// Called with the time the timer was armed for (not the time it ran).
    using Callback = std::function<void(std::uint64_t usec)>;

    /// Starts disarmed. Throws std::system_error when sd-event refuses the source.
    Timer(sd_event* event, Callback callback);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    /// Fires once at `usec` (CLOCK_MONOTONIC), at most `accuracyUsec` late (use accuracyFor()).
    void armAt(std::uint64_t usec, std::uint64_t accuracyUsec);
    /// Fires once `delayUsec` from the loop's current time, with accuracyFor(delayUsec).
    void armIn(std::uint64_t delayUsec);
    void disarm();
    /// The loop's idea of now (CLOCK_MONOTONIC, µs): the time of the current iteration.
    std::uint64_t now() const;

private:
    static int onTime(sd_event_source* source, std::uint64_t usec, void* self);

    sd_event* m_event;
    sd_event_source* m_source = nullptr;
    Callback m_callback;
};

}  // namespace porteye::loop
