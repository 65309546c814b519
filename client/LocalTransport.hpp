// SPDX-License-Identifier: MIT
#pragma once

#include "Transport.hpp"

namespace porteye::cli {

/// Reads the kernel directly (netlink sock_diag + /proc), like ss: no daemon,
/// and only what the caller's privileges allow. History lives in the daemon,
/// so history() and status() explain that instead of answering.
class LocalTransport final : public ITransport {
public:
    std::vector<core::SocketRecord> list(const core::SocketFilter& filter) override;
    void watch(std::uint32_t pid, const WatchOptions& options, const WatchCallback& onChange) override;
    std::vector<core::PortEvent> history(const core::HistoryFilter& filter) override;
    DaemonStatus status() override;
    /// Polls the host every `interval` and streams what changed (no daemon needed).
    StreamEnd events(const core::SocketFilter& filter, const EventCallback& onEvent,
                     const StreamOptions& options) override;

    void setEventsInterval(std::chrono::duration<double> interval) { m_eventsInterval = interval; }

private:
    std::chrono::duration<double> m_eventsInterval{1.0};
};

}  // namespace porteye::cli
