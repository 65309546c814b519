// SPDX-License-Identifier: MIT
#include "store/SqliteEventStore.hpp"

#include "store/StateDirectory.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace porteye::store {
namespace {

constexpr int kSchemaVersion = 2;
/// Wake the writer before the commit interval once this many events wait: one transaction
/// of this size takes a few milliseconds, and the queue stays small in a burst.
constexpr std::size_t kBatchWake = 4096;
constexpr auto kFailureLogInterval = std::chrono::minutes(1);

// The record's fields as columns (ProcessDetails as nullable ones), plus the uid the visibility
// rule goes by, so an unprivileged caller's query is filtered in SQL.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
  sequence INTEGER PRIMARY KEY,
  action INTEGER NOT NULL,
  time_us INTEGER NOT NULL,
  protocol INTEGER NOT NULL,
  family INTEGER NOT NULL,
  local_address TEXT NOT NULL,
  local_port INTEGER NOT NULL,
  remote_address TEXT NOT NULL,
  remote_port INTEGER NOT NULL,
  state INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  cookie INTEGER NOT NULL,
  pid INTEGER NOT NULL,
  process TEXT NOT NULL,
  owner_uid INTEGER NOT NULL,
  visible_uid INTEGER NOT NULL,
  previous_pid INTEGER NOT NULL,
  previous_owner_uid INTEGER NOT NULL,
  cmdline TEXT,
  user TEXT,
  exe TEXT,
  start_time_us INTEGER,
  unit TEXT,
  netns INTEGER NOT NULL DEFAULT 0,
  netns_name TEXT NOT NULL DEFAULT '',
  container_runtime TEXT,
  container_id TEXT,
  container_name TEXT,
  short_lived INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS events_by_time ON events(time_us);
CREATE INDEX IF NOT EXISTS events_by_visible_uid ON events(visible_uid, sequence);
INSERT OR IGNORE INTO meta(key, value) VALUES('last_sequence', 0);
)sql";

constexpr const char* kColumns =
    "sequence, action, time_us, protocol, family, local_address, local_port, remote_address, remote_port, state, "
    "inode, uid, cookie, pid, process, owner_uid, visible_uid, previous_pid, previous_owner_uid, cmdline, user, exe, "
    "start_time_us, unit, netns, netns_name, container_runtime, container_id, container_name, short_lived";

// What schema 2 added to schema 1's events table; a store of version 1 gets them on open.
constexpr const char* kUpgradeFrom1 = R"sql(
ALTER TABLE events ADD COLUMN netns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN netns_name TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN container_runtime TEXT;
ALTER TABLE events ADD COLUMN container_id TEXT;
ALTER TABLE events ADD COLUMN container_name TEXT;
ALTER TABLE events ADD COLUMN short_lived INTEGER NOT NULL DEFAULT 0;
)sql";

std::string errorOf(sqlite3* db) {
    return db ? sqlite3_errmsg(db) : "out of memory";
}

/// Runs SQL without results; throws with SQLite's message.
void exec(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message ? message : errorOf(db);
        sqlite3_free(message);
        throw std::runtime_error(text);
    }
}

/// A prepared statement, finalized on scope exit.
class Statement {
public:
    Statement(sqlite3* db, const std::string& sql) : m_db(db) {
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &m_stmt, nullptr) != SQLITE_OK)
            throw std::runtime_error(errorOf(db));
    }
    ~Statement() { sqlite3_finalize(m_stmt); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    sqlite3_stmt* get() const { return m_stmt; }
    /// SQLITE_ROW or SQLITE_DONE; throws otherwise.
    int step() {
        const int rc = sqlite3_step(m_stmt);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw std::runtime_error(errorOf(m_db));
        return rc;
    }
    void bind(int index, std::int64_t value) { sqlite3_bind_int64(m_stmt, index, value); }
    void bind(int index, const std::string& value) {
        sqlite3_bind_text(m_stmt, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    }
    void bindNull(int index) { sqlite3_bind_null(m_stmt, index); }
    void reset() {
        sqlite3_reset(m_stmt);
        sqlite3_clear_bindings(m_stmt);
    }
    std::int64_t integer(int column) const { return sqlite3_column_int64(m_stmt, column); }
    std::string text(int column) const {
        const auto* p = sqlite3_column_text(m_stmt, column);
        return p ? std::string(reinterpret_cast<const char*>(p),
                               static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, column)))
                 : std::string();
    }
    bool isNull(int column) const { return sqlite3_column_type(m_stmt, column) == SQLITE_NULL; }

