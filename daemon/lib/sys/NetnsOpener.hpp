// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace porteye::sys {

/// Opens NETLINK_SOCK_DIAG sockets inside other network namespaces. Entering one (setns)
/// needs CAP_SYS_ADMIN, which the daemon's unit does not grant: under systemd a separate,
/// socket-activated helper (porteye-netns-helper) holds it and hands sockets over; a
/// daemon started by root without that helper may enter namespaces itself.
class INetnsOpener {
public:
    virtual ~INetnsOpener() = default;
    /// A NETLINK_SOCK_DIAG socket (SOCK_DGRAM, close-on-exec, blocking) created inside the
    /// network namespace `nsFd` names; -1 with errno set when that fails.
    virtual int openSockDiag(int nsFd) = 0;
    /// How it opens them, for logs and status ("helper /run/porteye-netns/helper.sock", "in-process").
    virtual std::string describe() const = 0;
};

/// Enters the namespace on the calling thread and comes back (needs CAP_SYS_ADMIN).
class InProcessNetnsOpener final : public INetnsOpener {
public:
    /// Null (with `error` set) when this process cannot enter namespaces.
    static std::unique_ptr<InProcessNetnsOpener> create(std::string& error);
    ~InProcessNetnsOpener() override;
    int openSockDiag(int nsFd) override;
    std::string describe() const override { return "in-process"; }

private:
    explicit InProcessNetnsOpener(int ownNs) : m_ownNs(ownNs) {}
    int m_ownNs;
};

/// Asks porteye-netns-helper over a connected SOCK_SEQPACKET socket (NetnsHelperProtocol.hpp).
class HelperNetnsOpener final : public INetnsOpener {
public:
    /// How long one request may wait for the helper (sending, connecting, its answer). It answers
    /// in microseconds; a helper that is stopped or stuck costs porteyed this once, not its start.
    static constexpr int kTimeoutMs = 2000;
    /// After a request failed, how long a connected opener answers ETIMEDOUT at once before it
    /// connects again (a stuck helper would otherwise cost kTimeoutMs for every namespace).
    static constexpr int kRetryAfterMs = 10000;

    /// Connects to a helper listening at `path` (the socket unit's). Null with `error` on failure.
    static std::unique_ptr<HelperNetnsOpener> connect(const std::string& path, std::string& error);
    /// Starts `executable --fd 3` with one end of a socket pair. Null with `error` on failure.
    static std::unique_ptr<HelperNetnsOpener> spawn(const std::string& executable, std::string& error);
    ~HelperNetnsOpener() override;
    /// A request that times out or breaks the connection closes it: a late answer must not be
    /// taken for the next request's. A connected opener connects again kRetryAfterMs later; a
    /// spawned helper is not started again.
    int openSockDiag(int nsFd) override;
    std::string describe() const override { return m_description; }

private:
    HelperNetnsOpener(int sock, int child, std::string path, std::string description)
        : m_sock(sock), m_child(child), m_path(std::move(path)), m_description(std::move(description)) {}
    int m_sock;
    int m_child;         // pid of a spawned helper, reaped on destruction; -1 when connected
    std::string m_path;  // the helper's socket when connected, for connecting again
    std::string m_description;
    std::int64_t m_retryAtMs = 0;  // CLOCK_MONOTONIC; when a closed connection may be made again
};

}  // namespace porteye::sys
