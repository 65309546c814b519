// SPDX-License-Identifier: MIT
// porteye-polltimer: times PortEye's own steps in-process and prints them as JSON,
// so tests/bench/compare.sh can put them beside ss, lsof and psutil (BENCHMARKS.md).
//
//   porteye-polltimer --mode steady --iterations K   PortMonitor::poll() after a first poll
//   porteye-polltimer --mode cold   --iterations K   a new PortMonitor per poll (dump + full /proc walk)
//   porteye-polltimer --mode pid    --iterations K --pid P
//                                                    one PidPortTracker step: dump + /proc/P/fd + join
//   porteye-polltimer --mode set    --out FILE       one poll; writes "pid lport rport state" per record
//
// Output (stdout, one JSON object): mode, iterations, sockets, records, first_us,
// times_us[] (wall), cpu_us[] (process CPU), dump_us[] (pid mode), rss_kb, hwm_kb, walk stats.
#include "core/IClock.hpp"
#include "core/PidPortTracker.hpp"
#include "core/PortMonitor.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/ProcProcessTable.hpp"

#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace porteye;

namespace {

double nowUs() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double cpuUs() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

/// VmRSS / VmHWM of this process in kB.
long statusKb(const char* key) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const std::size_t n = std::strlen(key);
    while (std::getline(in, line))
        if (line.compare(0, n, key) == 0 && line.size() > n && line[n] == ':') return std::atol(line.c_str() + n + 1);
    return -1;
}

std::string jsonArray(const std::vector<double>& values) {
    std::ostringstream out;
    out.precision(1);
    out << std::fixed << '[';
    for (std::size_t i = 0; i < values.size(); ++i)
        out << (i ? "," : "") << values[i];
    out << ']';
    return out.str();
}

[[noreturn]] void usage() {
    std::cerr << "usage: porteye-polltimer --mode steady|cold|pid|set [--iterations K] [--pid P] [--out FILE]\n";
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string mode;
    int iterations = 10;
    std::uint32_t pid = 0;
    std::string outPath;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (arg == "--mode")
            mode = value();
        else if (arg == "--iterations")
            iterations = std::atoi(value().c_str());
        else if (arg == "--pid")
            pid = static_cast<std::uint32_t>(std::strtoul(value().c_str(), nullptr, 10));
        else if (arg == "--out")
            outPath = value();
        else
            usage();
    }
    if (iterations < 1 || (mode == "pid" && pid == 0) || (mode == "set" && outPath.empty())) usage();

    core::SystemClock clock;
    std::vector<double> times, cpu, dumps;
    double firstUs = 0;
    std::size_t sockets = 0, records = 0;
    core::ResolverStats resolver{};
    std::ostringstream extra;

    if (mode == "steady" || mode == "set") {
        sys::NetlinkSocketSource source;
        sys::ProcProcessTable table;
        core::MonitorOptions options;
        // Measure the pure steady state; the daemon's default forced rescan (every 60 polls)
        // is a cold walk, amortized in compare.sh's table.
        options.resolver.fullRescanEvery = 0;
        core::PortMonitor monitor(source, table, clock, options);
        double t0 = nowUs();
        auto first = monitor.poll();
        firstUs = nowUs() - t0;
        if (!first.ok) {
            std::cerr << "poll failed: " << first.error << '\n';
            return 1;
        }
        if (mode == "set") {
            std::ofstream out(outPath);
            for (const auto& r : monitor.snapshot())
                out << r.pid << ' ' << r.localPort << ' ' << r.remotePort << ' ' << static_cast<int>(r.state) << '\n';
            iterations = 0;
        }
        for (int i = 0; i < iterations; ++i) {
            const double c0 = cpuUs();
            t0 = nowUs();
            auto result = monitor.poll();
            times.push_back(nowUs() - t0);
            cpu.push_back(cpuUs() - c0);
            if (!result.ok) {
                std::cerr << "poll failed: " << result.error << '\n';
                return 1;
            }
            sockets = result.kernelSockets;
        }
        records = monitor.snapshot().size();
        resolver = monitor.resolverStats();
    } else if (mode == "cold") {
        for (int i = 0; i < iterations; ++i) {
            const double c0 = cpuUs();
            const double t0 = nowUs();
            sys::NetlinkSocketSource source;
            sys::ProcProcessTable table;
            core::PortMonitor monitor(source, table, clock);
            auto result = monitor.poll();
            times.push_back(nowUs() - t0);
            cpu.push_back(cpuUs() - c0);
            if (!result.ok) {
                std::cerr << "poll failed: " << result.error << '\n';
                return 1;
            }
            sockets = result.kernelSockets;
            records = monitor.snapshot().size();
            resolver = monitor.resolverStats();
        }
    } else if (mode == "pid") {
        sys::NetlinkSocketSource source;
        sys::ProcProcessTable table;
        core::PidPortTracker tracker(pid, false, table, clock);
        const core::DumpRequest request{};
        double t0 = nowUs();
        {
            auto dump = source.dump(request);
            if (!dump.ok()) {
                std::cerr << "dump failed: " << dump.message << '\n';
                return 1;
            }
            auto change = tracker.update(dump.sockets);
            if (change.processExited) {
                std::cerr << "pid " << pid << " does not exist\n";
                return 1;
            }
        }
        firstUs = nowUs() - t0;
        // What a watch really does per interval: read the PID's fd table and
        // dump the host only when that shows a socket it has not placed yet.
        for (int i = 0; i < iterations; ++i) {
            const double c0 = cpuUs();
            t0 = nowUs();
            double dumpUs = 0;
            core::DumpResult dump;
            auto change = tracker.step([&]() -> const std::vector<core::SocketRecord>* {
                const double d0 = nowUs();
                dump = source.dump(request);
                dumpUs = nowUs() - d0;
                sockets = dump.sockets.size();
                return dump.ok() ? &dump.sockets : nullptr;
            });
            times.push_back(nowUs() - t0);
            dumps.push_back(dumpUs);
            cpu.push_back(cpuUs() - c0);
            if (change.processExited) {
                std::cerr << "pid step failed\n";
                return 1;
            }
        }
        records = tracker.current().size();
        extra << ",\"pid\":" << pid << ",\"dump_us\":" << jsonArray(dumps);
    } else {
        usage();
    }

    std::cout << "{\"mode\":\"" << mode << "\",\"iterations\":" << times.size() << ",\"sockets\":" << sockets
              << ",\"records\":" << records << ",\"first_us\":" << static_cast<long long>(firstUs)
              << ",\"times_us\":" << jsonArray(times) << ",\"cpu_us\":" << jsonArray(cpu)
              << ",\"walks\":" << resolver.walks << ",\"skipped_walks\":" << resolver.skippedWalks
              << ",\"fds_read\":" << resolver.walk.fdsRead
              << ",\"processes_scanned\":" << resolver.walk.processesScanned
              << ",\"unresolved\":" << resolver.unresolved << extra.str() << ",\"rss_kb\":" << statusKb("VmRSS")
              << ",\"hwm_kb\":" << statusKb("VmHWM") << "}\n";
    return 0;
}
