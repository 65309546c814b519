// SPDX-License-Identifier: MIT
#include "sys/SockDiagParser.hpp"
#include "sys/SockDiagRequest.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace porteye::sys {
namespace {

using core::SocketRecord;
using core::TcpState;
using Bytes = std::vector<std::byte>;

Bytes readFixture(const std::string& name) {
    const std::string path = std::string(PORTEYE_TEST_DATA_DIR) + "/netlink/" + name;
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << "missing fixture " << path;
    const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Bytes bytes(chars.size());
    std::memcpy(bytes.data(), chars.data(), chars.size());
    return bytes;
}

template <typename T>
void append(Bytes& out, const T& value) {
    const std::size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &value, sizeof(T));
}

void padTo4(Bytes& out) {
    while (out.size() % 4 != 0) {
        out.push_back(std::byte{0});
    }
}

/// Appends one netlink message; `lengthOverride` forges nlmsg_len.
void appendMessage(Bytes& out, std::uint16_t type, std::uint32_t seq, const Bytes& payload,
                   std::uint16_t flags = NLM_F_MULTI, std::int64_t lengthOverride = -1) {
    nlmsghdr h{};
    h.nlmsg_len = lengthOverride >= 0 ? static_cast<std::uint32_t>(lengthOverride)
                                      : static_cast<std::uint32_t>(sizeof(nlmsghdr) + payload.size());
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = seq;
    h.nlmsg_pid = 4242;
    append(out, h);
    out.insert(out.end(), payload.begin(), payload.end());
    padTo4(out);
}

struct Sock {
    int family = AF_INET;
    const char* src = "127.0.0.1";
    std::uint16_t sport = 0;
    const char* dst = "0.0.0.0";
    std::uint16_t dport = 0;
    std::uint8_t state = 10;
    std::uint32_t inode = 0;
    std::uint32_t uid = 0;
    std::uint32_t cookieLo = 0;
    std::uint32_t cookieHi = 0;
};

Bytes diagPayload(const Sock& s, const Bytes& attributes = {}) {
    inet_diag_msg m{};
    m.idiag_family = static_cast<std::uint8_t>(s.family);
    m.idiag_state = s.state;
    m.id.idiag_sport = htons(s.sport);
    m.id.idiag_dport = htons(s.dport);
    EXPECT_EQ(inet_pton(s.family, s.src, m.id.idiag_src), 1);
    EXPECT_EQ(inet_pton(s.family, s.dst, m.id.idiag_dst), 1);
    m.id.idiag_cookie[0] = s.cookieLo;
    m.id.idiag_cookie[1] = s.cookieHi;
    m.idiag_uid = s.uid;
    m.idiag_inode = s.inode;
    Bytes out;
    append(out, m);
    out.insert(out.end(), attributes.begin(), attributes.end());
    return out;
}

Bytes attribute(std::uint16_t type, const Bytes& data, std::int32_t lengthOverride = -1) {
    rtattr a{};
    a.rta_len = lengthOverride >= 0 ? static_cast<unsigned short>(lengthOverride)
                                    : static_cast<unsigned short>(sizeof(rtattr) + data.size());
    a.rta_type = type;
    Bytes out;
    append(out, a);
    out.insert(out.end(), data.begin(), data.end());
    padTo4(out);
    return out;
}

Bytes intPayload(int value) {
    Bytes out;
    append(out, value);
    return out;
}

Bytes errorPayload(int error) {
    nlmsgerr e{};
    e.error = error;
    e.msg.nlmsg_len = 72;
    e.msg.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    Bytes out;
    append(out, e);
    return out;
}

using Tuple = std::tuple<int, std::string, int, std::string, int, TcpState>;
Tuple tupleOf(const SocketRecord& r) {
    return {r.family, r.localAddress, r.localPort, r.remoteAddress, r.remotePort, r.state};
}
std::multiset<Tuple> tuplesOf(const std::vector<SocketRecord>& records) {
    std::multiset<Tuple> out;
    for (const auto& r : records) {
        out.insert(tupleOf(r));
    }
    return out;
}

// --- Recorded fixtures (see tests/data/netlink/README.md) ---

