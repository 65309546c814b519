// SPDX-License-Identifier: MIT
#pragma once

#include "core/Filters.hpp"
#include "core/History.hpp"
#include "core/IClock.hpp"
#include "core/IProcessTable.hpp"
#include "core/KernelSocketEvent.hpp"
#include "core/ISocketSource.hpp"
#include "core/OwnerResolver.hpp"
#include "core/SnapshotDiff.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace porteye::core {

struct MonitorOptions {
    DumpRequest request{};
    std::size_t historyCapacity = 10000;
    ResolverOptions resolver{};
    /// Report every socket of the first poll as added (ProcessPortMonitor does);
    /// otherwise the first poll is a silent baseline.
    bool reportInitial = false;
    /// Sequence number of the first event: one past the last stored one, so numbers continue
    /// across restarts when the history is persistent (core::IEventStore::lastSequence).
    std::uint64_t firstSequence = 1;
};

/// What one poll did.
struct PollResult {
    bool ok = true;
    std::string error;              ///< why a dump failed; what it would have covered is kept as it was
    std::size_t sockets = 0;        ///< records in the snapshot (one per socket and owner)
    std::size_t kernelSockets = 0;  ///< sockets in the dump
    std::size_t added = 0;
    std::size_t removed = 0;
    std::chrono::microseconds duration{0};
};

struct MonitorStats {
    std::uint64_t polls = 0;
    std::uint64_t failedPolls = 0;
    std::uint64_t events = 0;
    std::string lastError;
    std::uint64_t kernelEvents = 0;          ///< events from a kernel event source applied
    std::uint64_t destroyNotifications = 0;  ///< closes the kernel announced (destroy groups, event source)
    /// Sockets that opened and closed between two dumps: known from a kernel event source,
    /// so they are in the history with their owner (removal flagged short-lived) ...
    std::uint64_t shortLived = 0;
    /// ... or only from a destroy notification for a socket no dump or event had shown:
    /// counted, nothing more can be said of them.
    std::uint64_t unattributedShortLived = 0;
};

/// The host-wide engine: dump -> owners -> diff -> history -> listeners, one
/// deterministic step per poll(). Not thread-safe: one owner thread calls everything.
class PortMonitor {
public:
    using Listener = std::function<void(const std::vector<PortEvent>&)>;

    PortMonitor(ISocketSource& source, IProcessTable& processes, IClock& clock, MonitorOptions options = {});

    /// One whole cycle over the options' request. A failed dump, or owners that could not be
    /// read for a transient reason (EMFILE, ENFILE, ENOMEM), fail the poll: it is counted, the
    /// snapshot is kept and nothing is reported; nothing is thrown. A socket is reported
    /// removed only when two dumps in a row that cover it lack it (or on a destroy
    /// notification): absent from one, it is kept as it was.
    PollResult poll() { return poll({m_options.request}); }

    /// One cycle over several dumps, each covering the part of the kernel's table it asks for:
    /// a namespace (records are stamped with DumpRequest::netns, 0 included), protocols,
    /// families and states (e.g. TCP LISTEN only, UDP, every TCP state). A socket no request
    /// asked for this poll is carried over as it was (its owners still followed), so listeners
    /// can be dumped every poll and connections less often. A failed request is counted and
    /// what it asked for carried; the others are applied.
    PollResult poll(const std::vector<DumpRequest>& requests);

    /// Forgets a network namespace that is gone: its sockets are reported removed at once.
    std::size_t dropNamespace(std::uint64_t netns);

    /// Called with the processes each poll's listing found new and those it found gone
    /// (OwnerResolver), so namespaces can be followed without reading every process.
    void setProcessObserver(ProcessObserver observer) { m_observer = std::move(observer); }

    /// Reports sockets the kernel announced as destroyed (sock_diag destroy
    /// multicast) without waiting for the next poll. Matched by cookie, since
    /// destroy messages carry no inode; unknown cookies are ignored. A TIME_WAIT
    /// record is removed only by a destroy whose state is TIME_WAIT (it inherits the
    /// cookie of the full socket, whose own destroy may come late). The next
    /// poll's diff does not report them again. Returns how many events it made.
    std::size_t applyDestroyed(const std::vector<SocketRecord>& destroyed);

