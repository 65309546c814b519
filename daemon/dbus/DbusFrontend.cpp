// SPDX-License-Identifier: MIT
#include "dbus/DbusFrontend.hpp"

#include "dbus/DbusTypes.hpp"
#include "porteye-adaptor.h"
#include "protocol/Json.hpp"

#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace porteye::dbus {

namespace {

std::string errorName(service::ErrorCode code) {
    return std::string(core::errorSpec(code).name);
}

std::vector<std::uint32_t> groupsOfUser(std::uint32_t uid, std::uint32_t gid) {
    std::vector<std::uint32_t> result;
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return result;
    int count = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    if (getgrouplist(pw.pw_name, gid, groups.data(), &count) < 0) {
        groups.resize(static_cast<std::size_t>(count));
        if (getgrouplist(pw.pw_name, gid, groups.data(), &count) < 0) return result;
    }
    result.assign(groups.begin(), groups.begin() + count);
    return result;
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

std::vector<EventStruct> toDbus(const std::vector<core::PortEvent>& events) {
    std::vector<EventStruct> out;
    out.reserve(events.size());
    for (const auto& e : events)
        out.push_back(dbus::toDbus(e));
    return out;
}

}  // namespace

void translateErrors(const std::function<void()>& body) {
    try {
        body();
    } catch (const sdbus::Error&) {
        throw;
    } catch (const service::ServiceError& e) {
        throw sdbus::Error(kErrorPrefix + errorName(e.code()), e.what());
    } catch (const protocol::InvalidArgument& e) {
        throw sdbus::Error(std::string(kErrorPrefix) + "InvalidArgument", e.what());
    } catch (const std::exception& e) {
        spdlog::warn("D-Bus call failed: {}", e.what());
        throw sdbus::Error(std::string(kErrorPrefix) + "Failed", e.what());
    }
}

service::Caller callerOf(const sdbus::Message* message) {
    service::Caller caller;
    if (message == nullptr) throw sdbus::Error(std::string(kErrorPrefix) + "Failed", "no current message");
    caller.id = message->getSender();
    try {
        caller.uid = message->getCredsUid();
        caller.gid = message->getCredsGid();
    } catch (const sdbus::Error& e) {
        // Without credentials the caller cannot be authorised: refuse rather than guess.
        throw sdbus::Error(std::string(kErrorPrefix) + "AccessDenied", "cannot read the caller's credentials");
    }
    try {
        for (gid_t g : message->getCredsSupplementaryGids())
            caller.groups.push_back(g);
    } catch (const sdbus::Error&) {
        caller.groups = groupsOfUser(caller.uid, caller.gid);
    }
    return caller;
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
        if (event.action == core::Action::Added)
            emitPortAdded(dbus::toDbus(event));
        else
            emitPortRemoved(dbus::toDbus(event));
    }

private:
    service::Caller caller() const { return callerOf(getObject().getCurrentlyProcessedMessage()); }
    service::PortService& svc() { return m_frontend.service(); }

    std::vector<RecordStruct> ListPorts(const Options& filter) override {
        std::vector<RecordStruct> out;
        translateErrors([&] {
            const auto who = caller();
            for (const auto& r : svc().list(who, protocol::listQueryFromJson(optionsToJson(filter))))
                out.push_back(dbus::toDbus(r));
        });
        return out;
    }
    std::vector<EventStruct> GetHistory(const Options& filter) override {
        std::vector<EventStruct> out;
        translateErrors([&] {
            const auto who = caller();
            out = toDbus(svc().history(who, protocol::historyFilterFromJson(optionsToJson(filter))));
        });
        return out;
    }
    sdbus::ObjectPath Watch(const std::uint32_t& pid, const Options& options) override {
        sdbus::ObjectPath path;
        translateErrors([&] { path = m_frontend.createWatch(caller(), pid, options); });
        return path;
    }
    void Unwatch(const sdbus::ObjectPath& watch) override {
        translateErrors([&] {
            auto id = watchIdFromPath(watch);
            if (!id) throw service::ServiceError(service::ErrorCode::NoSuchWatch, "no such watch: " + watch);
            m_frontend.endWatch(caller(), *id);
        });
    }
    // Property reads are method calls too: each answers for its caller, by the one visibility rule.
    // sdbus-c++ 1.2 gives property getters no current message: host-wide until the lead's helper
    // moves the counters to a per-caller method.
    service::ServiceStatus statusForCaller() { return svc().hostStatus(); }
    std::string Version() override { return statusForCaller().version; }
    double PollInterval() override { return statusForCaller().pollIntervalSeconds; }
    std::uint32_t SocketCount() override { return static_cast<std::uint32_t>(statusForCaller().sockets); }
    std::uint32_t HistorySize() override { return static_cast<std::uint32_t>(statusForCaller().historySize); }
    std::uint32_t HistoryCapacity() override { return static_cast<std::uint32_t>(statusForCaller().historyCapacity); }
    std::uint64_t HistoryDropped() override { return statusForCaller().historyDropped; }
    std::uint64_t NextSequence() override { return statusForCaller().nextSequence; }
    std::uint32_t ActiveWatches() override { return static_cast<std::uint32_t>(statusForCaller().watches); }

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
               << toDbus(change.events);
        send(signal);
    }
    void sendExited(std::uint32_t pid) {
        auto signal = getObject().createSignal(kWatchInterface, "Exited");
        signal << pid;
        send(signal);
    }

