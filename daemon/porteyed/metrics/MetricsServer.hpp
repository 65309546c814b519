// SPDX-License-Identifier: MIT
#pragma once

#include "http/GuardedServer.hpp"

#include <systemd/sd-event.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace porteye::metrics {

/// Where /metrics is served: a TCP address (`127.0.0.1:9656`, `[::1]:9656`; port 0 picks a free
/// one) or a Unix socket path (starts with `/`). Host names are refused: no resolver in porteyed.
struct ListenAddress {
    bool unixSocket = false;
    std::string path;  ///< unixSocket
    int family = 0;    ///< AF_INET or AF_INET6
    std::string host;  ///< numeric, without brackets
    std::uint16_t port = 0;
};
/// Parses ADDR as above; on failure returns nullopt and says why in `error`.
std::optional<ListenAddress> parseListenAddress(std::string_view text, std::string& error);

struct MetricsServerOptions {
    std::string listen;
    std::size_t workers = 8;                ///< HTTP threads; each open client holds one
    std::size_t reserve = 2;                ///< of them, kept for root's scrapes
    std::size_t perPeer = 2;                ///< clients one uid (or remote address) may hold at once; root: workers
    std::uint64_t timeoutUsec = 5'000'000;  ///< a whole request must be read by then; each write likewise
};

struct ServerCounters {
    std::uint64_t scrapes = 0;  ///< 200 answers to /metrics
    std::uint64_t refused = 0;  ///< clients refused or cut off (over their limit, too slow, gone)
    std::uint64_t clients = 0;  ///< clients being served now
};

/// /metrics over HTTP/1.1 with cpp-httplib (http::GuardedServer): the peer's uid is found at
/// accept (SO_PEERCRED, or the loopback lookup) and each uid may hold `perPeer` clients, root
/// more and the reserved workers too, so no user's flood of idle connections keeps root's
/// scrapes out; each request has a whole-request deadline; one request per connection.
///
/// Threads: the sd-event loop thread owns `render` (it reads the service) and calls it in
/// refresh(); the HTTP threads (the library's accept loop in m_thread, its worker pool) only
/// copy the last rendered text under m_mutex, and wake the loop (an eventfd) when it is older
/// than 250 ms, waiting up to 2 s for the new one. counters() is safe from any thread.
class MetricsServer {
public:
    MetricsServer(sd_event* event, MetricsServerOptions options, std::function<std::string()> render);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    /// Binds, listens and starts serving; throws std::system_error (or std::invalid_argument for a bad address).
    void start();
    /// What was bound: "127.0.0.1:9656", "[::1]:40123" (the real port when 0 was asked), or the path.
    const std::string& boundAddress() const { return m_bound; }
    ServerCounters counters() const;

private:
    static int onWake(sd_event_source*, int fd, std::uint32_t, void* self);
    http::Admission admit(const http::PeerIdentity& peer) const;
    void refresh();                       ///< loop thread
    void scrape(httplib::Response& res);  ///< HTTP threads

    sd_event* m_event;
    MetricsServerOptions m_options;
    std::function<std::string()> m_render;
    int m_listenFd = -1;  ///< until start() hands it to m_server
    std::string m_bound;
    std::string m_ownedPath;  ///< a Unix socket path to unlink on destruction
    int m_wakeFd = -1;
    sd_event_source* m_wakeSource = nullptr;
    std::unique_ptr<http::GuardedServer> m_server;
    std::thread m_thread;

    mutable std::mutex m_mutex;
    std::condition_variable m_rendered;
    std::shared_ptr<const std::string> m_text;           ///< guarded by m_mutex
    std::chrono::steady_clock::time_point m_renderedAt;  ///< guarded by m_mutex
    std::uint64_t m_generation = 0;                      ///< guarded by m_mutex
    std::atomic<std::uint64_t> m_scrapes{0};
};

}  // namespace porteye::metrics
