// SPDX-License-Identifier: MIT
#include "control/ControlServer.hpp"

#include "protocol/Json.hpp"
#include "protocol/JsonRpc.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <system_error>

namespace porteye::control {

using nlohmann::json;
namespace rpc = protocol::rpc;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// Bytes read from one client per loop iteration, so one chatty client cannot starve the others.
constexpr std::size_t kMaxReadPerWakeup = 16 * kReadChunk;
// Compact the output buffer once this much of its front has been sent.
constexpr std::size_t kCompactAfter = 1024 * 1024;
constexpr std::uint64_t kAcceptRetryUsec = 100'000;

/// A JSON-RPC error raised while handling one request.
class RpcError : public std::runtime_error {
public:
    RpcError(int code, const std::string& message) : std::runtime_error(message), m_code(code) {}
    int code() const { return m_code; }

private:
    int m_code;
};

int rpcCode(service::ErrorCode code) {
    return core::errorSpec(code).rpcCode;
}

std::uint64_t unsignedParam(const json& params, const char* key, std::uint64_t max) {
    if (!params.is_object() || !params.contains(key))
        throw protocol::InvalidArgument(std::string("params must be an object with '") + key + "'");
    for (const auto& [k, v] : params.items())
        if (k != key) throw protocol::InvalidArgument("unknown parameter '" + k + "'");
    const json& v = params[key];
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() > max)
        throw protocol::InvalidArgument(std::string("'") + key + "' must be a non-negative integer");
    return v.get<std::uint64_t>();
}

std::string errnoText(int error) {
    return std::strerror(error);
}

/// Logs the 1st, 2nd, 4th, 8th... occurrence, so a storm cannot flood the journal.
bool shouldLog(std::uint64_t count) {
    return count != 0 && (count & (count - 1)) == 0;
}

}  // namespace

struct ControlServer::Client {
    ControlServer* server = nullptr;
    std::uint64_t id = 0;
    int fd = -1;
    sd_event_source* source = nullptr;
    std::uint32_t ioEvents = 0;
    service::Caller caller;
    pid_t pid = 0;
    std::string in;
    bool discarding = false;  ///< inside an over-long line, dropping bytes up to the next newline
    std::string out;
    std::size_t outOffset = 0;
    bool readClosed = false;
    bool gone = false;
    std::map<std::uint64_t, core::SocketFilter> subscriptions;
    std::set<service::WatchId> watches;

    std::size_t pending() const { return out.size() - outOffset; }
};

ControlServer::ControlServer(sd_event* event, service::PortService& service, ControlOptions options,
                             std::function<void()> watchesChanged)
    : m_event(sd_event_ref(event)),
      m_service(service),
      m_options(std::move(options)),
      m_watchesChanged(std::move(watchesChanged)) {}

ControlServer::~ControlServer() {
    for (auto& [id, client] : m_clients) {
        if (!client->gone) {
            client->gone = true;  // nothing more is sent while the server goes away
            m_service.removeWatchesOf(client->caller.id, service::WatchEnd::Shutdown);
        }
        if (client->source) sd_event_source_disable_unref(client->source);
        if (client->fd >= 0) ::close(client->fd);
    }
    m_clients.clear();
    for (auto* source : {m_listenSource, m_reapSource, m_retrySource})
        if (source) sd_event_source_disable_unref(source);
    if (m_listenFd >= 0) ::close(m_listenFd);
    if (m_ownsPath) ::unlink(m_options.path.c_str());
    sd_event_unref(m_event);
}

void ControlServer::start() {
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
    if (int r = sd_event_add_defer(m_event, &m_reapSource, onReap, this); r < 0)
        throw std::system_error(-r, std::generic_category(), "cannot add the control socket's cleanup");
    sd_event_source_set_enabled(m_reapSource, SD_EVENT_OFF);
    if (m_options.listenFd >= 0)
        spdlog::info("control socket: serving the socket passed by systemd (fd {})", m_listenFd);
    else
        spdlog::info("control socket: listening on {}", m_options.path);
}

