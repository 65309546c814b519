// SPDX-License-Identifier: MIT
// One raw sock_diag dump of the TCP table, as porteyed asks for it (legacy TCPDIAG_GETSOCK:
// both families in one hash walk, every state or LISTEN only), read into a 32 KiB buffer and
// not parsed: the floor any poller pays. For tests/bench/events.sh.
//   rawdump [--listen-only] [--times K]   prints {"sockets": N, "cpu_us": [...], "wall_us": [...]}
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double clockUs(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static long dumpOnce(unsigned states) {
    const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -1;
    struct {
        struct nlmsghdr h;
        struct inet_diag_req r;
    } req;
    memset(&req, 0, sizeof(req));
    req.h.nlmsg_len = sizeof(req);
    req.h.nlmsg_type = TCPDIAG_GETSOCK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = 1;
    req.r.idiag_family = AF_INET;
    req.r.idiag_states = states;
    if (send(fd, &req, sizeof(req), 0) < 0) return -1;
    static char buf[32768];
    long sockets = 0;
    for (;;) {
        int n = (int)recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        int done = 0;
        for (struct nlmsghdr* h = (struct nlmsghdr*)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                done = 1;
                break;
            }
            ++sockets;
        }
        if (done) break;
    }
    close(fd);
    return sockets;
}

int main(int argc, char** argv) {
    unsigned states = ~0u;
    int times = 5;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--listen-only") == 0)
            states = 1u << 10;  // TCP_LISTEN
        else if (strcmp(argv[i], "--times") == 0 && i + 1 < argc)
            times = atoi(argv[++i]);
    }
    long sockets = 0;
    printf("{\"cpu_us\": [");
    char wall[4096] = "";
    for (int i = 0; i < times; ++i) {
        const double c0 = clockUs(CLOCK_PROCESS_CPUTIME_ID), w0 = clockUs(CLOCK_MONOTONIC);
        sockets = dumpOnce(states);
        const double c1 = clockUs(CLOCK_PROCESS_CPUTIME_ID), w1 = clockUs(CLOCK_MONOTONIC);
        printf("%s%.1f", i ? ", " : "", c1 - c0);
        snprintf(wall + strlen(wall), sizeof(wall) - strlen(wall), "%s%.1f", i ? ", " : "", w1 - w0);
    }
    printf("], \"wall_us\": [%s], \"sockets\": %ld}\n", wall, sockets);
    return sockets < 0;
}
