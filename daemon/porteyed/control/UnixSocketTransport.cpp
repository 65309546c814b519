// SPDX-License-Identifier: MIT
#include "control/UnixSocketTransport.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace porteye::control {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// Bytes read from one client per loop iteration, so one chatty client cannot starve the others.
constexpr std::size_t kMaxReadPerWakeup = 16 * kReadChunk;
// Queued output is written at once (not at the end of the loop turn) above this, so a burst of
// events streams out to a client that reads instead of piling up in our memory first.
constexpr std::size_t kWriteAtOnce = 64 * 1024;
// What one queued message costs beyond its bytes (string header, allocator overhead, deque slot):
// counted so the budgets bound memory, not just payload.
constexpr std::size_t kMessageOverhead = 64;
constexpr std::size_t kMaxIovecs = 64;
constexpr std::uint64_t kAcceptRetryUsec = 100'000;

std::string errnoText(int error) {
    return std::strerror(error);
}

/// Logs the 1st, 2nd, 4th, 8th... occurrence, so a storm cannot flood the journal.
bool shouldLog(std::uint64_t count) {
    return count != 0 && (count & (count - 1)) == 0;
}

std::string mebibytes(std::size_t bytes) {
    return std::to_string(bytes / (1024 * 1024)) + " MiB";
}

}  // namespace

struct UnixSocketTransport::Connection {
    UnixSocketTransport* owner = nullptr;
    ConnectionId id = 0;
    int fd = -1;
    sd_event_source* source = nullptr;
    std::uint32_t ioEvents = 0;
    PeerIdentity peer;
    bool privileged = false;
    std::string in;
    bool discarding = false;  ///< inside an over-long line, dropping bytes up to the next newline
    bool readClosed = false;
    bool gone = false;
    bool dirty = false;
    std::deque<std::string> out;
    std::size_t frontOffset = 0;  ///< bytes of out.front() already sent
    std::size_t queued = 0;       ///< unsent bytes plus kMessageOverhead per queued message
};

UnixSocketTransport::UnixSocketTransport(sd_event* event, TransportOptions options, IConnectionHandler& handler,
                                         std::function<bool(const PeerIdentity&)> privileged)
    : m_event(sd_event_ref(event)),
      m_options(std::move(options)),
      m_handler(handler),
      m_privileged(std::move(privileged)) {}

UnixSocketTransport::~UnixSocketTransport() {
    closeAll();
    for (auto* source : {m_listenSource, m_deferSource, m_retrySource})
        if (source) sd_event_source_disable_unref(source);
    if (m_listenFd >= 0) ::close(m_listenFd);
    if (m_ownsPath) ::unlink(m_options.path.c_str());
    sd_event_unref(m_event);
}

void UnixSocketTransport::flushAll() {
    for (auto& [id, c] : m_connections)
        if (!c->gone) flush(*c);
}

void UnixSocketTransport::closeAll() {
    for (auto& [id, c] : m_connections) {
        if (c->source) sd_event_source_disable_unref(c->source);
        if (c->fd >= 0) ::close(c->fd);
    }
    m_connections.clear();
    m_doomed.clear();
    m_dirty.clear();
    m_clientsPerUid.clear();
    m_queuedPerUid.clear();
    m_live = m_liveUnprivileged = m_queuedTotal = 0;
}

void UnixSocketTransport::start() {
    if (m_options.listenFd >= 0) {
        if (sd_is_socket_unix(m_options.listenFd, SOCK_STREAM, 1, nullptr, 0) <= 0)
            throw std::system_error(EINVAL, std::generic_category(),
                                    "the socket passed by systemd is not a listening Unix stream socket");
        m_listenFd = m_options.listenFd;
        const int flags = fcntl(m_listenFd, F_GETFL);
        if (flags < 0 || fcntl(m_listenFd, F_SETFL, flags | O_NONBLOCK) < 0)
            throw std::system_error(errno, std::generic_category(), "cannot make the systemd socket non-blocking");
    } else {
        listenOnPath();
    }
    if (int r = sd_event_add_io(m_event, &m_listenSource, m_listenFd, EPOLLIN, onAccept, this); r < 0)
        throw std::system_error(-r, std::generic_category(), "cannot watch the control socket");
    if (int r = sd_event_add_defer(m_event, &m_deferSource, onFlushDeferred, this); r < 0)
        throw std::system_error(-r, std::generic_category(), "cannot add the control socket's writer");
    sd_event_source_set_enabled(m_deferSource, SD_EVENT_OFF);
    if (m_options.listenFd >= 0)
        spdlog::info("control socket: serving the socket passed by systemd (fd {})", m_listenFd);
    else
        spdlog::info("control socket: listening on {}", m_options.path);
}