void ControlServer::listenOnPath() {
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

int ControlServer::onAccept(sd_event_source*, int, std::uint32_t, void* self) {
    try {
        static_cast<ControlServer*>(self)->acceptAll();
    } catch (const std::exception& e) {
        spdlog::error("control socket: accept failed: {}", e.what());
    }
    return 0;
}

int ControlServer::onRetryAccept(sd_event_source*, std::uint64_t, void* self) {
    auto* server = static_cast<ControlServer*>(self);
    sd_event_source_set_enabled(server->m_listenSource, SD_EVENT_ON);
    return 0;
}

void ControlServer::acceptAll() {
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
                sd_event_add_time(m_event, &m_retrySource, CLOCK_MONOTONIC, now + kAcceptRetryUsec, 0, onRetryAccept,
                                  this);
            else
                sd_event_source_set_time(m_retrySource, now + kAcceptRetryUsec);
            sd_event_source_set_enabled(m_retrySource, SD_EVENT_ONESHOT);
            return;
        }
        if (m_clients.size() - m_doomed.size() >= m_options.maxClients) {
            const std::string line = rpc::toLine(
                rpc::error(nullptr, rpc::kLimitExceeded,
                           "too many clients (" + std::to_string(m_options.maxClients) + "); try again later"));
            (void)::send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            ::close(fd);
            if (shouldLog(++m_refused))
                spdlog::warn("control socket: refused a connection: {} clients already ({} refused so far)",
                             m_options.maxClients, m_refused);
            continue;
        }

        ucred cred{};
        socklen_t len = sizeof(cred);
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
            spdlog::warn("control socket: cannot read a peer's credentials ({}); closing it", errnoText(errno));
            ::close(fd);
            continue;
        }
        auto client = std::make_unique<Client>();
        client->server = this;
        client->id = m_nextClientId++;
        client->fd = fd;
        client->pid = cred.pid;
        client->caller.uid = cred.uid;
        client->caller.gid = cred.gid;
        client->caller.id = "socket:" + std::to_string(client->id);
#ifdef SO_PEERGROUPS
        std::vector<gid_t> groups(64);
        for (int attempt = 0; attempt < 2; ++attempt) {
            socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
            if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
                groups.resize(bytes / sizeof(gid_t));
                client->caller.groups.assign(groups.begin(), groups.end());
                break;
            }
            if (errno != ERANGE) break;  // no supplementary groups known: the primary gid still counts
            groups.resize(bytes / sizeof(gid_t) + 1);
        }
#endif
        if (int r = sd_event_add_io(m_event, &client->source, fd, EPOLLIN, onClientIo, client.get()); r < 0) {
            spdlog::warn("control socket: cannot watch a client: {}", errnoText(-r));
            ::close(fd);
            continue;
        }
        client->ioEvents = EPOLLIN;
        spdlog::debug("control socket: {} connected (pid {}, uid {})", client->caller.id, client->pid,
                      client->caller.uid);
        m_clients.emplace(client->id, std::move(client));
    }
}

int ControlServer::onClientIo(sd_event_source*, int, std::uint32_t revents, void* userdata) {
    auto* client = static_cast<Client*>(userdata);
    ControlServer* server = client->server;
    try {
        server->handleIo(*client, revents);
    } catch (const std::exception& e) {
        spdlog::error("control socket: {}: {}", client->caller.id, e.what());
        server->drop(*client, "internal error", true);
    }
    return 0;
}

void ControlServer::handleIo(Client& client, std::uint32_t revents) {
    if (client.gone) return;
    if (revents & EPOLLERR) return drop(client, "socket error", false);
    if (revents & EPOLLOUT) flush(client);
    if (!client.gone && (revents & EPOLLIN) && !client.readClosed) readFrom(client);
    // HUP: both directions are shut; whatever it still sent has no one to answer to.
    if (!client.gone && (revents & EPOLLHUP)) return drop(client, "disconnected", false);
}