TEST(SockDiagParser, ParsesMixedRecordingWithExactSockets) {
    const auto bytes = readFixture("mixed.bin");
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagRecording(bytes, out);
    ASSERT_EQ(r.status, ParseStatus::Done) << r.message;
    EXPECT_EQ(r.recordsParsed, 11U);
    const std::multiset<Tuple> expected{
        {4, "127.0.0.1", 8080, "0.0.0.0", 0, TcpState::Listen},
        {4, "0.0.0.0", 9090, "0.0.0.0", 0, TcpState::Listen},
        {4, "127.0.0.1", 40001, "127.0.0.1", 8080, TcpState::Established},
        {4, "127.0.0.1", 8080, "127.0.0.1", 40001, TcpState::Established},
        {4, "127.0.0.1", 40003, "127.0.0.1", 7070, TcpState::Established},
        {4, "127.0.0.1", 40004, "127.0.0.1", 9090, TcpState::TimeWait},
        {6, "::1", 8443, "::", 0, TcpState::Listen},
        {6, "::", 7070, "::", 0, TcpState::Listen},
        {6, "::1", 40002, "::1", 8443, TcpState::Established},
        {6, "::1", 8443, "::1", 40002, TcpState::Established},
        // Accepted on a dual-stack listener: the kernel reports AF_INET6 with a v4-mapped address.
        {6, "::ffff:127.0.0.1", 7070, "::ffff:127.0.0.1", 40003, TcpState::Established},
    };
    EXPECT_EQ(tuplesOf(out), expected);

    std::set<std::uint64_t> cookies;
    for (const auto& rec : out) {
        EXPECT_EQ(rec.protocol, core::Protocol::Tcp);
        EXPECT_EQ(rec.uid, 0U);
        EXPECT_NE(rec.cookie, 0U);
        cookies.insert(rec.cookie);
        if (rec.state == TcpState::TimeWait) {
            EXPECT_EQ(rec.inode, 0U) << "time-wait sockets have no inode";
        } else {
            EXPECT_NE(rec.inode, 0U);
        }
        EXPECT_EQ(rec.pid, 0U);
        EXPECT_TRUE(rec.process.empty());
    }
    EXPECT_EQ(cookies.size(), out.size()) << "cookies are unique";
}

TEST(SockDiagParser, ParsesIpv6OnlyRecording) {
    const auto bytes = readFixture("ipv6-only.bin");
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagRecording(bytes, out);
    ASSERT_EQ(r.status, ParseStatus::Done) << r.message;
    const std::multiset<Tuple> expected{
        {6, "::", 7070, "::", 0, TcpState::Listen},
        {6, "::1", 8443, "::", 0, TcpState::Listen},
        {6, "::1", 40002, "::1", 8443, TcpState::Established},
        {6, "::1", 8443, "::1", 40002, TcpState::Established},
        {6, "::ffff:127.0.0.1", 7070, "::ffff:127.0.0.1", 40003, TcpState::Established},
    };
    EXPECT_EQ(tuplesOf(out), expected);
}

TEST(SockDiagParser, ParsesTimeWaitOnlyRecording) {
    const auto bytes = readFixture("timewait.bin");
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagRecording(bytes, out);
    ASSERT_EQ(r.status, ParseStatus::Done) << r.message;
    const std::multiset<Tuple> expected{
        {4, "127.0.0.1", 40001, "127.0.0.1", 8080, TcpState::TimeWait},
        {4, "127.0.0.1", 40003, "127.0.0.1", 7070, TcpState::TimeWait},
        {4, "127.0.0.1", 40004, "127.0.0.1", 9090, TcpState::TimeWait},
        {6, "::1", 40002, "::1", 8443, TcpState::TimeWait},
    };
    EXPECT_EQ(tuplesOf(out), expected);
    for (const auto& rec : out) {
        EXPECT_EQ(rec.inode, 0U);
    }
}

