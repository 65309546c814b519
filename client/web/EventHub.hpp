// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace porteye::web {

/// Fans server-sent-event messages from one producer (the thread reading porteyed's event
/// stream) out to many HTTP clients, each with a bounded queue. publish() never blocks on a
/// client: a client whose queue is full is dropped (its stream ends, the browser reconnects and
/// reloads the tables), so one slow reader never holds up the others or the producer.
class EventHub {
public:
    class Subscriber {
    public:
        enum class Wait { Messages, Timeout, Dropped, Closed };
        /// Waits up to `timeout` for messages and moves them into `out`.
        Wait next(std::chrono::milliseconds timeout, std::vector<std::string>& out);

    private:
        friend class EventHub;
        std::mutex m_mutex;
        std::condition_variable m_ready;
        std::deque<std::string> m_queue;  ///< guarded by m_mutex
        bool m_dropped = false;           ///< guarded by m_mutex
        bool m_closed = false;            ///< guarded by m_mutex
    };

    EventHub(std::size_t maxSubscribers, std::size_t queueCapacity);

    /// A new subscriber, or null when maxSubscribers are already connected.
    std::shared_ptr<Subscriber> subscribe();
    void unsubscribe(const std::shared_ptr<Subscriber>& subscriber);
    /// Queues one message for every subscriber; drops those whose queue is full.
    void publish(const std::string& message);
    /// Ends every stream (and refuses new ones): the server is stopping.
    void close();
    std::size_t subscribers() const;
    /// How many subscribers were dropped for not keeping up, since the start.
    std::size_t dropped() const;

private:
    mutable std::mutex m_mutex;
    std::vector<std::shared_ptr<Subscriber>> m_subscribers;  ///< guarded by m_mutex
    bool m_closed = false;                                   ///< guarded by m_mutex
    std::size_t m_dropped = 0;                               ///< guarded by m_mutex
    const std::size_t m_maxSubscribers;
    const std::size_t m_capacity;
};

}  // namespace porteye::web