void ControlServer::readFrom(Client& client) {
    std::array<char, kReadChunk> buffer;
    std::size_t total = 0;
    while (!client.gone && total < kMaxReadPerWakeup) {
        const ssize_t n = ::recv(client.fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return drop(client, "read failed: " + errnoText(errno), false);
        }
        if (n == 0) {
            client.readClosed = true;
            break;
        }
        total += static_cast<std::size_t>(n);
        consume(client, std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    }
    if (!client.gone) flush(client);
}

void ControlServer::consume(Client& client, std::string_view bytes) {
    client.in.append(bytes);
    std::size_t start = 0;
    for (;;) {
        const auto newline = client.in.find('\n', start);
        if (newline == std::string::npos) break;
        const std::size_t length = newline - start;
        if (client.discarding) {
            client.discarding = false;  // the error was sent when the line outgrew the limit
        } else if (length > m_options.maxLineBytes) {
            sendOverlong(client);
        } else {
            handleLine(client, std::string_view(client.in).substr(start, length));
        }
        start = newline + 1;
        if (client.gone) return;
    }
    client.in.erase(0, start);
    if (client.discarding) {
        client.in.clear();
    } else if (client.in.size() > m_options.maxLineBytes) {
        sendOverlong(client);
        client.discarding = true;
        client.in.clear();
    }
}

void ControlServer::sendOverlong(Client& client) {
    enqueue(client, rpc::toLine(rpc::error(nullptr, rpc::kInvalidRequest,
                                           "request line longer than " + std::to_string(m_options.maxLineBytes) +
                                               " bytes; discarded up to the next newline")));
}

void ControlServer::handleLine(Client& client, std::string_view text) {
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) return;  // blank lines are ignored

    json request;
    try {
        request = json::parse(text);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
        enqueue(client, rpc::toLine(rpc::error(nullptr, rpc::kParseError, std::string("parse error: ") + e.what())));
        return;
    }
    if (request.is_array()) {
        enqueue(client, rpc::toLine(rpc::error(nullptr, rpc::kInvalidRequest,
                                               "batch requests are not supported; send one request per line")));
        return;
    }
    if (!request.is_object()) {
        enqueue(client, rpc::toLine(rpc::error(nullptr, rpc::kInvalidRequest, "a request must be a JSON object")));
        return;
    }
    const bool hasId = request.contains("id");
    json id = hasId ? request["id"] : json();
    if (hasId && !id.is_string() && !id.is_number() && !id.is_null()) {
        enqueue(client,
                rpc::toLine(rpc::error(nullptr, rpc::kInvalidRequest, "'id' must be a string, number or null")));
        return;
    }
    auto fail = [&](int code, const std::string& message) {
        if (hasId) enqueue(client, rpc::toLine(rpc::error(id, code, message)));
    };
    if (!request.contains("jsonrpc") || request["jsonrpc"] != "2.0")
        return fail(rpc::kInvalidRequest, "'jsonrpc' must be \"2.0\"");
    if (!request.contains("method") || !request["method"].is_string())
        return fail(rpc::kInvalidRequest, "'method' must be a string");
    for (const auto& [key, value] : request.items())
        if (key != "jsonrpc" && key != "id" && key != "method" && key != "params")
            return fail(rpc::kInvalidRequest, "unknown request member '" + key + "'");
    const json params = request.contains("params") ? request["params"] : json();
    if (!params.is_null() && !params.is_object())
        return fail(rpc::kInvalidParams, "'params' must be an object (positional parameters are not supported)");

    const std::string method = request["method"].get<std::string>();
    try {
        json result = dispatch(client, method, params);
        if (hasId && !client.gone) enqueue(client, rpc::toLine(rpc::result(id, result)));
    } catch (const RpcError& e) {
        fail(e.code(), e.what());
    } catch (const service::ServiceError& e) {
        fail(rpcCode(e.code()), e.what());
    } catch (const protocol::InvalidArgument& e) {
        fail(rpc::kInvalidParams, e.what());
    } catch (const json::exception& e) {
        fail(rpc::kInvalidParams, std::string("invalid params: ") + e.what());
    } catch (const std::exception& e) {
        spdlog::warn("control socket: {} failed for {}: {}", method, client.caller.id, e.what());
        fail(rpc::kFailed, e.what());
    }
}

