// SPDX-License-Identifier: MIT
#include "WebServer.hpp"

#include "Assets.hpp"
#include "EventHub.hpp"
#include "ExitCode.hpp"
#include "Query.hpp"
#include "http/GuardedServer.hpp"
#include "sys/LoopbackPeer.hpp"
#include "wire/Json.hpp"
#include "wire/RequestOptions.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace porteye::web {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::size_t kMaxStreams = 16;       ///< open /api/events streams at once
constexpr std::size_t kStreamsPerPage = 2;    ///< per page (X-PortEye-Page): a looping tab cannot take all
constexpr std::size_t kStreamQueue = 1024;    ///< events queued per stream before they become one resync
constexpr std::size_t kRestWorkers = 16;      ///< workers no stream can take: / and /api/* stay answered
constexpr std::size_t kRemotePerAddress = 8;  ///< connections one remote address may hold (beyond loopback)
constexpr auto kRequestDeadline = 10s;        ///< a whole request, first byte to last
constexpr auto kHeartbeat = 10s;
constexpr auto kReconnectDelay = 2s;

std::string dumpJson(const json& j) {
    // Strings from the system are escaped by the daemon already; replace keeps a stray byte from
    // turning a reply into an exception.
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string randomToken() {
    unsigned char bytes[32];
    std::size_t got = 0;
    while (got < sizeof(bytes)) {
        const ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw cli::CommandError(cli::kExitFailure, std::string("getrandom failed: ") + std::strerror(errno));
        }
        got += static_cast<std::size_t>(n);
    }
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += kHex[b >> 4];
        out += kHex[b & 15];
    }
    return out;
}

