// SPDX-License-Identifier: MIT
#include "bus/DbusFrontend.hpp"

#include "core/Errors.hpp"
#include "wire/DbusTypes.hpp"
#include "porteye-adaptor.h"
#include "wire/RequestOptions.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

namespace porteye::dbus {

namespace {

sdbus::Error namedError(core::ErrorCode code, const std::string& message) {
    return sdbus::Error(kErrorPrefix + std::string(core::errorSpec(code).name), message);
}

std::optional<service::WatchId> watchIdFromPath(const std::string& path) {
    const std::string prefix = kWatchPathPrefix;
    if (path.rfind(prefix, 0) != 0) return std::nullopt;
    service::WatchId id = 0;
    const char* begin = path.data() + prefix.size();
    const char* end = path.data() + path.size();
    auto [ptr, ec] = std::from_chars(begin, end, id);
    if (ec != std::errc{} || ptr != end || begin == end) return std::nullopt;
    return id;
}

std::vector<std::uint16_t> toVector(const std::set<std::uint16_t>& ports) {
    return {ports.begin(), ports.end()};
}

std::vector<EventStruct> toDbus(const std::vector<core::PortEvent>& events, const std::string& instanceId) {
    std::vector<EventStruct> out;
    out.reserve(events.size());
    for (const auto& e : events)
        out.push_back(dbus::toDbus(e, instanceId));
    return out;
}

}  // namespace

void translateErrors(const std::function<void()>& body) {
    try {
        body();
    } catch (const sdbus::Error&) {
        throw;
    } catch (const service::ServiceError& e) {
        throw namedError(e.code(), e.what());
    } catch (const protocol::InvalidArgument& e) {
        throw namedError(core::ErrorCode::InvalidArgument, e.what());
    } catch (const std::exception& e) {
        spdlog::warn("D-Bus call failed: {}", e.what());
        throw namedError(core::ErrorCode::Failed, e.what());
    }
}

void sendUnicast(sdbus::IObject& object, sdbus::Signal& signal, const std::string& destination) {
    // With a destination the bus delivers it to that client alone, whatever match rules others hold.
    signal.setDestination(destination);
    try {
        object.emitSignal(signal);
    } catch (const sdbus::Error& e) {
        // A client that left meanwhile: NameOwnerChanged ends what it owned.
        spdlog::debug("signal {} to {} not sent: {}", signal.getMemberName(), destination, e.what());
    }
}

/// /org/porteye/PortEye1: the manager object.
class ManagerObject final : public sdbus::AdaptorInterfaces<org::porteye::PortEye1_adaptor> {
public:
    ManagerObject(sdbus::IConnection& connection, DbusFrontend& frontend)
        : AdaptorInterfaces(connection, kObjectPath), m_frontend(frontend) {
        registerAdaptor();
    }
    ~ManagerObject() { unregisterAdaptor(); }

    void emitEvent(const core::PortEvent& event) {
        const auto wire = dbus::toDbus(event, svc().instanceId());
        switch (event.action) {
            case core::Action::Added:
                return emitPortAdded(wire);
            case core::Action::Removed:
                return emitPortRemoved(wire);
            case core::Action::OwnerChanged:
                return emitPortOwnerChanged(wire);
        }
    }
    void emitUnexpected(const core::UnexpectedListener& alert) {
        emitUnexpectedListener(dbus::toDbus(alert.event, svc().instanceId()), alert.reason, alert.present);
    }
    void emitChanged(const std::vector<std::string>& properties) {
        getObject().emitPropertiesChangedSignal(kInterface, properties);
    }

private:
    service::Caller caller() { return m_frontend.callerOf(getObject().getCurrentlyProcessedMessage()); }
    service::PortService& svc() { return m_frontend.service(); }