private:
    void send(sdbus::Signal& signal) {
        signal.setDestination(m_info.owner);
        try {
            getObject().emitSignal(signal);
        } catch (const sdbus::Error& e) {
            spdlog::debug("watch {} signal not sent: {}", m_info.id, e.what());
        }
    }

    void Stop() override {
        translateErrors([&] { m_frontend.endWatch(callerOf(getObject().getCurrentlyProcessedMessage()), m_info.id); });
    }
    std::uint32_t Pid() override { return m_info.pid; }
    double Interval() override { return m_info.intervalSeconds; }
    bool Children() override { return m_info.includeChildren; }

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
            onNameOwnerChanged(name, oldOwner, newOwner);
        });
    m_busDriver->finishRegistration();
}

DbusFrontend::~DbusFrontend() {
    // Watches belong to clients of this connection; without it nobody receives them.
    std::vector<service::WatchId> ids;
    for (const auto& [id, object] : m_watchObjects)
        ids.push_back(id);
    for (auto id : ids)
        if (auto info = m_service.watch(id)) m_service.removeWatchesOf(info->owner, service::WatchEnd::Shutdown);
}

void DbusFrontend::emitEvents(const std::vector<core::PortEvent>& events) {
    for (const auto& event : events) {
        try {
            m_manager->emitEvent(event);
        } catch (const sdbus::Error& e) {
            spdlog::warn("cannot emit signal: {}", e.what());
        }
    }
}

sdbus::ObjectPath DbusFrontend::createWatch(const service::Caller& caller, std::uint32_t pid,
                                            const std::map<std::string, sdbus::Variant>& options) {
    const auto params = protocol::watchParamsFromJson(optionsToJson(options));
    service::WatchRequest request{pid, params.intervalSeconds, params.includeChildren, params.filter};
    // The id is known only after the service accepts the watch; its first step runs
    // on a later loop iteration, by when the holder is filled.
    auto idHolder = std::make_shared<service::WatchId>(0);
    service::WatchSink sink;
    sink.onChange = [this, idHolder](const core::PortChange& change) {
        auto it = m_watchObjects.find(*idHolder);
        if (it != m_watchObjects.end()) it->second->sendPortsChanged(change);
    };
    sink.onEnd = [this, idHolder](service::WatchEnd reason, std::uint32_t watchedPid) {
        auto it = m_watchObjects.find(*idHolder);
        if (it == m_watchObjects.end()) return;
        if (reason == service::WatchEnd::ProcessExited) it->second->sendExited(watchedPid);
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
    m_graveyard.push_back(std::move(it->second));
    m_watchObjects.erase(it);
}

void DbusFrontend::collectGarbage() {
    m_graveyard.clear();
}

void DbusFrontend::onNameOwnerChanged(const std::string& name, const std::string&, const std::string& newOwner) {
    if (!newOwner.empty() || name.empty() || name[0] != ':') return;
    const auto removed = m_service.removeWatchesOf(name, service::WatchEnd::ClientGone);
    if (removed > 0) spdlog::info("client {} left the bus: dropped {} watch(es)", name, removed);
}

}  // namespace porteye::dbus
