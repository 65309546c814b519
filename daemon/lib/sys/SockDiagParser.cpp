// SPDX-License-Identifier: MIT
#include "sys/SockDiagParser.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace porteye::sys {
namespace {

// The errno an NLMSG_ERROR or NLMSG_DONE status stands for. The kernel sends -errno (at most
// MAX_ERRNO, 4095); a value past that is not one, and INT_MIN cannot even be negated, so both
// become EPROTO (found by fuzz-sockdiag).
int errnoOfNetlinkCode(int code) {
    constexpr int kMaxErrno = 4095;
    if (code < 0 && code >= -kMaxErrno) return -code;
    if (code > 0 && code <= kMaxErrno) return code;
    return EPROTO;
}

// Legacy TCPDIAG_GETSOCK replies (type 18) carry the same inet_diag_msg payload
// as SOCK_DIAG_BY_FAMILY; accepting both lets older recordings parse.
constexpr std::uint16_t kTcpDiagGetSock = 18;

constexpr std::size_t align4(std::size_t n) {
    return (n + 3U) & ~std::size_t{3};
}

// Copies a trivially copyable T out of possibly unaligned bytes; the caller has checked the size.
template <typename T>
T load(std::span<const std::byte> bytes, std::size_t offset) {
    T value{};
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

ParseResult malformed(std::string message, std::size_t records) {
    ParseResult r;
    r.status = ParseStatus::Malformed;
    r.message = std::move(message);
    r.recordsParsed = records;
    return r;
}

std::string formatAddress(int family, const std::array<std::uint32_t, 4>& words) {
    return formatInetAddress(family, words.data());
}

/// Walks the rtattr list after inet_diag_msg; only INET_DIAG_PROTOCOL is used.
bool parseAttributes(std::span<const std::byte> attrs, core::SocketRecord& record, std::string& error) {
    std::size_t offset = 0;
    while (offset < attrs.size()) {
        if (attrs.size() - offset < sizeof(rtattr)) {
            error = "truncated attribute header";
            return false;
        }
        const auto header = load<rtattr>(attrs, offset);
        if (header.rta_len < sizeof(rtattr) || header.rta_len > attrs.size() - offset) {
            error = "attribute length " + std::to_string(header.rta_len) + " runs past the message";
            return false;
        }
        const std::size_t payloadLen = header.rta_len - sizeof(rtattr);
        if (header.rta_type == INET_DIAG_PROTOCOL && payloadLen >= 1) {
            const auto protocol = load<std::uint8_t>(attrs, offset + sizeof(rtattr));
            if (protocol == IPPROTO_UDP) {
                record.protocol = core::Protocol::Udp;
            } else if (protocol == IPPROTO_TCP) {
                record.protocol = core::Protocol::Tcp;
            }
        }
        // The padding of the last attribute may be missing from a hand-built message; don't step past the end.
        offset += std::min(align4(header.rta_len), attrs.size() - offset);
    }
    return true;
}

bool parseInetDiagMessage(std::span<const std::byte> payload, core::Protocol protocol, core::SocketRecord& record,
                          std::string& error) {
    if (payload.size() < sizeof(inet_diag_msg)) {
        error = "inet_diag_msg payload truncated (" + std::to_string(payload.size()) + " bytes)";
        return false;
    }
    const auto msg = load<inet_diag_msg>(payload, 0);
    record.protocol = protocol;
    if (msg.idiag_family == AF_INET) {
        record.family = 4;
    } else if (msg.idiag_family == AF_INET6) {
        record.family = 6;
    } else {
        error = "unexpected address family " + std::to_string(msg.idiag_family);
        return false;
    }
    std::array<std::uint32_t, 4> src{};
    std::array<std::uint32_t, 4> dst{};
    std::memcpy(src.data(), msg.id.idiag_src, sizeof(msg.id.idiag_src));
    std::memcpy(dst.data(), msg.id.idiag_dst, sizeof(msg.id.idiag_dst));
    record.localAddress = formatAddress(msg.idiag_family, src);
    record.remoteAddress = formatAddress(msg.idiag_family, dst);
    record.localPort = ntohs(msg.id.idiag_sport);
    record.remotePort = ntohs(msg.id.idiag_dport);
    record.state = msg.idiag_state <= static_cast<std::uint8_t>(core::TcpState::BoundInactive)
                       ? static_cast<core::TcpState>(msg.idiag_state)
                       : core::TcpState::Unknown;
    record.inode = msg.idiag_inode;
    record.uid = msg.idiag_uid;
    record.cookie = std::uint64_t{msg.id.idiag_cookie[0]} | (std::uint64_t{msg.id.idiag_cookie[1]} << 32);

    const std::size_t attrOffset = align4(sizeof(inet_diag_msg));
    if (payload.size() > attrOffset) {
        return parseAttributes(payload.subspan(attrOffset), record, error);
    }
    return true;
}

/// Extracts NLMSGERR_ATTR_MSG from an extended ACK, if the kernel sent one.
std::string extendedAckMessage(const nlmsghdr& header, std::span<const std::byte> payload) {
    if ((header.nlmsg_flags & NLM_F_ACK_TLVS) == 0 || payload.size() < sizeof(nlmsgerr)) {
        return {};
    }
    const auto err = load<nlmsgerr>(payload, 0);
    std::size_t offset = sizeof(nlmsgerr);
    if ((header.nlmsg_flags & NLM_F_CAPPED) == 0 && err.msg.nlmsg_len > sizeof(nlmsghdr)) {
        offset += align4(err.msg.nlmsg_len - sizeof(nlmsghdr));
    }
    while (offset < payload.size() && payload.size() - offset >= sizeof(nlattr)) {
        const auto attr = load<nlattr>(payload, offset);
        if (attr.nla_len < sizeof(nlattr) || attr.nla_len > payload.size() - offset) {
            break;
        }
        if ((attr.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
            const auto* text = reinterpret_cast<const char*>(payload.data() + offset + sizeof(nlattr));
            const std::string_view view(text, attr.nla_len - sizeof(nlattr));
            return std::string(view.substr(0, view.find('\0')));
        }
        offset += std::min(align4(attr.nla_len), payload.size() - offset);
    }
    return {};
}

/// Parses messages until the buffer ends or a terminal message; `consumed` says where it stopped.
ParseResult parseMessages(std::span<const std::byte> bytes, std::vector<core::SocketRecord>& out,
                          std::uint32_t expectedSeq, core::Protocol protocol, std::size_t& consumed) {
    ParseResult result;
    std::size_t offset = 0;
    // Records are appended only when the whole buffer is good, so a Malformed buffer adds nothing.
    const std::size_t firstNew = out.size();
    auto fail = [&](std::string message) {
        out.resize(firstNew);
        consumed = offset;
        return malformed(std::move(message) + " at offset " + std::to_string(offset), 0);
    };

    while (offset < bytes.size()) {
        const std::size_t remaining = bytes.size() - offset;
        if (remaining < sizeof(nlmsghdr)) {
            return fail("truncated nlmsghdr (" + std::to_string(remaining) + " bytes)");
        }
        const auto header = load<nlmsghdr>(bytes, offset);
        if (header.nlmsg_len < sizeof(nlmsghdr)) {
            return fail("nlmsg_len " + std::to_string(header.nlmsg_len) + " smaller than the header");
        }
        if (header.nlmsg_len > remaining) {
            return fail("nlmsg_len " + std::to_string(header.nlmsg_len) + " exceeds the " + std::to_string(remaining) +
                        " bytes left");
        }
        const auto payload = bytes.subspan(offset + sizeof(nlmsghdr), header.nlmsg_len - sizeof(nlmsghdr));
        const std::size_t next = offset + std::min(align4(header.nlmsg_len), remaining);

        if (expectedSeq != 0 && header.nlmsg_seq != expectedSeq) {
            // A late reply to an earlier, abandoned request: not part of this dump.
            offset = next;
            continue;
        }

        switch (header.nlmsg_type) {
            case NLMSG_NOOP:
                break;
            case NLMSG_DONE: {
                // The kernel appends the dump's final status as an int; non-zero means the dump failed.
                if (payload.size() >= sizeof(int)) {
                    const int code = load<int>(payload, 0);
                    if (code != 0) {
                        result.status = ParseStatus::Error;
                        result.errorCode = errnoOfNetlinkCode(code);
                        result.message = "dump ended with error " + std::to_string(result.errorCode);
                        if (auto ext = extendedAckMessage(header, payload); !ext.empty()) {
                            result.message += ": " + ext;
                        }
                        out.resize(firstNew);
                        consumed = next;
                        return result;
                    }
                }
                result.status = ParseStatus::Done;
                result.recordsParsed = out.size() - firstNew;
                consumed = next;
                return result;
            }
            case NLMSG_ERROR: {
                if (payload.size() < sizeof(int)) {
                    return fail("NLMSG_ERROR payload truncated");
                }
                const int code = load<int>(payload, 0);
                if (code == 0) {
                    break;  // a plain ACK
                }
                result.status = ParseStatus::Error;
                result.errorCode = errnoOfNetlinkCode(code);
                result.message = std::string("netlink error: ") + std::strerror(result.errorCode);
                if (auto ext = extendedAckMessage(header, payload); !ext.empty()) {
                    result.message += ": " + ext;
                }
                out.resize(firstNew);
                consumed = next;
                return result;
            }
            case NLMSG_OVERRUN:
                return fail("NLMSG_OVERRUN: data lost");
            case SOCK_DIAG_BY_FAMILY:
            case kTcpDiagGetSock: {
                core::SocketRecord record;
                std::string error;
                if (!parseInetDiagMessage(payload, protocol, record, error)) {
                    return fail(error);
                }
                out.push_back(std::move(record));
                break;
            }
            default:
                // Unknown types are skipped rather than failing: their length is still trustworthy.
                break;
        }
        offset = next;
    }
    consumed = offset;
    result.status = ParseStatus::More;
    result.recordsParsed = out.size() - firstNew;
    return result;
}

}  // namespace

std::string formatInetAddress(int family, const void* networkOrderBytes) {
    std::array<char, INET6_ADDRSTRLEN> text{};
    // idiag_src/dst are raw network-order bytes; inet_ntop takes them as they are.
    if (inet_ntop(family, networkOrderBytes, text.data(), text.size()) == nullptr) {
        return {};
    }
    return std::string(text.data());
}

ParseResult parseSockDiagBuffer(std::span<const std::byte> bytes, std::vector<core::SocketRecord>& out,
                                std::uint32_t expectedSeq, core::Protocol protocol) {
    if (bytes.empty()) {
        // A netlink datagram is never empty; treating it as "More" could make a reader spin.
        return malformed("empty buffer", 0);
    }
    std::size_t consumed = 0;
    return parseMessages(bytes, out, expectedSeq, protocol, consumed);
}

ParseResult parseSockDiagRecording(std::span<const std::byte> bytes, std::vector<core::SocketRecord>& out,
                                   core::Protocol protocol) {
    if (bytes.empty()) {
        return malformed("empty recording", 0);
    }
    // `ss -D` writes each recv() buffer as received and runs one dump per family,
    // so the file is dump, DONE, dump, DONE... all with the same sequence number.
    const std::size_t firstNew = out.size();
    std::size_t offset = 0;
    ParseResult last;
    while (offset < bytes.size()) {
        std::size_t consumed = 0;
        last = parseMessages(bytes.subspan(offset), out, 0, protocol, consumed);
        if (last.status == ParseStatus::Error || last.status == ParseStatus::Malformed) {
            out.resize(firstNew);
            last.recordsParsed = 0;
            return last;
        }
        offset += consumed;
        if (consumed == 0) {
            break;  // cannot happen with a well-formed header, but never loop forever
        }
    }
    last.recordsParsed = out.size() - firstNew;
    return last;
}

}  // namespace porteye::sys