    std::vector<RecordStruct> ListPorts(const Options& filter) override {
        DbusFrontend::CallbackScope scope(m_frontend);
        std::vector<RecordStruct> out;
        translateErrors([&] {
            const auto who = caller();
            for (const auto& r : svc().list(who, protocol::listQueryFromOptions(optionsFromDbus(filter))))
                out.push_back(dbus::toDbus(r));
        });
        return out;
    }
    std::vector<EventStruct> GetHistory(const Options& filter) override {
        DbusFrontend::CallbackScope scope(m_frontend);
        std::vector<EventStruct> out;
        translateErrors([&] {
            const auto who = caller();
            out = toDbus(svc().history(who, protocol::historyFilterFromOptions(optionsFromDbus(filter))),
                         svc().instanceId());
        });
        return out;
    }
    Options GetStatus() override {
        DbusFrontend::CallbackScope scope(m_frontend);
        Options out;
        translateErrors([&] { out = statusToDbus(svc().status(caller())); });
        return out;
    }
    sdbus::ObjectPath Watch(const std::uint32_t& pid, const Options& options) override {
        DbusFrontend::CallbackScope scope(m_frontend);
        sdbus::ObjectPath path;
        translateErrors([&] { path = m_frontend.createWatch(caller(), pid, options); });
        return path;
    }
    sdbus::ObjectPath Subscribe(const Options& filter) override {
        DbusFrontend::CallbackScope scope(m_frontend);
        sdbus::ObjectPath path;
        translateErrors([&] {
            const auto who = caller();
            path = m_frontend.subscriptions().add(who, protocol::socketFilterFromOptions(optionsFromDbus(filter)));
        });
        return path;
    }
    void Unwatch(const sdbus::ObjectPath& watch) override {
        DbusFrontend::CallbackScope scope(m_frontend);
        translateErrors([&] {
            auto id = watchIdFromPath(watch);
            if (!id) throw service::ServiceError(service::ErrorCode::NoSuchWatch, "no such watch: " + watch);
            m_frontend.endWatch(caller(), *id);
        });
    }
    // Properties: only what is the same for every caller. A property getter gets no current
    // message in sdbus-c++ 1.2, so it cannot apply the visibility rule; per-caller counters
    // are GetStatus'.
    std::string Version() override { return svc().hostStatus().version; }
    std::string InstanceId() override { return svc().instanceId(); }
    double PollInterval() override { return svc().hostStatus().pollIntervalSeconds; }
    std::uint32_t HistoryCapacity() override { return static_cast<std::uint32_t>(svc().hostStatus().historyCapacity); }

    DbusFrontend& m_frontend;
};

/// /org/porteye/PortEye1/watch/N: one watch; its signals go to its owner only.
class WatchObject final : public sdbus::AdaptorInterfaces<org::porteye::PortEye1::Watch_adaptor> {
public:
    WatchObject(sdbus::IConnection& connection, const std::string& path, DbusFrontend& frontend,
                service::WatchInfo info)
        : AdaptorInterfaces(connection, path), m_frontend(frontend), m_info(std::move(info)) {
        registerAdaptor();
    }
    ~WatchObject() { unregisterAdaptor(); }

    void sendPortsChanged(const core::PortChange& change) {
        auto signal = getObject().createSignal(kWatchInterface, "PortsChanged");
        signal << toVector(change.opened) << toVector(change.closed) << toVector(change.active)
               << toDbus(change.events, m_frontend.service().instanceId());
        send(signal);
    }
    void sendExited(std::uint32_t pid) {
        auto signal = getObject().createSignal(kWatchInterface, "Exited");
        signal << pid;
        send(signal);
    }
    void sendEnded(std::string_view reason) {
        auto signal = getObject().createSignal(kWatchInterface, "Ended");
        signal << std::string(reason);
        send(signal);
    }

private:
    void send(sdbus::Signal& signal) { sendUnicast(getObject(), signal, m_info.owner); }

    service::Caller caller() { return m_frontend.callerOf(getObject().getCurrentlyProcessedMessage()); }

    void Stop() override {
        DbusFrontend::CallbackScope scope(m_frontend);
        translateErrors([&] { m_frontend.endWatch(caller(), m_info.id); });
    }
    Options GetInfo() override {
        DbusFrontend::CallbackScope scope(m_frontend);
        Options out;
        translateErrors([&] {
            // The same answer for a watch that is not the caller's as for one that does not exist.
            const auto info = m_frontend.service().watchFor(caller(), m_info.id);
            if (!info) throw service::ServiceError(service::ErrorCode::NoSuchWatch, "no such watch");
            out = Options{{"pid", sdbus::Variant(info->pid)},
                          {"interval", sdbus::Variant(info->intervalSeconds)},
                          {"children", sdbus::Variant(info->includeChildren)}};
        });
        return out;
    }

