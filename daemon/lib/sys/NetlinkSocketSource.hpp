// SPDX-License-Identifier: MIT
#pragma once

#include "core/ISocketSource.hpp"
#include "sys/SockDiagRequest.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace porteye::sys {

/// ISocketSource over a NETLINK_SOCK_DIAG socket: the only class here that calls socket(AF_NETLINK, ...).
/// Not thread-safe: one owner thread.
class NetlinkSocketSource final : public core::ISocketSource {
public:
    /// Makes a fresh NETLINK_SOCK_DIAG socket (SOCK_DGRAM, close-on-exec); -1 with errno on failure.
    using SocketFactory = std::function<int()>;

    /// Opens the NETLINK_SOCK_DIAG socket; throws std::system_error if that fails.
    NetlinkSocketSource();
    /// The same over sockets `factory` makes, e.g. inside another network namespace (the socket
    /// stays bound to the namespace it was made in); it is asked again after a failed dump.
    explicit NetlinkSocketSource(SocketFactory factory);
    ~NetlinkSocketSource() override;
    NetlinkSocketSource(const NetlinkSocketSource&) = delete;
    NetlinkSocketSource& operator=(const NetlinkSocketSource&) = delete;

    /// Dumps the requested protocols and families: TCP in one legacy walk of both families
    /// (or one family), then UDP with one dump per family. Retries on EINTR; on a netlink
    /// error or malformed reply returns error != 0 and no partial table.
    core::DumpResult dump(const core::DumpRequest& request) override;

    /// The one socket with exactly these ends (an exact lookup, no dump); nullopt when there is
    /// none (ENOENT), or on a failure, which `message` then names.
    std::optional<core::SocketRecord> lookup(const SocketEnds& ends, std::string& message);

private:
    void openSocket();
    void closeSocket();
    std::uint32_t nextSequence();
    /// One request/reply exchange for one family (AF_UNSPEC: TCP's legacy request for both) and
    /// protocol (IPPROTO_TCP/UDP), appending to `out`; returns 0 or an errno.
    int dumpFamily(int family, int protocol, core::StateMask states, std::vector<core::SocketRecord>& out,
                   std::string& message);
    /// Receives one datagram from the kernel into m_buffer; returns its length or -errno.
    long receive(std::string& message);

    SocketFactory m_factory;
    int m_fd = -1;
    std::uint32_t m_sequence = 0;
    std::vector<std::byte> m_buffer;
};

}  // namespace porteye::sys
