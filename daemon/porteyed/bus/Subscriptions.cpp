// SPDX-License-Identifier: MIT
#include "bus/Subscriptions.hpp"

#include "bus/DbusFrontend.hpp"
#include "porteye-adaptor.h"
#include "wire/DbusTypes.hpp"

#include <spdlog/spdlog.h>

namespace porteye::dbus {

/// /org/porteye/PortEye1/subscription/N: the subscriber's own copy of the host's signals.
class SubscriptionObject final : public sdbus::AdaptorInterfaces<org::porteye::PortEye1::Subscription_adaptor> {
public:
    SubscriptionObject(sdbus::IConnection& connection, const std::string& path, std::string owner,
                       std::function<void(const sdbus::Message*)> stop)
        : AdaptorInterfaces(connection, path), m_owner(std::move(owner)), m_stop(std::move(stop)) {
        registerAdaptor();
    }
    ~SubscriptionObject() { unregisterAdaptor(); }

    void sendEvent(const core::PortEvent& event, const std::string& instanceId) {
        static constexpr const char* kNames[] = {"PortAdded", "PortRemoved", "PortOwnerChanged"};
        const char* name = kNames[0];
        if (event.action == core::Action::Removed) name = kNames[1];
        if (event.action == core::Action::OwnerChanged) name = kNames[2];
        auto signal = getObject().createSignal(kSubscriptionInterface, name);
        signal << toDbus(event, instanceId);
        send(signal);
    }
    void sendUnexpected(const core::UnexpectedListener& alert, const std::string& instanceId) {
        auto signal = getObject().createSignal(kSubscriptionInterface, "UnexpectedListener");
        signal << toDbus(alert.event, instanceId) << alert.reason << alert.present;
        send(signal);
    }

private:
    void send(sdbus::Signal& signal) { sendUnicast(getObject(), signal, m_owner); }
    void Stop() override {
        translateErrors([&] { m_stop(getObject().getCurrentlyProcessedMessage()); });
    }

    std::string m_owner;
    std::function<void(const sdbus::Message*)> m_stop;
};

Subscriptions::Subscriptions(sdbus::IConnection& connection, service::PortService& service, CallerOf callerOf)
    : m_connection(connection), m_service(service), m_callerOf(std::move(callerOf)) {}

Subscriptions::~Subscriptions() = default;

sdbus::ObjectPath Subscriptions::add(const service::Caller& caller, core::SocketFilter filter) {
    const bool privileged = m_service.seesEverything(caller);
    if (m_entries.size() >= kMaxTotal)
        throw service::ServiceError(service::ErrorCode::LimitExceeded,
                                    "too many subscriptions (" + std::to_string(kMaxTotal) + ")");
    if (!privileged && m_perUid[caller.uid] >= kMaxPerUid)
        throw service::ServiceError(
            service::ErrorCode::LimitExceeded,
            "too many subscriptions for uid " + std::to_string(caller.uid) + " (" + std::to_string(kMaxPerUid) + ")");
    const auto id = m_nextId++;
    const std::string path = kSubscriptionPathPrefix + std::to_string(id);
    auto object = std::make_unique<SubscriptionObject>(
        m_connection, path, caller.id, [this, id](const sdbus::Message* message) { stop(m_callerOf(message), id); });
    m_entries.emplace(id, Entry{caller, privileged, std::move(filter), std::move(object)});
    if (!privileged) ++m_perUid[caller.uid];
    spdlog::info("subscription {} for {} (uid {})", id, caller.id, caller.uid);
    return sdbus::ObjectPath(path);
}

void Subscriptions::stop(const service::Caller& caller, std::uint64_t id) {
    auto it = m_entries.find(id);
    // Another user's subscription gets the same answer as one that does not exist.
    if (it == m_entries.end() || (it->second.owner.id != caller.id && !m_service.seesEverything(caller)))
        throw service::ServiceError(service::ErrorCode::NoSuchWatch, "no such subscription");
    erase(it);
}

std::size_t Subscriptions::removeOwner(const std::string& owner) {
    std::size_t removed = 0;
    for (auto it = m_entries.begin(); it != m_entries.end();) {
        auto next = std::next(it);
        if (it->second.owner.id == owner) {
            erase(it);
            ++removed;
        }
        it = next;
    }
    return removed;
}

void Subscriptions::erase(std::map<std::uint64_t, Entry>::iterator it) {
    if (!it->second.privileged) {
        auto count = m_perUid.find(it->second.owner.uid);
        if (count != m_perUid.end() && --count->second == 0) m_perUid.erase(count);
    }
    // Not destroyed here: Stop runs inside the object's own callback.
    m_graveyard.push_back(std::move(it->second.object));
    m_entries.erase(it);
}

void Subscriptions::collectGarbage() {
    m_graveyard.clear();
}

void Subscriptions::publish(const std::vector<core::PortEvent>& events) {
    if (m_entries.empty()) return;
    const auto& instance = m_service.instanceId();
    for (const auto& event : events)
        for (auto& [id, entry] : m_entries) {
            const auto shown = m_service.visibleEvent(entry.owner, event);
            if (shown && entry.filter.matches(shown->record)) entry.object->sendEvent(*shown, instance);
        }
}

void Subscriptions::publish(const std::vector<core::UnexpectedListener>& alerts) {
    if (m_entries.empty()) return;
    const auto& instance = m_service.instanceId();
    for (const auto& alert : alerts)
        for (auto& [id, entry] : m_entries) {
            const auto shown = m_service.visibleAlert(entry.owner, alert);
            if (shown && entry.filter.matches(shown->event.record)) entry.object->sendUnexpected(*shown, instance);
        }
}

}  // namespace porteye::dbus
