// SPDX-License-Identifier: MIT
#pragma once

#include "core/IClock.hpp"
#include "core/SocketRecord.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace porteye::core {

/// What happened to a socket record.
///
/// A client keeps the socket table as records keyed by (cookie, inode, pid) and applies:
///   - Added:        insert `record`.
///   - Removed:      erase `record`: the socket closed (confirmed by a destroy notification
///                   or by its absence from two dumps in a row).
///   - OwnerChanged: the socket stays open and changed hands. `record` is the socket with an
///                   owner it has now (pid 0: no visible owner is left); `previousPid` is the
///                   owner that let go of it (0: none did, an owner joined or the socket was
///                   ownerless before). Erase the row (cookie, inode, previousPid), upsert
///                   `record`. An accepted socket is first added before accept() gives it a
///                   file (inode 0, pid 0: in the accept queue); the acceptor then comes as an
///                   OwnerChanged with the inode: erase (cookie, 0, previousPid) too. A fork child that inherited a
///                   listener and outlived its parent is one OwnerChanged (record = the child, previousPid = the
///                   parent).
enum class Action : std::uint8_t { Added, Removed, OwnerChanged };

inline std::string_view actionName(Action a) {
    switch (a) {
        case Action::Added:
            return "added";
        case Action::Removed:
            return "removed";
        case Action::OwnerChanged:
            return "owner-changed";
    }
    return "added";
}
/// The inverse of actionName(); keep the two in step.
inline std::optional<Action> parseActionName(std::string_view name) {
    for (Action a : {Action::Added, Action::Removed, Action::OwnerChanged})
        if (actionName(a) == name) return a;
    return std::nullopt;
}

/// One change of the socket table. `sequence` grows by one per event for the
/// monitor's lifetime, so a client can resume after a gap and count what it missed.
struct PortEvent {
    std::uint64_t sequence = 0;
    Action action = Action::Added;
    WallTime time{};
    SocketRecord record;
    /// OwnerChanged only: the owner that let go of the socket (0 = none), and its uid, which
    /// the visibility rule needs to decide whether a caller may see that pid.
    std::uint32_t previousPid = 0;
    std::uint32_t previousOwnerUid = 0;
    /// Removed only: the socket opened and closed between two dumps, so no dump ever held it
    /// (known from a kernel event source).
    bool shortLived = false;
    bool operator==(const PortEvent&) const = default;
};

}  // namespace porteye::core
