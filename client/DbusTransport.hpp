// SPDX-License-Identifier: MIT
#pragma once

#include "Transport.hpp"
#include "wire/BusConnection.hpp"

#include <memory>

namespace sdbus {
class IConnection;
}

namespace porteye::cli {

class SubscriptionProxy;

/// Talks to porteyed over D-Bus (the default transport) through the proxy
/// generated from org.porteye.PortEye1.xml.
class DbusTransport final : public ITransport {
public:
    /// Connects at once; throws CommandError(kExitUnavailable) when the bus cannot be reached.
    explicit DbusTransport(const dbus::BusSpec& bus);
    ~DbusTransport() override;

    std::vector<core::SocketRecord> list(const core::SocketFilter& filter) override;
    void watch(std::uint32_t pid, const WatchOptions& options, const WatchCallback& onChange) override;
    std::vector<core::PortEvent> history(const core::HistoryFilter& filter) override;
    DaemonStatus status() override;
    StreamEnd events(const core::SocketFilter& filter, const EventCallback& onEvent,
                     const StreamOptions& options) override;
    StreamEnd unexpected(const core::SocketFilter& filter, const UnexpectedCallback& onAlert,
                         const StreamOptions& options) override;

private:
    /// Dispatches bus messages until `done()`, a stop signal or the deadline (if set).
    StreamEnd runUntil(const std::function<bool()>& done,
                       std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

    /// Subscribes (Subscribe: every user's own events, sent to this connection alone), lets
    /// `attach` set the handlers, and dispatches until they set `finished`, a stop signal, the
    /// deadline or porteyed leaving the bus.
    StreamEnd follow(const core::SocketFilter& filter,
                     const std::function<void(SubscriptionProxy&, bool& finished)>& attach,
                     const StreamOptions& options);

    std::unique_ptr<sdbus::IConnection> m_connection;
    std::string m_busName;
};

}  // namespace porteye::cli