private:
    sqlite3* m_db;
    sqlite3_stmt* m_stmt = nullptr;
};

std::int64_t asInt(std::uint64_t v) {
    return static_cast<std::int64_t>(v);  // cookies and inodes use all 64 bits: stored bit for bit
}

std::int64_t singleInteger(sqlite3* db, const char* sql) {
    Statement s(db, sql);
    return s.step() == SQLITE_ROW ? s.integer(0) : 0;
}

sqlite3* openConnection(const std::string& path) {
    sqlite3* db = nullptr;
    // Each connection is used by one thread: no SQLite mutex needed on it.
    // NOFOLLOW: a history.db symlinked elsewhere is refused (StateDirectory made the file already).
    const int rc = sqlite3_open_v2(
        path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
        nullptr);
    if (rc != SQLITE_OK) {
        std::string message = errorOf(db);
        sqlite3_close(db);
        throw std::runtime_error(message);
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 1000);
    return db;
}

void configureWriter(sqlite3* db) {
    // The version first, before anything changes the file: switching a newer porteyed's database
    // to WAL (or anything else) is a change an older one has no right to make.
    // A garbage file fails here ("file is not a database").
    const auto version = singleInteger(db, "PRAGMA user_version");
    if (version > kSchemaVersion)
        throw std::runtime_error("made by a newer porteyed (schema " + std::to_string(version) + ", this one knows " +
                                 std::to_string(kSchemaVersion) + ")");
    // journal_mode answers with the mode it set.
    {
        Statement mode(db, "PRAGMA journal_mode=WAL");
        if (mode.step() != SQLITE_ROW || mode.text(0) != "wal")
            throw std::runtime_error("cannot switch to WAL mode (journal mode is '" + mode.text(0) + "')");
    }
    // FULL: every commit is on disk (one fsync of the WAL per commit, at most ~2 a second), so
    // a crash of the host too loses only what was not committed yet (the last commit interval).
    exec(db, "PRAGMA synchronous=FULL");
    exec(db, "PRAGMA journal_size_limit=8388608");  // truncate the WAL to 8 MiB after checkpoints
    exec(db, "BEGIN IMMEDIATE");
    try {
        if (version == 1) exec(db, kUpgradeFrom1);
        exec(db, kSchema);
        exec(db, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
        exec(db, "COMMIT");
    } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

core::PortEvent decodeRow(const Statement& s) {
    core::PortEvent e;
    e.sequence = static_cast<std::uint64_t>(s.integer(0));
    e.action = static_cast<core::Action>(s.integer(1));
    e.time = core::WallTime(std::chrono::microseconds(s.integer(2)));
    auto& r = e.record;
    r.protocol = static_cast<core::Protocol>(s.integer(3));
    r.family = static_cast<std::uint8_t>(s.integer(4));
    r.localAddress = s.text(5);
    r.localPort = static_cast<std::uint16_t>(s.integer(6));
    r.remoteAddress = s.text(7);
    r.remotePort = static_cast<std::uint16_t>(s.integer(8));
    r.state = static_cast<core::TcpState>(s.integer(9));
    r.inode = static_cast<std::uint64_t>(s.integer(10));
    r.uid = static_cast<std::uint32_t>(s.integer(11));
    r.cookie = static_cast<std::uint64_t>(s.integer(12));
    r.pid = static_cast<std::uint32_t>(s.integer(13));
    r.process = s.text(14);
    r.ownerUid = static_cast<std::uint32_t>(s.integer(15));
    // 16 is visible_uid, derived from the above
    e.previousPid = static_cast<std::uint32_t>(s.integer(17));
    e.previousOwnerUid = static_cast<std::uint32_t>(s.integer(18));
    if (!s.isNull(19)) {
        auto details = std::make_shared<core::ProcessDetails>();
        details->cmdline = s.text(19);
        details->user = s.text(20);
        details->exe = s.text(21);
        details->startTimeUs = static_cast<std::uint64_t>(s.integer(22));
        details->unit = s.text(23);
        details->containerRuntime = s.text(26);
        details->containerId = s.text(27);
        details->containerName = s.text(28);
        r.details = std::move(details);
    }
    r.netns = static_cast<std::uint64_t>(s.integer(24));
    r.netnsName = s.text(25);
    e.shortLived = s.integer(29) != 0;
    return e;
}

/// Validated values only: a row written by a bug or a hand edit must not become an enum
/// value nobody handles.
bool plausible(const core::PortEvent& e) {
    return static_cast<unsigned>(e.action) <= static_cast<unsigned>(core::Action::OwnerChanged) &&
           static_cast<unsigned>(e.record.protocol) <= static_cast<unsigned>(core::Protocol::Udp) &&
           static_cast<unsigned>(e.record.state) <= static_cast<unsigned>(core::TcpState::BoundInactive);
}

}  // namespace

SqliteEventStore::Opened SqliteEventStore::open(const StoreOptions& options) {
    Opened result;
    const std::string& dir = options.directory;
    const StateDirectory state(dir);
    if (!state.ok()) {
        result.error = state.error();
        return result;
    }
    // Every file made here, 0600, relative to the checked directory and never through a symlink;
    // SQLite then finds them in place (it would make -wal and -shm with the database's mode).
    for (const char* name : {"history.db", "history.db-wal", "history.db-shm"}) {
        const int fd = state.openFile(name, result.error);
        if (fd < 0) return result;
        ::close(fd);
    }
    // One daemon per directory: a second one would interleave sequence numbers.
    const std::string lockPath = dir + "/porteyed.lock";
    const int lockFd = state.openFile("porteyed.lock", result.error);
    if (lockFd < 0) return result;
    if (::flock(lockFd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(lockFd);
        result.error =
            err == EWOULDBLOCK ? "another porteyed uses " + dir : "cannot lock " + lockPath + ": " + std::strerror(err);
        return result;
    }
    const std::string path = dir + "/history.db";
    sqlite3* writer = nullptr;
    sqlite3* reader = nullptr;
    try {
        writer = openConnection(path);
        configureWriter(writer);
        reader = openConnection(path);
        exec(reader, "PRAGMA query_only=1");
        const auto fromMeta = singleInteger(writer, "SELECT value FROM meta WHERE key='last_sequence'");
        const auto fromEvents = singleInteger(writer, "SELECT COALESCE(MAX(sequence), 0) FROM events");
        const auto last = static_cast<std::uint64_t>(std::max<std::int64_t>({0, fromMeta, fromEvents}));
        result.store.reset(new SqliteEventStore(options, path, writer, reader, lockFd, last));
    } catch (const std::exception& e) {
        sqlite3_close(reader);
        sqlite3_close(writer);
        ::close(lockFd);
        result.error = path + ": " + e.what();
    }
    return result;
}

SqliteEventStore::SqliteEventStore(StoreOptions options, std::string path, sqlite3* writer, sqlite3* reader, int lockFd,
                                   std::uint64_t lastSequence)
    : m_options(std::move(options)),
      m_path(std::move(path)),
      m_writer(writer),
      m_reader(reader),
      m_lockFd(lockFd),
      m_lastSequence(lastSequence),
      m_committed(lastSequence) {
    m_thread = std::thread([this] { runWriter(); });
}

SqliteEventStore::~SqliteEventStore() {
    close();
}

void SqliteEventStore::close() {
    if (m_closed) return;
    m_closed = true;
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_one();
    m_thread.join();
    sqlite3_close(m_reader);
    sqlite3_close(m_writer);
    ::close(m_lockFd);
}

void SqliteEventStore::append(const std::vector<core::PortEvent>& events) {
    if (m_closed || events.empty()) return;
    bool wake = false;
    {
        std::lock_guard lock(m_mutex);
        if (m_pending.empty()) {
            m_pendingSince = std::chrono::steady_clock::now();
            wake = true;  // the writer sleeps until something is queued
        }
        m_pending.insert(m_pending.end(), events.begin(), events.end());
        if (m_pending.size() > m_options.maxPending) {
            const std::size_t excess = m_pending.size() - m_options.maxPending;
            const auto end = m_pending.begin() + static_cast<std::ptrdiff_t>(excess);
            countDropped(m_pending.begin(), end);
            m_pending.erase(m_pending.begin(), end);
        }
        wake = wake || m_pending.size() >= kBatchWake;
    }
    m_lastSequence = std::max(m_lastSequence, events.back().sequence);
    if (wake) m_wake.notify_one();
}

void SqliteEventStore::flush() {
    if (m_closed) return;
    std::unique_lock lock(m_mutex);
    const std::uint64_t ticket = ++m_flushRequested;
    m_wake.notify_one();
    m_done.wait(lock, [&] { return m_flushServed >= ticket; });
}

std::string SqliteEventStore::health() const {
    std::lock_guard lock(m_mutex);
    return m_health;
}

std::uint64_t SqliteEventStore::droppedCount() const {
    std::lock_guard lock(m_mutex);
    return m_dropped;
}

void SqliteEventStore::runWriter() {
    std::unique_lock lock(m_mutex);
    m_lastPrune = std::chrono::steady_clock::now();
    lock.unlock();
    prune();  // what expired while porteyed was not running
    lock.lock();
    auto lastFailure = std::chrono::steady_clock::time_point{};
    for (;;) {
        const auto flushWanted = [&] { return m_flushRequested > m_flushServed; };
        if (m_pending.empty()) {
            m_wake.wait(lock, [&] { return m_stop || flushWanted() || !m_pending.empty(); });
        }
        if (!m_pending.empty() && !m_stop && !flushWanted()) {
            // Gather for up to one commit interval after the oldest queued event (or wait out
            // the retry delay after a failure): one transaction per interval, not per poll.
            const auto deadline =
                m_failing ? lastFailure + m_options.retryInterval : m_pendingSince + m_options.commitInterval;
            m_wake.wait_until(lock, deadline, [&] {
                return m_stop || flushWanted() || (!m_failing && m_pending.size() >= kBatchWake);
            });
        }
        const std::uint64_t ticket = m_flushRequested;
        std::deque<core::PortEvent> batch;
        batch.swap(m_pending);
        const bool stopping = m_stop;
        lock.unlock();

        std::string error;
        const bool ok = batch.empty() || writeBatch(batch, error);
        if (ok && !batch.empty()) m_committed.store(batch.back().sequence, std::memory_order_release);
        if (ok && m_writer && std::chrono::steady_clock::now() - m_lastPrune >= m_options.pruneInterval) prune();

        lock.lock();
        if (ok && batch.empty()) {
            // Nothing was written (a flush with nothing queued): the health stays what it was.
        } else if (ok) {
            if (m_droppedUntold != 0) {
                // What status's store_dropped counts, said once with where the gap is: the
                // persistent history lacks these events for good (the ring may still hold some).
                spdlog::warn("history store {} works again; {} events were never written to it (sequence {} to {})",
                             m_path, m_droppedUntold, m_droppedFirstSequence, m_droppedLastSequence);
                m_droppedUntold = 0;
            } else if (m_failing) {
                spdlog::info("history store {} works again", m_path);
            }
            m_failing = false;
            m_health = "ok";
        } else {
            lastFailure = std::chrono::steady_clock::now();
            if (stopping) {
                countDropped(batch.begin(), batch.end());
                spdlog::error("history store {}: {} events not written at stop: {}", m_path, batch.size(), error);
            } else {
                // Keep them for the next try, newest kept when the queue overflows.
                std::size_t room =
                    m_options.maxPending > m_pending.size() ? m_options.maxPending - m_pending.size() : 0;
                if (batch.size() > room) {
                    const auto end = batch.end() - static_cast<std::ptrdiff_t>(room);
                    countDropped(batch.begin(), end);
                    batch.erase(batch.begin(), end);
                }
                m_pending.insert(m_pending.begin(), std::make_move_iterator(batch.begin()),
                                 std::make_move_iterator(batch.end()));
                if (!m_pending.empty()) m_pendingSince = lastFailure;
            }
            noteFailure(error, batch.size());
        }
        m_flushServed = std::max(m_flushServed, ticket);
        m_done.notify_all();
        if (stopping && (m_pending.empty() || !ok)) break;
    }
}

template <typename It>
void SqliteEventStore::countDropped(It first, It last) {
    for (auto it = first; it != last; ++it) {
        if (m_droppedUntold == 0) {
            m_droppedFirstSequence = m_droppedLastSequence = it->sequence;
        } else {
            m_droppedFirstSequence = std::min(m_droppedFirstSequence, it->sequence);
            m_droppedLastSequence = std::max(m_droppedLastSequence, it->sequence);
        }
        ++m_droppedUntold;
        ++m_dropped;
    }
}

void SqliteEventStore::noteFailure(const std::string& reason, std::size_t events) {
    // Under m_mutex. Said once, then at most once a minute: a full disk fails every try.
    ++m_failures;
    const bool first = !m_failing;
    m_failing = true;
    m_health = "failed: " + reason;
    const auto now = std::chrono::steady_clock::now();
    if (first) {
        spdlog::error(
            "history store {} failed: {}; the history is kept in memory only until it works again "
            "(retrying every {} s)",
            m_path, reason, m_options.retryInterval.count() / 1000.0);
        m_lastFailureLog = now;
    } else if (now - m_lastFailureLog >= kFailureLogInterval) {
        spdlog::error("history store {} still failing ({} failed writes, {} events dropped, {} waiting): {}", m_path,
                      m_failures, m_dropped, events, reason);
        m_lastFailureLog = now;
    }
}

bool SqliteEventStore::writeBatch(const std::deque<core::PortEvent>& batch, std::string& error) {
    try {
        if (!m_writer) {
            // After a failed write: a new connection, rather than trust one an I/O error interrupted.
            m_writer = openConnection(m_path);
            configureWriter(m_writer);
        }
        exec(m_writer, "BEGIN IMMEDIATE");
        try {
            Statement insert(m_writer, std::string("INSERT OR REPLACE INTO events(") + kColumns +
                                           ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
            for (const auto& e : batch) {
                const auto& r = e.record;
                insert.bind(1, asInt(e.sequence));
                insert.bind(2, static_cast<std::int64_t>(e.action));
                insert.bind(3, static_cast<std::int64_t>(e.time.time_since_epoch().count()));
                insert.bind(4, static_cast<std::int64_t>(r.protocol));
                insert.bind(5, static_cast<std::int64_t>(r.family));
                insert.bind(6, r.localAddress);
                insert.bind(7, static_cast<std::int64_t>(r.localPort));
                insert.bind(8, r.remoteAddress);
                insert.bind(9, static_cast<std::int64_t>(r.remotePort));
                insert.bind(10, static_cast<std::int64_t>(r.state));
                insert.bind(11, asInt(r.inode));
                insert.bind(12, static_cast<std::int64_t>(r.uid));
                insert.bind(13, asInt(r.cookie));
                insert.bind(14, static_cast<std::int64_t>(r.pid));
                insert.bind(15, r.process);
                insert.bind(16, static_cast<std::int64_t>(r.ownerUid));
                insert.bind(17, static_cast<std::int64_t>(r.visibleUid()));
                insert.bind(18, static_cast<std::int64_t>(e.previousPid));
                insert.bind(19, static_cast<std::int64_t>(e.previousOwnerUid));
                if (r.details) {
                    insert.bind(20, r.details->cmdline);
                    insert.bind(21, r.details->user);
                    insert.bind(22, r.details->exe);
                    insert.bind(23, asInt(r.details->startTimeUs));
                    insert.bind(24, r.details->unit);
                    insert.bind(27, r.details->containerRuntime);
                    insert.bind(28, r.details->containerId);
                    insert.bind(29, r.details->containerName);
                } else {
                    for (int i : {20, 21, 22, 23, 24, 27, 28, 29})
                        insert.bindNull(i);
                }
                insert.bind(25, asInt(r.netns));
                insert.bind(26, r.netnsName);
                insert.bind(30, static_cast<std::int64_t>(e.shortLived ? 1 : 0));
                insert.step();
                insert.reset();
            }
            Statement last(m_writer, "UPDATE meta SET value = MAX(value, ?) WHERE key = 'last_sequence'");
            last.bind(1, asInt(batch.back().sequence));
            last.step();
            exec(m_writer, "COMMIT");
        } catch (...) {
            sqlite3_exec(m_writer, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        sqlite3_close(m_writer);
        m_writer = nullptr;
        return false;
    }
}

void SqliteEventStore::prune() {
    // Writer thread. The sequence number survives in meta even when every event expired.
    m_lastPrune = std::chrono::steady_clock::now();
    try {
        if (m_options.keepEvents != 0) {
            Statement byCount(m_writer,
                              "DELETE FROM events WHERE sequence <= "
                              "(SELECT sequence FROM events ORDER BY sequence DESC LIMIT 1 OFFSET ?)");
            byCount.bind(1, asInt(m_options.keepEvents));
            byCount.step();
        }
        if (m_options.keepDays != 0) {
            const auto cutoff =
                std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()) -
                std::chrono::hours(24) * m_options.keepDays;
            Statement byAge(m_writer, "DELETE FROM events WHERE time_us < ?");
            byAge.bind(1, static_cast<std::int64_t>(cutoff.time_since_epoch().count()));
            byAge.step();
        }
    } catch (const std::exception& e) {
        std::lock_guard lock(m_mutex);
        noteFailure(std::string("pruning: ") + e.what(), 0);
    }
}

std::optional<std::vector<core::PortEvent>> SqliteEventStore::query(const core::HistoryFilter& filter,
                                                                    std::uint64_t beforeSequence) {
    if (m_closed) return std::nullopt;
    // Events the ring no longer holds but the writer has not committed yet (a burst bigger
    // than the ring within one commit interval): write them first.
    const std::uint64_t committed = m_committed.load(std::memory_order_acquire);
    if (m_lastSequence > committed && committed + 1 < beforeSequence) {
        bool failing = false;
        {
            std::lock_guard lock(m_mutex);
            failing = m_failing;  // then the writer retries on its own schedule; do not wait for it
        }
        if (!failing) flush();
    }

    // The indexed conditions narrow the rows in SQL; filter.matches() below then decides
    // exactly as the ring does (the SQL only ever lets more through, never fewer).
    std::string sql = std::string("SELECT ") + kColumns + " FROM events WHERE sequence < ?";
    std::vector<std::int64_t> ints{asInt(beforeSequence)};
    const auto& f = filter.socket;
    const auto add = [&](const char* condition, std::int64_t value) {
        sql += condition;
        ints.push_back(value);
    };
    if (filter.afterSequence) add(" AND sequence > ?", asInt(*filter.afterSequence));
    if (filter.since) add(" AND time_us >= ?", filter.since->time_since_epoch().count());
    if (filter.action) add(" AND action = ?", static_cast<std::int64_t>(*filter.action));
    if (f.uid) add(" AND visible_uid = ?", static_cast<std::int64_t>(*f.uid));
    if (f.pid) add(" AND pid = ?", static_cast<std::int64_t>(*f.pid));
    if (f.state) add(" AND state = ?", static_cast<std::int64_t>(*f.state));
    if (f.protocol) add(" AND protocol = ?", static_cast<std::int64_t>(*f.protocol));
    if (f.port) {
        add(" AND (local_port = ?", *f.port);
        add(" OR remote_port = ?)", *f.port);
    }
    // The netns filter is an inode when it is all digits (core::netnsMatches), else a name.
    std::optional<std::uint64_t> netnsInode;
    if (f.netns) {
        std::uint64_t number = 0;
        const auto [ptr, ec] = std::from_chars(f.netns->data(), f.netns->data() + f.netns->size(), number);
        if (ec == std::errc{} && ptr == f.netns->data() + f.netns->size()) netnsInode = number;
    }
    if (netnsInode) add(" AND netns = ?", asInt(*netnsInode));
    // Text conditions, bound after the integers. Each lets through at least what matches() takes.
    std::vector<std::string> texts;
    const auto addText = [&](const char* condition, const std::string& value, int times = 1) {
        sql += condition;
        for (int i = 0; i < times; ++i)
            texts.push_back(value);
    };
    // SQLite folds ASCII only, as containsIgnoreCase does; on valid UTF-8 (names are escaped) a
    // character match is a byte match.
    if (f.process && !f.process->empty()) addText(" AND instr(lower(process), lower(?)) > 0", *f.process);
    // Exact, or either side of "manager/unit": all contain the text.
    if (f.unit) addText(" AND instr(unit, ?) > 0", *f.unit);
    if (f.container) addText(" AND (instr(container_id, ?) = 1 OR container_name = ?)", *f.container, 2);
    if (f.netns && !netnsInode) addText(" AND netns_name = ?", *f.netns);
    const bool newestFirst = !filter.afterSequence;
    sql += newestFirst ? " ORDER BY sequence DESC" : " ORDER BY sequence ASC";
    try {
        Statement select(m_reader, sql);
        for (std::size_t i = 0; i < ints.size(); ++i)
            select.bind(static_cast<int>(i + 1), ints[i]);
        for (std::size_t i = 0; i < texts.size(); ++i)
            select.bind(static_cast<int>(ints.size() + i + 1), texts[i]);
        std::vector<core::PortEvent> out;
        while (select.step() == SQLITE_ROW) {
            core::PortEvent event = decodeRow(select);
            if (!plausible(event) || !filter.matches(event)) continue;
            out.push_back(std::move(event));
            if (filter.limit != 0 && out.size() >= filter.limit) break;
        }
        if (newestFirst) std::reverse(out.begin(), out.end());
        return out;
    } catch (const std::exception& e) {
        spdlog::warn("history store {}: query failed: {}; answering from memory", m_path, e.what());
        return std::nullopt;
    }
}

}  // namespace porteye::store
