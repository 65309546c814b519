// SPDX-License-Identifier: MIT
// BpfSocketEvents when porteyed is built without eBPF (PORTEYE_BPF=OFF): always the Polling stage.
#include "sys/BpfSocketEvents.hpp"

namespace porteye::sys {

EventSourceOpenResult BpfSocketEvents::open(const EventSourceOptions&) {
    EventSourceOpenResult result;
    result.source.reset(new BpfSocketEvents());
    result.fallbacks.emplace_back("polling: porteyed was built without eBPF support (PORTEYE_BPF=OFF)");
    return result;
}

BpfSocketEvents::~BpfSocketEvents() = default;

int BpfSocketEvents::fd() const {
    return -1;
}

std::size_t BpfSocketEvents::consume(std::vector<core::KernelSocketEvent>&) {
    return 0;
}

int BpfSocketEvents::onRecord(void*, void*, std::size_t) {
    return 0;
}

std::uint64_t BpfSocketEvents::lost() const {
    return 0;
}

}  // namespace porteye::sys
