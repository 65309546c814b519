// SPDX-License-Identifier: MIT
#pragma once

#include "core/KernelSocketEvent.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct porteye_sockets_bpf;
struct ring_buffer;

namespace porteye::sys {

struct EventSourceOptions {
    core::EventSourceMode mode = core::EventSourceMode::Auto;
    /// Ring buffer size; rounded up to a power of two of at least one page.
    std::size_t ringBytes = std::size_t{2} << 20;
    /// Queued bytes above which the kernel wakes fd(); 0: an eighth of the ring.
    std::size_t wakeupBytes = 0;
    /// Report only sockets of the network namespace with this inode (e.g. the daemon's own, as
    /// sock_diag dumps it: stat("/proc/self/ns/net").st_ino), filtered in the kernel; 0: all namespaces.
    std::uint64_t netns = 0;
};

class BpfSocketEvents;

/// What open() reached. `source` is never null: in the Polling stage it has no fd and no events.
struct EventSourceOpenResult {
    std::unique_ptr<BpfSocketEvents> source;
    core::EventSourceStage stage = core::EventSourceStage::Polling;
    /// One line per stage given up or hook left out, e.g. "full: fexit/inet_accept: Operation not
    /// permitted"; empty when Full was reached. For the caller to log once and show in `status`.
    std::vector<std::string> fallbacks;
};

/// IKernelEventSource over porteye_sockets.bpf.c: TCP state changes from tp_btf/inet_sock_set_state,
/// plus optional fentry/fexit hooks, through a ring buffer with batched wake-ups.
/// The programs are attached when open() returns: dump sock_diag after it, so nothing falls between.
class BpfSocketEvents final : public core::IKernelEventSource {
public:
    /// Loads and attaches: Full, else TracepointOnly, else Polling (as `options.mode` allows).
    /// Never throws on load or attach failures: they end up in `fallbacks`.
    static EventSourceOpenResult open(const EventSourceOptions& options = {});

    ~BpfSocketEvents() override;
    BpfSocketEvents(const BpfSocketEvents&) = delete;
    BpfSocketEvents& operator=(const BpfSocketEvents&) = delete;

    int fd() const override;
    std::size_t consume(std::vector<core::KernelSocketEvent>& out) override;
    std::uint64_t lost() const override;
    core::EventSourceStage stage() const override { return m_stage; }

    /// Records the ring held that did not parse (a program/user-space mismatch); never expected.
    /// Not part of lost(): they were delivered, just not understood.
    std::uint64_t malformed() const { return m_malformed; }
    /// Whether accepted sockets are reported again when accept() returns, with the acceptor and
    /// the inode (KernelEventKind::Accepted); otherwise they name the listener's owner, a guess.
    bool reportsAcceptors() const { return m_acceptors; }

private:
    BpfSocketEvents() = default;
    static int onRecord(void* self, void* data, std::size_t size);

    core::EventSourceStage m_stage = core::EventSourceStage::Polling;
    porteye_sockets_bpf* m_skel = nullptr;
    ring_buffer* m_ring = nullptr;
    std::vector<core::KernelSocketEvent>* m_out = nullptr;  ///< set during consume()
    std::size_t m_appended = 0;
    std::uint64_t m_malformed = 0;
    std::uint64_t m_droppedHere = 0;  ///< records consume() could not store (out of memory)
    bool m_acceptors = false;
};

}  // namespace porteye::sys
