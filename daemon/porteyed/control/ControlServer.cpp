// SPDX-License-Identifier: MIT
#include "control/ControlServer.hpp"

#include "wire/Json.hpp"
#include "wire/JsonRpc.hpp"

#include <spdlog/spdlog.h>

#include <limits>

namespace porteye::control {

using nlohmann::json;
namespace rpc = protocol::rpc;

namespace {

constexpr std::uint64_t kMaxId = std::numeric_limits<std::uint64_t>::max();

service::Caller callerOf(ConnectionId id, const PeerIdentity& peer) {
    service::Caller caller;
    caller.uid = peer.uid;
    caller.gid = peer.gid;
    caller.groups = peer.groups;
    caller.id = "socket:" + std::to_string(id);
    return caller;
}

}  // namespace

ControlServer::ControlServer(sd_event* event, service::PortService& service, ControlOptions options,
                             std::function<void()> watchesChanged)
    : m_service(service),
      m_options(std::move(options)),
      m_watchesChanged(std::move(watchesChanged)),
      m_dispatcher(methodTable()),
      m_transport(event, TransportOptions{m_options.path, m_options.listenFd, m_options.limits}, *this,
                  [&service](const PeerIdentity& peer) { return service.seesEverything(callerOf(0, peer)); }) {}

ControlServer::~ControlServer() {
    // porteyed is stopping: every watch ends with "shutdown", told to its client as far as
    // its socket takes it without blocking, then the connections close.
    m_transport.beginShutdown();
    std::vector<std::string> owners;
    for (const auto& [id, s] : m_sessions)
        owners.push_back(s.caller.id);
    for (const auto& owner : owners)
        m_service.removeWatchesOf(owner, service::WatchEnd::Shutdown);
    m_transport.flushAll();
    m_transport.closeAll();
    m_sessions.clear();
}

void ControlServer::start() {
    m_transport.start();
}

std::vector<RpcMethod> ControlServer::methodTable() {
    auto with = [this](auto member) {
        return [this, member](ConnectionId id, const json& params) { return member(id, session(id), params); };
    };
    return {
        {"status", ParamsRule::None, {}, {}, "", with([this](ConnectionId, Session& s, const json&) {
             return status(s);
         })},
        {"list", ParamsRule::Optional, {}, {}, "a filter", with([this](ConnectionId, Session& s, const json& p) {
             return list(s, p);
         })},
        {"history", ParamsRule::Optional, {}, {}, "a filter", with([this](ConnectionId, Session& s, const json& p) {
             return history(s, p);
         })},
        {"watch",
         ParamsRule::Required,
         {"pid"},
         {},
         R"({"pid": N[, "interval": S, "children": B, ...]})",
         with([this](ConnectionId id, Session& s, const json& p) { return watch(id, s, p); })},
        {"unwatch",
         ParamsRule::Required,
         {"watch"},
         {"watch"},
         R"({"watch": ID})",
         with([this](ConnectionId, Session& s, const json& p) { return unwatch(s, p); })},
        {"events", ParamsRule::Optional, {}, {}, "a filter", with([this](ConnectionId, Session& s, const json& p) {
             return subscribe(s, p);
         })},
        {"unsubscribe",
         ParamsRule::Required,
         {"subscription"},
         {"subscription"},
         R"({"subscription": ID})",
         with([this](ConnectionId id, Session& s, const json& p) { return unsubscribe(id, s, p); })},
    };
}

ControlServer::Session& ControlServer::session(ConnectionId id) {
    return m_sessions.at(id);
}

void ControlServer::onOpen(ConnectionId id, const PeerIdentity& peer) {
    Session s;
    s.caller = callerOf(id, peer);
    s.pid = peer.pid;
    s.privileged = m_service.seesEverything(s.caller);
    spdlog::debug("control socket: {} connected (pid {}, uid {}, {} groups{})", s.caller.id, peer.pid, peer.uid,
                  peer.groups.size(), peer.groupsFromKernel ? "" : " from the user database");
    m_sessions.emplace(id, std::move(s));
}

void ControlServer::onLine(ConnectionId id, std::string_view line) {
    std::string reply = m_dispatcher.handle(id, line);
    if (!reply.empty()) m_transport.send(id, std::move(reply));
}

void ControlServer::onOverlongLine(ConnectionId id) {
    m_transport.send(id, RpcDispatcher::overlongLine(m_options.limits.maxLineBytes));
}

bool ControlServer::keepsStreaming(ConnectionId id) const {
    auto it = m_sessions.find(id);
    return it != m_sessions.end() && (!it->second.watches.empty() || !it->second.subscriptions.empty());
}

std::string ControlServer::refusalLine(const std::string& why) {
    return RpcDispatcher::refusalLine(why);
}

void ControlServer::onClose(ConnectionId id) {
    auto it = m_sessions.find(id);
    if (it == m_sessions.end()) return;
    Session s = std::move(it->second);
    m_sessions.erase(it);
    if (!s.privileged && !s.subscriptions.empty()) {
        auto& count = m_subscriptionsPerUid[s.caller.uid];
        count -= std::min(count, s.subscriptions.size());
        if (count == 0) m_subscriptionsPerUid.erase(s.caller.uid);
    }
    // Watches end now; their sinks find no session and send nothing.
    const auto removed = m_service.removeWatchesOf(s.caller.id);
    if (removed > 0) spdlog::info("control socket: {} went away; {} watch(es) removed", s.caller.id, removed);
}

json ControlServer::status(Session& s) {
    const auto st = m_service.status(s.caller);
    json reply = protocol::toJson(st);
    reply["polls"] = st.polls;  // always present here, even at 0
    reply["failed_polls"] = st.failedPolls;
    reply["protocol_version"] = protocol::kProtocolVersion;
    return reply;
}

json ControlServer::list(Session& s, const json& params) {
    json out = json::array();
    for (const auto& r : m_service.list(s.caller, protocol::listQueryFromJson(params)))
        out.push_back(protocol::toJson(r));
    return out;
}

json ControlServer::history(Session& s, const json& params) {
    json out = json::array();
    for (const auto& e : m_service.history(s.caller, protocol::historyFilterFromJson(params)))
        out.push_back(protocol::toJson(e));
    return out;
}

json ControlServer::watch(ConnectionId connection, Session& s, const json& params) {
    const auto pid =
        static_cast<std::uint32_t>(unsignedParam(params, "pid", std::numeric_limits<std::uint32_t>::max()));
    json options = params;
    options.erase("pid");
    const auto watchParams = protocol::watchParamsFromJson(options);
    service::WatchRequest request{pid, watchParams.intervalSeconds, watchParams.includeChildren, watchParams.filter};

    // The id is known only once the service accepted the watch; the first step runs on a later loop turn.
    auto holder = std::make_shared<service::WatchId>(0);
    service::WatchSink sink;
    sink.onChange = [this, connection, holder, pid](const core::PortChange& change) {
        if (!m_sessions.contains(connection)) return;
        json body = protocol::toJson(pid, change, m_service.monitor().clock().now());
        body["watch"] = *holder;
        body["instance_id"] = m_service.instanceId();
        m_transport.send(connection, rpc::toLine(rpc::notification("watch.changed", body)));
    };
    sink.onEnd = [this, connection, holder](service::WatchEnd reason, std::uint32_t watchedPid) {
        auto it = m_sessions.find(connection);
        if (it == m_sessions.end()) return;
        it->second.watches.erase(*holder);
        json body{{"watch", *holder}, {"pid", watchedPid}, {"instance_id", m_service.instanceId()}};
        // "watch.exited" is kept for the process's exit, the event clients already know;
        // every other end is "watch.ended" with its reason, whoever ended it.
        if (reason == service::WatchEnd::ProcessExited) {
            m_transport.send(connection, rpc::toLine(rpc::notification("watch.exited", body)));
        } else {
            body["reason"] = std::string(service::watchEndName(reason));
            m_transport.send(connection, rpc::toLine(rpc::notification("watch.ended", body)));
        }
        m_transport.streamsChanged(connection);
    };
    const auto id = m_service.addWatch(s.caller, request, std::move(sink));
    *holder = id;
    s.watches.insert(id);
    spdlog::info("watch {}: PID {} every {}s for {} (uid {})", id, pid, request.intervalSeconds, s.caller.id,
                 s.caller.uid);
    if (m_watchesChanged) m_watchesChanged();
    return json{{"watch", id}};
}

json ControlServer::unwatch(Session& s, const json& params) {
    const auto id = unsignedParam(params, "watch", kMaxId);
    m_service.removeWatch(s.caller, id);
    spdlog::info("watch {}: ended by {}", id, s.caller.id);
    return true;
}

json ControlServer::subscribe(Session& s, const json& params) {
    // "unexpected": true narrows the stream to unexpected-listener alerts; the rest is the filter.
    json filterParams = params;
    bool unexpectedOnly = false;
    if (filterParams.is_object() && filterParams.contains("unexpected")) {
        if (!filterParams["unexpected"].is_boolean()) throw protocol::InvalidArgument("'unexpected' must be a boolean");
        unexpectedOnly = filterParams["unexpected"].get<bool>();
        filterParams.erase("unexpected");
    }
    auto filter = protocol::socketFilterFromJson(filterParams);
    if (s.subscriptions.size() >= m_options.maxSubscriptionsPerClient)
        throw service::ServiceError(
            service::ErrorCode::LimitExceeded,
            "too many subscriptions on one connection (" + std::to_string(m_options.maxSubscriptionsPerClient) + ")");
    if (!s.privileged) {
        auto& count = m_subscriptionsPerUid[s.caller.uid];
        if (count >= m_options.maxSubscriptionsPerUid)
            throw service::ServiceError(service::ErrorCode::LimitExceeded,
                                        "too many subscriptions for uid " + std::to_string(s.caller.uid) + " (" +
                                            std::to_string(m_options.maxSubscriptionsPerUid) + ")");
        ++count;
    }
    const auto id = m_nextSubscriptionId++;
    s.subscriptions.emplace(id, std::move(filter));
    if (unexpectedOnly) s.unexpectedOnly.insert(id);
    return json{{"subscription", id}};
}

json ControlServer::unsubscribe(ConnectionId connection, Session& s, const json& params) {
    const auto id = unsignedParam(params, "subscription", kMaxId);
    s.unexpectedOnly.erase(id);
    if (s.subscriptions.erase(id) == 0)
        throw service::ServiceError(service::ErrorCode::NoSuchWatch, "no such subscription: " + std::to_string(id));
    if (!s.privileged) {
        auto it = m_subscriptionsPerUid.find(s.caller.uid);
        if (it != m_subscriptionsPerUid.end() && --it->second == 0) m_subscriptionsPerUid.erase(it);
    }
    m_transport.streamsChanged(connection);
    return true;
}

void ControlServer::onEvents(const std::vector<core::PortEvent>& events) {
    if (events.empty()) return;
    // Each event is serialised once, then spliced after the subscription id of each subscriber.
    std::vector<std::string> bodies(events.size());
    const std::string instance = json(m_service.instanceId()).dump();
    std::vector<ConnectionId> subscribers;
    for (const auto& [id, s] : m_sessions)
        if (!s.subscriptions.empty()) subscribers.push_back(id);
    for (ConnectionId connection : subscribers) {
        for (std::size_t i = 0; i < events.size(); ++i) {
            // A send may drop this or another connection (a budget): look the session up each time.
            auto it = m_sessions.find(connection);
            if (it == m_sessions.end()) break;
            const Session& s = it->second;
            const auto shown = m_service.visibleEvent(s.caller, events[i]);
            if (!shown) continue;
            // Most events are shown as they are; only an owner change between users is blanked.
            const bool blanked = !(*shown == events[i]);
            std::string ownBody;
            std::vector<std::uint64_t> matching;
            for (const auto& [subscription, filter] : s.subscriptions)
                if (!s.unexpectedOnly.contains(subscription) && filter.matches(shown->record))
                    matching.push_back(subscription);
            for (std::uint64_t subscription : matching) {
                std::string* body = &bodies[i];
                if (blanked) body = &ownBody;
                if (body->empty()) *body = rpc::toLine(protocol::toJson(*shown));
                // body is "{...}\n": reuse everything after its opening brace.
                std::string line = R"({"jsonrpc":"2.0","method":"event","params":{"subscription":)" +
                                   std::to_string(subscription) + R"(,"instance_id":)" + instance + "," +
                                   body->substr(1);
                line.insert(line.size() - 1, "}");
                if (!m_transport.send(connection, std::move(line))) break;
            }
        }
    }
}

void ControlServer::onUnexpected(const std::vector<core::UnexpectedListener>& alerts) {
    if (alerts.empty()) return;
    // Rare (one per unexpected socket): no splicing, one line per subscriber.
    std::vector<ConnectionId> subscribers;
    for (const auto& [id, s] : m_sessions)
        if (!s.subscriptions.empty()) subscribers.push_back(id);
    for (ConnectionId connection : subscribers) {
        for (const auto& alert : alerts) {
            auto it = m_sessions.find(connection);
            if (it == m_sessions.end()) break;
            const Session& s = it->second;
            const auto shown = m_service.visibleAlert(s.caller, alert);
            if (!shown) continue;
            std::vector<std::uint64_t> matching;
            for (const auto& [subscription, filter] : s.subscriptions)
                if (filter.matches(shown->event.record)) matching.push_back(subscription);
            for (std::uint64_t subscription : matching) {
                json body = protocol::toJson(*shown);
                body["subscription"] = subscription;
                body["instance_id"] = m_service.instanceId();
                if (!m_transport.send(connection, rpc::toLine(rpc::notification("unexpected", body)))) break;
            }
        }
    }
}

}  // namespace porteye::control
