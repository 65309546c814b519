// SPDX-License-Identifier: MIT
// Watches one PID (or the whole host with 0) the way ProcessPortMonitor's
// Python example does, using the in-process API.
#include "inprocess/ThreadedMonitor.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

std::string portSet(const porteye::ThreadedMonitor::Ports& ports) {
    if (ports.empty()) return "set()";
    std::string out = "{";
    for (auto port : ports)
        out += (out.size() > 1 ? ", " : "") + std::to_string(port);
    return out + "}";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PID [INTERVAL]\n", argv[0]);
        return 2;
    }
    porteye::ThreadedMonitorOptions options;
    options.pid = static_cast<std::uint32_t>(std::strtoul(argv[1], nullptr, 10));
    options.interval = std::chrono::duration<double>(argc > 2 ? std::strtod(argv[2], nullptr) : 1.0);

    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);  // before the thread starts, so it inherits the mask

    porteye::ThreadedMonitor monitor(
        options, [](const auto& added, const auto& closed, const auto& active, const auto& history) {
            if (!added.empty()) std::printf("[+] Ports opened: %s\n", portSet(added).c_str());
            if (!closed.empty()) std::printf("[-] Ports closed: %s\n", portSet(closed).c_str());
            std::printf("[=] Current ports: %s (%zu events in history)\n", portSet(active).c_str(), history.size());
            std::fflush(stdout);
        });
    monitor.start();
    int signal = 0;
    sigwait(&stopSignals, &signal);
    monitor.stop();
    std::printf("Monitoring stopped.\n");
    return 0;
}
