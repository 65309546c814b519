// SPDX-License-Identifier: MIT
// The control socket as a local user reaches it: a real ControlServer (transport, framing,
// dispatcher, handlers, PortService) on an sd-event loop, one connection per input, the input
// written in small pieces and the replies read in small pieces, as systemd's fuzz-varlink does.
//
// Input: byte 0 chooses the peer (bit 0: root or nobody) and the write size (bits 1-6: 1-64
// bytes); the rest is what the client sends. Every reply line must be a JSON-RPC 2.0 object,
// and the server must end the connection's session when the client closes.
#include "control/ControlServer.hpp"
#include "core/PortMonitor.hpp"
#include "fakes/FakeSources.hpp"
#include "service/PortService.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-event.h>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

using namespace porteye;

namespace {

constexpr std::uint32_t kNobody = 65534;
constexpr std::uint32_t kPrivilegedGid = 990;

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "fuzz-control-server: %s %s\n", what, detail.c_str());
    std::abort();
}

sockaddr_un abstractAddress(socklen_t& length) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // Abstract: nothing on the file system to clean up; one name per fuzzing process.
    const std::string name = "porteye-fuzz-control-" + std::to_string(::getpid());
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    return addr;
}

int connectClient() {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    socklen_t length = 0;
    const sockaddr_un addr = abstractAddress(length);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), length) != 0)
        fail("connect", strerror(errno));
    return fd;
}

/// Connects as nobody: SO_PEERCRED records the connecting thread's credentials, and the raw
/// set*id system calls (unlike glibc's) change only the calling thread's, so one thread of
/// this process is nobody for good and connects on request.
class NobodyConnector {
public:
    NobodyConnector() : m_thread([this] { run(); }) {}

    int connect() {
        std::unique_lock lock(m_mutex);
        m_wanted = true;
        m_cv.notify_all();
        m_cv.wait(lock, [this] { return m_fd >= 0; });
        const int fd = m_fd;
        m_fd = -1;
        return fd;
    }

private:
    void run() {
        if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, kNobody, kNobody, kNobody) != 0 ||
            ::syscall(SYS_setresuid, kNobody, kNobody, kNobody) != 0)
            fail("cannot become nobody (run the fuzzer as root)");
        for (;;) {
            std::unique_lock lock(m_mutex);
            m_cv.wait(lock, [this] { return m_wanted; });
            m_wanted = false;
            m_fd = connectClient();
            m_cv.notify_all();
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_wanted = false;
    int m_fd = -1;
    std::thread m_thread;  // last: starts when the members above exist; never joined
};

struct Fixture {
    Fixture() {
        spdlog::set_level(spdlog::level::off);
        if (sd_event_new(&event) < 0) fail("sd_event_new");
        // Sockets of root and of nobody, with owners, so lists, history and the access rule
        // have something to filter.
        processes.add(100, "sshd", {11, 12}, 0);
        processes.add(200, "web", {21}, kNobody);
        sockets.sockets = {fakes::tcpSocket(11, 22), fakes::tcpSocket(12, 22, core::TcpState::Established, 50000),
                           fakes::tcpSocket(21, 8080), fakes::udpSocket(31, 53)};
        sockets.sockets[0].uid = 0;
        monitor = std::make_unique<core::PortMonitor>(sockets, processes, clock, core::MonitorOptions{});
        service::ServiceOptions options;
        options.version = "fuzz";
        options.instanceId = "fuzz";
        options.privilegedGid = kPrivilegedGid;
        svc = std::make_unique<service::PortService>(*monitor, sockets, options);
        monitor->poll();
        sockets.sockets.push_back(fakes::tcpSocket(22, 8443));
        sockets.sockets.erase(sockets.sockets.begin() + 1);
        monitor->poll();
        monitor->poll();
        events = svc->history(service::Caller{}, {});

        const int listenFd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        socklen_t length = 0;
        const sockaddr_un addr = abstractAddress(length);
        if (listenFd < 0 || ::bind(listenFd, reinterpret_cast<const sockaddr*>(&addr), length) != 0 ||
            ::listen(listenFd, 64) != 0)
            fail("listen", strerror(errno));
        control::ControlOptions co;
        co.listenFd = listenFd;
        // Small bounds, so short inputs reach the overlong-line and backpressure paths.
        co.limits.maxLineBytes = 1024;
        co.limits.lowWaterBytes = 2048;
        co.limits.maxOutputBytes = 256 * 1024;
        server = std::make_unique<control::ControlServer>(event, *svc, co, [] {});
        server->start();
    }

