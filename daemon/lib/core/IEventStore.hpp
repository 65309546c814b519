// SPDX-License-Identifier: MIT
#pragma once

#include "core/Filters.hpp"
#include "core/History.hpp"
#include "core/PortEvent.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace porteye::core {

/// A durable log of every event, behind the in-memory ring: the history that outlives the
/// ring's capacity and the daemon's restarts. Called from one thread (the daemon's loop);
/// an implementation may write on a thread of its own, but append() returns at once.
class IEventStore {
public:
    virtual ~IEventStore() = default;

    /// The largest sequence number ever stored (0: none); the monitor continues after it.
    virtual std::uint64_t lastSequence() const = 0;
    /// Hands events over for writing, in sequence order. Never blocks for long: a store that
    /// cannot keep up or has failed drops them (counted, and said in health()).
    virtual void append(const std::vector<PortEvent>& events) = 0;
    /// Stored events with a sequence number below `beforeSequence` that match `filter`, ordered
    /// and limited as History::query does (the newest `limit`, or with afterSequence the oldest
    /// `limit` after it), oldest first. nullopt when the store cannot answer now.
    virtual std::optional<std::vector<PortEvent>> query(const HistoryFilter& filter, std::uint64_t beforeSequence) = 0;
    /// Returns once everything appended so far is written (or has failed to be).
    virtual void flush() = 0;
    /// "ok", or "failed: <reason>" while writes fail.
    virtual std::string health() const = 0;
    /// Events appended but never written (the store failed, or fell too far behind), since start.
    virtual std::uint64_t droppedCount() const = 0;
};

/// The history as clients see it: the ring first, and the store for what the ring no longer
/// holds (events older than its oldest, from before a restart or pushed out by newer ones).
/// `nextSequence` is the monitor's; `store` may be null. A store that cannot answer leaves
/// the ring's answer.
std::vector<PortEvent> queryHistory(const History& ring, std::uint64_t nextSequence, IEventStore* store,
                                    const HistoryFilter& filter);

}  // namespace porteye::core
