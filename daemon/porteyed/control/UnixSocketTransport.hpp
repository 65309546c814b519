// SPDX-License-Identifier: MIT
#pragma once

#include "control/PeerIdentity.hpp"

#include <systemd/sd-event.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace porteye::control {

using ConnectionId = std::uint64_t;

/// What the transport tells the protocol layer above it. Every call runs on the loop thread.
class IConnectionHandler {
public:
    virtual ~IConnectionHandler() = default;
    /// A connection was accepted, with the identity the kernel vouches for.
    virtual void onOpen(ConnectionId id, const PeerIdentity& peer) = 0;
    /// One complete request line, without its '\n', at most maxLineBytes long.
    virtual void onLine(ConnectionId id, std::string_view line) = 0;
    /// A line longer than maxLineBytes was discarded (up to its newline).
    virtual void onOverlongLine(ConnectionId id) = 0;
    /// Whether the connection stays open after the peer shut its writing side (it follows streams).
    virtual bool keepsStreaming(ConnectionId id) const = 0;
    /// The connection ended, for whatever reason; send() to it fails from now on.
    virtual void onClose(ConnectionId id) = 0;
    /// The one line sent to a connection refused at accept (a quota), before it is closed.
    virtual std::string refusalLine(const std::string& why) = 0;
};

/// Bounds on what clients can make the daemon hold. Quotas per uid apply to unprivileged
/// peers; root and the privileged group are bounded only by the totals, part of which is
/// kept for them, so no user can lock them out.
struct TransportLimits {
    std::size_t maxClients = 256;
    std::size_t maxClientsPerUid = 32;
    std::size_t reservedPrivilegedClients = 32;  ///< of maxClients, never given to unprivileged peers
    std::size_t maxLineBytes = 64 * 1024;
    /// Unsent output of one client: one over it when the next message is due is dropped.
    std::size_t maxOutputBytes = 4 * 1024 * 1024;
    /// A client with more unsent output than this is not read from until it drained below it.
    std::size_t lowWaterBytes = 64 * 1024;
    /// Unsent output of all clients of one uid (root included); over it, that uid's client
    /// with the longest queue (the one reading least) is dropped.
    std::size_t maxOutputBytesPerUid = 24 * 1024 * 1024;
    /// Unsent output of all clients; over it, the client with the longest queue is dropped.
    std::size_t maxOutputBytesTotal = 64 * 1024 * 1024;
};

struct TransportOptions {
    std::string path = "/run/porteye/porteyed.sock";
    int listenFd = -1;  ///< a listening socket from systemd (sd_listen_fds); takes precedence over path
    TransportLimits limits;
};

/// The Unix stream socket of the control interface: accepts, identifies peers (SO_PEERCRED,
/// SO_PEERGROUPS), frames lines, queues output per client with backpressure, and enforces
/// the limits above. Knows nothing of JSON: lines in, lines out.
///
/// Single-threaded on the daemon's sd-event loop. A connection dropped from inside a
/// callback is closed on the next loop turn; its queued output is freed at once.
class UnixSocketTransport {
public:
    /// `privileged` says whether a peer is root or in the privileged group (reserved slots, no per-uid cap).
    UnixSocketTransport(sd_event* event, TransportOptions options, IConnectionHandler& handler,
                        std::function<bool(const PeerIdentity&)> privileged);
    ~UnixSocketTransport();
    UnixSocketTransport(const UnixSocketTransport&) = delete;
    UnixSocketTransport& operator=(const UnixSocketTransport&) = delete;

    /// Listens on options.path (or adopts options.listenFd). Throws std::system_error with a clear message.
    void start();
    /// Queues one line (ending in '\n'); false when the connection is gone or was dropped now
    /// for exceeding an output bound. Output is written on the next loop turn, or at once when
    /// enough is queued.
    bool send(ConnectionId id, std::string line);
    /// Ends a connection (its onClose runs now).
    void drop(ConnectionId id, const std::string& why, bool logAsWarning);
    /// Call when keepsStreaming(id) may have become false: a half-closed connection then ends.
    void streamsChanged(ConnectionId id);
    /// The loop is going away: from now on nothing is re-armed on it, sends only queue,
    /// and flushAll() writes.
    void beginShutdown() { m_shuttingDown = true; }
    /// Writes what each connection has queued, as far as its socket takes it without blocking.
    void flushAll();
    /// Ends every connection without telling the handler (the server is going away).
    void closeAll();

    std::size_t connectionCount() const { return m_live; }
    std::size_t queuedBytes() const { return m_queuedTotal; }

private:
    struct Connection;

    static int onAccept(sd_event_source*, int, std::uint32_t, void* self);
    static int onIo(sd_event_source*, int, std::uint32_t revents, void* userdata);
    static int onFlushDeferred(sd_event_source*, void* self);
    static int onRetryAccept(sd_event_source*, std::uint64_t, void* self);

    void listenOnPath();
    void acceptAll();
    /// Empty when `peer` may connect, else why not.
    std::string refusal(const PeerIdentity& peer, bool privileged) const;
    void handleIo(Connection& c, std::uint32_t revents);
    void readFrom(Connection& c);
    /// Hands complete buffered lines to the handler until the client's output is over the low-water mark.
    void processInput(Connection& c);
    void flush(Connection& c);
    void flushDirty();
    void updateEvents(Connection& c);
    void enforceBudgets(Connection& appended);
    void dropConnection(Connection& c, const std::string& why, bool logAsWarning);
    void reap();
    Connection* find(ConnectionId id);

    sd_event* m_event;
    TransportOptions m_options;
    IConnectionHandler& m_handler;
    std::function<bool(const PeerIdentity&)> m_privileged;
    int m_listenFd = -1;
    bool m_ownsPath = false;
    bool m_shuttingDown = false;
    sd_event_source* m_listenSource = nullptr;
    sd_event_source* m_deferSource = nullptr;
    sd_event_source* m_retrySource = nullptr;
    std::map<ConnectionId, std::unique_ptr<Connection>> m_connections;
    std::vector<ConnectionId> m_doomed;
    std::vector<ConnectionId> m_dirty;
    std::map<std::uint32_t, std::size_t> m_clientsPerUid;  ///< live unprivileged connections
    std::map<std::uint32_t, std::size_t> m_queuedPerUid;   ///< unsent bytes, every uid
    std::size_t m_live = 0;
    std::size_t m_liveUnprivileged = 0;
    std::size_t m_queuedTotal = 0;
    ConnectionId m_nextId = 1;
    std::uint64_t m_refused = 0;
    std::uint64_t m_acceptFailures = 0;
};

}  // namespace porteye::control
