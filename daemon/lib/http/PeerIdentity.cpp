// SPDX-License-Identifier: MIT
#include "http/PeerIdentity.hpp"

#include "sys/LoopbackPeer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace porteye::http {
namespace {

bool endpointOf(const sockaddr_storage& addr, std::string& host, std::uint16_t& port) {
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
        if (!::inet_ntop(AF_INET, &a.sin_addr, text, sizeof(text))) return false;
        port = ntohs(a.sin_port);
    } else if (addr.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
        if (!::inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof(text))) return false;
        port = ntohs(a.sin6_port);
    } else {
        return false;
    }
    host = text;
    return true;
}

}  // namespace

PeerIdentity identifyPeer(int fd) {
    PeerIdentity peer;
    sockaddr_storage remote{};
    socklen_t length = sizeof(remote);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &length) != 0) return peer;
    if (remote.ss_family == AF_UNIX) {
        // The kernel's record of who connected: not what /proc says later.
        peer.unixSocket = true;
        ucred cred{};
        socklen_t credLength = sizeof(cred);
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credLength) == 0) peer.uid = cred.uid;
        return peer;
    }
    std::uint16_t remotePort = 0;
    if (!endpointOf(remote, peer.address, remotePort)) return peer;
    peer.loopback = sys::isLoopbackAddress(peer.address);
    if (!peer.loopback) return peer;
    sockaddr_storage local{};
    length = sizeof(local);
    std::string localHost;
    std::uint16_t localPort = 0;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0 ||
        !endpointOf(local, localHost, localPort))
        return peer;
    peer.uid = sys::loopbackPeerUid(peer.address, remotePort, localHost, localPort);
    return peer;
}

}  // namespace porteye::http
