// SPDX-License-Identifier: MIT
// The eBPF event source against the real kernel. Each test process moves into a network namespace
// of its own, so only its sockets match (the program sees the whole host: events are filtered by
// the namespace's inode). Needs root; skipped when built without PORTEYE_BPF.
#include "support/Subprocess.hpp"
#include "sys/BpfSocketEvents.hpp"
#include "sys/NetlinkSocketSource.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace porteye::sys {
namespace {

using core::EventSourceStage;
using core::KernelEventKind;
using core::KernelSocketEvent;

class Fd {
public:
    explicit Fd(int fd = -1) : m_fd(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        reset();
        m_fd = std::exchange(other.m_fd, -1);
        return *this;
    }
    int get() const { return m_fd; }
    void reset() {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
        m_fd = -1;
    }

private:
    int m_fd;
};

std::uint64_t inodeOf(int fd) {
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    return st.st_ino;
}

std::uint64_t ownNetns() {
    struct stat st {};
    EXPECT_EQ(::stat("/proc/self/ns/net", &st), 0);
    return st.st_ino;
}

std::uint16_t localPortOf(int fd) {
    sockaddr_in6 a{};  // large enough for both families; the port sits at the same offset
    socklen_t len = sizeof(a);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    return ntohs(a.sin6_port);
}

sockaddr_in6 loopback6(std::uint16_t port) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(port);
    return a;
}

sockaddr_in loopback4(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
}

int bindLoopback(int fd, int family, std::uint16_t port) {
    if (family == AF_INET6) {
        const auto a = loopback6(port);
        return ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a));
    }
    const auto a = loopback4(port);
    return ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a));
}

Fd listener(int family) {
    Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_GE(fd.get(), 0) << std::strerror(errno);
    EXPECT_EQ(bindLoopback(fd.get(), family, 0), 0) << std::strerror(errno);
    EXPECT_EQ(::listen(fd.get(), 16), 0) << std::strerror(errno);
    return fd;
}

Fd connected(int family, std::uint16_t port) {
    Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int rc = -1;
    if (family == AF_INET6) {
        const auto a = loopback6(port);
        rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof(a));
    } else {
        const auto a = loopback4(port);
        rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof(a));
    }
    EXPECT_EQ(rc, 0) << std::strerror(errno);
    return fd;
}

std::string ownComm() {
    std::ifstream in("/proc/self/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

/// Moves this test process into a fresh network namespace with loopback up (once per process).
bool enterOwnNetns(std::string& why) {
    static std::optional<std::string> failure;
    static bool done = false;
    if (!done) {
        done = true;
        if (::unshare(CLONE_NEWNET) != 0) {
            failure = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
        } else {
            Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            ifreq ifr{};
            std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
            if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) {
                failure = std::string("SIOCGIFFLAGS lo: ") + std::strerror(errno);
            } else {
                ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
                if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) {
                    failure = std::string("SIOCSIFFLAGS lo: ") + std::strerror(errno);
                }
            }
        }
    }
    if (failure) {
        why = *failure;
    }
    return !failure;
}

/// A one-byte message between a test and its forked child.
class Pipe {
public:
    Pipe() { EXPECT_EQ(::pipe2(m_fds, O_CLOEXEC), 0); }
    ~Pipe() {
        ::close(m_fds[0]);
        ::close(m_fds[1]);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    void send(std::uint32_t value) const { (void)!::write(m_fds[1], &value, sizeof(value)); }
    std::uint32_t receive() const {
        std::uint32_t value = 0;
        (void)!::read(m_fds[0], &value, sizeof(value));
        return value;
    }

private:
    int m_fds[2] = {-1, -1};
};

/// Forks a child running `body`; its exit code is body's return value.
pid_t forkChild(const std::function<int()>& body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::_exit(body());
    }
    EXPECT_GT(pid, 0);
    return pid;
}