TEST(SockDiagParser, ParsesUdpRecordingAsUdpWithUnconnAndEstablishedStates) {
    const auto bytes = readFixture("udp.bin");
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagRecording(bytes, out, core::Protocol::Udp);
    ASSERT_EQ(r.status, ParseStatus::Done) << r.message;
    // Bound sockets are TCP_CLOSE, connected ones TCP_ESTABLISHED; the never-bound socket is absent.
    const std::multiset<Tuple> expected{
        {4, "127.0.0.1", 5353, "0.0.0.0", 0, TcpState::Close},
        {4, "0.0.0.0", 6000, "0.0.0.0", 0, TcpState::Close},
        {4, "127.0.0.1", 41001, "127.0.0.1", 5353, TcpState::Established},
        {6, "::1", 5354, "::", 0, TcpState::Close},
        {6, "::", 6001, "::", 0, TcpState::Close},
        {6, "::1", 41002, "::1", 5354, TcpState::Established},
    };
    EXPECT_EQ(tuplesOf(out), expected);
    std::set<std::uint64_t> cookies;
    for (const auto& rec : out) {
        EXPECT_EQ(rec.protocol, core::Protocol::Udp);
        EXPECT_NE(rec.inode, 0U);
        EXPECT_EQ(rec.uid, 0U);
        cookies.insert(rec.cookie);
        EXPECT_EQ(rec.listening(), rec.state == TcpState::Close) << "bound UDP is what ss -l lists";
        EXPECT_EQ(core::stateName(rec.protocol, rec.state), rec.state == TcpState::Close ? "UNCONN" : "ESTABLISHED");
    }
    EXPECT_EQ(cookies.size(), out.size());
}

TEST(SockDiagParser, DumpRepliesDoNotNameTheirProtocolSoTheCallerDoes) {
    // A dump reply carries no INET_DIAG_PROTOCOL: without being told, UDP sockets would read as TCP.
    const auto bytes = readFixture("udp.bin");
    std::vector<SocketRecord> out;
    ASSERT_EQ(parseSockDiagRecording(bytes, out).status, ParseStatus::Done);
    ASSERT_EQ(out.size(), 6U);
    for (const auto& rec : out)
        EXPECT_EQ(rec.protocol, core::Protocol::Tcp);
}

TEST(SockDiagParser, UdpDestroyBroadcastsAreUdpWhateverTheCallerAssumes) {
    const auto bytes = readFixture("udp-destroy.bin");
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagRecording(bytes, out, core::Protocol::Tcp);
    EXPECT_EQ(r.status, ParseStatus::More) << "broadcasts have no NLMSG_DONE";
    const std::multiset<Tuple> expected{
        {4, "127.0.0.1", 5353, "0.0.0.0", 0, TcpState::Close},
        {4, "0.0.0.0", 6000, "0.0.0.0", 0, TcpState::Close},
        {4, "127.0.0.1", 41001, "127.0.0.1", 5353, TcpState::Established},
        {6, "::1", 5354, "::", 0, TcpState::Close},
        {6, "::", 6001, "::", 0, TcpState::Close},
        {6, "::1", 41002, "::1", 5354, TcpState::Established},
    };
    EXPECT_EQ(tuplesOf(out), expected);
    for (const auto& rec : out) {
        EXPECT_EQ(rec.protocol, core::Protocol::Udp) << "INET_DIAG_PROTOCOL says UDP";
        EXPECT_EQ(rec.inode, 0U) << "destroy messages carry no inode";
        EXPECT_NE(rec.cookie, 0U) << "they are matched by cookie";
    }
}

TEST(SockDiagParser, ParsesEmptyNamespaceRecordingAsTwoDones) {
    const auto bytes = readFixture("empty.bin");
    ASSERT_EQ(bytes.size(), 40U) << "two bare NLMSG_DONE messages";
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagRecording(bytes, out);
    EXPECT_EQ(r.status, ParseStatus::Done) << r.message;
    EXPECT_TRUE(out.empty());
}

TEST(SockDiagParser, RecordingBufferStopsAtFirstDone) {
    // parseSockDiagBuffer handles one dump: the IPv6 half of the recording is after DONE.
    const auto bytes = readFixture("mixed.bin");
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(bytes, out, 123456);
    ASSERT_EQ(r.status, ParseStatus::Done) << r.message;
    EXPECT_EQ(out.size(), 6U);
    for (const auto& rec : out) {
        EXPECT_EQ(rec.family, 4);
    }
}

