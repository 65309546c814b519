// SPDX-License-Identifier: MIT
#pragma once

#include "http/PeerIdentity.hpp"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace porteye::http {

/// What the server does with a connection, decided from PeerIdentity before a byte is read.
struct Admission {
    bool admit = false;
    std::string key;              ///< connections are counted per key (e.g. "uid:1000", an address)
    std::size_t perKeyLimit = 1;  ///< at most this many open connections per key
    bool reserved = false;        ///< may use the reserved workers (the owner, root)
};
using AdmissionPolicy = std::function<Admission(const PeerIdentity&)>;

struct GuardOptions {
    std::size_t workers = 8;  ///< threads answering requests (each connection holds one while open)
    std::size_t reserve = 2;  ///< workers only `reserved` peers may hold
    std::chrono::milliseconds requestDeadline{5000};  ///< from a request's first byte to its last
    std::chrono::milliseconds writeTimeout{5000};     ///< each write must make progress by then
    std::chrono::milliseconds keepAlive{2000};        ///< idle wait for the next request
    std::size_t keepAliveMax = 5;                     ///< requests per connection (1: no keep-alive)
};

struct GuardStats {
    std::uint64_t refusedPeers = 0;  ///< closed unread: the policy said no
    std::uint64_t overLimit = 0;     ///< closed unread: the peer's limit or the unreserved workers were full
    std::uint64_t expired = 0;       ///< closed: a request was not read by its deadline
    std::size_t open = 0;            ///< connections being served now
};

/// cpp-httplib's Server with the guards a local service needs against other local users. The
/// library (0.11) has no hook between accept() and the first read (its pre-routing handler runs
/// after a whole request was read, on a worker), so this class overrides the worker's entry point,
/// Server::process_and_close_socket (a private virtual, meant to be overridden, as SSLServer does):
/// the peer is identified and admitted or closed there before anything is read, then each request
/// is read through a DeadlineStream and handed to the library's own process_request. After an
/// error reply (status >= 400) or a missed deadline the connection is closed, never kept alive.
///
/// Threads: the library's accept loop (the thread in listen_after_bind) and `workers` pool threads;
/// the counters here are guarded by one mutex; handlers run on the pool threads.
class GuardedServer : public httplib::Server {
public:
    GuardedServer(GuardOptions options, AdmissionPolicy policy);
    GuardStats stats() const;
    /// Serves on a listening socket made elsewhere (blocking mode: the accept loop waits in
    /// accept()); until stop(), which closes it.
    bool listenOn(int listeningFd) {
        svr_sock_ = listeningFd;
        return listen_after_bind();
    }

private:
    bool process_and_close_socket(::socket_t sock) override;
    bool enter(const Admission& admission);
    void leave(const Admission& admission);
    /// Serves requests on an admitted connection until it closes, errs, idles or expires.
    void serve(int fd);
    /// Waits up to keepAlive for the next request; false when none comes or the server stops.
    bool awaitNextRequest(int fd) const;

    const GuardOptions m_options;
    const AdmissionPolicy m_policy;
    mutable std::mutex m_mutex;
    std::map<std::string, std::size_t> m_perKey;  ///< guarded by m_mutex
    std::size_t m_unreserved = 0;                 ///< guarded by m_mutex: connections of peers without reserve
    GuardStats m_stats;                           ///< guarded by m_mutex
};

}  // namespace porteye::http