json ControlServer::dispatch(Client& client, const std::string& method, const json& params) {
    if (method == "status") {
        if (!params.is_null() && !params.empty()) throw protocol::InvalidArgument("status takes no parameters");
        const auto s = m_service.status(client.caller);
        json reply = protocol::toJson(s);
        reply["polls"] = s.polls;  // always present here, even at 0
        reply["failed_polls"] = s.failedPolls;
        reply["protocol_version"] = protocol::kProtocolVersion;
        return reply;
    }
    if (method == "list") {
        json out = json::array();
        for (const auto& r : m_service.list(client.caller, protocol::listQueryFromJson(params)))
            out.push_back(protocol::toJson(r));
        return out;
    }
    if (method == "history") {
        json out = json::array();
        for (const auto& e : m_service.history(client.caller, protocol::historyFilterFromJson(params)))
            out.push_back(protocol::toJson(e));
        return out;
    }
    if (method == "watch") return addWatch(client, params);
    if (method == "unwatch") {
        const auto id = unsignedParam(params, "watch", std::numeric_limits<std::uint64_t>::max());
        m_service.removeWatch(client.caller, id);
        spdlog::info("watch {}: ended by {}", id, client.caller.id);
        return true;
    }
    if (method == "events") {
        auto filter = protocol::socketFilterFromJson(params);
        if (client.subscriptions.size() >= kMaxSubscriptionsPerClient)
            throw service::ServiceError(
                service::ErrorCode::LimitExceeded,
                "too many subscriptions on one connection (" + std::to_string(kMaxSubscriptionsPerClient) + ")");
        const auto id = m_nextSubscriptionId++;
        client.subscriptions.emplace(id, std::move(filter));
        return json{{"subscription", id}};
    }
    if (method == "unsubscribe") {
        const auto id = unsignedParam(params, "subscription", std::numeric_limits<std::uint64_t>::max());
        if (client.subscriptions.erase(id) == 0)
            throw service::ServiceError(service::ErrorCode::NoSuchWatch, "no such subscription: " + std::to_string(id));
        return true;
    }
    throw RpcError(rpc::kMethodNotFound, "method '" + method +
                                             "' not found; methods: status, list, history, watch, unwatch, events, "
                                             "unsubscribe");
}