void UnixSocketTransport::listenOnPath() {
    const std::string& path = m_options.path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path))
        throw std::system_error(
            ENAMETOOLONG, std::generic_category(),
            "control socket path '" + path + "' must be 1 to " + std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

    // Create missing parent directories as 0755 (root-owned /run/porteye, readable by all clients).
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
        std::vector<std::filesystem::path> missing;
        for (auto p = parent; !p.empty() && !std::filesystem::exists(p); p = p.parent_path()) {
            missing.push_back(p);
            if (p == p.parent_path()) break;
        }
        for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
            if (::mkdir(it->c_str(), 0755) < 0 && errno != EEXIST)
                throw std::system_error(errno, std::generic_category(), "cannot create directory " + it->string());
            ::chmod(it->c_str(), 0755);  // whatever the umask
        }
    }

    // A socket file left by a crashed daemon is removed; a live one is not stolen.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::system_error(EEXIST, std::generic_category(),
                                    path + " exists and is not a socket; not removing it");
        const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (probe < 0) throw std::system_error(errno, std::generic_category(), "socket(AF_UNIX)");
        const int r = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
        const int error = errno;
        ::close(probe);
        if (r == 0 || error == EAGAIN || error == EINPROGRESS)
            throw std::system_error(EADDRINUSE, std::generic_category(),
                                    "another process is already serving " + path + " (is porteyed running?)");
        if (error != ECONNREFUSED && error != ENOENT)
            throw std::system_error(error, std::generic_category(), "cannot probe the existing socket " + path);
        if (::unlink(path.c_str()) < 0 && errno != ENOENT)
            throw std::system_error(errno, std::generic_category(), "cannot remove the stale socket " + path);
        spdlog::info("control socket: removed the stale socket file {}", path);
    }

    m_listenFd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m_listenFd < 0) throw std::system_error(errno, std::generic_category(), "socket(AF_UNIX)");
    if (::bind(m_listenFd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0)
        throw std::system_error(errno, std::generic_category(), "cannot bind the control socket " + path);
    m_ownsPath = true;
    // Everyone may connect: what each peer may see is decided from its SO_PEERCRED.
    if (::chmod(path.c_str(), 0666) < 0)
        throw std::system_error(errno, std::generic_category(), "cannot chmod the control socket " + path);
    if (::listen(m_listenFd, SOMAXCONN) < 0)
        throw std::system_error(errno, std::generic_category(), "cannot listen on the control socket " + path);
}

int UnixSocketTransport::onAccept(sd_event_source*, int, std::uint32_t, void* self) {
    try {
        static_cast<UnixSocketTransport*>(self)->acceptAll();
    } catch (const std::exception& e) {
        spdlog::error("control socket: accept failed: {}", e.what());
    }
    return 0;
}

int UnixSocketTransport::onRetryAccept(sd_event_source*, std::uint64_t, void* self) {
    auto* transport = static_cast<UnixSocketTransport*>(self);
    sd_event_source_set_enabled(transport->m_listenSource, SD_EVENT_ON);
    return 0;
}

std::string UnixSocketTransport::refusal(const PeerIdentity& peer, bool privileged) const {
    const auto& limits = m_options.limits;
    if (m_live >= limits.maxClients)
        return "too many clients (" + std::to_string(limits.maxClients) + "); try again later";
    if (privileged) return {};
    // Part of the table is kept for root and the privileged group, so they always get in.
    const std::size_t unprivilegedCap =
        limits.maxClients > limits.reservedPrivilegedClients ? limits.maxClients - limits.reservedPrivilegedClients : 0;
    if (m_liveUnprivileged >= unprivilegedCap)
        return "too many clients (" + std::to_string(unprivilegedCap) + " for unprivileged users); try again later";
    auto it = m_clientsPerUid.find(peer.uid);
    if (it != m_clientsPerUid.end() && it->second >= limits.maxClientsPerUid)
        return "too many connections for uid " + std::to_string(peer.uid) + " (" +
               std::to_string(limits.maxClientsPerUid) + ")";
    return {};
}