TEST(SockDiagParser, RecordingCutBeforeFinalDoneIsMore) {
    auto bytes = readFixture("mixed.bin");
    bytes.resize(bytes.size() - 20);  // drop the last NLMSG_DONE
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagRecording(bytes, out);
    EXPECT_EQ(r.status, ParseStatus::More);
    EXPECT_EQ(out.size(), 11U);
}

TEST(SockDiagParser, EveryTruncationOfARecordingIsSafe) {
    const auto bytes = readFixture("mixed.bin");
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        std::vector<SocketRecord> out;
        const auto r = parseSockDiagRecording(std::span(bytes).first(cut), out);
        if (r.status == ParseStatus::Malformed) {
            EXPECT_TRUE(out.empty());
            EXPECT_FALSE(r.message.empty());
        }
    }
}

// --- Hand-built edge cases ---

TEST(SockDiagParser, ParsesHandBuiltIpv4Record) {
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 7,
                  diagPayload({AF_INET, "10.1.2.3", 443, "192.168.0.9", 51000, 1, 777, 1000, 0xdeadbeef, 0x12}));
    appendMessage(buf, NLMSG_DONE, 7, intPayload(0));
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(buf, out, 7);
    ASSERT_EQ(r.status, ParseStatus::Done) << r.message;
    ASSERT_EQ(out.size(), 1U);
    const auto& rec = out[0];
    EXPECT_EQ(rec.protocol, core::Protocol::Tcp);
    EXPECT_EQ(rec.family, 4);
    EXPECT_EQ(rec.localAddress, "10.1.2.3");
    EXPECT_EQ(rec.localPort, 443);
    EXPECT_EQ(rec.remoteAddress, "192.168.0.9");
    EXPECT_EQ(rec.remotePort, 51000);
    EXPECT_EQ(rec.state, TcpState::Established);
    EXPECT_EQ(rec.inode, 777U);
    EXPECT_EQ(rec.uid, 1000U);
    EXPECT_EQ(rec.cookie, 0x12deadbeefULL);
}

TEST(SockDiagParser, DoneWithoutPayloadIsDone) {
    Bytes buf;
    appendMessage(buf, NLMSG_DONE, 1, {});
    std::vector<SocketRecord> out;
    EXPECT_EQ(parseSockDiagBuffer(buf, out, 1).status, ParseStatus::Done);
}

TEST(SockDiagParser, DoneWithErrorPayloadIsError) {
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 1, diagPayload({}));
    appendMessage(buf, NLMSG_DONE, 1, intPayload(-EINTR));
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(buf, out, 1);
    EXPECT_EQ(r.status, ParseStatus::Error);
    EXPECT_EQ(r.errorCode, EINTR);
    EXPECT_TRUE(out.empty()) << "no partial table on error";
}

TEST(SockDiagParser, NlmsgErrorGivesPositiveErrno) {
    Bytes buf;
    appendMessage(buf, NLMSG_ERROR, 3, errorPayload(-EPERM), 0);
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(buf, out, 3);
    EXPECT_EQ(r.status, ParseStatus::Error);
    EXPECT_EQ(r.errorCode, EPERM);
    EXPECT_FALSE(r.message.empty());
}

TEST(SockDiagParser, StatusThatIsNoErrnoIsAProtocolError) {
    // INT_MIN (found by fuzz-sockdiag) cannot be negated; past 4095 no kernel errno lies.
    for (const int code : {std::numeric_limits<int>::min(), -100000, 100000}) {
        for (const int type : {NLMSG_ERROR, NLMSG_DONE}) {
            Bytes buf;
            appendMessage(buf, type, 3, type == NLMSG_ERROR ? errorPayload(code) : intPayload(code), 0);
            std::vector<SocketRecord> out;
            const auto r = parseSockDiagBuffer(buf, out, 3);
            EXPECT_EQ(r.status, ParseStatus::Error) << code;
            EXPECT_EQ(r.errorCode, EPROTO) << code;
        }
    }
}

