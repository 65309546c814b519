// SPDX-License-Identifier: MIT
#include "DbusTransport.hpp"

#include "ExitCode.hpp"
#include "core/Errors.hpp"
#include "wire/DbusTypes.hpp"
#include "porteye-proxy.h"
#include "wire/RequestOptions.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <ctime>

namespace porteye::cli {
namespace {

const std::string kUnreachableHint =
    "Start it with `systemctl start porteyed`, or use --local to read the kernel directly.";

[[noreturn]] void rethrow(const sdbus::Error& e) {
    const std::string& name = e.getName();
    const std::string prefix = dbus::kErrorPrefix;
    if (name == "org.freedesktop.DBus.Error.ServiceUnknown" || name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
        name == "org.freedesktop.DBus.Error.NoReply" || name == "org.freedesktop.DBus.Error.Disconnected")
        throw CommandError(kExitUnavailable,
                           "porteyed is not running on this bus (" + e.getMessage() + "). " + kUnreachableHint);
    if (name == "org.freedesktop.DBus.Error.AccessDenied") throw CommandError(kExitAccessDenied, e.getMessage());
    // porteyed's own errors: exit codes from the one error table both front-ends use.
    if (name.rfind(prefix, 0) == 0)
        if (auto code = core::errorByName(std::string_view(name).substr(prefix.size())))
            throw CommandError(core::errorSpec(*code).exitCode, e.getMessage());
    throw CommandError(kExitFailure, e.getMessage() + " (" + name + ")");
}

class ManagerProxy final : public sdbus::ProxyInterfaces<org::porteye::PortEye1_proxy> {
public:
    explicit ManagerProxy(sdbus::IConnection& connection)
        : ProxyInterfaces(connection, dbus::kBusName, dbus::kObjectPath) {
        registerProxy();
    }
    ~ManagerProxy() { unregisterProxy(); }

private:
    // The broadcast signals reach root and group porteye only; streams use a Subscription.
    void onUnexpectedListener(const dbus::EventStruct&, const std::string&, const bool&) override {}
    void onPortAdded(const dbus::EventStruct&) override {}
    void onPortRemoved(const dbus::EventStruct&) override {}
    void onPortOwnerChanged(const dbus::EventStruct&) override {}
};

class WatchProxy final : public sdbus::ProxyInterfaces<org::porteye::PortEye1::Watch_proxy> {
public:
    WatchProxy(sdbus::IConnection& connection, const std::string& path)
        : ProxyInterfaces(connection, dbus::kBusName, path) {
        registerProxy();
    }
    ~WatchProxy() { unregisterProxy(); }
    std::function<void(const core::PortChange&)> onChange;
    /// The watch ended for another reason than the process's exit ("unwatched", "shutdown").
    std::function<void(const std::string& reason)> onEnd;

private:
    void onPortsChanged(const std::vector<std::uint16_t>& opened, const std::vector<std::uint16_t>& closed,
                        const std::vector<std::uint16_t>& active,
                        const std::vector<dbus::EventStruct>& events) override {
        core::PortChange change;
        change.opened.insert(opened.begin(), opened.end());
        change.closed.insert(closed.begin(), closed.end());
        change.active.insert(active.begin(), active.end());
        for (const auto& e : events)
            change.events.push_back(dbus::eventFromDbus(e));
        if (onChange) onChange(change);
    }
    void onExited(const std::uint32_t&) override {
        core::PortChange change;
        change.processExited = true;
        if (onChange) onChange(change);
    }
    void onEnded(const std::string& reason) override {
        if (onEnd) onEnd(reason);
    }
};

/// Follows who owns porteyed's bus name, so a stream ends when the daemon it talks to
/// leaves the bus (stopped, crashed or replaced) instead of waiting for signals that
/// will never come. The match is in place once the constructor returns (sdbus-c++
/// installs it synchronously), so create it before the call that starts the stream.
class DaemonPresence {
public:
    explicit DaemonPresence(sdbus::IConnection& connection)
        : m_slot(connection.addMatch(
              std::string("type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                          "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='") +
                  dbus::kBusName + "'",
              [this](sdbus::Message& message) {
                  std::string name, oldOwner, newOwner;
                  message >> name >> oldOwner >> newOwner;
                  // Whoever owned the name before is the instance our watch lived in.
                  if (name == dbus::kBusName && !oldOwner.empty()) m_gone = true;
              })) {}
    bool gone() const { return m_gone; }

private:
    bool m_gone = false;  // before m_slot: the handler may run as soon as the match exists
    sdbus::Slot m_slot;
};

[[noreturn]] void throwDaemonLeft() {
    throw CommandError(kExitUnavailable, "porteyed left the bus (it stopped or restarted); the stream ended");
}

}  // namespace

/// One Subscribe: the host's events as porteyed lets this user see them, sent to us alone, so
/// every user's stream is live (the broadcast signals are for root and group porteye only).
class SubscriptionProxy final : public sdbus::ProxyInterfaces<org::porteye::PortEye1::Subscription_proxy> {
public:
    SubscriptionProxy(sdbus::IConnection& connection, const std::string& path)
        : ProxyInterfaces(connection, dbus::kBusName, path) {
        registerProxy();
    }
    ~SubscriptionProxy() { unregisterProxy(); }
    std::function<void(const dbus::EventStruct&)> onEvent;
    std::function<void(const dbus::EventStruct&, const std::string&, bool)> onUnexpected;

private:
    void onUnexpectedListener(const dbus::EventStruct& event, const std::string& reason, const bool& present) override {
        if (onUnexpected) onUnexpected(event, reason, present);
    }
    void onPortAdded(const dbus::EventStruct& event) override {
        if (onEvent) onEvent(event);
    }
    void onPortRemoved(const dbus::EventStruct& event) override {
        if (onEvent) onEvent(event);
    }
    void onPortOwnerChanged(const dbus::EventStruct& event) override {
        if (onEvent) onEvent(event);
    }
};

DbusTransport::DbusTransport(const dbus::BusSpec& bus) {
    try {
        m_connection = dbus::openBus(bus);
    } catch (const sdbus::Error& e) {
        throw CommandError(
            kExitUnavailable,
            "cannot connect to the " +
                (bus.address.empty()
                     ? std::string(bus.kind == dbus::BusSpec::Kind::System ? "system" : "session") + " bus"
                     : "bus at " + bus.address) +
                " to reach porteyed (" + e.getMessage() + "). " + kUnreachableHint);
    }
}

DbusTransport::~DbusTransport() = default;

std::vector<core::SocketRecord> DbusTransport::list(const core::SocketFilter& filter) {
    try {
        ManagerProxy proxy(*m_connection);
        std::vector<core::SocketRecord> out;
        for (const auto& r : proxy.ListPorts(dbus::optionsToDbus(protocol::toOptions(filter))))
            out.push_back(dbus::recordFromDbus(r));
        return out;
    } catch (const sdbus::Error& e) {
        rethrow(e);
    }
}

std::vector<core::PortEvent> DbusTransport::history(const core::HistoryFilter& filter) {
    try {
        ManagerProxy proxy(*m_connection);
        std::vector<core::PortEvent> out;
        for (const auto& e : proxy.GetHistory(dbus::optionsToDbus(protocol::toOptions(filter))))
            out.push_back(dbus::eventFromDbus(e));
        return out;
    } catch (const sdbus::Error& e) {
        rethrow(e);
    }
}

DaemonStatus DbusTransport::status() {
    try {
        ManagerProxy proxy(*m_connection);
        return dbus::statusFromDbus(proxy.GetStatus());
    } catch (const sdbus::Error& e) {
        rethrow(e);
    }
}

StreamEnd DbusTransport::runUntil(const std::function<bool()>& done,
                                  std::optional<std::chrono::steady_clock::time_point> deadline) {
    const int signals = stopSignalFd();
    while (!done()) {
        while (m_connection->processPendingRequest()) {
            if (done()) return StreamEnd::Callback;
        }
        const auto data = m_connection->getEventLoopPollData();
        int timeoutMs = -1;
        if (data.timeout_usec != UINT64_MAX) {
            timespec now{};
            clock_gettime(CLOCK_MONOTONIC, &now);
            const auto nowUs =
                static_cast<std::uint64_t>(now.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(now.tv_nsec) / 1000;
            timeoutMs = data.timeout_usec <= nowUs ? 0 : static_cast<int>((data.timeout_usec - nowUs + 999) / 1000);
        }
        if (deadline) {
            const auto left =
                std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) return StreamEnd::Deadline;
            const int leftMs = static_cast<int>(std::min<std::int64_t>(left, 24 * 3600 * 1000));
            timeoutMs = timeoutMs < 0 ? leftMs : std::min(timeoutMs, leftMs);
        }
        pollfd fds[2] = {{data.fd, data.events, 0}, {signals, POLLIN, 0}};
        if (poll(fds, 2, timeoutMs) < 0 && errno != EINTR) throw CommandError(kExitFailure, "poll failed");
        if (fds[1].revents & POLLIN) return StreamEnd::Signal;
    }
    return StreamEnd::Callback;
}

void DbusTransport::watch(std::uint32_t pid, const WatchOptions& options, const WatchCallback& onChange) {
    try {
        DaemonPresence presence(*m_connection);
        ManagerProxy manager(*m_connection);
        protocol::WatchParams params{options.interval.count(), options.includeChildren, options.filter};
        const sdbus::ObjectPath path = manager.Watch(pid, dbus::optionsToDbus(protocol::toOptions(params)));
        WatchProxy watch(*m_connection, path);
        if (options.onStarted) options.onStarted();
        bool finished = false;
        std::string endReason;
        watch.onChange = [&](const core::PortChange& change) {
            if (finished) return;
            if (!onChange(change) || change.processExited) finished = true;
        };
        watch.onEnd = [&](const std::string& reason) {
            endReason = reason;
            finished = true;
        };
        // Ended("shutdown") comes from a daemon that stops cleanly; one that crashes or
        // is killed only drops off the bus, which `presence` sees.
        const bool stopped = runUntil([&] { return finished || presence.gone(); }) == StreamEnd::Signal;
        if (endReason == "shutdown") throw CommandError(kExitUnavailable, "porteyed stopped; the watch ended");
        if (!endReason.empty()) throw CommandError(kExitFailure, "porteyed ended the watch (" + endReason + ")");
        if (!stopped && !finished) throwDaemonLeft();
        if (stopped) {
            try {
                manager.Unwatch(path);
            } catch (const sdbus::Error&) {
                // The daemon drops it anyway when we leave the bus.
            }
        }
    } catch (const sdbus::Error& e) {
        rethrow(e);
    }
}

StreamEnd DbusTransport::follow(const core::SocketFilter& filter,
                                const std::function<void(SubscriptionProxy&, bool& finished)>& attach,
                                const StreamOptions& options) {
    try {
        DaemonPresence presence(*m_connection);
        ManagerProxy manager(*m_connection);
        // Signals that arrive between the reply and the proxy's match wait in the connection's
        // queue, and the proxy's handlers see them when runUntil dispatches: none is lost.
        const sdbus::ObjectPath path = manager.Subscribe(dbus::optionsToDbus(protocol::toOptions(filter)));
        SubscriptionProxy subscription(*m_connection, path);
        bool finished = false;
        attach(subscription, finished);
        // Calls made in onSubscribed (a ListPorts) leave the signals that arrive meanwhile queued for runUntil.
        auto end = StreamEnd::Callback;
        if (!options.onSubscribed || options.onSubscribed()) {
            end = runUntil([&] { return finished || presence.gone(); }, options.deadline);
            if (end == StreamEnd::Callback && !finished) throwDaemonLeft();
        }
        try {
            subscription.Stop();
        } catch (const sdbus::Error&) {
            // porteyed drops it anyway when we leave the bus.
        }
        return end;
    } catch (const sdbus::Error& e) {
        rethrow(e);
    }
}

StreamEnd DbusTransport::events(const core::SocketFilter& filter, const EventCallback& onEvent,
                                const StreamOptions& options) {
    return follow(
        filter,
        [&](SubscriptionProxy& subscription, bool& finished) {
            subscription.onEvent = [&](const dbus::EventStruct& raw) {
                if (finished) return;
                const auto event = dbus::eventFromDbus(raw);
                if (filter.matches(event.record) && !onEvent(event)) finished = true;
            };
        },
        options);
}

StreamEnd DbusTransport::unexpected(const core::SocketFilter& filter, const UnexpectedCallback& onAlert,
                                    const StreamOptions& options) {
    return follow(
        filter,
        [&](SubscriptionProxy& subscription, bool& finished) {
            subscription.onUnexpected = [&](const dbus::EventStruct& raw, const std::string& reason, bool present) {
                if (finished) return;
                core::UnexpectedListener alert{dbus::eventFromDbus(raw), reason, present};
                if (filter.matches(alert.event.record) && !onAlert(alert)) finished = true;
            };
        },
        options);
}

}  // namespace porteye::cli
