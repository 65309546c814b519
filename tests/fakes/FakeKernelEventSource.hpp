// SPDX-License-Identifier: MIT
#pragma once

#include "core/KernelSocketEvent.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace porteye::fakes {

/// Data-only stand-in for the eBPF event source: tests queue events and set the loss counter.
class FakeKernelEventSource final : public core::IKernelEventSource {
public:
    int fd() const override { return stageValue == core::EventSourceStage::Polling ? -1 : fdValue; }
    std::size_t consume(std::vector<core::KernelSocketEvent>& out) override {
        ++consumes;
        const std::size_t n = pending.size();
        out.insert(out.end(), pending.begin(), pending.end());
        pending.clear();
        return n;
    }
    std::uint64_t lost() const override { return lostCount; }
    core::EventSourceStage stage() const override { return stageValue; }

    /// Queues an event and returns it for further tweaking.
    core::KernelSocketEvent& push(core::KernelEventKind kind, std::uint16_t localPort, std::uint64_t cookie,
                                  std::uint32_t tgid = 0) {
        core::KernelSocketEvent e;
        e.kind = kind;
        e.localAddress = "127.0.0.1";
        e.localPort = localPort;
        e.remoteAddress = "0.0.0.0";
        e.state = kind == core::KernelEventKind::Listen  ? core::TcpState::Listen
                  : kind == core::KernelEventKind::Close ? core::TcpState::Close
                                                         : core::TcpState::Established;
        e.cookie = cookie;
        e.tgid = tgid;
        e.monotonicNs = ++clockNs;
        pending.push_back(e);
        return pending.back();
    }

    std::vector<core::KernelSocketEvent> pending;
    std::uint64_t lostCount = 0;
    core::EventSourceStage stageValue = core::EventSourceStage::TracepointOnly;
    int fdValue = -1;  ///< e.g. an eventfd the test controls
    std::uint64_t clockNs = 0;
    int consumes = 0;
};

}  // namespace porteye::fakes