    /// Applies what a kernel event source reported (KernelSocketEvent), in order: a socket that
    /// opened is added at once with the owner the event names (details read once per process);
    /// one that closed is removed as by a destroy notification. A socket added this way and
    /// closed before any dump showed it is removed with PortEvent::shortLived. Opens whose port
    /// is not known yet (listen() without bind()) are left to the next dump. Returns how many
    /// events it made.
    std::size_t applyKernelEvents(const std::vector<KernelSocketEvent>& events);

    /// Whether a kernel event source reports opens (then a destroy of an unknown socket is not
    /// counted as an unattributed short-lived one: its open was, or will be, reported).
    void setKernelEventsActive(bool active) { m_kernelEventsActive = active; }

    /// Names records of other namespaces that events add (dumps are named by their request).
    void setNamespaceNamer(std::function<std::string(std::uint64_t netns)> namer) { m_namer = std::move(namer); }

    /// Called after each poll that produced events, in sequence order.
    void addListener(Listener listener) { m_listeners.push_back(std::move(listener)); }

    /// Current sockets (normalized) matching the filter.
    std::vector<SocketRecord> list(const SocketFilter& filter) const;
    std::vector<PortEvent> history(const HistoryFilter& filter) const { return m_history.query(filter); }
    const Snapshot& snapshot() const { return m_snapshot; }
    const History& historyRing() const { return m_history; }
    void setHistoryCapacity(std::size_t capacity) { m_history.setCapacity(capacity); }
    /// Sequence number the next event will carry.
    std::uint64_t nextSequence() const { return m_nextSequence; }
    const MonitorStats& stats() const { return m_stats; }
    const ResolverStats& resolverStats() const { return m_resolver.stats(); }
    IProcessTable& processTable() { return m_processes; }
    /// Owners' details, shared with watches so each process is read once.
    ProcessDetailsCache& detailsCache() { return m_resolver.detailsCache(); }
    IClock& clock() { return m_clock; }

private:
    void publish(const SnapshotChanges& changes);
    /// Numbers, stamps, records and announces events already in their order.
    void publishInOrder(std::vector<PortEvent> events);
    /// Removes the records of closed sockets (cookie -> whether the close was a TIME_WAIT's),
    /// appending their removal events; shared by destroy notifications and kernel events.
    void removeClosed(const std::unordered_map<std::uint64_t, bool>& cookies, std::vector<PortEvent>& out);
    /// The owner a kernel event names, read once per process and remembered until it vanishes.
    const ProcessInfo* eventOwner(std::uint32_t pid);
    void onProcesses(const std::vector<ProcessId>& fresh, const std::vector<ProcessId>& vanished);
    /// Holds back removals seen in one covering dump only (moving them from `changes` back into `next`).
    void confirmRemovals(SnapshotChanges& changes, Snapshot& next, const std::vector<DumpRequest>& covered);

    ISocketSource& m_source;
    IProcessTable& m_processes;
    IClock& m_clock;
    MonitorOptions m_options;
    OwnerResolver m_resolver;
    History m_history;
    Snapshot m_snapshot;
    std::vector<Listener> m_listeners;
    std::uint64_t m_nextSequence = 1;
    bool m_baselineTaken = false;
    std::unordered_set<std::uint64_t> m_missedOnce;  // cookies the last covering dump lacked, still in the snapshot
    std::unordered_set<std::uint64_t> m_eventOnly;   // cookies added from kernel events that no dump has shown yet
    std::unordered_map<std::uint32_t, ProcessInfo> m_eventOwners;
    std::function<std::string(std::uint64_t)> m_namer;
    ProcessObserver m_observer;
    bool m_kernelEventsActive = false;
    MonitorStats m_stats;
};

}  // namespace porteye::core