/// Compares without an early exit, so the time taken says nothing about the token.
bool sameSecret(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

void sendError(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(dumpJson({{"error", message}}), "application/json");
}

/// Transport errors as HTTP: the daemon being away is 503, a refusal 403, anything else 502.
int httpStatusOf(const cli::CommandError& e) {
    switch (e.exitCode()) {
        case cli::kExitUnavailable:
            return 503;
        case cli::kExitAccessDenied:
            return 403;
        case cli::kExitUsage:
            return 400;
        default:
            return 502;
    }
}

std::string hostForUrl(const std::string& host) {
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

http::GuardOptions guardOptions() {
    http::GuardOptions o;
    o.workers = kMaxStreams + kRestWorkers;  // every stream holds a worker
    // Remote peers (a listen address beyond loopback, token only) never get the last kRestWorkers:
    // the owner's loopback connections always find a worker.
    o.reserve = kRestWorkers;
    o.requestDeadline = kRequestDeadline;
    o.writeTimeout = 5s;  // a stream whose reader is gone fails here, then is dropped
    o.keepAlive = 2s;
    return o;
}

class Web {
public:
    Web(WebOptions options, const TransportFactory& connect, std::ostream& err)
        : m_options(std::move(options)),
          m_connect(connect),
          m_err(err),
          // A page that fell more than kStreamQueue events behind reloads its tables, as after a
          // reconnection to porteyed, and goes on from there.
          m_hub(kMaxStreams, kStreamQueue, "event: resync\ndata: {\"overflow\":true}\n\n"),
          m_server(guardOptions(), [this](const http::PeerIdentity& peer) { return admitPeer(peer); }),
          m_uid(::geteuid()) {
        if (m_options.token.empty()) m_options.token = randomToken();
        m_loopbackOnly = sys::isLoopbackAddress(m_options.host);
        m_server.set_pre_routing_handler(
            [this](const httplib::Request& req, httplib::Response& res) { return admit(req, res); });
        m_server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
            sendError(res, 500, "internal error");
        });
        routes();
    }

    int bind() {
        int port = m_options.port;
        if (port == 0)
            port = m_server.bind_to_any_port(m_options.host);
        else if (!m_server.bind_to_port(m_options.host, port))
            port = -1;
        if (port <= 0)
            throw cli::CommandError(cli::kExitFailure, "cannot listen on " + hostForUrl(m_options.host) + ":" +
                                                           std::to_string(m_options.port) + ": " +
                                                           std::strerror(errno));
        m_port = port;
        const std::string suffix = ":" + std::to_string(port);
        m_hosts = {hostForUrl(m_options.host) + suffix};
        if (m_loopbackOnly) m_hosts.insert("localhost" + suffix);
        m_anyHost = m_options.host == "0.0.0.0" || m_options.host == "::";
        return port;
    }

    std::string url() const {
        // In the fragment: a browser never sends it anywhere; the page's script keeps it in
        // sessionStorage (scoped to scheme, host and port, unlike a cookie) and sends it as a header.
        return "http://" + hostForUrl(m_options.host) + ":" + std::to_string(m_port) + "/#token=" + m_options.token;
    }
    bool loopbackOnly() const { return m_loopbackOnly; }

    /// Serves on a pool of threads while this thread follows porteyed's events, until a stop signal.
    int run() {
        std::thread server([this] { m_server.listen_after_bind(); });
        followEvents();
        m_hub.close();  // wakes every stream so the pool can finish
        m_server.stop();
        server.join();
        return cli::kExitOk;
    }

private:
    /// Who may connect, decided at accept before a byte is read: on loopback only sockets of
    /// this uid (others are closed unread, so they cannot hold a worker); beyond loopback any
    /// address, a few connections each and never the workers kept for the owner.
    http::Admission admitPeer(const http::PeerIdentity& peer) const {
        if (peer.loopback) {
            if (peer.uid != m_uid) return {};
            return {true, "owner", kMaxStreams + kRestWorkers, true};
        }
        if (m_loopbackOnly || peer.unixSocket) return {};
        return {true, "remote:" + peer.address, kRemotePerAddress, false};
    }

    /// Host as this server's own name, so a DNS-rebinding page (evil.test resolving to
    /// 127.0.0.1) is refused even before the token is looked at.
    bool knownHost(const std::string& host) const {
        if (m_hosts.count(host)) return true;
        if (!m_anyHost) return false;
        const auto colon = host.rfind(':');
        return colon != std::string::npos && host.substr(colon + 1) == std::to_string(m_port);
    }

    /// The access rule, before any route: Host, then (for /api) Origin and the token. The peer
    /// was checked at accept.
    httplib::Server::HandlerResponse admit(const httplib::Request& req, httplib::Response& res) {
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_header("Referrer-Policy", "no-referrer");
        res.set_header("Cache-Control", "no-store");
        const auto host = req.get_header_value("Host");
        if (!knownHost(host)) {
            sendError(res, 403, "unknown Host '" + host + "': open the address porteyectl web printed");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (req.path.rfind("/api/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;  // static, no data
        if (req.has_header("Origin") && req.get_header_value("Origin") != "http://" + host) {
            sendError(res, 403, "requests from other origins are refused");
            return httplib::Server::HandlerResponse::Handled;
        }
        std::string presented;
        const auto authorization = req.get_header_value("Authorization");
        if (authorization.rfind("Bearer ", 0) == 0) presented = authorization.substr(7);
        if (req.has_param("token")) presented = req.get_param_value("token");
        if (!sameSecret(presented, m_options.token)) {
            sendError(res, 401,
                      presented.empty() ? "this page needs the token printed by `porteyectl web`" : "wrong token");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    }

    /// Runs one request against a transport of its own, translating errors to HTTP.
    void answer(httplib::Response& res, const std::function<json(cli::ITransport&)>& body) {
        try {
            auto transport = m_connect();
            res.set_content(dumpJson(body(*transport)), "application/json");
        } catch (const protocol::InvalidArgument& e) {
            sendError(res, 400, e.what());
        } catch (const cli::Interrupted&) {
            // The stop stays pending for the event thread too (cli::stopSignalFd): nothing to pass on.
            sendError(res, 503, "porteyectl web is stopping");
        } catch (const cli::CommandError& e) {
            sendError(res, httpStatusOf(e), e.what());
        } catch (const std::exception& e) {
            sendError(res, 502, e.what());
        }
    }

    void routes() {
        m_server.Get("/api/ports", [this](const httplib::Request& req, httplib::Response& res) {
            answer(res, [&](cli::ITransport& t) {
                json array = json::array();
                for (const auto& r : t.list(portsQuery(withoutToken(req.params))))
                    array.push_back(protocol::toJson(r));
                return array;
            });
        });
        m_server.Get("/api/history", [this](const httplib::Request& req, httplib::Response& res) {
            answer(res, [&](cli::ITransport& t) {
                json array = json::array();
                for (const auto& e : t.history(historyQuery(withoutToken(req.params))))
                    array.push_back(protocol::toJson(e));
                return array;
            });
        });
        m_server.Get("/api/status", [this](const httplib::Request& req, httplib::Response& res) {
            answer(res, [&](cli::ITransport& t) {
                if (!withoutToken(req.params).empty()) throw protocol::InvalidArgument("status takes no parameters");
                json j = protocol::toJson(t.status());
                j["web"] = {{"uid", m_uid},
                            {"streams", m_hub.subscribers()},
                            {"stream_overflows", m_hub.overflows()},
                            {"daemon_connected", m_daemonConnected.load()}};
                return j;
            });
        });
        // Browsers ask for it on their own; the page has none.
        m_server.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
        m_server.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) { stream(req, res); });
        for (const auto& asset : assets()) {
            const std::string path(asset.path);
            m_server.Get(path == "/index.html" ? "/" : path, [&asset](const httplib::Request&, httplib::Response& res) {
                res.set_header("Content-Security-Policy",
                               "default-src 'self'; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
                res.set_content(asset.body.data(), asset.body.size(), std::string(asset.contentType));
            });
        }
    }

    static QueryParams withoutToken(const httplib::Params& params) {
        QueryParams out(params.begin(), params.end());
        out.erase("token");
        return out;
    }

    /// `GET /api/events`: one SSE message per event ("port"), "daemon" when the connection to
    /// porteyed is lost, "resync" when it is back (reload the tables), a comment as heartbeat.
    void stream(const httplib::Request& req, httplib::Response& res) {
        const auto page = req.get_header_value("X-PortEye-Page");
        {
            std::lock_guard lock(m_pagesMutex);
            if (m_pageStreams[page] >= kStreamsPerPage) {
                sendError(res, 429, "this page has " + std::to_string(kStreamsPerPage) + " event streams open already");
                return;
            }
        }
        auto subscriber = m_hub.subscribe();
        if (!subscriber) {
            sendError(res, 503, "too many open event streams (" + std::to_string(kMaxStreams) + ")");
            return;
        }
        {
            std::lock_guard lock(m_pagesMutex);
            ++m_pageStreams[page];
        }
        auto first = std::make_shared<bool>(true);
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, subscriber, first](std::size_t, httplib::DataSink& sink) {
                if (*first) {
                    *first = false;
                    const std::string hello = "retry: 2000\nevent: ready\ndata: " +
                                              dumpJson({{"daemon_connected", m_daemonConnected.load()}}) + "\n\n";
                    return sink.write(hello.data(), hello.size());
                }
                std::vector<std::string> batch;
                switch (subscriber->next(kHeartbeat, batch)) {
                    case EventHub::Subscriber::Wait::Messages:
                        for (const auto& message : batch)
                            if (!sink.write(message.data(), message.size())) return false;
                        return true;
                    case EventHub::Subscriber::Wait::Timeout: {
                        static const std::string kBeat = ": heartbeat\n\n";
                        return sink.write(kBeat.data(), kBeat.size());
                    }
                    case EventHub::Subscriber::Wait::Closed:
                        sink.done();
                        return true;
                }
                return false;
            },
            [this, subscriber, page](bool) {
                m_hub.unsubscribe(subscriber);
                std::lock_guard lock(m_pagesMutex);
                if (--m_pageStreams[page] == 0) m_pageStreams.erase(page);
            });
    }

    /// porteyed's event stream, followed until a stop signal; reconnects when porteyed goes away.
    void followEvents() {
        for (;;) {
            try {
                auto transport = m_connect();
                transport->events(
                    {},
                    [this](const core::PortEvent& event) {
                        m_hub.publish("id: " + std::to_string(event.sequence) +
                                      "\nevent: port\ndata: " + dumpJson(protocol::toJson(event)) + "\n\n");
                        return true;
                    },
                    cli::StreamOptions{[this] {
                                           // Subscribed: whatever a page reloads from now on is followed by the stream.
                                           if (!m_daemonConnected.exchange(true))
                                               m_hub.publish("event: resync\ndata: {}\n\n");
                                           return true;
                                       },
                                       std::nullopt});
                return;  // the events stream ends normally only on a stop signal
            } catch (const cli::Interrupted&) {
                return;  // the stop signal came while connecting
            } catch (const cli::CommandError& e) {
                if (e.exitCode() == cli::kExitAccessDenied) {
                    // Not for this user (a porteyed or bus policy that refuses them Subscribe): the
                    // page still answers, without live updates. Retrying would not change that.
                    m_err << "porteyectl web: no live updates: " << e.what() << '\n';
                    m_hub.publish("event: daemon\ndata: " +
                                  dumpJson({{"connected", true}, {"live", false}, {"error", e.what()}}) + "\n\n");
                    cli::waitForStop(std::nullopt);
                    return;
                }
                reportLost(e.what());
            } catch (const std::exception& e) {
                reportLost(e.what());
            }
            if (cli::waitForStop(kReconnectDelay)) return;
        }
    }

    /// Tells the log (once per loss) and the pages that porteyed cannot be reached.
    void reportLost(const std::string& why) {
        if (m_daemonConnected.exchange(false) || !m_warned) {
            m_err << "porteyectl web: " << why << "; retrying every " << kReconnectDelay.count() << " s\n";
            m_warned = true;
            m_hub.publish("event: daemon\ndata: " + dumpJson({{"connected", false}, {"error", why}}) + "\n\n");
        }
    }

    WebOptions m_options;
    const TransportFactory& m_connect;
    std::ostream& m_err;
    EventHub m_hub;
    http::GuardedServer m_server;
    const std::uint32_t m_uid;
    bool m_loopbackOnly = true;
    int m_port = 0;
    std::set<std::string> m_hosts;  ///< Host values this server answers to ("127.0.0.1:5000", "localhost:5000")
    bool m_anyHost = false;         ///< bound to a wildcard address: any name, with our port
    std::mutex m_pagesMutex;
    std::map<std::string, std::size_t> m_pageStreams;  ///< guarded by m_pagesMutex: open streams per page id
    std::atomic<bool> m_daemonConnected{false};
    bool m_warned = false;  ///< only touched by the thread in followEvents()
};

}  // namespace

