// SPDX-License-Identifier: MIT
#include "http/GuardedServer.hpp"

#include "http/DeadlineStream.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace porteye::http {
namespace {

/// Set by the post-routing handler when the reply on this worker is an error: the worker's own
/// loop (serve()) reads it after process_request returns, on the same thread.
thread_local bool t_closeAfterReply = false;

}  // namespace

GuardedServer::GuardedServer(GuardOptions options, AdmissionPolicy policy)
    : m_options(options), m_policy(std::move(policy)) {
    const std::size_t workers = m_options.workers;
    new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
    set_keep_alive_max_count(m_options.keepAliveMax);
    // After an error the connection ends: a client refused once gets no worker to hold idle.
    set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
        if (res.status < 400) return;
        t_closeAfterReply = true;
        res.headers.erase("Keep-Alive");
        if (!res.has_header("Connection")) res.set_header("Connection", "close");
    });
}

GuardStats GuardedServer::stats() const {
    std::lock_guard lock(m_mutex);
    return m_stats;
}

bool GuardedServer::enter(const Admission& admission) {
    std::lock_guard lock(m_mutex);
    auto& count = m_perKey[admission.key];
    const std::size_t unreservedCap = m_options.workers > m_options.reserve ? m_options.workers - m_options.reserve : 0;
    if (count >= admission.perKeyLimit || (!admission.reserved && m_unreserved >= unreservedCap)) {
        if (count == 0) m_perKey.erase(admission.key);
        ++m_stats.overLimit;
        return false;
    }
    ++count;
    if (!admission.reserved) ++m_unreserved;
    ++m_stats.open;
    return true;
}

void GuardedServer::leave(const Admission& admission) {
    std::lock_guard lock(m_mutex);
    auto it = m_perKey.find(admission.key);
    if (it != m_perKey.end() && --it->second == 0) m_perKey.erase(it);
    if (!admission.reserved) --m_unreserved;
    --m_stats.open;
}

bool GuardedServer::process_and_close_socket(::socket_t sock) {
    // Runs on a pool thread right after accept: who it is comes first, before any byte is read.
    const auto admission = m_policy(identifyPeer(sock));
    if (!admission.admit) {
        std::lock_guard lock(m_mutex);
        ++m_stats.refusedPeers;
    } else if (enter(admission)) {
        serve(sock);
        leave(admission);
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return true;
}

bool GuardedServer::awaitNextRequest(int fd) const {
    const auto until = DeadlineStream::Clock::now() + m_options.keepAlive;
    while (svr_sock_ != INVALID_SOCKET) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - DeadlineStream::Clock::now());
        if (left.count() <= 0) return false;
        // Short slices, so stop() (which closes the listening socket) ends an idle connection soon.
        pollfd p{fd, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
    return false;
}

void GuardedServer::serve(int fd) {
    for (std::size_t served = 0; served < m_options.keepAliveMax; ++served) {
        // The first request's clock starts at accept; later ones when their first byte is there.
        if (served > 0 && !awaitNextRequest(fd)) return;
        DeadlineStream stream(fd, DeadlineStream::Clock::now() + m_options.requestDeadline, m_options.writeTimeout);
        t_closeAfterReply = false;
        bool closed = false;
        const bool ok = process_request(stream, served + 1 == m_options.keepAliveMax, closed, nullptr);
        if (stream.expired()) {
            std::lock_guard lock(m_mutex);
            ++m_stats.expired;
            return;
        }
        if (!ok || closed || t_closeAfterReply || svr_sock_ == INVALID_SOCKET) return;
    }
}

}  // namespace porteye::http
