// SPDX-License-Identifier: MIT
// One record of the eBPF ring buffer (struct porteye_sock_event), as BpfSocketEvents hands it to
// the parser: any length, any bytes (the kernel side is ours, but a record is only trusted as far
// as the parser checks it).
#include "sys/BpfEventParser.hpp"

#include <cstdint>
#include <cstdlib>
#include <span>

using namespace porteye;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto event = sys::parseBpfSocketEvent(std::as_bytes(std::span(data, size)));
    if (!event) return 0;
    if (size < sys::bpfEventRecordSize()) std::abort();  // a short record must be refused
    // comm is the array's bytes up to its first NUL, never more (PortMonitor escapes it).
    if (event->comm.size() > 16 || event->comm.find('\0') != std::string::npos) std::abort();
    return 0;
}
