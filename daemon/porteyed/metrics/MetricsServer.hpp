// SPDX-License-Identifier: MIT
#pragma once

#include <systemd/sd-event.h>

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
    std::size_t maxClients = 16;            ///< more at once are accepted and closed at once
    std::size_t maxRequestBytes = 8192;     ///< request line and headers; more: 431 and close
    std::uint64_t timeoutUsec = 5'000'000;  ///< a client's whole life: read, answer, written
};

struct ServerCounters {
    std::uint64_t scrapes = 0;  ///< 200 answers to /metrics
    std::uint64_t refused = 0;  ///< clients refused or cut off (too many, too large, too slow)
};

/// A minimal HTTP/1.1 responder on the daemon's sd-event loop (single-threaded, no library):
/// accept, read one request with a size cap and a deadline, answer GET /metrics (200), anything
/// else 404 or 405, close. The body comes from `render`, called once per scrape.
class MetricsServer {
public:
    MetricsServer(sd_event* event, MetricsServerOptions options, std::function<std::string()> render);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    /// Binds and listens; throws std::system_error (or std::invalid_argument for a bad address).
    void start();
    /// What was bound: "127.0.0.1:9656", "[::1]:40123" (the real port when 0 was asked), or the path.
    const std::string& boundAddress() const { return m_bound; }
    std::size_t clientCount() const { return m_clients.size(); }
    const ServerCounters& counters() const { return m_counters; }

private:
    struct Client;
    static int onAccept(sd_event_source*, int, std::uint32_t, void* self);
    static int onClientIo(sd_event_source*, int, std::uint32_t, void* client);
    static int onClientTimeout(sd_event_source*, std::uint64_t, void* client);
    void acceptAll();
    void readRequest(Client& c);
    void answer(Client& c, std::string_view status, std::string_view contentType, std::string body,
                std::string_view extraHeaders = {});
    void writeOut(Client& c);
    void drop(int fd);

    sd_event* m_event;
    MetricsServerOptions m_options;
    std::function<std::string()> m_render;
    int m_listenFd = -1;
    sd_event_source* m_listenSource = nullptr;
    std::string m_bound;
    std::string m_ownedPath;  ///< a Unix socket path to unlink on destruction
    std::map<int, std::unique_ptr<Client>> m_clients;
    ServerCounters m_counters;
};

}  // namespace porteye::metrics