int reap(pid_t pid) {
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class BpfSocketEventsTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!PORTEYE_HAVE_BPF) {
            GTEST_SKIP() << "built without PORTEYE_BPF";
        }
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root (a network namespace of its own, CAP_BPF)";
        }
        std::string why;
        ASSERT_TRUE(enterOwnNetns(why)) << why;
        m_netns = ownNetns();
    }

    /// Opens the source and insists on events: here, as root, BPF must work.
    void open(EventSourceOptions options = {}) {
        auto opened = BpfSocketEvents::open(options);
        for (const auto& line : opened.fallbacks) {
            std::printf("fallback: %s\n", line.c_str());
        }
        ASSERT_NE(opened.source, nullptr);
        ASSERT_NE(opened.stage, EventSourceStage::Polling);
        ASSERT_EQ(opened.stage, opened.source->stage());
        m_source = std::move(opened.source);
    }

    /// Consumes until an event of this namespace matching `match` arrives (5 s at most).
    std::optional<KernelSocketEvent> waitFor(const std::function<bool(const KernelSocketEvent&)>& match) {
        std::optional<KernelSocketEvent> found;
        testing::eventually(
            [&] {
                drain();
                for (const auto& e : m_events) {
                    if (match(e)) {
                        found = e;
                        return true;
                    }
                }
                return false;
            },
            std::chrono::seconds(5));
        return found;
    }

    std::optional<KernelSocketEvent> waitFor(KernelEventKind kind, std::uint64_t cookie) {
        return waitFor([&](const KernelSocketEvent& e) { return e.kind == kind && e.cookie == cookie; });
    }

    void drain() {
        std::vector<KernelSocketEvent> batch;
        m_source->consume(batch);
        for (auto& e : batch) {
            if (e.netns == m_netns) {
                m_events.push_back(std::move(e));
            }
        }
    }

    /// sock_diag's record of the TCP socket on `localPort` (and `remotePort` when non-zero).
    core::SocketRecord dumped(std::uint16_t localPort, std::uint16_t remotePort = 0) {
        NetlinkSocketSource netlink;
        const auto dump = netlink.dump({});
        EXPECT_TRUE(dump.ok()) << dump.message;
        for (const auto& r : dump.sockets) {
            if (r.protocol == core::Protocol::Tcp && r.localPort == localPort &&
                (remotePort == 0 ? r.state == core::TcpState::Listen : r.remotePort == remotePort)) {
                return r;
            }
        }
        ADD_FAILURE() << "no socket on port " << localPort << " in sock_diag";
        return {};
    }

    std::uint64_t m_netns = 0;
    std::unique_ptr<BpfSocketEvents> m_source;
    std::vector<KernelSocketEvent> m_events;
};

