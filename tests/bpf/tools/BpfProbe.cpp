// SPDX-License-Identifier: MIT
// porteye-bpf-probe [auto|tracepoint|off] [--listen]: opens the kernel event source, prints the stage
// and the fallbacks, and with --listen makes one loopback listener and prints the events it sees.
// Exit 0 when a stage with events was reached. Used by the tests to load as another user.
#include "sys/BpfSocketEvents.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    using namespace porteye;
    sys::EventSourceOptions options;
    bool listen = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--listen") {
            listen = true;
        } else if (auto mode = core::parseEventSourceMode(arg)) {
            options.mode = *mode;
        } else {
            std::fprintf(stderr, "usage: %s [auto|tracepoint|off] [--listen]\n", argv[0]);
            return 2;
        }
    }
    auto opened = sys::BpfSocketEvents::open(options);
    std::printf("stage %s\n", std::string(core::eventSourceStageName(opened.stage)).c_str());
    for (const auto& line : opened.fallbacks) {
        std::printf("fallback %s\n", line.c_str());
    }
    if (listen && opened.stage != core::EventSourceStage::Polling) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 1) != 0) {
            std::perror("listen");
            return 1;
        }
        ::close(fd);
        std::vector<core::KernelSocketEvent> events;
        for (int i = 0; i < 100; ++i) {
            opened.source->consume(events);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        for (const auto& e : events) {
            if (e.tgid == static_cast<std::uint32_t>(::getpid())) {
                std::printf("event %s %s:%u tgid %u uid %u comm %s cookie %llu inode %llu netns %llu\n",
                            std::string(core::kernelEventKindName(e.kind)).c_str(), e.localAddress.c_str(), e.localPort,
                            e.tgid, e.uid, e.comm.c_str(), static_cast<unsigned long long>(e.cookie),
                            static_cast<unsigned long long>(e.inode), static_cast<unsigned long long>(e.netns));
            }
        }
    }
    return opened.stage == core::EventSourceStage::Polling ? 1 : 0;
}