WebOptions parseListen(const std::string& text) {
    WebOptions options;
    std::string portText = text;
    const auto colon = text.rfind(':');
    if (colon != std::string::npos) {
        options.host = text.substr(0, colon);
        portText = text.substr(colon + 1);
        if (options.host.size() >= 2 && options.host.front() == '[' && options.host.back() == ']')
            options.host = options.host.substr(1, options.host.size() - 2);
    }
    const auto bad = [&] {
        return cli::CommandError(cli::kExitUsage, "--listen wants HOST:PORT (e.g. 127.0.0.1:5000), not '" + text + "'");
    };
    if (options.host.empty() || portText.empty() || portText.size() > 5 ||
        portText.find_first_not_of("0123456789") != std::string::npos)
        throw bad();
    const unsigned long port = std::stoul(portText);
    if (port > 65535) throw bad();
    options.port = static_cast<std::uint16_t>(port);
    return options;
}

int runWeb(const WebOptions& options, const TransportFactory& connect, std::ostream& out, std::ostream& err) {
    // A browser that goes away mid-write must not kill porteyectl.
    ::signal(SIGPIPE, SIG_IGN);
    Web web(options, connect, err);
    web.bind();
    if (!web.loopbackOnly())
        err << "porteyectl web: listening beyond loopback: remote clients are admitted by the token alone, over "
               "plain HTTP\n";
    out << "PortEye is at " << web.url() << '\n'
        << "(the token in this address is this start's secret; other users' connections are refused)\n";
    out.flush();
    return web.run();
}

}  // namespace porteye::web
