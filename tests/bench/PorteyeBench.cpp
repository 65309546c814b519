// SPDX-License-Identifier: MIT
// porteye-bench: Google Benchmark cases for PortEye's hot paths.
//
// BM_ParseSynthetic is pure (a synthetic buffer of N inet_diag messages). The
// others run against the live host (or the network namespace they run in):
// their numbers depend on how many sockets and processes exist, reported as counters.
// Before the live cases, the benchmark opens kSelfConnections loopback connections of
// its own (plus a listener) so BM_PidTrackerUpdate has a PID holding ~100 sockets;
// set PORTEYE_BENCH_PID to watch another PID instead.
#include "core/IClock.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortMonitor.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/ProcProcessTable.hpp"
#include "sys/SockDiagParser.hpp"

#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <unordered_set>
#include <vector>

using namespace porteye;

namespace {

// ---- synthetic sock_diag reply ----

template <typename T>
void append(std::vector<std::byte>& out, const T& value) {
    const std::size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &value, sizeof(T));
}

/// N inet_diag messages (alternating IPv4/IPv6, mostly ESTABLISHED, a few LISTEN)
/// each with an INET_DIAG_INFO-sized attribute skipped by the parser, then NLMSG_DONE.
std::vector<std::byte> syntheticReply(std::size_t n, std::uint32_t seq) {
    std::vector<std::byte> out;
    out.reserve(n * 256);
    for (std::size_t i = 0; i < n; ++i) {
        inet_diag_msg m{};
        const bool v6 = (i % 2) == 1;
        m.idiag_family = v6 ? AF_INET6 : AF_INET;
        m.idiag_state = (i % 50 == 0) ? 10 : 1;
        m.id.idiag_sport = htons(static_cast<std::uint16_t>(1024 + i % 60000));
        m.id.idiag_dport = htons(static_cast<std::uint16_t>(m.idiag_state == 10 ? 0 : 443));
        if (v6) {
            inet_pton(AF_INET6, "2001:db8::1", m.id.idiag_src);
            inet_pton(AF_INET6, "2001:db8::2", m.id.idiag_dst);
        } else {
            inet_pton(AF_INET, "10.0.0.1", m.id.idiag_src);
            inet_pton(AF_INET, "10.0.0.2", m.id.idiag_dst);
        }
        m.id.idiag_cookie[0] = static_cast<std::uint32_t>(i + 1);
        m.idiag_uid = 1000;
        m.idiag_inode = static_cast<std::uint32_t>(100000 + i);

        // A 20-byte INET_DIAG_MEMINFO attribute (the parser skips it, as it skips unrequested ones).
        rtattr a{};
        a.rta_type = INET_DIAG_MEMINFO;
        a.rta_len = static_cast<unsigned short>(sizeof(rtattr) + 16);

        nlmsghdr h{};
        h.nlmsg_len = static_cast<std::uint32_t>(sizeof(nlmsghdr) + sizeof(m) + RTA_ALIGN(a.rta_len));
        h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
        h.nlmsg_flags = NLM_F_MULTI;
        h.nlmsg_seq = seq;
        append(out, h);
        append(out, m);
        append(out, a);
        out.resize(out.size() + 16);
    }
    nlmsghdr done{};
    done.nlmsg_len = sizeof(nlmsghdr) + sizeof(int);
    done.nlmsg_type = NLMSG_DONE;
    done.nlmsg_flags = NLM_F_MULTI;
    done.nlmsg_seq = seq;
    append(out, done);
    append(out, 0);
    return out;
}

void BM_ParseSynthetic(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto bytes = syntheticReply(n, 7);
    std::vector<core::SocketRecord> out;
    out.reserve(n);
    for (auto _ : state) {
        out.clear();
        auto result = sys::parseSockDiagBuffer(bytes, out, 7);
        if (result.status != sys::ParseStatus::Done || out.size() != n) {
            state.SkipWithError("synthetic reply did not parse");
            break;
        }
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes.size()));
    state.counters["sockets"] = static_cast<double>(n);
}
BENCHMARK(BM_ParseSynthetic)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// ---- live host ----

