// SPDX-License-Identifier: MIT
// porteye-netns-helper: the one part of PortEye that may enter network namespaces
// (CAP_SYS_ADMIN). It answers each request with a NETLINK_SOCK_DIAG socket opened inside the
// namespace it was handed, and does nothing else: no parsing of socket tables, no bus, no
// configuration. See sys/NetnsHelperProtocol.hpp for the protocol.
//
//   porteye-netns-helper            socket-activated (porteyed-netns.socket): serves every
//                                   connection to the listening socket, each in a child of
//                                   its own (an idle peer holds no one else up), at most
//                                   kMaxClients at once
//   porteye-netns-helper --fd N     serves the connected socket N (started by porteyed)
#include "sys/NetnsHelperProtocol.hpp"

#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

constexpr int kMaxClients = 16;  // porteyed holds one; more are refused until one ends

// Whoever may connect is decided by the socket file's mode and owner (the unit's SocketUser=);
// this checks again that the peer is root, this helper's own user, or the socket file's owner.
bool peerAllowed(int listener, int sock) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    if (cred.uid == 0 || cred.uid == ::getuid()) return true;
    sockaddr_un addr{};
    socklen_t addrLen = sizeof(addr);
    if (::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &addrLen) != 0 || addr.sun_path[0] == '\0')
        return false;
    struct stat st {};
    return ::stat(addr.sun_path, &st) == 0 && st.st_uid == cred.uid;
}

}  // namespace

int main(int argc, char** argv) {
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (argc == 3 && std::string(argv[1]) == "--fd") {
        char* end = nullptr;
        const long fd = std::strtol(argv[2], &end, 10);
        if (end == argv[2] || *end != '\0' || fd < 0 || fd > 1024) {
            std::fprintf(stderr, "porteye-netns-helper: bad descriptor '%s'\n", argv[2]);
            return 2;
        }
        porteye::sys::serveNetnsRequests(static_cast<int>(fd));
        return 0;
    }
    if (argc != 1) {
        std::fprintf(stderr, "usage: porteye-netns-helper [--fd N]\n");
        return 2;
    }
    if (sd_listen_fds(1) != 1) {
        std::fprintf(stderr, "porteye-netns-helper: expected one socket from systemd (porteyed-netns.socket)\n");
        return 2;
    }
    const int listener = SD_LISTEN_FDS_START;
    int clients = 0;
    for (;;) {
        while (clients > 0 && ::waitpid(-1, nullptr, WNOHANG) > 0)
            --clients;
        const int sock = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (sock < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            std::fprintf(stderr, "porteye-netns-helper: accept: %s\n", std::strerror(errno));
            return 1;
        }
        while (clients > 0 && ::waitpid(-1, nullptr, WNOHANG) > 0)
            --clients;
        if (clients >= kMaxClients) {
            std::fprintf(stderr, "porteye-netns-helper: %d clients already; refusing another\n", clients);
        } else if (peerAllowed(listener, sock)) {
            const pid_t child = ::fork();
            if (child == 0) {
                ::close(listener);
                porteye::sys::serveNetnsRequests(sock);
                ::_exit(0);
            }
            if (child > 0) ++clients;
            if (child < 0) std::fprintf(stderr, "porteye-netns-helper: fork: %s\n", std::strerror(errno));
        }
        ::close(sock);
    }
}
