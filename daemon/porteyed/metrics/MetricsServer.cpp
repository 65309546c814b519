// SPDX-License-Identifier: MIT
#include "metrics/MetricsServer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

/// A rendered text younger than this is served as it is: a scraper in a loop costs the event
/// loop at most a few renders a second.
constexpr auto kFreshFor = std::chrono::milliseconds(250);
/// How long a scrape waits for the loop to render; then the last text is served.
constexpr auto kRenderWait = std::chrono::seconds(2);

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

MetricsServer::MetricsServer(sd_event* event, MetricsServerOptions options, std::function<std::string()> render)
    : m_event(sd_event_ref(event)), m_options(std::move(options)), m_render(std::move(render)) {}

MetricsServer::~MetricsServer() {
    if (m_server) m_server->stop();  // closes the listening socket; the pool finishes its clients
    if (m_thread.joinable()) m_thread.join();
    if (m_wakeSource) sd_event_source_disable_unref(m_wakeSource);
    if (m_wakeFd >= 0) ::close(m_wakeFd);
    if (!m_ownedPath.empty()) ::unlink(m_ownedPath.c_str());
    sd_event_unref(m_event);
}

http::Admission MetricsServer::admit(const http::PeerIdentity& peer) const {
    // Per uid where the kernel can tell (a Unix socket, a loopback connection), per address
    // otherwise; root's scrapes may also use the reserved workers, so no user's flood reaches them.
    if (peer.uid) {
        const bool root = *peer.uid == 0;
        return {true, "uid:" + std::to_string(*peer.uid), root ? m_options.workers : m_options.perPeer, root};
    }
    if (peer.loopback || peer.unixSocket) return {};  // the client end is gone already
    return {true, "address:" + peer.address, m_options.perPeer, false};
}

void MetricsServer::start() {
    std::string error;
    const auto address = parseListenAddress(m_options.listen, error);
    if (!address) throw std::invalid_argument("metrics address " + m_options.listen + ": " + error);
    const int family = address->unixSocket ? AF_UNIX : address->family;
    m_listenFd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

    // The loop renders; HTTP threads only copy the last text. A scrape wakes the loop through an
    // eventfd when the text is stale, and waits (bounded) for the new one.
    m_wakeFd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m_wakeFd < 0) fail("cannot create an eventfd");
    if (int r = sd_event_add_io(m_event, &m_wakeSource, m_wakeFd, EPOLLIN, onWake, this); r < 0) {
        errno = -r;
        fail("cannot watch the metrics eventfd");
    }
    refresh();

    http::GuardOptions guard;
    guard.workers = m_options.workers;
    guard.reserve = m_options.reserve;
    guard.requestDeadline = std::chrono::milliseconds(m_options.timeoutUsec / 1000);
    guard.writeTimeout = guard.requestDeadline;
    guard.keepAliveMax = 1;  // one scrape per connection: Prometheus reconnects cheaply
    m_server = std::make_unique<http::GuardedServer>(guard, [this](const http::PeerIdentity& p) { return admit(p); });
    m_server->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) { scrape(res); });
    const auto notAllowed = [](const httplib::Request&, httplib::Response& res) {
        res.status = 405;
        res.set_header("Allow", "GET, HEAD");
    };
    m_server->Post("/metrics", notAllowed);
    m_server->Put("/metrics", notAllowed);
    m_server->Patch("/metrics", notAllowed);
    m_server->Delete("/metrics", notAllowed);
    m_server->Options("/metrics", notAllowed);
    const int fd = m_listenFd;
    m_listenFd = -1;  // the server owns it now, and closes it on stop()
    m_thread = std::thread([this, fd] { m_server->listenOn(fd); });
}

int MetricsServer::onWake(sd_event_source*, int fd, std::uint32_t, void* self) {
    std::uint64_t count;
    while (::read(fd, &count, sizeof count) > 0) {
    }
    static_cast<MetricsServer*>(self)->refresh();
    return 0;
}

void MetricsServer::refresh() {
    std::string text;
    try {
        text = m_render();
    } catch (const std::exception& e) {
        spdlog::warn("cannot render /metrics: {}", e.what());
        return;
    }
    auto body = std::make_shared<const std::string>(std::move(text));
    {
        std::lock_guard lock(m_mutex);
        m_text = std::move(body);
        m_renderedAt = std::chrono::steady_clock::now();
        ++m_generation;
    }
    m_rendered.notify_all();
}

void MetricsServer::scrape(httplib::Response& res) {
    std::shared_ptr<const std::string> text;
    {
        std::unique_lock lock(m_mutex);
        if (std::chrono::steady_clock::now() - m_renderedAt >= kFreshFor) {
            const auto generation = m_generation;
            const std::uint64_t one = 1;
            if (::write(m_wakeFd, &one, sizeof one) < 0) {
                // Full (the loop is behind): it has a wake-up pending anyway.
            }
            m_rendered.wait_for(lock, kRenderWait, [&] { return m_generation != generation; });
        }
        text = m_text;
    }
    m_scrapes.fetch_add(1, std::memory_order_relaxed);
    res.set_content(text ? *text : std::string(), std::string(kContentType));
}

ServerCounters MetricsServer::counters() const {
    ServerCounters c;
    c.scrapes = m_scrapes.load(std::memory_order_relaxed);
    if (m_server) {
        const auto s = m_server->stats();
        c.refused = s.refusedPeers + s.overLimit + s.expired;
        c.clients = s.open;
    }
    return c;
}

}  // namespace porteye::metrics