void UnixSocketTransport::acceptAll() {
    for (;;) {
        const int fd = ::accept4(m_listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN) return;
            // Out of fds or memory: the level-triggered listener would spin, so pause it briefly.
            if (shouldLog(++m_acceptFailures))
                spdlog::warn("control socket: accept failed ({} so far): {}", m_acceptFailures, errnoText(errno));
            sd_event_source_set_enabled(m_listenSource, SD_EVENT_OFF);
            std::uint64_t now = 0;
            sd_event_now(m_event, CLOCK_MONOTONIC, &now);
            if (!m_retrySource)
                sd_event_add_time(m_event, &m_retrySource, CLOCK_MONOTONIC, now + kAcceptRetryUsec, 1000, onRetryAccept,
                                  this);
            else
                sd_event_source_set_time(m_retrySource, now + kAcceptRetryUsec);
            sd_event_source_set_enabled(m_retrySource, SD_EVENT_ONESHOT);
            return;
        }
        std::string error;
        auto peer = readPeerIdentity(fd, error);
        if (!peer) {
            spdlog::warn("control socket: cannot read a peer's credentials ({}); closing it", error);
            ::close(fd);
            continue;
        }
        const bool privileged = m_privileged && m_privileged(*peer);
        if (const std::string why = refusal(*peer, privileged); !why.empty()) {
            const std::string line = m_handler.refusalLine(why);
            (void)::send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            ::close(fd);
            if (shouldLog(++m_refused))
                spdlog::warn("control socket: refused a connection of uid {} (pid {}): {} ({} refused so far)",
                             peer->uid, peer->pid, why, m_refused);
            continue;
        }
        auto c = std::make_unique<Connection>();
        c->owner = this;
        c->id = m_nextId++;
        c->fd = fd;
        c->peer = std::move(*peer);
        c->privileged = privileged;
        if (int r = sd_event_add_io(m_event, &c->source, fd, EPOLLIN, onIo, c.get()); r < 0) {
            spdlog::warn("control socket: cannot watch a client: {}", errnoText(-r));
            ::close(fd);
            continue;
        }
        c->ioEvents = EPOLLIN;
        ++m_live;
        if (!privileged) {
            ++m_liveUnprivileged;
            ++m_clientsPerUid[c->peer.uid];
        }
        const ConnectionId id = c->id;
        const PeerIdentity& identity = c->peer;
        m_connections.emplace(id, std::move(c));
        m_handler.onOpen(id, identity);
    }
}

UnixSocketTransport::Connection* UnixSocketTransport::find(ConnectionId id) {
    auto it = m_connections.find(id);
    return it == m_connections.end() ? nullptr : it->second.get();
}

int UnixSocketTransport::onIo(sd_event_source*, int, std::uint32_t revents, void* userdata) {
    auto* c = static_cast<Connection*>(userdata);
    UnixSocketTransport* transport = c->owner;
    try {
        transport->handleIo(*c, revents);
    } catch (const std::exception& e) {
        spdlog::error("control socket: client {}: {}", c->id, e.what());
        transport->dropConnection(*c, "internal error", true);
    }
    return 0;
}

void UnixSocketTransport::handleIo(Connection& c, std::uint32_t revents) {
    if (c.gone) return;
    if (revents & EPOLLERR) return dropConnection(c, "socket error", false);
    if (revents & EPOLLOUT) flush(c);
    if (!c.gone && (revents & EPOLLIN) && !c.readClosed) readFrom(c);
    // HUP: both directions are shut; whatever it still sent has no one to answer to.
    if (!c.gone && (revents & EPOLLHUP)) return dropConnection(c, "disconnected", false);
    if (!c.gone) updateEvents(c);
}

void UnixSocketTransport::readFrom(Connection& c) {
    std::array<char, kReadChunk> buffer;
    std::size_t total = 0;
    processInput(c);  // lines left from before the client's output went over the low-water mark
    // Backpressure: a client that sends requests without reading the replies is not read from
    // while its output is over the low-water mark, so its queue cannot grow with its requests.
    while (!c.gone && !c.readClosed && c.queued <= m_options.limits.lowWaterBytes && total < kMaxReadPerWakeup) {
        const ssize_t n = ::recv(c.fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return dropConnection(c, "read failed: " + errnoText(errno), false);
        }
        if (n == 0) {
            c.readClosed = true;
            break;
        }
        total += static_cast<std::size_t>(n);
        c.in.append(buffer.data(), static_cast<std::size_t>(n));
        processInput(c);
    }
}