TEST_F(BpfSocketEventsTest, ReportsListenConnectAcceptCloseWithOwnerCookieAndInode) {
    open();
    const auto self = static_cast<std::uint32_t>(::getpid());
    for (const int family : {AF_INET, AF_INET6}) {
        SCOPED_TRACE(family == AF_INET ? "IPv4" : "IPv6");
        Fd server = listener(family);
        const std::uint16_t port = localPortOf(server.get());
        const auto listenRecord = dumped(port);

        const auto listen = waitFor(
            [&](const KernelSocketEvent& e) { return e.kind == KernelEventKind::Listen && e.localPort == port; });
        ASSERT_TRUE(listen);
        EXPECT_EQ(listen->protocol, core::Protocol::Tcp);
        EXPECT_EQ(listen->family, family == AF_INET ? 4 : 6);
        EXPECT_EQ(listen->localAddress, listenRecord.localAddress);
        EXPECT_EQ(listen->remoteAddress, listenRecord.remoteAddress);
        EXPECT_EQ(listen->state, core::TcpState::Listen);
        EXPECT_EQ(listen->cookie, listenRecord.cookie);
        EXPECT_EQ(listen->inode, listenRecord.inode);
        EXPECT_EQ(listen->inode, inodeOf(server.get()));
        EXPECT_EQ(listen->tgid, self);
        EXPECT_EQ(listen->uid, ::getuid());
        EXPECT_EQ(listen->comm, ownComm());
        EXPECT_NE(listen->monotonicNs, 0U);

        Fd client = connected(family, port);
        Fd accepted(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
        ASSERT_GE(accepted.get(), 0);
        const std::uint16_t clientPort = localPortOf(client.get());
        const auto clientRecord = dumped(clientPort, port);
        const auto acceptedRecord = dumped(port, clientPort);

        const auto connect = waitFor(KernelEventKind::Connect, clientRecord.cookie);
        ASSERT_TRUE(connect);
        EXPECT_EQ(connect->localPort, clientPort);
        EXPECT_EQ(connect->remotePort, port);
        EXPECT_EQ(connect->localAddress, clientRecord.localAddress);
        EXPECT_EQ(connect->remoteAddress, clientRecord.remoteAddress);
        EXPECT_EQ(connect->state, core::TcpState::Established);
        EXPECT_EQ(connect->inode, inodeOf(client.get()));
        EXPECT_EQ(connect->tgid, self);

        const auto accept = waitFor(KernelEventKind::Accept, acceptedRecord.cookie);
        ASSERT_TRUE(accept);
        EXPECT_EQ(accept->localPort, port);
        EXPECT_EQ(accept->remotePort, clientPort);
        if (m_source->stage() == EventSourceStage::Full) {
            EXPECT_EQ(accept->tgid, self);
            EXPECT_EQ(accept->inode, inodeOf(accepted.get()));
        } else if (m_source->reportsAcceptors()) {
            // Where fexit is refused: the passive open names nobody (the accept queue holds it), and
            // accept() returning names the acceptor with the new descriptor's inode.
            EXPECT_EQ(accept->tgid, 0U);
            const auto acceptor = waitFor(KernelEventKind::Accepted, acceptedRecord.cookie);
            ASSERT_TRUE(acceptor);
            EXPECT_EQ(acceptor->tgid, self);
            EXPECT_EQ(acceptor->uid, ::getuid());
            EXPECT_EQ(acceptor->comm, ownComm());
            EXPECT_EQ(acceptor->inode, inodeOf(accepted.get()));
            EXPECT_EQ(acceptor->localPort, port);
            EXPECT_EQ(acceptor->remotePort, clientPort);
            EXPECT_EQ(acceptor->remoteAddress, acceptedRecord.remoteAddress);
        } else {
            EXPECT_EQ(accept->tgid, self) << "the listener's owner, inherited";
        }

        client.reset();
        accepted.reset();
        server.reset();
        for (const auto& record : {listenRecord, clientRecord, acceptedRecord}) {
            const auto close = waitFor(KernelEventKind::Close, record.cookie);
            ASSERT_TRUE(close) << "no close for the socket on port " << record.localPort;
            EXPECT_EQ(close->tgid, self);
            EXPECT_EQ(close->localPort, record.localPort);
            EXPECT_EQ(close->state, core::TcpState::Close);
        }
    }
    EXPECT_EQ(m_source->lost(), 0U);
    EXPECT_EQ(m_source->malformed(), 0U);
}

TEST_F(BpfSocketEventsTest, NamesTheChildThatListensNotItsParent) {
    open();
    Pipe toParent;
    Pipe toChild;
    const pid_t child = forkChild([&] {
        Fd server = listener(AF_INET);
        toParent.send(localPortOf(server.get()));
        toChild.receive();
        return 0;  // closes the listener on exit
    });
    const auto port = static_cast<std::uint16_t>(toParent.receive());
    const auto listen =
        waitFor([&](const KernelSocketEvent& e) { return e.kind == KernelEventKind::Listen && e.localPort == port; });
    ASSERT_TRUE(listen);
    EXPECT_EQ(listen->tgid, static_cast<std::uint32_t>(child));
    toChild.send(1);
    EXPECT_EQ(reap(child), 0);
    const auto close = waitFor(KernelEventKind::Close, listen->cookie);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->tgid, static_cast<std::uint32_t>(child));
}

// The last close() of a listener runs in the child that inherited it: the event still names the
// owner that listened (the socket the port table holds), not the task the change ran on.
TEST_F(BpfSocketEventsTest, CloseByAnInheritingChildNamesTheOwner) {
    open();
    Fd server = listener(AF_INET);
    const std::uint16_t port = localPortOf(server.get());
    const auto record = dumped(port);
    Pipe toChild;
    const pid_t child = forkChild([&] {
        toChild.receive();
        server.reset();  // the last reference: LISTEN -> CLOSE runs here
        return 0;
    });
    server.reset();
    toChild.send(1);
    EXPECT_EQ(reap(child), 0);
    const auto close = waitFor(KernelEventKind::Close, record.cookie);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->tgid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(close->localPort, port);
}

