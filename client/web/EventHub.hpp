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
/// client: when a client's queue is full, what it has not read yet is replaced by one overflow
/// message (a "resync": the page reloads its tables) and its stream goes on, so one slow reader
/// never holds up the others or the producer, and a burst larger than the queue (a host closing
/// thousands of sockets at once) costs a page a reload, not its live updates.
class EventHub {
public:
    class Subscriber {
    public:
        enum class Wait { Messages, Timeout, Closed };
        /// Waits up to `timeout` for messages and moves them into `out`.
        Wait next(std::chrono::milliseconds timeout, std::vector<std::string>& out);

    private:
        friend class EventHub;
        std::mutex m_mutex;
        std::condition_variable m_ready;
        std::deque<std::string> m_queue;  ///< guarded by m_mutex
        bool m_closed = false;            ///< guarded by m_mutex
    };

    /// `overflowMessage` is what a client whose queue overflowed reads instead of what it missed.
    EventHub(std::size_t maxSubscribers, std::size_t queueCapacity, std::string overflowMessage);

    /// A new subscriber, or null when maxSubscribers are already connected.
    std::shared_ptr<Subscriber> subscribe();
    void unsubscribe(const std::shared_ptr<Subscriber>& subscriber);
    /// Queues one message for every subscriber; a full queue becomes the overflow message first.
    void publish(const std::string& message);
    /// Ends every stream (and refuses new ones): the server is stopping.
    void close();
    std::size_t subscribers() const;
    /// How many times a subscriber's queue overflowed (and it was told to reload), since the start.
    std::size_t overflows() const;

private:
    mutable std::mutex m_mutex;
    std::vector<std::shared_ptr<Subscriber>> m_subscribers;  ///< guarded by m_mutex
    bool m_closed = false;                                   ///< guarded by m_mutex
    std::size_t m_overflows = 0;                             ///< guarded by m_mutex
    const std::size_t m_maxSubscribers;
    const std::size_t m_capacity;
    const std::string m_overflowMessage;
};

}  // namespace porteye::web