json ControlServer::addWatch(Client& client, const json& params) {
    if (!params.is_object()) throw protocol::InvalidArgument("watch needs params {\"pid\": N[, \"interval\": S, ...]}");
    json options = params;
    if (!options.contains("pid")) throw protocol::InvalidArgument("'pid' is required");
    const json pidValue = options["pid"];
    if (!pidValue.is_number_unsigned() || pidValue.get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
        throw protocol::InvalidArgument("'pid' must be a process ID");
    const auto pid = pidValue.get<std::uint32_t>();
    options.erase("pid");
    const auto watchParams = protocol::watchParamsFromJson(options);
    service::WatchRequest request{pid, watchParams.intervalSeconds, watchParams.includeChildren, watchParams.filter};

    // The id is known only once the service accepted the watch; the first step runs on a later loop turn.
    auto holder = std::make_shared<service::WatchId>(0);
    const std::uint64_t clientId = client.id;
    service::WatchSink sink;
    sink.onChange = [this, clientId, holder, pid](const core::PortChange& change) {
        auto it = m_clients.find(clientId);
        if (it == m_clients.end() || it->second->gone) return;
        json body = protocol::toJson(pid, change, m_service.monitor().clock().now());
        body["watch"] = *holder;
        send(*it->second, rpc::toLine(rpc::notification("watch.changed", body)));
    };
    sink.onEnd = [this, clientId, holder](service::WatchEnd reason, std::uint32_t watchedPid) {
        auto it = m_clients.find(clientId);
        if (it == m_clients.end() || it->second->gone) return;
        it->second->watches.erase(*holder);
        // "watch.exited" is kept for the process's exit, the event clients already know;
        // every other end is "watch.ended" with its reason, whoever ended it.
        if (reason == service::WatchEnd::ProcessExited)
            send(*it->second,
                 rpc::toLine(rpc::notification("watch.exited", {{"watch", *holder}, {"pid", watchedPid}})));
        else
            send(*it->second, rpc::toLine(rpc::notification("watch.ended",
                                                            {{"watch", *holder},
                                                             {"pid", watchedPid},
                                                             {"reason", std::string(service::watchEndName(reason))}})));
        if (!it->second->gone) updateEvents(*it->second);
    };
    const auto id = m_service.addWatch(client.caller, request, std::move(sink));
    *holder = id;
    client.watches.insert(id);
    spdlog::info("watch {}: PID {} every {}s for {} (uid {})", id, pid, request.intervalSeconds, client.caller.id,
                 client.caller.uid);
    if (m_watchesChanged) m_watchesChanged();
    return json{{"watch", id}};
}

void ControlServer::publishEvents(const std::vector<core::PortEvent>& events) {
    if (events.empty()) return;
    // Each event is serialised once, then spliced after the subscription id of each subscriber.
    std::vector<std::string> bodies(events.size());
    for (auto& [clientId, client] : m_clients) {
        if (client->gone || client->subscriptions.empty()) continue;
        for (std::size_t i = 0; i < events.size() && !client->gone; ++i) {
            const auto& event = events[i];
            if (!m_service.maySee(client->caller, event.record)) continue;
            for (const auto& [subscription, filter] : client->subscriptions) {
                if (!filter.matches(event.record)) continue;
                if (bodies[i].empty()) bodies[i] = rpc::toLine(protocol::toJson(event));
                // bodies[i] is "{...}\n": reuse everything after its opening brace.
                std::string line = R"({"jsonrpc":"2.0","method":"event","params":{"subscription":)" +
                                   std::to_string(subscription) + "," + bodies[i].substr(1);
                line.insert(line.size() - 1, "}");
                enqueue(*client, std::move(line));
                if (client->gone) break;
            }
        }
        if (!client->gone) flush(*client);
    }
}

void ControlServer::send(Client& client, std::string line) {
    enqueue(client, std::move(line));
    if (!client.gone) flush(client);
}

void ControlServer::enqueue(Client& client, std::string line) {
    if (client.gone) return;
    // The bound applies before appending, so one large reply (a big `list`) always goes out to
    // a client that keeps up; one that stops reading is over the bound within one more message.
    if (client.pending() > m_options.maxOutputBytes)
        return drop(client,
                    "it does not read its replies (" + std::to_string(client.pending()) + " bytes queued, limit " +
                        std::to_string(m_options.maxOutputBytes) + ")",
                    true);
    client.out.append(line);
}

void ControlServer::flush(Client& client) {
    while (!client.gone && client.pending() > 0) {
        const ssize_t n =
            ::send(client.fd, client.out.data() + client.outOffset, client.pending(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return drop(client, "write failed: " + errnoText(errno), false);
        }
        client.outOffset += static_cast<std::size_t>(n);
    }
    if (client.pending() == 0) {
        client.out.clear();
        client.outOffset = 0;
    } else if (client.outOffset > kCompactAfter && client.outOffset > client.out.size() / 2) {
        client.out.erase(0, client.outOffset);
        client.outOffset = 0;
    }
    updateEvents(client);
}

void ControlServer::updateEvents(Client& client) {
    if (client.gone) return;
    // After the peer shut its writing side, the client lives on only for unsent replies and streams.
    if (client.readClosed && client.pending() == 0 && client.watches.empty() && client.subscriptions.empty())
        return drop(client, "closed", false);
    const std::uint32_t wanted =
        (client.readClosed ? 0U : std::uint32_t{EPOLLIN}) | (client.pending() > 0 ? std::uint32_t{EPOLLOUT} : 0U);
    if (wanted == client.ioEvents) return;
    if (int r = sd_event_source_set_io_events(client.source, wanted); r < 0)
        return drop(client, "cannot update its io events: " + errnoText(-r), true);
    client.ioEvents = wanted;
}

void ControlServer::drop(Client& client, const std::string& why, bool logAsWarning) {
    if (client.gone) return;
    client.gone = true;
    sd_event_source_set_enabled(client.source, SD_EVENT_OFF);
    ::shutdown(client.fd, SHUT_RDWR);
    // Watches end now (a sink may be running: the service tolerates that); the fd is closed on reap.
    const auto removed = m_service.removeWatchesOf(client.caller.id);
    client.watches.clear();
    client.subscriptions.clear();
    if (logAsWarning)
        spdlog::warn("control socket: dropped {} (pid {}, uid {}): {}; {} watch(es) removed", client.caller.id,
                     client.pid, client.caller.uid, why, removed);
    else if (removed > 0)
        spdlog::info("control socket: {} {}; {} watch(es) removed", client.caller.id, why, removed);
    else
        spdlog::debug("control socket: {} {}", client.caller.id, why);
    m_doomed.push_back(client.id);
    if (m_reapSource) sd_event_source_set_enabled(m_reapSource, SD_EVENT_ONESHOT);
}

int ControlServer::onReap(sd_event_source*, void* self) {
    static_cast<ControlServer*>(self)->reap();
    return 0;
}

void ControlServer::reap() {
    for (auto id : m_doomed) {
        auto it = m_clients.find(id);
        if (it == m_clients.end()) continue;
        auto& client = *it->second;
        if (client.source) sd_event_source_disable_unref(client.source);
        if (client.fd >= 0) ::close(client.fd);
        m_clients.erase(it);
    }
    m_doomed.clear();
}

}  // namespace porteye::control