TEST(SockDiagParser, NlmsgErrorCarriesExtendedAckMessage) {
    Bytes payload = errorPayload(-EINVAL);
    const std::string text = "bad family";
    Bytes textBytes(text.size() + 1);
    std::memcpy(textBytes.data(), text.c_str(), text.size() + 1);
    const Bytes attr = attribute(NLMSGERR_ATTR_MSG, textBytes);
    payload.insert(payload.end(), attr.begin(), attr.end());
    Bytes buf;
    appendMessage(buf, NLMSG_ERROR, 3, payload, NLM_F_CAPPED | NLM_F_ACK_TLVS);
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(buf, out, 3);
    EXPECT_EQ(r.status, ParseStatus::Error);
    EXPECT_EQ(r.errorCode, EINVAL);
    EXPECT_NE(r.message.find("bad family"), std::string::npos) << r.message;
}

TEST(SockDiagParser, NlmsgErrorZeroIsAnAckAndIgnored) {
    Bytes buf;
    appendMessage(buf, NLMSG_ERROR, 3, errorPayload(0), 0);
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 3, diagPayload({.sport = 22}));
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(buf, out, 3);
    EXPECT_EQ(r.status, ParseStatus::More);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].localPort, 22);
}

TEST(SockDiagParser, TruncatedNlmsgErrorIsMalformed) {
    Bytes buf;
    appendMessage(buf, NLMSG_ERROR, 3, Bytes(2), 0);
    std::vector<SocketRecord> out;
    EXPECT_EQ(parseSockDiagBuffer(buf, out, 3).status, ParseStatus::Malformed);
}

TEST(SockDiagParser, NoopIsSkipped) {
    Bytes buf;
    appendMessage(buf, NLMSG_NOOP, 5, {});
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 5, diagPayload({.sport = 80}));
    appendMessage(buf, NLMSG_DONE, 5, intPayload(0));
    std::vector<SocketRecord> out;
    EXPECT_EQ(parseSockDiagBuffer(buf, out, 5).status, ParseStatus::Done);
    EXPECT_EQ(out.size(), 1U);
}

TEST(SockDiagParser, EmptyBufferIsMalformed) {
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer({}, out, 1);
    EXPECT_EQ(r.status, ParseStatus::Malformed);
    EXPECT_FALSE(r.message.empty());
    EXPECT_EQ(parseSockDiagRecording({}, out).status, ParseStatus::Malformed);
}

TEST(SockDiagParser, TruncatedHeaderIsMalformed) {
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 1, diagPayload({.sport = 80}));
    buf.resize(buf.size() + 10);  // 10 bytes: less than an nlmsghdr
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(buf, out, 1);
    EXPECT_EQ(r.status, ParseStatus::Malformed);
    EXPECT_NE(r.message.find("truncated nlmsghdr"), std::string::npos) << r.message;
    EXPECT_TRUE(out.empty()) << "a malformed buffer appends nothing";
}

TEST(SockDiagParser, TruncatedPayloadIsMalformed) {
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 1, diagPayload({.sport = 80}));
    buf.resize(buf.size() - 8);  // nlmsg_len now points past the buffer
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(buf, out, 1);
    EXPECT_EQ(r.status, ParseStatus::Malformed);
    EXPECT_NE(r.message.find("exceeds"), std::string::npos) << r.message;
}

TEST(SockDiagParser, ShortInetDiagMsgIsMalformed) {
    Bytes payload = diagPayload({});
    payload.resize(40);  // consistent nlmsg_len, but too short for inet_diag_msg
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 1, payload);
    std::vector<SocketRecord> out;
    EXPECT_EQ(parseSockDiagBuffer(buf, out, 1).status, ParseStatus::Malformed);
}

TEST(SockDiagParser, LengthSmallerThanHeaderIsMalformed) {
    for (const std::int64_t len : {0, 1, 15}) {
        Bytes buf;
        appendMessage(buf, NLMSG_DONE, 1, intPayload(0), NLM_F_MULTI, len);
        std::vector<SocketRecord> out;
        const auto r = parseSockDiagBuffer(buf, out, 1);
        EXPECT_EQ(r.status, ParseStatus::Malformed) << "nlmsg_len " << len;
        EXPECT_NE(r.message.find("smaller than the header"), std::string::npos) << r.message;
    }
}