    sd_event* event = nullptr;
    fakes::FakeSocketSource sockets;
    fakes::FakeProcessTable processes;
    fakes::FakeClock clock;
    std::unique_ptr<core::PortMonitor> monitor;
    std::unique_ptr<service::PortService> svc;
    std::vector<core::PortEvent> events;
    std::unique_ptr<control::ControlServer> server;
    NobodyConnector nobody;
};

/// Reads what the server sent in small pieces and checks every complete line.
class ReplyReader {
public:
    explicit ReplyReader(int fd) : m_fd(fd) {}

    /// Reads until the socket has nothing more now; returns whether anything came.
    bool drain() {
        bool got = false;
        char buffer[61];
        for (;;) {
            const ssize_t n = ::recv(m_fd, buffer, sizeof(buffer), MSG_DONTWAIT);
            if (n > 0) {
                got = true;
                m_pending.append(buffer, static_cast<std::size_t>(n));
                checkLines();
                continue;
            }
            if (n == 0) m_eof = true;
            if (n < 0 && errno != EAGAIN && errno != EINTR) m_eof = true;  // ECONNRESET: dropped
            return got;
        }
    }
    bool eof() const { return m_eof; }

private:
    void checkLines() {
        std::size_t start = 0;
        for (auto nl = m_pending.find('\n'); nl != std::string::npos; nl = m_pending.find('\n', start)) {
            const std::string line = m_pending.substr(start, nl - start);
            start = nl + 1;
            const auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded() || !j.is_object() || j.value("jsonrpc", "") != "2.0")
                fail("reply is not a JSON-RPC 2.0 object:", line);
            if (!j.contains("method") && !j.contains("result") && !j.contains("error"))
                fail("reply has neither result, error nor method:", line);
        }
        m_pending.erase(0, start);
    }

    int m_fd;
    std::string m_pending;
    bool m_eof = false;
};

/// Runs the loop until it has nothing to do or `done` holds; false if it never did.
template <typename Done>
bool runLoop(Fixture& fx, ReplyReader& reader, Done&& done, int maxTurns = 10'000) {
    for (int turn = 0; turn < maxTurns; ++turn) {
        if (done()) return true;
        const int r = sd_event_run(fx.event, 0);
        if (r < 0) fail("sd_event_run", strerror(-r));
        const bool read = reader.drain();
        if (r == 0 && !read && done()) return true;
        if (r == 0 && !read) return done();
    }
    return done();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture& fx = *new Fixture;  // lives for the process: the server keeps its loop
    if (size == 0) return 0;
    const bool unprivileged = (data[0] & 1) != 0;
    const std::size_t chunk = 1 + ((data[0] >> 1) & 0x3f);
    ++data;
    --size;

    const std::size_t before = fx.server->clientCount();
    const int client = unprivileged ? fx.nobody.connect() : connectClient();
    ReplyReader reader(client);
    if (!runLoop(fx, reader, [&] { return fx.server->clientCount() == before + 1; }))
        fail("the server did not accept the connection");

    std::size_t offset = 0;
    while (offset < size && !reader.eof()) {
        const ssize_t n = ::send(client, data + offset, std::min(chunk, size - offset), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            offset += static_cast<std::size_t>(n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break;  // the server dropped the connection (a quota, an overlong line)
        }
        if (sd_event_run(fx.event, 0) < 0) fail("sd_event_run");
        reader.drain();
    }
    // Whatever the input subscribed to gets events now, filtered by its filters and the access rule.
    if (fx.server->clientCount() > before) fx.server->onEvents(fx.events);
    ::shutdown(client, SHUT_WR);
    runLoop(fx, reader, [&] { return reader.eof(); });
    ::close(client);
    ReplyReader closed(-1);
    if (!runLoop(fx, closed, [&] { return fx.server->clientCount() == before; }))
        fail("the server kept a connection the client closed");
    return 0;
}