void UnixSocketTransport::processInput(Connection& c) {
    const std::size_t maxLine = m_options.limits.maxLineBytes;
    std::size_t start = 0;
    while (!c.gone && c.queued <= m_options.limits.lowWaterBytes) {
        const auto newline = c.in.find('\n', start);
        if (newline == std::string::npos) break;
        const std::size_t length = newline - start;
        if (c.discarding) {
            c.discarding = false;  // the error was sent when the line outgrew the limit
        } else if (length > maxLine) {
            m_handler.onOverlongLine(c.id);
        } else {
            m_handler.onLine(c.id, std::string_view(c.in).substr(start, length));
        }
        start = newline + 1;
    }
    if (c.gone) return;
    c.in.erase(0, start);
    if (c.queued > m_options.limits.lowWaterBytes) return;  // paused: complete lines may remain
    if (c.discarding) {
        c.in.clear();
    } else if (c.in.size() > maxLine) {
        m_handler.onOverlongLine(c.id);
        c.discarding = true;
        c.in.clear();
    }
}

bool UnixSocketTransport::send(ConnectionId id, std::string line) {
    Connection* c = find(id);
    if (c == nullptr || c->gone) return false;
    const auto& limits = m_options.limits;
    // The bound applies before appending, so one large reply (a big `list`) always goes out to
    // a client that keeps up; one that stops reading is over the bound within one more message.
    if (c->queued > limits.maxOutputBytes) {
        dropConnection(*c,
                       "it does not read its replies (" + std::to_string(c->queued) + " bytes queued, limit " +
                           std::to_string(limits.maxOutputBytes) + ")",
                       true);
        return false;
    }
    const std::size_t cost = line.size() + kMessageOverhead;
    c->out.push_back(std::move(line));
    c->queued += cost;
    m_queuedPerUid[c->peer.uid] += cost;
    m_queuedTotal += cost;
    enforceBudgets(*c);
    if (c->gone) return false;
    if (c->queued >= kWriteAtOnce) flush(*c);
    if (c->gone) return false;
    if (!c->dirty && !m_shuttingDown) {
        c->dirty = true;
        m_dirty.push_back(c->id);
        sd_event_source_set_enabled(m_deferSource, SD_EVENT_ONESHOT);
    }
    return true;
}

void UnixSocketTransport::enforceBudgets(Connection& appended) {
    const auto& limits = m_options.limits;
    // Over a budget, the client holding the most unsent output goes: it is the one reading
    // least, and dropping it frees the most. A client that keeps up has little queued and stays.
    auto dropLargest = [&](auto&& eligible, const std::string& why) {
        Connection* victim = nullptr;
        for (auto& [id, c] : m_connections)
            if (!c->gone && eligible(*c) && (victim == nullptr || c->queued > victim->queued)) victim = c.get();
        if (victim == nullptr || victim->queued == 0) return false;
        dropConnection(*victim, why, true);
        return true;
    };
    const std::uint32_t uid = appended.peer.uid;
    while (m_queuedPerUid[uid] > limits.maxOutputBytesPerUid)
        if (!dropLargest([uid](const Connection& c) { return c.peer.uid == uid; },
                         "it reads least while uid " + std::to_string(uid) + " has over " +
                             mebibytes(limits.maxOutputBytesPerUid) + " of unsent output"))
            break;
    while (m_queuedTotal > limits.maxOutputBytesTotal)
        if (!dropLargest([](const Connection&) { return true; }, "it reads least while clients have over " +
                                                                     mebibytes(limits.maxOutputBytesTotal) +
                                                                     " of unsent output"))
            break;
}

void UnixSocketTransport::flush(Connection& c) {
    std::array<iovec, kMaxIovecs> iov{};
    while (!c.gone && !c.out.empty()) {
        std::size_t count = 0;
        for (auto it = c.out.begin(); it != c.out.end() && count < kMaxIovecs; ++it, ++count) {
            const std::size_t skip = count == 0 ? c.frontOffset : 0;
            iov[count].iov_base = it->data() + skip;
            iov[count].iov_len = it->size() - skip;
        }
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = count;
        const ssize_t n = ::sendmsg(c.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return dropConnection(c, "write failed: " + errnoText(errno), false);
        }
        auto sent = static_cast<std::size_t>(n);
        std::size_t freed = 0;
        while (sent > 0) {
            const std::size_t left = c.out.front().size() - c.frontOffset;
            const std::size_t take = std::min(left, sent);
            c.frontOffset += take;
            sent -= take;
            freed += take;
            if (c.frontOffset == c.out.front().size()) {
                c.out.pop_front();
                c.frontOffset = 0;
                freed += kMessageOverhead;
            }
        }
        c.queued -= freed;
        m_queuedPerUid[c.peer.uid] -= freed;
        m_queuedTotal -= freed;
        if (static_cast<std::size_t>(n) == 0) break;
    }
}

