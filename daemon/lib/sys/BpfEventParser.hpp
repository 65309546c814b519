// SPDX-License-Identifier: MIT
#pragma once

#include "core/KernelSocketEvent.hpp"

#include <cstddef>
#include <optional>
#include <span>

namespace porteye::sys {

/// Size of one record of porteye_sockets.bpf.c's ring buffer (struct porteye_sock_event).
std::size_t bpfEventRecordSize();

/// Parses one ring-buffer record into an event. Pure: no I/O, never throws on bad input.
/// Returns nothing for a record that is too short, or of an unknown kind, family or protocol.
std::optional<core::KernelSocketEvent> parseBpfSocketEvent(std::span<const std::byte> record);

}  // namespace porteye::sys
