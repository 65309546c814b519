// SPDX-License-Identifier: MIT
#pragma once

#include "control/RpcDispatcher.hpp"
#include "control/UnixSocketTransport.hpp"
#include "core/PortEvent.hpp"
#include "flow/IEventSink.hpp"
#include "service/PortService.hpp"

#include <nlohmann/json.hpp>
#include <systemd/sd-event.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

/// The Unix-socket control interface: newline-delimited JSON-RPC 2.0 translated to
/// service::PortService (docs/control-socket.md). Three parts:
///  - UnixSocketTransport: accept, peer identity, line framing, output queues, backpressure,
///    connection and output quotas per uid;
///  - RpcDispatcher: the method table, request and params checks, replies and error objects;
///  - this class: one session per connection (caller, subscriptions, watches) and the
///    handlers, each a translation to the service.
namespace porteye::control {

struct ControlOptions {
    std::string path = "/run/porteye/porteyed.sock";
    int listenFd = -1;  ///< a listening socket from systemd (sd_listen_fds); takes precedence over path
    TransportLimits limits;
    std::size_t maxSubscriptionsPerClient = 64;
    /// `events` subscriptions of all connections of one unprivileged uid.
    std::size_t maxSubscriptionsPerUid = 128;
};

/// Serves the control socket on the daemon's sd-event loop (single-threaded:
/// every member runs on the loop thread).
class ControlServer final : public flow::IEventSink, private IConnectionHandler {
public:
    /// `watchesChanged` is called after a watch was added, so the daemon re-arms its watch timer.
    ControlServer(sd_event* event, service::PortService& service, ControlOptions options,
                  std::function<void()> watchesChanged);
    ~ControlServer() override;
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    /// Listens on options.path (or adopts options.listenFd). Throws std::system_error with a clear message.
    void start();
    /// Sends host events to `events` subscribers, filtered per subscription and by the access rule.
    void onEvents(const std::vector<core::PortEvent>& events) override;
    /// Sends `unexpected` notifications to `events` subscribers, filtered likewise (docs/control-socket.md).
    void onUnexpected(const std::vector<core::UnexpectedListener>& alerts) override;

    std::size_t clientCount() const { return m_transport.connectionCount(); }

private:
    struct Session {
        service::Caller caller;
        pid_t pid = 0;
        bool privileged = false;
        std::map<std::uint64_t, core::SocketFilter> subscriptions;
        std::set<std::uint64_t> unexpectedOnly;  ///< subscriptions that asked for alerts only
        std::set<service::WatchId> watches;
    };

    // IConnectionHandler
    void onOpen(ConnectionId id, const PeerIdentity& peer) override;
    void onLine(ConnectionId id, std::string_view line) override;
    void onOverlongLine(ConnectionId id) override;
    bool keepsStreaming(ConnectionId id) const override;
    void onClose(ConnectionId id) override;
    std::string refusalLine(const std::string& why) override;

    std::vector<RpcMethod> methodTable();
    Session& session(ConnectionId id);
    nlohmann::json status(Session& s);
    nlohmann::json list(Session& s, const nlohmann::json& params);
    nlohmann::json history(Session& s, const nlohmann::json& params);
    nlohmann::json watch(ConnectionId id, Session& s, const nlohmann::json& params);
    nlohmann::json unwatch(Session& s, const nlohmann::json& params);
    nlohmann::json subscribe(Session& s, const nlohmann::json& params);
    nlohmann::json unsubscribe(ConnectionId id, Session& s, const nlohmann::json& params);

    service::PortService& m_service;
    ControlOptions m_options;
    std::function<void()> m_watchesChanged;
    std::map<ConnectionId, Session> m_sessions;
    std::map<std::uint32_t, std::size_t> m_subscriptionsPerUid;  ///< unprivileged uids only
    std::uint64_t m_nextSubscriptionId = 1;
    RpcDispatcher m_dispatcher;
    UnixSocketTransport m_transport;  ///< last: destroyed first, while the sessions still exist
};

}  // namespace porteye::control