/// ~100 sockets held by this process: one listener and its loopback connections (both ends).
class SelfSockets {
public:
    static constexpr int kSelfConnections = 50;
    SelfSockets() {
        m_listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(addr);
        if (m_listener < 0 || ::bind(m_listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
            ::listen(m_listener, 128) != 0 || ::getsockname(m_listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            return;  // the PID case then just holds fewer sockets
        m_fds.push_back(m_listener);
        for (int i = 0; i < kSelfConnections; ++i) {
            const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (c < 0) break;
            if (::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
                ::close(c);
                break;
            }
            m_fds.push_back(c);
            const int s = ::accept4(m_listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (s >= 0) m_fds.push_back(s);
        }
    }
    ~SelfSockets() {
        for (int fd : m_fds)
            ::close(fd);
    }
    std::size_t count() const { return m_fds.size(); }

private:
    int m_listener = -1;
    std::vector<int> m_fds;
};

SelfSockets& selfSockets() {
    static SelfSockets sockets;
    return sockets;
}

void BM_NetlinkDump(benchmark::State& state) {
    sys::NetlinkSocketSource source;
    const core::DumpRequest request{};
    std::size_t sockets = 0;
    for (auto _ : state) {
        auto result = source.dump(request);
        if (!result.ok()) {
            state.SkipWithError(result.message.c_str());
            break;
        }
        sockets = result.sockets.size();
        benchmark::DoNotOptimize(result.sockets.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * sockets));
    state.counters["sockets"] = static_cast<double>(sockets);
}
BENCHMARK(BM_NetlinkDump)->Unit(benchmark::kMicrosecond);

/// Steady state: after a first (baseline) poll, owners come from the inode cache.
/// Arg 0: no forced rescan (pure steady state); Arg 60: the daemon default, a full walk every 60 polls.
void BM_PollSteady(benchmark::State& state) {
    sys::NetlinkSocketSource source;
    sys::ProcProcessTable table;
    core::SystemClock clock;
    core::MonitorOptions options;
    options.resolver.fullRescanEvery = static_cast<std::uint32_t>(state.range(0));
    core::PortMonitor monitor(source, table, clock, options);
    if (!monitor.poll().ok) {
        state.SkipWithError("first poll failed");
        return;
    }
    std::size_t sockets = 0;
    for (auto _ : state) {
        auto result = monitor.poll();
        if (!result.ok) {
            state.SkipWithError(result.error.c_str());
            break;
        }
        sockets = result.kernelSockets;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * sockets));
    state.counters["sockets"] = static_cast<double>(sockets);
    state.counters["records"] = static_cast<double>(monitor.snapshot().size());
    state.counters["walks"] = static_cast<double>(monitor.resolverStats().walks);
}
BENCHMARK(BM_PollSteady)->Arg(0)->Arg(60)->ArgName("rescanEvery")->Unit(benchmark::kMicrosecond);

/// Cold: a new monitor per iteration, so every poll is a dump plus a full /proc walk.
void BM_PollCold(benchmark::State& state) {
    sys::NetlinkSocketSource source;
    core::SystemClock clock;
    std::size_t sockets = 0;
    std::uint64_t fds = 0;
    for (auto _ : state) {
        sys::ProcProcessTable table;
        core::PortMonitor monitor(source, table, clock);
        auto result = monitor.poll();
        if (!result.ok) {
            state.SkipWithError(result.error.c_str());
            break;
        }
        sockets = result.kernelSockets;
        fds = monitor.resolverStats().walk.fdsRead;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * sockets));
    state.counters["sockets"] = static_cast<double>(sockets);
    state.counters["fds"] = static_cast<double>(fds);
}
BENCHMARK(BM_PollCold)->Unit(benchmark::kMicrosecond);

/// One walk of every /proc/<pid>/fd looking for all inodes of a dump.
void BM_FindOwnersFullWalk(benchmark::State& state) {
    sys::NetlinkSocketSource source;
    auto dump = source.dump(core::DumpRequest{});
    if (!dump.ok()) {
        state.SkipWithError(dump.message.c_str());
        return;
    }
    std::unordered_set<std::uint64_t> wanted;
    for (const auto& s : dump.sockets)
        if (s.inode != 0) wanted.insert(s.inode);
    sys::ProcProcessTable table;
    core::WalkStats stats;
    std::size_t owned = 0;
    for (auto _ : state) {
        auto scan = table.findOwners(wanted);
        stats = scan.stats;
        owned = scan.owners.size();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * stats.fdsRead));
    state.counters["fds"] = static_cast<double>(stats.fdsRead);
    state.counters["processes"] = static_cast<double>(stats.processesScanned);
    state.counters["sockets"] = static_cast<double>(wanted.size());
    state.counters["owned"] = static_cast<double>(owned);
}
BENCHMARK(BM_FindOwnersFullWalk)->Unit(benchmark::kMicrosecond);

/// The process the per-PID benchmarks watch: PORTEYE_BENCH_PID, or this one.
std::uint32_t benchPid() {
    if (const char* env = std::getenv("PORTEYE_BENCH_PID"))
        return static_cast<std::uint32_t>(std::strtoul(env, nullptr, 10));
    return static_cast<std::uint32_t>(::getpid());
}

/// One per-PID watch step with a dump every time (the tracker's worst case, a
/// process that keeps opening sockets): dump + /proc/<pid>/fd + join.
void BM_PidTrackerUpdate(benchmark::State& state) {
    const std::uint32_t pid = benchPid();
    sys::NetlinkSocketSource source;
    sys::ProcProcessTable table;
    core::SystemClock clock;
    core::PidPortTracker tracker(pid, false, table, clock);
    const core::DumpRequest request{};
    std::size_t sockets = 0;
    for (auto _ : state) {
        auto dump = source.dump(request);
        if (!dump.ok()) {
            state.SkipWithError(dump.message.c_str());
            break;
        }
        auto change = tracker.update(dump.sockets);
        if (change.processExited) {
            state.SkipWithError("watched pid does not exist");
            break;
        }
        sockets = dump.sockets.size();
    }
    state.counters["pid_sockets"] = static_cast<double>(tracker.current().size());
    state.counters["sockets"] = static_cast<double>(sockets);
}
BENCHMARK(BM_PidTrackerUpdate)->Unit(benchmark::kMicrosecond);

/// One per-PID watch step of a quiet process: the tracker reads /proc/<pid>/fd
/// and dumps the host only when that shows a socket it has not placed yet.
void BM_PidTrackerQuietStep(benchmark::State& state) {
    const std::uint32_t pid = benchPid();
    sys::NetlinkSocketSource source;
    sys::ProcProcessTable table;
    core::SystemClock clock;
    core::PidPortTracker tracker(pid, false, table, clock);
    core::DumpResult dump;
    const core::DumpProvider provider = [&]() -> const std::vector<core::SocketRecord>* {
        dump = source.dump({});
        return dump.ok() ? &dump.sockets : nullptr;
    };
    for (auto _ : state)
        benchmark::DoNotOptimize(tracker.step(provider));
    state.counters["pid_sockets"] = static_cast<double>(tracker.current().size());
    state.counters["dumps"] = static_cast<double>(tracker.dumpsUsed());
}
BENCHMARK(BM_PidTrackerQuietStep)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("self_sockets", std::to_string(selfSockets().count()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