// On loopback the handshake's last ACK and the final FIN are processed in softirq on the peer's
// task: the accepted socket's ESTABLISHED and CLOSE run in the child, and must name the parent.
TEST_F(BpfSocketEventsTest, ChangesRunInThePeersSoftirqNameTheOwner) {
    open();
    Fd server = listener(AF_INET);
    const std::uint16_t port = localPortOf(server.get());
    Pipe toParent;
    Pipe toChild;
    const pid_t child = forkChild([&] {
        Fd client = connected(AF_INET, port);
        toParent.send(localPortOf(client.get()));
        toChild.receive();
        client.reset();  // its FIN moves the parent's socket FIN_WAIT2 -> TIME_WAIT (-> CLOSE)
        toParent.send(2);
        return 0;
    });
    const auto clientPort = static_cast<std::uint16_t>(toParent.receive());
    const auto self = static_cast<std::uint32_t>(::getpid());

    const auto connect = waitFor(
        [&](const KernelSocketEvent& e) { return e.kind == KernelEventKind::Connect && e.localPort == clientPort; });
    ASSERT_TRUE(connect);
    EXPECT_EQ(connect->tgid, static_cast<std::uint32_t>(child));

    Fd accepted(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_GE(accepted.get(), 0);
    const auto acceptedCookie = dumped(port, clientPort).cookie;
    const auto accept =
        waitFor(m_source->stage() != EventSourceStage::Full && m_source->reportsAcceptors() ? KernelEventKind::Accepted
                                                                                            : KernelEventKind::Accept,
                acceptedCookie);
    ASSERT_TRUE(accept);
    EXPECT_EQ(accept->tgid, self);

    accepted.reset();  // ESTABLISHED -> FIN_WAIT1 here, the rest on the child's FIN
    toChild.send(1);
    EXPECT_EQ(toParent.receive(), 2U);
    const auto close = waitFor(KernelEventKind::Close, acceptedCookie);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->tgid, self);
    EXPECT_EQ(close->localPort, port);
    EXPECT_EQ(reap(child), 0);
}

TEST_F(BpfSocketEventsTest, SeesAListenerThatLivedFiftyMilliseconds) {
    open();
    std::uint16_t port = 0;
    {
        Fd server = listener(AF_INET6);
        port = localPortOf(server.get());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the subject of the test, not a wait
    }
    const auto listen =
        waitFor([&](const KernelSocketEvent& e) { return e.kind == KernelEventKind::Listen && e.localPort == port; });
    ASSERT_TRUE(listen);
    EXPECT_EQ(listen->tgid, static_cast<std::uint32_t>(::getpid()));
    const auto close = waitFor(KernelEventKind::Close, listen->cookie);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->localPort, port);
    EXPECT_EQ(close->tgid, listen->tgid);
    EXPECT_EQ(close->inode, listen->inode);
    EXPECT_GT(close->monotonicNs, listen->monotonicNs);
}

TEST_F(BpfSocketEventsTest, ForcedTracepointStageReportsTcp) {
    EventSourceOptions options;
    options.mode = core::EventSourceMode::Tracepoint;
    auto opened = BpfSocketEvents::open(options);
    ASSERT_EQ(opened.stage, EventSourceStage::TracepointOnly);
    ASSERT_FALSE(opened.fallbacks.empty());
    EXPECT_EQ(opened.fallbacks.back(), "full: event_source = tracepoint");
    m_source = std::move(opened.source);
    EXPECT_GE(m_source->fd(), 0);
    Fd server = listener(AF_INET);
    const std::uint16_t port = localPortOf(server.get());
    EXPECT_TRUE(
        waitFor([&](const KernelSocketEvent& e) { return e.kind == KernelEventKind::Listen && e.localPort == port; }));
}

TEST_F(BpfSocketEventsTest, ForcedOffIsPollingWithoutFdOrEvents) {
    EventSourceOptions options;
    options.mode = core::EventSourceMode::Off;
    auto opened = BpfSocketEvents::open(options);
    ASSERT_NE(opened.source, nullptr);
    EXPECT_EQ(opened.stage, EventSourceStage::Polling);
    EXPECT_EQ(opened.source->stage(), EventSourceStage::Polling);
    ASSERT_EQ(opened.fallbacks.size(), 1U);
    EXPECT_EQ(opened.fallbacks[0], "polling: event_source = off");
    EXPECT_EQ(opened.source->fd(), -1);
    { Fd server = listener(AF_INET); }
    std::vector<KernelSocketEvent> events;
    EXPECT_EQ(opened.source->consume(events), 0U);
    EXPECT_TRUE(events.empty());
    EXPECT_EQ(opened.source->lost(), 0U);
}