TEST(SockDiagParser, LengthBeyondBufferIsMalformed) {
    Bytes buf;
    appendMessage(buf, NLMSG_DONE, 1, intPayload(0), NLM_F_MULTI, 0xffffffffLL);
    std::vector<SocketRecord> out;
    EXPECT_EQ(parseSockDiagBuffer(buf, out, 1).status, ParseStatus::Malformed);
}

TEST(SockDiagParser, AttributeOverrunIsMalformed) {
    Bytes attrs = attribute(INET_DIAG_SHUTDOWN, Bytes(1), 200);  // rta_len runs past the message
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 1, diagPayload({}, attrs));
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(buf, out, 1);
    EXPECT_EQ(r.status, ParseStatus::Malformed);
    EXPECT_NE(r.message.find("attribute"), std::string::npos) << r.message;
}

TEST(SockDiagParser, AttributeShorterThanItsHeaderIsMalformed) {
    Bytes attrs = attribute(INET_DIAG_SHUTDOWN, Bytes(4), 2);
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 1, diagPayload({}, attrs));
    std::vector<SocketRecord> out;
    EXPECT_EQ(parseSockDiagBuffer(buf, out, 1).status, ParseStatus::Malformed);
}

TEST(SockDiagParser, ProtocolAttributeMarksUdp) {
    Bytes attrs = attribute(INET_DIAG_PROTOCOL, Bytes{std::byte{IPPROTO_UDP}});
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 0, diagPayload({.sport = 53, .state = 7}, attrs), 0);
    std::vector<SocketRecord> out;
    ASSERT_EQ(parseSockDiagBuffer(buf, out).status, ParseStatus::More);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].protocol, core::Protocol::Udp);
    EXPECT_EQ(out[0].state, TcpState::Close);
}

TEST(SockDiagParser, UnknownFamilyIsMalformed) {
    Bytes payload = diagPayload({});
    payload[0] = std::byte{AF_UNIX};
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 1, payload);
    std::vector<SocketRecord> out;
    EXPECT_EQ(parseSockDiagBuffer(buf, out, 1).status, ParseStatus::Malformed);
}

TEST(SockDiagParser, MultiBufferDumpCompletesOnLastBuffer) {
    Bytes first;
    appendMessage(first, SOCK_DIAG_BY_FAMILY, 9, diagPayload({.sport = 1000}));
    appendMessage(first, SOCK_DIAG_BY_FAMILY, 9, diagPayload({.sport = 1001}));
    Bytes second;
    appendMessage(second, SOCK_DIAG_BY_FAMILY, 9,
                  diagPayload({.family = AF_INET6, .src = "fe80::1", .sport = 1002, .dst = "::"}));
    appendMessage(second, NLMSG_DONE, 9, intPayload(0));
    std::vector<SocketRecord> out;
    const auto r1 = parseSockDiagBuffer(first, out, 9);
    EXPECT_EQ(r1.status, ParseStatus::More);
    EXPECT_EQ(r1.recordsParsed, 2U);
    const auto r2 = parseSockDiagBuffer(second, out, 9);
    EXPECT_EQ(r2.status, ParseStatus::Done);
    EXPECT_EQ(r2.recordsParsed, 1U);
    ASSERT_EQ(out.size(), 3U);
    EXPECT_EQ(out[2].family, 6);
    EXPECT_EQ(out[2].localAddress, "fe80::1");
    EXPECT_EQ(out[2].localPort, 1002);
}

TEST(SockDiagParser, OtherSequenceNumbersAreIgnored) {
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 41, diagPayload({.sport = 1}));
    appendMessage(buf, NLMSG_ERROR, 41, errorPayload(-EBUSY), 0);
    appendMessage(buf, NLMSG_DONE, 41, intPayload(0));  // a stale DONE must not end our dump
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 42, diagPayload({.sport = 2}));
    std::vector<SocketRecord> out;
    const auto r = parseSockDiagBuffer(buf, out, 42);
    EXPECT_EQ(r.status, ParseStatus::More);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].localPort, 2);
}

