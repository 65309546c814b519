// SPDX-License-Identifier: MIT
// sock_diag replies as the kernel (or a recording) hands them over: dump buffers of TCP and UDP,
// destroy notifications (INET_DIAG_PROTOCOL attribute) and whole recordings.
// Input: byte 0 chooses the protocol (bit 0), whether the buffer is a whole recording (bit 1)
// and whether a sequence number is expected (bit 2); the rest is the bytes.
#include "sys/SockDiagParser.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

using namespace porteye;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    const auto bytes = std::as_bytes(std::span(data + 1, size - 1));
    const auto protocol = (mode & 1) != 0 ? core::Protocol::Udp : core::Protocol::Tcp;
    std::vector<core::SocketRecord> records;
    const sys::ParseResult result = (mode & 2) != 0
                                        ? sys::parseSockDiagRecording(bytes, records, protocol)
                                        : sys::parseSockDiagBuffer(bytes, records, (mode & 4) ? 1 : 0, protocol);
    // The documented contract: nothing appended on Error or Malformed, and the count is the records'.
    const bool failed = result.status == sys::ParseStatus::Error || result.status == sys::ParseStatus::Malformed;
    if ((mode & 2) == 0 && failed && !records.empty()) {
        std::fprintf(stderr, "records appended on a failed parse\n");
        std::abort();
    }
    if ((mode & 2) == 0 && !failed && result.recordsParsed != records.size()) {
        std::fprintf(stderr, "recordsParsed %zu, records %zu\n", result.recordsParsed, records.size());
        std::abort();
    }
    for (const auto& r : records) {
        // Text a record carries goes to D-Bus and JSON as it is.
        if (r.localAddress.size() > 64 || r.remoteAddress.size() > 64) std::abort();
    }
    return 0;
}
