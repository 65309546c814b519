// SPDX-License-Identifier: MIT
#pragma once

#include "core/PortEvent.hpp"
#include "service/PortService.hpp"

#include <nlohmann/json.hpp>
#include <systemd/sd-event.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

/// The Unix-socket control interface: newline-delimited JSON-RPC 2.0 over a
/// SOCK_STREAM socket, translated to service::PortService (docs/control-socket.md).
///
/// Limits (all enforced without blocking the loop or other clients):
///  - a request line may be at most kMaxLineBytes (64 KiB); the rest of a longer
///    line is discarded up to the next newline and one -32600 error is sent;
///  - at most kMaxClients (256) connections; extra ones get one error line and are closed;
///  - each client's unsent output is bounded by kMaxOutputBytes (4 MiB): a client
///    that stops reading is disconnected and its watches and subscriptions removed;
///  - at most kMaxSubscriptionsPerClient `events` subscriptions per connection
///    (watches are bounded by the service's per-caller limit).
/// Access is decided per connection from SO_PEERCRED/SO_PEERGROUPS, not by file mode.
namespace porteye::control {

constexpr std::size_t kMaxLineBytes = 64 * 1024;
constexpr std::size_t kMaxClients = 256;
constexpr std::size_t kMaxOutputBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxSubscriptionsPerClient = 64;

struct ControlOptions {
    std::string path = "/run/porteye/porteyed.sock";
    int listenFd = -1;  ///< a listening socket from systemd (sd_listen_fds); takes precedence over path
    std::size_t maxClients = kMaxClients;
    std::size_t maxLineBytes = kMaxLineBytes;
    std::size_t maxOutputBytes = kMaxOutputBytes;
};

/// Serves the control socket on the daemon's sd-event loop (single-threaded:
/// every member runs on the loop thread).
class ControlServer {
public:
    /// `watchesChanged` is called after a watch was added, so the daemon re-arms its watch timer.
    ControlServer(sd_event* event, service::PortService& service, ControlOptions options,
                  std::function<void()> watchesChanged);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    /// Listens on options.path (or adopts options.listenFd). Throws std::system_error with a clear message.
    void start();
    /// Sends host events to `events` subscribers, filtered per subscription and by the access rule.
    void publishEvents(const std::vector<core::PortEvent>& events);

    std::size_t clientCount() const { return m_clients.size(); }

private:
    struct Client;

    static int onAccept(sd_event_source*, int, std::uint32_t, void* self);
    static int onClientIo(sd_event_source*, int, std::uint32_t revents, void* userdata);
    static int onReap(sd_event_source*, void* self);
    static int onRetryAccept(sd_event_source*, std::uint64_t, void* self);

    void listenOnPath();
    void acceptAll();
    void handleIo(Client& client, std::uint32_t revents);
    void readFrom(Client& client);
    void consume(Client& client, std::string_view bytes);
    void sendOverlong(Client& client);
    void handleLine(Client& client, std::string_view line);
    nlohmann::json dispatch(Client& client, const std::string& method, const nlohmann::json& params);
    nlohmann::json addWatch(Client& client, const nlohmann::json& params);
    void send(Client& client, std::string line);
    void enqueue(Client& client, std::string line);
    void flush(Client& client);
    void updateEvents(Client& client);
    /// Marks a client gone: its watches end now, its fd is closed on the next reap (safe mid-callback).
    void drop(Client& client, const std::string& why, bool logAsWarning);
    void reap();

    sd_event* m_event;
    service::PortService& m_service;
    ControlOptions m_options;
    std::function<void()> m_watchesChanged;
    int m_listenFd = -1;
    bool m_ownsPath = false;
    sd_event_source* m_listenSource = nullptr;
    sd_event_source* m_reapSource = nullptr;
    sd_event_source* m_retrySource = nullptr;
    std::map<std::uint64_t, std::unique_ptr<Client>> m_clients;
    std::vector<std::uint64_t> m_doomed;
    std::uint64_t m_nextClientId = 1;
    std::uint64_t m_nextSubscriptionId = 1;
    std::uint64_t m_refused = 0;
    std::uint64_t m_acceptFailures = 0;
};

}  // namespace porteye::control