TEST(SockDiagParser, SequenceZeroAcceptsAny) {
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 41, diagPayload({.sport = 1}));
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 99, diagPayload({.sport = 2}));
    std::vector<SocketRecord> out;
    EXPECT_EQ(parseSockDiagBuffer(buf, out, 0).status, ParseStatus::More);
    EXPECT_EQ(out.size(), 2U);
}

TEST(SockDiagParser, UnalignedBufferIsHandled) {
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 1, diagPayload({.sport = 80}));
    appendMessage(buf, NLMSG_DONE, 1, intPayload(0));
    Bytes shifted(buf.size() + 1);
    std::copy(buf.begin(), buf.end(), shifted.begin() + 1);
    std::vector<SocketRecord> out;
    EXPECT_EQ(parseSockDiagBuffer(std::span(shifted).subspan(1), out, 1).status, ParseStatus::Done);
    EXPECT_EQ(out.size(), 1U);
}

TEST(SockDiagParser, MalformedBufferKeepsEarlierRecords) {
    std::vector<SocketRecord> out(2);  // from an earlier buffer of the same dump
    Bytes buf;
    appendMessage(buf, SOCK_DIAG_BY_FAMILY, 1, diagPayload({}));
    buf.resize(buf.size() + 3);
    EXPECT_EQ(parseSockDiagBuffer(buf, out, 1).status, ParseStatus::Malformed);
    EXPECT_EQ(out.size(), 2U);
}

// --- Request builder ---

