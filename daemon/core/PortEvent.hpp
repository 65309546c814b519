// SPDX-License-Identifier: MIT
#pragma once

#include "core/IClock.hpp"
#include "core/SocketRecord.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace porteye::core {

enum class Action : std::uint8_t { Added, Removed };

inline std::string_view actionName(Action a) {
    return a == Action::Added ? "added" : "removed";
}
std::optional<Action> parseActionName(std::string_view name);

/// One change of the socket table. `sequence` grows by one per event for the
/// monitor's lifetime, so a client can resume after a gap and count what it missed.
struct PortEvent {
    std::uint64_t sequence = 0;
    Action action = Action::Added;
    WallTime time{};
    SocketRecord record;
    bool operator==(const PortEvent&) const = default;
};

}  // namespace porteye::core
