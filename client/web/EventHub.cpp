// SPDX-License-Identifier: MIT
#include "EventHub.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace porteye::web {

EventHub::Subscriber::Wait EventHub::Subscriber::next(std::chrono::milliseconds timeout,
                                                      std::vector<std::string>& out) {
    std::unique_lock lock(m_mutex);
    m_ready.wait_for(lock, timeout, [&] { return !m_queue.empty() || m_closed; });
    if (!m_queue.empty()) {
        std::move(m_queue.begin(), m_queue.end(), std::back_inserter(out));
        m_queue.clear();
        return Wait::Messages;
    }
    return m_closed ? Wait::Closed : Wait::Timeout;
}

EventHub::EventHub(std::size_t maxSubscribers, std::size_t queueCapacity, std::string overflowMessage)
    : m_maxSubscribers(maxSubscribers),
      m_capacity(std::max<std::size_t>(queueCapacity, 2)),  // room for the overflow message and one more
      m_overflowMessage(std::move(overflowMessage)) {}

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
    for (auto& subscriber : m_subscribers) {
        auto& s = *subscriber;
        {
            std::lock_guard subscriberLock(s.m_mutex);
            if (s.m_queue.size() >= m_capacity) {
                // What it missed, it reloads: the unread messages give way to the overflow message.
                s.m_queue.clear();
                s.m_queue.push_back(m_overflowMessage);
                ++m_overflows;
            }
            s.m_queue.push_back(message);
        }
        s.m_ready.notify_one();
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

std::size_t EventHub::overflows() const {
    std::lock_guard lock(m_mutex);
    return m_overflows;
}

}  // namespace porteye::web
