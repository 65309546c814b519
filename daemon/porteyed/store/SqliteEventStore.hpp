// SPDX-License-Identifier: MIT
#pragma once

#include "core/IEventStore.hpp"
#include "flow/IEventSink.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace porteye::store {

struct StoreOptions {
    /// Holds history.db (with its -wal and -shm files) and porteyed.lock; made (0700) if missing, refused when other
    /// users could change it (StateDirectory).
    std::string directory;
    /// Retention: the newest this many events are kept (0: no count limit) ...
    std::uint64_t keepEvents = 1'000'000;
    /// ... and none older than this many days (0: no age limit).
    std::uint32_t keepDays = 30;
    /// An appended event is committed within this time (a crash loses at most this much).
    std::chrono::milliseconds commitInterval{500};
    /// How often retention runs (also once at open).
    std::chrono::milliseconds pruneInterval{60'000};
    /// After a failed write, the next try comes this much later (appends keep queueing).
    std::chrono::milliseconds retryInterval{5'000};
    /// Events waiting for the writer; beyond this the oldest are dropped (and counted).
    std::size_t maxPending = 100'000;
};

/// The persistent history: core::IEventStore on SQLite in WAL mode.
///
/// Threads: the caller's thread (the daemon's loop) owns the read connection and calls every
/// public function; the writer thread owns the write connection and is the only one to write,
/// commit and prune. They share the queue of pending events, the flush counters and the health
/// text (under m_mutex) and the committed sequence number (an atomic). Appending only queues:
/// the loop never waits for the disk, except in flush() and in a query that needs events still
/// queued (a burst larger than the ring within one commit interval).
class SqliteEventStore final : public core::IEventStore, public flow::IEventSink {
public:
    /// An open store, or why there is none (garbage in history.db, an unwritable directory,
    /// another porteyed using it, a schema from a newer version). Never throws.
    struct Opened {
        std::unique_ptr<SqliteEventStore> store;
        std::string error;
    };
    static Opened open(const StoreOptions& options);

    ~SqliteEventStore() override;
    SqliteEventStore(const SqliteEventStore&) = delete;
    SqliteEventStore& operator=(const SqliteEventStore&) = delete;

    std::uint64_t lastSequence() const override { return m_lastSequence; }
    void append(const std::vector<core::PortEvent>& events) override;
    /// As a sink of the fan-out: each batch is queued for the writer thread.
    void onEvents(const std::vector<core::PortEvent>& events) override { append(events); }
    std::optional<std::vector<core::PortEvent>> query(const core::HistoryFilter& filter,
                                                      std::uint64_t beforeSequence) override;
    void flush() override;
    std::string health() const override;

    /// Writes what is queued, stops the writer and closes the database; later appends are
    /// ignored. The destructor does it too.
    void close();
    /// Events dropped because the writer failed or fell behind by more than maxPending.
    std::uint64_t droppedCount() const override;
    /// The database file.
    const std::string& path() const { return m_path; }

private:
    SqliteEventStore(StoreOptions options, std::string path, sqlite3* writer, sqlite3* reader, int lockFd,
                     std::uint64_t lastSequence);
    void runWriter();
    bool writeBatch(const std::deque<core::PortEvent>& batch, std::string& error);
    void prune();
    void noteFailure(const std::string& reason, std::size_t events);
    /// Under m_mutex: counts the events of [first, last) as dropped, and their sequence range.
    template <typename It>
    void countDropped(It first, It last);

    const StoreOptions m_options;
    const std::string m_path;
    sqlite3* m_writer = nullptr;  // writer thread only (after the constructor); null after a failed write
    sqlite3* m_reader = nullptr;  // caller's thread only
    int m_lockFd = -1;
    std::uint64_t m_lastSequence = 0;  // caller's thread: the largest appended or stored
    std::atomic<std::uint64_t> m_committed{0};

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;  // writer waits: work, flush, stop
    std::condition_variable m_done;  // flush() waits: a write attempt finished
    std::deque<core::PortEvent> m_pending;
    std::chrono::steady_clock::time_point m_pendingSince;
    std::uint64_t m_flushRequested = 0;
    std::uint64_t m_flushServed = 0;
    bool m_stop = false;
    bool m_failing = false;
    std::string m_health = "ok";
    std::uint64_t m_dropped = 0;
    // The events dropped since the store last worked, told when it works again.
    std::uint64_t m_droppedUntold = 0;
    std::uint64_t m_droppedFirstSequence = 0;
    std::uint64_t m_droppedLastSequence = 0;
    std::uint64_t m_failures = 0;
    std::chrono::steady_clock::time_point m_lastFailureLog{};

    std::chrono::steady_clock::time_point m_lastPrune{};  // writer thread only
    std::thread m_thread;
    bool m_closed = false;  // caller's thread
};

}  // namespace porteye::store
