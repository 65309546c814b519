// SPDX-License-Identifier: MIT
#pragma once

#include "core/SocketRecord.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace porteye::sys {

/// Formats a network-order address of `family` (AF_INET: 4 bytes, AF_INET6: 16) as records carry it
/// ("127.0.0.1", "::1", "::ffff:10.0.0.1"); empty for another family. Other event sources (eBPF)
/// use it too, so their records join sock_diag's.
std::string formatInetAddress(int family, const void* networkOrderBytes);

/// Outcome of parsing one buffer (one recv()) of a sock_diag dump reply.
enum class ParseStatus {
    More,       ///< buffer consumed, NLMSG_DONE not seen yet: read another buffer
    Done,       ///< NLMSG_DONE seen: the dump is complete
    Error,      ///< NLMSG_ERROR with a non-zero code (see errorCode)
    Malformed,  ///< truncated or inconsistent message: the dump cannot be trusted
};

struct ParseResult {
    ParseStatus status = ParseStatus::More;
    int errorCode = 0;    ///< positive errno for Error (and DONE with an error payload)
    std::string message;  ///< what was wrong, for Malformed/Error
    std::size_t recordsParsed = 0;
};

/// Parses one buffer of NLMSG_* messages carrying inet_diag_msg payloads,
/// appending a record per socket to `out` (owners left empty).
/// Pure: no I/O, never throws on malformed input, never reads past `bytes`.
/// `expectedSeq`, when non-zero, makes messages of another sequence number ignored.
/// On Error/Malformed nothing is appended; bytes after NLMSG_DONE are ignored.
/// A dump reply does not say which protocol it lists (the request did): records get `protocol`,
/// unless an INET_DIAG_PROTOCOL attribute (sent with destroy broadcasts) names TCP or UDP.
ParseResult parseSockDiagBuffer(std::span<const std::byte> bytes, std::vector<core::SocketRecord>& out,
                                std::uint32_t expectedSeq = 0, core::Protocol protocol = core::Protocol::Tcp);

/// Parses a whole recorded reply (e.g. written by `ss -tan -D FILE`: several
/// dumps back to back, all of `protocol`); stops at the first Error/Malformed.
/// Returns Done when the recording ends with NLMSG_DONE, More when its last dump is cut short.
ParseResult parseSockDiagRecording(std::span<const std::byte> bytes, std::vector<core::SocketRecord>& out,
                                   core::Protocol protocol = core::Protocol::Tcp);

}  // namespace porteye::sys