    DbusFrontend& m_frontend;
    service::WatchInfo m_info;
};

DbusFrontend::DbusFrontend(sdbus::IConnection& connection, service::PortService& service,
                           std::function<void()> watchesChanged)
    : m_connection(connection), m_service(service), m_watchesChanged(std::move(watchesChanged)) {
    m_manager = std::make_unique<ManagerObject>(connection, *this);
    m_busDriver = sdbus::createProxy(connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    m_busDriver->uponSignal("NameOwnerChanged")
        .onInterface("org.freedesktop.DBus")
        .call([this](const std::string& name, const std::string& oldOwner, const std::string& newOwner) {
            CallbackScope scope(*this);
            onNameOwnerChanged(name, oldOwner, newOwner);
        });
    m_busDriver->finishRegistration();
    m_credentials = std::make_unique<CallerCredentials>(*m_busDriver);
    m_subscriptions = std::make_unique<Subscriptions>(
        connection, service, [this](const sdbus::Message* message) { return callerOf(message); });
    const auto status = m_service.hostStatus();
    m_announcedInterval = status.pollIntervalSeconds;
    m_announcedCapacity = status.historyCapacity;
}

DbusFrontend::~DbusFrontend() {
    // Watches belong to clients of this connection; without it nobody receives them.
    std::vector<std::string> owners;
    for (const auto& [id, object] : m_watchObjects)
        if (auto info = m_service.watch(id)) owners.push_back(info->owner);
    for (const auto& owner : owners)
        m_service.removeWatchesOf(owner, service::WatchEnd::Shutdown);
}

service::Caller DbusFrontend::callerOf(const sdbus::Message* message) {
    if (message == nullptr) throw namedError(core::ErrorCode::Failed, "no current message");
    return m_credentials->lookUp(message->getSender());
}

void DbusFrontend::onEvents(const std::vector<core::PortEvent>& events) {
    for (const auto& event : events) {
        try {
            m_manager->emitEvent(event);
        } catch (const sdbus::Error& e) {
            spdlog::warn("cannot emit signal: {}", e.what());
        }
    }
    m_subscriptions->publish(events);
}

void DbusFrontend::onUnexpected(const std::vector<core::UnexpectedListener>& alerts) {
    for (const auto& alert : alerts) {
        try {
            m_manager->emitUnexpected(alert);
        } catch (const sdbus::Error& e) {
            spdlog::warn("cannot emit signal: {}", e.what());
        }
    }
    m_subscriptions->publish(alerts);
}

void DbusFrontend::settingsChanged() {
    const auto status = m_service.hostStatus();
    std::vector<std::string> changed;
    if (status.pollIntervalSeconds != m_announcedInterval) changed.emplace_back("PollInterval");
    if (status.historyCapacity != m_announcedCapacity) changed.emplace_back("HistoryCapacity");
    m_announcedInterval = status.pollIntervalSeconds;
    m_announcedCapacity = status.historyCapacity;
    if (changed.empty()) return;
    try {
        m_manager->emitChanged(changed);
    } catch (const sdbus::Error& e) {
        spdlog::warn("cannot emit PropertiesChanged: {}", e.what());
    }
}

sdbus::ObjectPath DbusFrontend::createWatch(const service::Caller& caller, std::uint32_t pid,
                                            const std::map<std::string, sdbus::Variant>& options) {
    const auto params = protocol::watchParamsFromOptions(optionsFromDbus(options));
    service::WatchRequest request{pid, params.intervalSeconds, params.includeChildren, params.filter};
    // The id is known only after the service accepts the watch; its first step runs
    // on a later loop iteration, by when the holder is filled.
    auto idHolder = std::make_shared<service::WatchId>(0);
    service::WatchSink sink;
    sink.onChange = [this, idHolder](const core::PortChange& change) {
        auto it = m_watchObjects.find(*idHolder);
        if (it != m_watchObjects.end()) it->second->sendPortsChanged(change);
    };
    // Every end of the watch comes here, whoever ended it and through whichever transport.
    sink.onEnd = [this, idHolder](service::WatchEnd reason, std::uint32_t watchedPid) {
        auto it = m_watchObjects.find(*idHolder);
        if (it == m_watchObjects.end()) return;
        if (reason == service::WatchEnd::ProcessExited)
            it->second->sendExited(watchedPid);
        else if (reason != service::WatchEnd::ClientGone)  // nobody left to tell
            it->second->sendEnded(service::watchEndName(reason));
        dropWatchObject(*idHolder);
    };
    const auto id = m_service.addWatch(caller, request, std::move(sink));
    *idHolder = id;
    const std::string path = kWatchPathPrefix + std::to_string(id);
    try {
        m_watchObjects.emplace(id, std::make_unique<WatchObject>(m_connection, path, *this, *m_service.watch(id)));
    } catch (...) {
        m_service.removeWatch(caller, id);
        throw;
    }
    spdlog::info("watch {}: PID {} every {}s for {} (uid {})", id, pid, request.intervalSeconds, caller.id, caller.uid);
    if (m_watchesChanged) m_watchesChanged();
    return sdbus::ObjectPath(path);
}

void DbusFrontend::endWatch(const service::Caller& caller, service::WatchId id) {
    m_service.removeWatch(caller, id);  // the watch's sink drops its object
}

void DbusFrontend::dropWatchObject(service::WatchId id) {
    auto it = m_watchObjects.find(id);
    if (it == m_watchObjects.end()) return;
    auto object = std::move(it->second);
    m_watchObjects.erase(it);
    // Inside a D-Bus callback (the object's own Stop, say) it must outlive the callback; ended
    // from elsewhere (the control socket, a timer), it leaves the bus now.
    if (m_callbackDepth > 0) m_graveyard.push_back(std::move(object));
}

void DbusFrontend::collectGarbage() {
    m_graveyard.clear();
    m_subscriptions->collectGarbage();
}

void DbusFrontend::onNameOwnerChanged(const std::string& name, const std::string&, const std::string& newOwner) {
    if (!newOwner.empty() || name.empty() || name[0] != ':') return;
    m_credentials->forget(name);
    const auto removed = m_service.removeWatchesOf(name, service::WatchEnd::ClientGone);
    const auto unsubscribed = m_subscriptions->removeOwner(name);
    if (removed > 0 || unsubscribed > 0)
        spdlog::info("client {} left the bus: dropped {} watch(es), {} subscription(s)", name, removed, unsubscribed);
}

}  // namespace porteye::dbus