int UnixSocketTransport::onFlushDeferred(sd_event_source*, void* self) {
    auto* transport = static_cast<UnixSocketTransport*>(self);
    try {
        transport->flushDirty();
    } catch (const std::exception& e) {
        spdlog::error("control socket: writing queued output failed: {}", e.what());
    }
    transport->reap();
    return 0;
}

void UnixSocketTransport::flushDirty() {
    std::vector<ConnectionId> dirty;
    dirty.swap(m_dirty);
    for (ConnectionId id : dirty) {
        Connection* c = find(id);
        if (c == nullptr || c->gone) continue;
        c->dirty = false;
        flush(*c);
        // Drained below the low-water mark: go on with requests that were waiting.
        if (!c->gone && c->queued <= m_options.limits.lowWaterBytes) processInput(*c);
        if (!c->gone) updateEvents(*c);
    }
}

void UnixSocketTransport::streamsChanged(ConnectionId id) {
    Connection* c = find(id);
    if (c != nullptr && !c->gone) updateEvents(*c);
}

void UnixSocketTransport::updateEvents(Connection& c) {
    if (c.gone || m_shuttingDown) return;
    const bool paused = c.queued > m_options.limits.lowWaterBytes;
    // After the peer shut its writing side, the connection lives on only for unsent replies and streams.
    if (c.readClosed && !paused && c.out.empty() && c.in.find('\n') == std::string::npos &&
        !m_handler.keepsStreaming(c.id))
        return dropConnection(c, "closed", false);
    const std::uint32_t wanted =
        (c.readClosed || paused ? 0U : std::uint32_t{EPOLLIN}) | (c.out.empty() ? 0U : std::uint32_t{EPOLLOUT});
    if (wanted == c.ioEvents) return;
    if (int r = sd_event_source_set_io_events(c.source, wanted); r < 0)
        return dropConnection(c, "cannot update its io events: " + errnoText(-r), true);
    c.ioEvents = wanted;
}

void UnixSocketTransport::drop(ConnectionId id, const std::string& why, bool logAsWarning) {
    if (Connection* c = find(id)) dropConnection(*c, why, logAsWarning);
}

void UnixSocketTransport::dropConnection(Connection& c, const std::string& why, bool logAsWarning) {
    if (c.gone) return;
    c.gone = true;
    sd_event_source_set_enabled(c.source, SD_EVENT_OFF);
    ::shutdown(c.fd, SHUT_RDWR);
    // Its queued output is freed now, not when the fd is closed on the next loop turn: a client
    // dropped for not reading gives its memory back at once.
    m_queuedPerUid[c.peer.uid] -= c.queued;
    m_queuedTotal -= c.queued;
    const std::size_t freed = c.queued;
    c.queued = 0;
    c.frontOffset = 0;
    std::deque<std::string>().swap(c.out);
    --m_live;
    if (!c.privileged) {
        --m_liveUnprivileged;
        if (--m_clientsPerUid[c.peer.uid] == 0) m_clientsPerUid.erase(c.peer.uid);
    }
    if (m_queuedPerUid[c.peer.uid] == 0) m_queuedPerUid.erase(c.peer.uid);
    if (logAsWarning)
        spdlog::warn("control socket: dropped client {} (pid {}, uid {}): {}; {} bytes of output freed", c.id,
                     c.peer.pid, c.peer.uid, why, freed);
    else
        spdlog::debug("control socket: client {} {}", c.id, why);
    m_doomed.push_back(c.id);
    sd_event_source_set_enabled(m_deferSource, SD_EVENT_ONESHOT);
    m_handler.onClose(c.id);
}

void UnixSocketTransport::reap() {
    for (ConnectionId id : m_doomed) {
        auto it = m_connections.find(id);
        if (it == m_connections.end()) continue;
        auto& c = *it->second;
        if (c.source) sd_event_source_disable_unref(c.source);
        if (c.fd >= 0) ::close(c.fd);
        m_connections.erase(it);
    }
    m_doomed.clear();
}

}  // namespace porteye::control