TEST(SockDiagRequest, BuildsDumpRequest) {
    const auto bytes = buildSockDiagDumpRequest(AF_INET6, IPPROTO_TCP, 0x1ffe, 77);
    ASSERT_EQ(bytes.size(), sizeof(nlmsghdr) + sizeof(inet_diag_req_v2));
    nlmsghdr h{};
    std::memcpy(&h, bytes.data(), sizeof(h));
    EXPECT_EQ(h.nlmsg_len, bytes.size());
    EXPECT_EQ(h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
    EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
    EXPECT_EQ(h.nlmsg_seq, 77U);
    EXPECT_EQ(h.nlmsg_pid, 0U);
    inet_diag_req_v2 req{};
    std::memcpy(&req, bytes.data() + sizeof(nlmsghdr), sizeof(req));
    EXPECT_EQ(req.sdiag_family, AF_INET6);
    EXPECT_EQ(req.sdiag_protocol, IPPROTO_TCP);
    EXPECT_EQ(req.idiag_ext, 0);
    EXPECT_EQ(req.idiag_states, 0x1ffeU);
}

TEST(SockDiagRequest, BuildsUdpDumpRequestForUnconnAndEstablished) {
    const auto bytes = buildSockDiagDumpRequest(AF_INET, IPPROTO_UDP, core::kUdpStates, 5);
    inet_diag_req_v2 req{};
    ASSERT_EQ(bytes.size(), sizeof(nlmsghdr) + sizeof(req));
    std::memcpy(&req, bytes.data() + sizeof(nlmsghdr), sizeof(req));
    EXPECT_EQ(req.sdiag_family, AF_INET);
    EXPECT_EQ(req.sdiag_protocol, IPPROTO_UDP);
    EXPECT_EQ(req.idiag_states, (1U << 1) | (1U << 7)) << "TCP_ESTABLISHED and TCP_CLOSE";
}

TEST(SockDiagRequest, BuildsLegacyRequestCoveringBothFamiliesInOneWalk) {
    const auto bytes = buildLegacyTcpDumpRequest(0x400, 9);
    ASSERT_EQ(bytes.size(), sizeof(nlmsghdr) + sizeof(inet_diag_req));
    nlmsghdr h{};
    std::memcpy(&h, bytes.data(), sizeof(h));
    EXPECT_EQ(h.nlmsg_len, bytes.size());
    EXPECT_EQ(h.nlmsg_type, TCPDIAG_GETSOCK);
    EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
    EXPECT_EQ(h.nlmsg_seq, 9U);
    inet_diag_req req{};
    std::memcpy(&req, bytes.data() + sizeof(nlmsghdr), sizeof(req));
    EXPECT_EQ(req.idiag_states, 0x400U);
    EXPECT_EQ(req.idiag_ext, 0);
}

TEST(SockDiagRequest, BuildsAnExactLookupOfOneSocketByItsEnds) {
    SocketEnds ends;
    ends.family = AF_INET;
    ends.protocol = IPPROTO_TCP;
    ends.localAddress[0] = htonl(0x7f000001);
    ends.localPort = 40000;
    ends.remoteAddress[0] = htonl(0x7f000002);
    ends.remotePort = 8080;
    const auto bytes = buildSockDiagLookupRequest(ends, 3);
    ASSERT_EQ(bytes.size(), sizeof(nlmsghdr) + sizeof(inet_diag_req_v2));
    nlmsghdr h{};
    std::memcpy(&h, bytes.data(), sizeof(h));
    EXPECT_EQ(h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
    EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST) << "a lookup in the hash, not a dump";
    EXPECT_EQ(h.nlmsg_seq, 3U);
    inet_diag_req_v2 req{};
    std::memcpy(&req, bytes.data() + sizeof(nlmsghdr), sizeof(req));
    EXPECT_EQ(req.sdiag_family, AF_INET);
    EXPECT_EQ(ntohs(req.id.idiag_sport), 40000);
    EXPECT_EQ(ntohs(req.id.idiag_dport), 8080);
    EXPECT_EQ(req.id.idiag_src[0], htonl(0x7f000001));
    EXPECT_EQ(req.id.idiag_dst[0], htonl(0x7f000002));
    EXPECT_EQ(req.id.idiag_cookie[0], INET_DIAG_NOCOOKIE);
}

// --- Robustness: deterministic mutation of recorded fixtures ---

TEST(SockDiagParserRobustness, SurvivesTwentyThousandMutations) {
    const std::vector<Bytes> seeds{readFixture("mixed.bin"), readFixture("ipv6-only.bin"), readFixture("timewait.bin"),
                                   readFixture("udp.bin"), readFixture("udp-destroy.bin")};
    std::mt19937 rng(0x5eed);
    std::size_t statusCount[4] = {};
    for (int i = 0; i < 20000; ++i) {
        Bytes bytes = seeds[static_cast<std::size_t>(i) % seeds.size()];
        const int mutations = 1 + static_cast<int>(rng() % 8);
        for (int m = 0; m < mutations && !bytes.empty(); ++m) {
            const std::size_t pos = rng() % bytes.size();
            switch (rng() % 5) {
                case 0:  // flip a byte
                    bytes[pos] = static_cast<std::byte>(rng() & 0xff);
                    break;
                case 1:  // truncate
                    bytes.resize(pos);
                    break;
                case 2:  // forge a length field with an extreme value
                    bytes[pos] = std::byte{0xff};
                    if (pos + 1 < bytes.size()) {
                        bytes[pos + 1] = std::byte{0xff};
                    }
                    break;
                case 3:  // zero a 16-bit word (lengths of 0)
                    bytes[pos] = std::byte{0};
                    if (pos + 1 < bytes.size()) {
                        bytes[pos + 1] = std::byte{0};
                    }
                    break;
                default:  // insert junk
                    bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                                 static_cast<std::byte>(rng() & 0xff));
                    break;
            }
        }
        std::vector<SocketRecord> out;
        const auto protocol = i % 3 == 0 ? core::Protocol::Udp : core::Protocol::Tcp;
        const auto r = (i % 2 == 0) ? parseSockDiagRecording(bytes, out, protocol)
                                    : parseSockDiagBuffer(bytes, out, 123456, protocol);
        const auto s = static_cast<std::size_t>(r.status);
        ASSERT_LT(s, 4U);
        ++statusCount[s];
        if (r.status == ParseStatus::Malformed || r.status == ParseStatus::Error) {
            ASSERT_TRUE(out.empty());
            ASSERT_FALSE(r.message.empty());
        } else {
            ASSERT_EQ(r.recordsParsed, out.size());
        }
    }
    // The mutations must actually exercise both the happy and the failure paths.
    EXPECT_GT(statusCount[static_cast<int>(ParseStatus::Malformed)], 1000U);
    EXPECT_GT(statusCount[static_cast<int>(ParseStatus::Done)], 100U);
}

}  // namespace
}  // namespace porteye::sys
