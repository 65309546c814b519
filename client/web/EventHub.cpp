// SPDX-License-Identifier: MIT
#include "EventHub.hpp"

#include <algorithm>
#include <iterator>

namespace porteye::web {

EventHub::Subscriber::Wait EventHub::Subscriber::next(std::chrono::milliseconds timeout,
                                                      std::vector<std::string>& out) {
    std::unique_lock lock(m_mutex);
    m_ready.wait_for(lock, timeout, [&] { return !m_queue.empty() || m_dropped || m_closed; });
    if (m_dropped) return Wait::Dropped;
    if (!m_queue.empty()) {
        std::move(m_queue.begin(), m_queue.end(), std::back_inserter(out));
        m_queue.clear();
        return Wait::Messages;
    }
    return m_closed ? Wait::Closed : Wait::Timeout;
}

EventHub::EventHub(std::size_t maxSubscribers, std::size_t queueCapacity)
    : m_maxSubscribers(maxSubscribers), m_capacity(queueCapacity) {}

std::shared_ptr<EventHub::Subscriber> EventHub::subscribe() {
    std::lock_guard lock(m_mutex);
    if (m_closed || m_subscribers.size() >= m_maxSubscribers) return nullptr;
    auto subscriber = std::make_shared<Subscriber>();
    m_subscribers.push_back(subscriber);
    return subscriber;
}

void EventHub::unsubscribe(const std::shared_ptr<Subscriber>& subscriber) {
    std::lock_guard lock(m_mutex);
    std::erase(m_subscribers, subscriber);
}

void EventHub::publish(const std::string& message) {
    std::lock_guard lock(m_mutex);
    for (auto it = m_subscribers.begin(); it != m_subscribers.end();) {
        auto& s = **it;
        bool drop = false;
        {
            std::lock_guard subscriberLock(s.m_mutex);
            if (s.m_queue.size() >= m_capacity) {
                s.m_dropped = true;
                s.m_queue.clear();
                drop = true;
            } else {
                s.m_queue.push_back(message);
            }
        }
        s.m_ready.notify_one();
        if (drop) {
            ++m_dropped;
            it = m_subscribers.erase(it);
        } else {
            ++it;
        }
    }
}

void EventHub::close() {
    std::lock_guard lock(m_mutex);
    m_closed = true;
    for (auto& s : m_subscribers) {
        {
            std::lock_guard subscriberLock(s->m_mutex);
            s->m_closed = true;
        }
        s->m_ready.notify_one();
    }
    m_subscribers.clear();
}

std::size_t EventHub::subscribers() const {
    std::lock_guard lock(m_mutex);
    return m_subscribers.size();
}

std::size_t EventHub::dropped() const {
    std::lock_guard lock(m_mutex);
    return m_dropped;
}

}  // namespace porteye::web
