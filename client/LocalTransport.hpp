// SPDX-License-Identifier: MIT
#pragma once

#include "Transport.hpp"

#include <csignal>

namespace porteye::cli {

/// Reads the kernel directly (netlink sock_diag + /proc), like ss: no daemon,
/// and only what the caller's privileges allow.
class LocalTransport final : public ITransport {
public:
    /// `stopSignals` are blocked by the caller; watch() waits on them between polls.
    explicit LocalTransport(const sigset_t& stopSignals) : m_stopSignals(stopSignals) {}

    std::vector<core::SocketRecord> list(const core::SocketFilter& filter) override;
    void watch(std::uint32_t pid, const WatchOptions& options, const WatchCallback& onChange) override;

private:
    sigset_t m_stopSignals;
};

}  // namespace porteye::cli