TEST_F(BpfSocketEventsTest, CountsEventsLostToAFullRing) {
    EventSourceOptions options;
    options.ringBytes = 4096;       // room for a few dozen records
    options.wakeupBytes = 1 << 30;  // never wake: nothing drains it meanwhile
    open(options);
    for (int i = 0; i < 200; ++i) {
        Fd server = listener(AF_INET);  // a listen and a close each
    }
    EXPECT_GT(m_source->lost(), 0U);
    drain();
    EXPECT_FALSE(m_events.empty());
    EXPECT_LT(m_events.size(), 400U);

    // Once drained, the ring takes events again; the count of losses stays.
    const auto lost = m_source->lost();
    m_events.clear();
    Fd server = listener(AF_INET);
    const std::uint16_t port = localPortOf(server.get());
    EXPECT_TRUE(
        waitFor([&](const KernelSocketEvent& e) { return e.kind == KernelEventKind::Listen && e.localPort == port; }));
    EXPECT_GE(m_source->lost(), lost);
}

TEST_F(BpfSocketEventsTest, WakesTheFdOnceTheThresholdIsQueued) {
    EventSourceOptions options;
    options.wakeupBytes = 4096;  // about 30 records
    open(options);
    for (int i = 0; i < 50; ++i) {
        Fd server = listener(AF_INET);  // 100 records
    }
    pollfd pfd{m_source->fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, 5000), 1);
    EXPECT_TRUE((pfd.revents & POLLIN) != 0);
    drain();
    EXPECT_GE(m_events.size(), 100U);
}

TEST_F(BpfSocketEventsTest, NamespaceFilterDropsOtherNamespacesInTheKernel) {
    EventSourceOptions mine;
    mine.netns = m_netns;
    open(mine);
    EventSourceOptions elsewhere;
    elsewhere.netns = 1;  // no namespace has inode 1
    auto other = BpfSocketEvents::open(elsewhere);
    ASSERT_NE(other.stage, EventSourceStage::Polling);

    std::uint64_t cookie = 0;
    {
        Fd server = listener(AF_INET);
        cookie = dumped(localPortOf(server.get())).cookie;
    }
    ASSERT_TRUE(waitFor(KernelEventKind::Close, cookie));
    // Every program attached to the tracepoint ran at the same state changes: had the other source
    // kept them, they would be in its ring by now.
    std::vector<KernelSocketEvent> batch;
    other.source->consume(batch);
    EXPECT_TRUE(batch.empty()) << batch.size() << " events, the first of netns " << batch.front().netns;

    batch.clear();
    m_source->consume(batch);
    for (const auto& e : batch) {
        EXPECT_EQ(e.netns, m_netns);
    }
}

/// The probe program, run as `nobody` with the given capabilities.
testing::RunResult probeAsNobody(const std::string& caps) {
    std::vector<std::string> argv = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
    if (!caps.empty()) {
        argv.push_back("--inh-caps=" + caps);
        argv.push_back("--ambient-caps=" + caps);
    }
    argv.push_back(PORTEYE_BINARY_DIR "/tests/porteye-bpf-probe");
    argv.push_back("auto");
    argv.push_back("--listen");
    return testing::run(argv);
}

TEST_F(BpfSocketEventsTest, LoadsAsAnUnprivilegedUserWithCapBpfAndCapPerfmon) {
    const auto result = probeAsNobody("+bpf,+perfmon");
    ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
    EXPECT_NE(result.out.find("stage full"), result.out.find("stage tracepoint")) << result.out;
    EXPECT_NE(result.out.find("event listen 127.0.0.1:"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find(" uid 65534 "), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("event close 127.0.0.1:"), std::string::npos) << result.out;
}

TEST_F(BpfSocketEventsTest, FallsBackToPollingWithoutCapabilities) {
    const auto result = probeAsNobody("");
    EXPECT_EQ(result.exitCode, 1) << result.out << result.err;
    EXPECT_NE(result.out.find("stage polling"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("fallback polling: tracepoint program: Operation not permitted"), std::string::npos)
        << result.out;
}

}  // namespace
}  // namespace porteye::sys
