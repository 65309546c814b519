// SPDX-License-Identifier: MIT
// porteye-bpf-bench: what the eBPF event source costs (figures for BENCHMARKS.md).
//
//   porteye-bpf-bench [--connections N] [--rounds R] [--consume-ms M] [--mode auto|tracepoint]
//
// A loopback generator (connect, accept, close with RST: 4 events a connection, no TIME_WAIT) runs
// N connections per round, in rounds alternating between: no program attached ("off"), the source
// with batched wake-ups consumed every M ms ("batched"), and the source waking the consumer on
// every event ("per-event"), and the source drained only after the round ("deferred": the kernel
// side alone, no consumer competing for the CPUs). Prints the generator's median rate per configuration, its slowdown
// against "off", and the consumer thread's CPU per 10k events consumed. Needs root (own netns).
#include "sys/BpfSocketEvents.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace porteye;

double threadCpuSeconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

bool loopbackUp() {
    const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    bool ok = ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    ok = ok && ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    ::close(s);
    return ok;
}

/// Runs `n` loopback connections; returns connections per second, or a negative value on error.
double generate(int n) {
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(server, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(server, 128) != 0) {
        std::perror("listen");
        return -1;
    }
    socklen_t len = sizeof(a);
    ::getsockname(server, reinterpret_cast<sockaddr*>(&a), &len);
    const linger rst{1, 0};
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        const int client = ::socket(AF_INET, SOCK_STREAM, 0);
        if (::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
            std::perror("connect");
            return -1;
        }
        const int accepted = ::accept(server, nullptr, nullptr);
        ::setsockopt(client, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
        ::close(client);
        ::close(accepted);
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    ::close(server);
    return n / elapsed.count();
}

struct Consumed {
    std::uint64_t events = 0;
    std::uint64_t lost = 0;
    double cpuSeconds = 0;
};

/// Opens the source, runs the generator while a thread consumes, and returns the generator's rate.
/// consumeMs 0: no consumer thread, the ring is drained once the generator is done (the kernel
/// side's cost alone; the ring must hold the whole round).
double roundWithSource(int n, sys::EventSourceOptions options, int consumeMs, Consumed& total) {
    auto opened = sys::BpfSocketEvents::open(options);
    if (opened.stage == core::EventSourceStage::Polling) {
        for (const auto& f : opened.fallbacks)
            std::fprintf(stderr, "%s\n", f.c_str());
        std::exit(1);
    }
    auto& source = *opened.source;
    std::atomic<bool> stop{false};
    Consumed consumed;
    std::thread consumer;
    const auto consume = [&] {
        // The daemon's loop: consume on a timer, and early when the fd says the ring filled up.
        const double cpu0 = threadCpuSeconds();
        std::vector<core::KernelSocketEvent> batch;
        pollfd pfd{source.fd(), POLLIN, 0};
        while (consumeMs > 0 && !stop.load()) {
            ::poll(&pfd, 1, consumeMs);
            batch.clear();
            consumed.events += source.consume(batch);
        }
        batch.clear();
        consumed.events += source.consume(batch);
        consumed.cpuSeconds = threadCpuSeconds() - cpu0;
    };
    if (consumeMs > 0) {
        consumer = std::thread(consume);
    }
    const double rate = generate(n);
    stop = true;
    if (consumeMs > 0) {
        consumer.join();
    } else {
        consume();
    }
    consumed.lost = source.lost();
    total.events += consumed.events;
    total.lost += consumed.lost;
    total.cpuSeconds += consumed.cpuSeconds;
    return rate;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    int connections = 20000;
    int rounds = 5;
    int consumeMs = 10;
    core::EventSourceMode mode = core::EventSourceMode::Tracepoint;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--connections") {
            connections = std::atoi(value.c_str());
        } else if (flag == "--rounds") {
            rounds = std::atoi(value.c_str());
        } else if (flag == "--consume-ms") {
            consumeMs = std::atoi(value.c_str());
        } else if (flag == "--mode" && core::parseEventSourceMode(value)) {
            mode = *core::parseEventSourceMode(value);
        } else {
            std::fprintf(stderr, "usage: %s [--connections N] [--rounds R] [--consume-ms M] [--mode auto|tracepoint]\n",
                         argv[0]);
            return 2;
        }
    }
    if (::unshare(CLONE_NEWNET) != 0 || !loopbackUp()) {
        std::perror("porteye-bpf-bench: needs root for a network namespace of its own");
        return 1;
    }

    sys::EventSourceOptions batched;
    batched.mode = mode;
    struct stat netns {};
    ::stat("/proc/self/ns/net", &netns);
    batched.netns = netns.st_ino;  // as the daemon would: its own namespace only, not the host's other churn
    sys::EventSourceOptions perEvent = batched;
    perEvent.wakeupBytes = 1;  // every record finds the ring non-empty: a wake-up each

    sys::EventSourceOptions deferred = batched;
    deferred.ringBytes = std::size_t{1} << 25;  // 32 MiB: a whole round of records, drained afterwards

    std::map<std::string, std::vector<double>> rates;
    std::map<std::string, Consumed> consumed;
    generate(connections / 4);  // warm-up
    for (int r = 0; r < rounds; ++r) {
        rates["off"].push_back(generate(connections));
        rates["batched"].push_back(roundWithSource(connections, batched, consumeMs, consumed["batched"]));
        rates["per-event"].push_back(roundWithSource(connections, perEvent, consumeMs, consumed["per-event"]));
        rates["deferred"].push_back(roundWithSource(connections, deferred, 0, consumed["deferred"]));
    }
    const double off = median(rates["off"]);
    std::printf("connections per round %d, rounds %d, consume every %d ms, mode %s\n", connections, rounds, consumeMs,
                std::string(core::eventSourceModeName(mode)).c_str());
    std::printf("%-10s %14s %10s %14s %10s %22s\n", "config", "conn/s median", "slowdown", "events", "lost",
                "consumer CPU/10k ev");
    for (const char* name : {"off", "batched", "per-event", "deferred"}) {
        const double rate = median(rates[name]);
        const auto& c = consumed[name];
        std::printf("%-10s %14.0f %9.1f%% %14llu %10llu", name, rate, (off / rate - 1) * 100,
                    static_cast<unsigned long long>(c.events), static_cast<unsigned long long>(c.lost));
        if (c.events > 0) {
            std::printf(" %19.2f ms", c.cpuSeconds * 1e3 / static_cast<double>(c.events) * 1e4);
        } else {
            std::printf(" %22s", "-");
        }
        std::printf("\n");
    }
    return 0;
}
