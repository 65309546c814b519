// SPDX-License-Identifier: MIT
// Loopback connection churn for tests/bench/events.sh: connect, accept, close (the client
// end with SO_LINGER 0, an RST: no TIME_WAIT, so ports never run out), one connection at a
// time, paced to RATE connections a second or as fast as it goes (RATE 0), for SECONDS.
// Prints one JSON line: {"connections": N, "seconds": S, "rate": N/S, "cpu_s": own CPU}.
//   cc -O2 -o churn churn.c && ./churn RATE SECONDS
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: churn RATE SECONDS (RATE 0: as fast as possible)\n");
        return 2;
    }
    const double rate = atof(argv[1]), seconds = atof(argv[2]);
    const int server = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(server, (struct sockaddr*)&a, sizeof(a)) != 0 || listen(server, 1024) != 0 ||
        getsockname(server, (struct sockaddr*)&a, &len) != 0) {
        perror("listen");
        return 1;
    }
    const struct linger rst = {1, 0};
    const double start = now(), end = start + seconds;
    long n = 0;
    double t = start;
    while (t < end) {
        if (rate > 0) {
            const double due = start + (double)n / rate;
            if (due > t) {
                const double wait = due - t;
                const struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        const int client = socket(AF_INET, SOCK_STREAM, 0);
        if (client < 0 || connect(client, (struct sockaddr*)&a, sizeof(a)) != 0) {
            perror("connect");
            return 1;
        }
        const int accepted = accept(server, NULL, NULL);
        if (accepted < 0) {
            perror("accept");
            return 1;
        }
        setsockopt(client, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
        close(client);
        close(accepted);
        ++n;
        t = now();
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                       (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"connections\": %ld, \"seconds\": %.3f, \"rate\": %.1f, \"cpu_s\": %.3f}\n", n, t - start,
           (double)n / (t - start), cpu);
    return 0;
}
