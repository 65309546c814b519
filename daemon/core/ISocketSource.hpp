// SPDX-License-Identifier: MIT
#pragma once

#include "core/SocketRecord.hpp"

#include <string>
#include <vector>

namespace porteye::core {

/// What to dump. Each protocol is its own dump (TCP: one walk for both families;
/// UDP: one per family), merged into one result.
struct DumpRequest {
    StateMask states = kAllClassicStates;  ///< for UDP only kUdpStates' bits matter
    bool ipv4 = true;
    bool ipv6 = true;
    bool tcp = true;
    bool udp = true;
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
