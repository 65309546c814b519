// SPDX-License-Identifier: MIT
#pragma once

#include "core/SocketRecord.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace porteye::core {

/// DumpRequest::netns for "every network namespace the source knows" (watches placing inodes).
constexpr std::uint64_t kEveryNamespace = ~std::uint64_t{0};

/// TCP states of a LISTEN-only dump: the kernel walks only its listening hash (~30 µs on an
/// idle host, against ~1 ms for every state, whose walk covers the whole connection hash
/// even when empty; PLATFORM.md).
constexpr StateMask kListenOnly = stateBit(TcpState::Listen);

/// What to dump. Each protocol is its own dump (TCP: one walk for both families;
/// UDP: one per family), merged into one result.
struct DumpRequest {
    StateMask states = kAllClassicStates;  ///< for UDP only kUdpStates' bits matter
    bool ipv4 = true;
    bool ipv6 = true;
    bool tcp = true;
    bool udp = true;
    /// The network namespace (inode of /proc/<pid>/ns/net) to dump; 0: the source's own.
    /// Records come back with SocketRecord::netns set when the source knows it.
    std::uint64_t netns = 0;
    /// Stamped on the records as SocketRecord::netnsName (the source does not know names).
    std::string netnsName;
};

/// Sockets of one dump; owners (pid, process) are left empty.
struct DumpResult {
    std::vector<SocketRecord> sockets;
    int error = 0;        ///< errno-style code, 0 on success
    std::string message;  ///< human-readable cause when error != 0
    bool ok() const { return error == 0; }
};

/// Where the kernel's socket table comes from (netlink sock_diag in production).
class ISocketSource {
public:
    virtual ~ISocketSource() = default;
    virtual DumpResult dump(const DumpRequest& request) = 0;
};

}  // namespace porteye::core
