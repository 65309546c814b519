// SPDX-License-Identifier: MIT
#include "metrics/MetricsServer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace porteye::metrics {
namespace {

constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

/// Logs the 1st, 2nd, 4th, 8th... occurrence, so a storm of bad clients cannot flood the journal.
bool shouldLog(std::uint64_t count) {
    return count != 0 && (count & (count - 1)) == 0;
}

[[noreturn]] void fail(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

std::optional<ListenAddress> parseListenAddress(std::string_view text, std::string& error) {
    ListenAddress a;
    if (!text.empty() && text.front() == '/') {
        if (text.size() >= sizeof(sockaddr_un::sun_path)) {
            error = "socket path is too long";
            return std::nullopt;
        }
        a.unixSocket = true;
        a.path = std::string(text);
        return a;
    }
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            error = "expected [IPv6]:PORT";
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        a.family = AF_INET6;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) {
            error = "expected IPv4:PORT, [IPv6]:PORT or /path/of/a/socket";
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        a.family = AF_INET;
    }
    a.host = std::string(host);
    unsigned char buf[sizeof(in6_addr)];
    if (inet_pton(a.family, a.host.c_str(), buf) != 1) {
        error = "\"" + a.host + "\" is not a numeric " + (a.family == AF_INET ? "IPv4" : "IPv6") + " address";
        return std::nullopt;
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
        error = "\"" + std::string(port) + "\" is not a port (0 to 65535)";
        return std::nullopt;
    }
    a.port = static_cast<std::uint16_t>(value);
    return a;
}

struct MetricsServer::Client {
    MetricsServer* owner = nullptr;
    int fd = -1;
    sd_event_source* io = nullptr;
    sd_event_source* timer = nullptr;
    std::string in;
    std::string out;
    std::size_t written = 0;
    bool answering = false;
    ~Client() {
        if (io) sd_event_source_disable_unref(io);
        if (timer) sd_event_source_disable_unref(timer);
        if (fd >= 0) ::close(fd);
    }
};

MetricsServer::MetricsServer(sd_event* event, MetricsServerOptions options, std::function<std::string()> render)
    : m_event(sd_event_ref(event)), m_options(std::move(options)), m_render(std::move(render)) {}

MetricsServer::~MetricsServer() {
    m_clients.clear();
    if (m_listenSource) sd_event_source_disable_unref(m_listenSource);
    if (m_listenFd >= 0) ::close(m_listenFd);
    if (!m_ownedPath.empty()) ::unlink(m_ownedPath.c_str());
    sd_event_unref(m_event);
}

void MetricsServer::start() {
    std::string error;
    const auto address = parseListenAddress(m_options.listen, error);
    if (!address) throw std::invalid_argument("metrics address " + m_options.listen + ": " + error);
    const int family = address->unixSocket ? AF_UNIX : address->family;
    m_listenFd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m_listenFd < 0) fail("cannot open a metrics socket (the unit's RestrictAddressFamilies= may forbid it)");
    if (address->unixSocket) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, address->path.c_str(), address->path.size());
        // A socket file left by a crashed daemon is replaced; any other file is not touched.
        struct stat st {};
        if (::lstat(address->path.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode))
                throw std::system_error(EEXIST, std::generic_category(), address->path + " exists and is not a socket");
            const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            const bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
            if (probe >= 0) ::close(probe);
            if (live)
                throw std::system_error(EADDRINUSE, std::generic_category(), "another process serves " + address->path);
            ::unlink(address->path.c_str());
        }
        if (::bind(m_listenFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
            fail("cannot bind the metrics socket " + address->path);
        m_ownedPath = address->path;
        // Owner and group (porteye, whose members see every socket anyway) may connect; nobody
        // else: the page shows every user's listeners.
        if (::chmod(address->path.c_str(), 0660) < 0) fail("cannot chmod " + address->path);
        m_bound = address->path;
    } else {
        const int one = 1;
        ::setsockopt(m_listenFd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_storage storage{};
        socklen_t length = 0;
        if (address->family == AF_INET) {
            auto* in = reinterpret_cast<sockaddr_in*>(&storage);
            in->sin_family = AF_INET;
            in->sin_port = htons(address->port);
            inet_pton(AF_INET, address->host.c_str(), &in->sin_addr);
            length = sizeof(sockaddr_in);
        } else {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(address->port);
            inet_pton(AF_INET6, address->host.c_str(), &in6->sin6_addr);
            ::setsockopt(m_listenFd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            length = sizeof(sockaddr_in6);
        }
        if (::bind(m_listenFd, reinterpret_cast<sockaddr*>(&storage), length) < 0)
            fail("cannot bind the metrics address " + m_options.listen);
        length = sizeof storage;
        ::getsockname(m_listenFd, reinterpret_cast<sockaddr*>(&storage), &length);
        const std::uint16_t port =
            ntohs(address->family == AF_INET ? reinterpret_cast<sockaddr_in*>(&storage)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
        m_bound =
            (address->family == AF_INET6 ? "[" + address->host + "]" : address->host) + ":" + std::to_string(port);
    }
    if (::listen(m_listenFd, 64) < 0) fail("cannot listen on the metrics address " + m_options.listen);
    if (int r = sd_event_add_io(m_event, &m_listenSource, m_listenFd, EPOLLIN, onAccept, this); r < 0) {
        errno = -r;
        fail("cannot watch the metrics socket");
    }
}

int MetricsServer::onAccept(sd_event_source*, int, std::uint32_t, void* self) {
    try {
        static_cast<MetricsServer*>(self)->acceptAll();
    } catch (const std::exception& e) {
        spdlog::error("metrics: accept failed: {}", e.what());
    }
    return 0;
}

void MetricsServer::acceptAll() {
    for (int i = 0; i < 64; ++i) {  // a bounded batch per wake-up; the listener stays readable
        const int fd = ::accept4(m_listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && shouldLog(++m_counters.refused))
                spdlog::warn("metrics: accept failed: {}", std::strerror(errno));
            return;
        }
        // Over the limit: closed at once, so a crowd of idle clients cannot hold the backlog
        // either; a scraper retries at its next interval.
        if (m_clients.size() >= m_options.maxClients) {
            ::close(fd);
            if (shouldLog(++m_counters.refused))
                spdlog::warn("metrics: more than {} clients at once; refused one ({} so far)", m_options.maxClients,
                             m_counters.refused);
            continue;
        }
        auto c = std::make_unique<Client>();
        c->owner = this;
        c->fd = fd;
        std::uint64_t now = 0;
        sd_event_now(m_event, CLOCK_MONOTONIC, &now);
        if (sd_event_add_io(m_event, &c->io, fd, EPOLLIN, onClientIo, c.get()) < 0 ||
            sd_event_add_time(m_event, &c->timer, CLOCK_MONOTONIC, now + m_options.timeoutUsec, 100'000,
                              onClientTimeout, c.get()) < 0)
            continue;  // ~Client closes it
        m_clients.emplace(fd, std::move(c));
    }
}

int MetricsServer::onClientIo(sd_event_source*, int, std::uint32_t events, void* client) {
    auto& c = *static_cast<Client*>(client);
    auto* self = c.owner;
    const int fd = c.fd;  // c is gone once a step drops it
    try {
        if (c.answering)
            self->writeOut(c);
        else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            self->readRequest(c);
    } catch (const std::exception& e) {
        spdlog::error("metrics: serving a client failed: {}", e.what());
        self->drop(fd);
    }
    return 0;
}

int MetricsServer::onClientTimeout(sd_event_source*, std::uint64_t, void* client) {
    auto& c = *static_cast<Client*>(client);
    auto* self = c.owner;
    if (shouldLog(++self->m_counters.refused))
        spdlog::warn("metrics: cut off a client that took more than {} ms ({} refused or cut off so far)",
                     self->m_options.timeoutUsec / 1000, self->m_counters.refused);
    self->drop(c.fd);
    return 0;
}

void MetricsServer::drop(int fd) {
    m_clients.erase(fd);
}

void MetricsServer::readRequest(Client& c) {
    char buf[4096];
    bool eof = false;
    for (;;) {
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            drop(c.fd);
            return;
        }
        if (n == 0) {  // the client is done sending (a half-close, as `socat -` does): answer what came
            eof = true;
            break;
        }
        c.in.append(buf, static_cast<std::size_t>(n));
        if (c.in.size() > m_options.maxRequestBytes) break;
    }
    auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) end = c.in.find("\n\n");
    if (end == std::string::npos || end > m_options.maxRequestBytes) {
        if (eof) {  // it stopped sending before the request was whole
            drop(c.fd);
            return;
        }
        if (c.in.size() <= m_options.maxRequestBytes) return;  // wait for more
        if (shouldLog(++m_counters.refused))
            spdlog::warn("metrics: a request over {} bytes; answered 431 ({} refused or cut off so far)",
                         m_options.maxRequestBytes, m_counters.refused);
        answer(c, "431 Request Header Fields Too Large", "text/plain", "request too large\n");
        return;
    }
    // "GET /metrics HTTP/1.1": method, target (its query ignored), version.
    const std::string_view request(c.in.data(), c.in.find_first_of("\r\n"));
    const auto sp1 = request.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : request.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || request.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) {
        answer(c, "400 Bad Request", "text/plain", "bad request\n");
        return;
    }
    const auto method = request.substr(0, sp1);
    auto target = request.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    if (target != "/metrics") {
        answer(c, "404 Not Found", "text/plain", "not found; try /metrics\n");
        return;
    }
    if (method != "GET") {
        answer(c, "405 Method Not Allowed", "text/plain", "only GET\n", "Allow: GET\r\n");
        return;
    }
    std::string body = m_render();
    ++m_counters.scrapes;
    answer(c, "200 OK", kContentType, std::move(body));
}

void MetricsServer::answer(Client& c, std::string_view status, std::string_view contentType, std::string body,
                           std::string_view extraHeaders) {
    c.out = "HTTP/1.1 ";
    c.out += status;
    c.out += "\r\nContent-Type: ";
    c.out += contentType;
    c.out += "\r\nContent-Length: ";
    c.out += std::to_string(body.size());
    c.out += "\r\nConnection: close\r\n";
    c.out += extraHeaders;
    c.out += "\r\n";
    c.out += body;
    c.in.clear();
    c.in.shrink_to_fit();
    c.answering = true;
    sd_event_source_set_io_events(c.io, EPOLLOUT);
    writeOut(c);
}

void MetricsServer::writeOut(Client& c) {
    while (c.written < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;  // EPOLLOUT brings us back; the deadline still holds
            drop(c.fd);
            return;
        }
        c.written += static_cast<std::size_t>(n);
    }
    drop(c.fd);
}

}  // namespace porteye::metrics
