// SPDX-License-Identifier: MIT
#pragma once

#include "core/IClock.hpp"
#include "core/IProcessTable.hpp"
#include "core/ISocketSource.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace porteye::fakes {

/// Hand-written test doubles for the system inputs: data, not call expectations.
class FakeSocketSource final : public core::ISocketSource {
public:
    /// The sockets the request selects, as the kernel would: by namespace (a record's netns;
    /// requests for netns 0 see records of 0), protocol and TCP state.
    core::DumpResult dump(const core::DumpRequest& request) override {
        ++dumps;
        requests.push_back(request);
        if (failNext || failingNamespaces.count(request.netns) != 0) {
            failNext = false;
            return {{}, 105, "No buffer space available"};
        }
        core::DumpResult result;
        for (const auto& r : sockets) {
            if (request.netns != core::kEveryNamespace && r.netns != request.netns) continue;
            if (r.protocol == core::Protocol::Tcp ? !request.tcp || (request.states & core::stateBit(r.state)) == 0
                                                  : !request.udp)
                continue;
            result.sockets.push_back(r);
        }
        return result;
    }
    std::vector<core::SocketRecord> sockets;
    bool failNext = false;
    std::set<std::uint64_t> failingNamespaces;
    int dumps = 0;
    std::vector<core::DumpRequest> requests;
};

class FakeProcessTable final : public core::IProcessTable {
public:
    struct Process {
        core::ProcessInfo info;
        std::vector<std::uint64_t> inodes;
        std::vector<std::uint32_t> children;
        std::uint64_t generation = 0;  ///< new on every add(), as a reused PID gets a new /proc inode
    };

    void add(std::uint32_t pid, std::string name, std::vector<std::uint64_t> inodes, std::uint32_t uid = 1000) {
        processes[pid] = Process{{pid, name, name, uid}, std::move(inodes), {}, ++nextGeneration};
    }

    std::uint64_t netnsOf(std::uint32_t pid) override {
        ++netnsReads;
        if (!processes.contains(pid)) return 0;
        auto it = netnsByPid.find(pid);
        return it == netnsByPid.end() ? defaultNetns : it->second;
    }
    std::map<std::uint32_t, std::uint64_t> netnsByPid;
    std::uint64_t defaultNetns = 4026531840;
    int netnsReads = 0;

    core::OwnerScan findOwners(const std::unordered_set<std::uint64_t>& wanted) override {
        ++walks;
        core::OwnerScan scan;
        for (const auto& [pid, p] : processes) {
            ++scan.stats.processesScanned;
            if (auto failure = failures.find(pid); failure != failures.end()) {
                if (failure->second == core::ReadStatus::Transient) ++scan.stats.transientErrors;
                if (failure->second == core::ReadStatus::Denied) ++scan.stats.accessDenied;
                continue;
            }
            for (auto inode : p.inodes) {
                ++scan.stats.fdsRead;
                if (wanted.contains(inode)) scan.owners[inode].push_back(p.info);
            }
        }
        return scan;
    }
    core::OwnerScan findOwnersAmong(const std::vector<std::uint32_t>& pids,
                                    const std::function<bool(std::uint64_t)>& wanted) override {
        core::OwnerScan scan;
        for (std::uint32_t pid : pids) {
            ++scan.stats.processesScanned;
            ++readsOf[pid];
            auto it = processes.find(pid);
            if (it == processes.end()) {
                ++scan.stats.processesVanished;
                continue;
            }
            if (auto failure = failures.find(pid); failure != failures.end()) {
                if (failure->second == core::ReadStatus::Transient) {
                    ++scan.stats.transientErrors;
                    scan.retry.push_back(pid);
                } else {
                    ++scan.stats.accessDenied;
                }
                continue;
            }
            for (auto inode : it->second.inodes) {
                ++scan.stats.fdsRead;
                if (wanted(inode)) scan.owners[inode].push_back(it->second.info);
            }
        }
        return scan;
    }
    core::ProcessSockets socketsOf(std::uint32_t pid, core::WalkStats*) override {
        ++fdTableReads;
        ++readsOf[pid];
        core::ProcessSockets out;
        auto it = processes.find(pid);
        if (it == processes.end()) {
            out.status = core::ReadStatus::Gone;
            return out;
        }
        if (auto failure = failures.find(pid); failure != failures.end()) {
            out.status = failure->second;
            out.error = failure->second == core::ReadStatus::Denied ? 13 : 24;  // EACCES, EMFILE
            return out;
        }
        out.info = it->second.info;
        out.inodes = it->second.inodes;
        std::sort(out.inodes.begin(), out.inodes.end());
        return out;
    }
    std::optional<std::vector<core::ProcessId>> listProcesses() override {
        ++listings;
        if (listFails) return std::nullopt;
        std::vector<core::ProcessId> out;
        for (const auto& [pid, p] : processes)
            out.push_back({pid, p.generation});
        return out;
    }
    bool exists(std::uint32_t pid) override { return processes.contains(pid); }
    std::optional<core::ProcessInfo> info(std::uint32_t pid) override {
        auto it = processes.find(pid);
        if (it == processes.end()) return std::nullopt;
        return it->second.info;
    }
    std::vector<std::uint32_t> childrenOf(std::uint32_t pid) override {
        auto it = processes.find(pid);
        return it == processes.end() ? std::vector<std::uint32_t>{} : it->second.children;
    }
    std::optional<core::ProcessUsage> usage(std::uint32_t pid) override {
        ++usageReads;
        auto it = usages.find(pid);
        if (it != usages.end()) return it->second;
        return processes.contains(pid) ? std::optional<core::ProcessUsage>(core::ProcessUsage{}) : std::nullopt;
    }
    /// Details of a listed process: `detailsOf[pid]` when set, else its cmdline and "user<uid>".
    std::optional<core::ProcessDetails> details(std::uint32_t pid, std::uint64_t startTimeTicks) override {
        ++detailsReads[pid];
        auto it = processes.find(pid);
        if (it == processes.end()) return std::nullopt;
        if (startTimeTicks != 0 && it->second.info.startTimeTicks != startTimeTicks) return std::nullopt;
        if (auto d = detailsOf.find(pid); d != detailsOf.end()) return d->second;
        core::ProcessDetails d;
        d.cmdline = it->second.info.cmdline;
        d.user = "user" + std::to_string(it->second.info.uid);
        return d;
    }
    /// A handle whose process has exited once it is erased from `processes`.
    class Handle final : public core::IProcessHandle {
    public:
        Handle(FakeProcessTable& table, std::uint32_t pid) : m_table(table), m_pid(pid) {}
        int exitFd() const override { return -1; }
        bool exited() const override { return !m_table.processes.contains(m_pid); }

    private:
        FakeProcessTable& m_table;
        std::uint32_t m_pid;
    };
    core::PinResult pin(std::uint32_t pid) override {
        core::PinResult result;
        auto thread = threads.find(pid);
        if (thread != threads.end()) {
            result.error = core::PinError::NotAProcess;
            result.threadGroup = thread->second;
            return result;
        }
        auto it = processes.find(pid);
        if (it == processes.end()) {
            result.error = core::PinError::NoSuchProcess;
            return result;
        }
        result.info = it->second.info;
        result.handle = std::make_unique<Handle>(*this, pid);
        return result;
    }

    std::map<std::uint32_t, Process> processes;
    std::map<std::uint32_t, std::uint32_t> threads;  ///< thread id -> its thread group
    /// Processes whose fd table cannot be read (Denied or Transient) while listed here.
    std::map<std::uint32_t, core::ReadStatus> failures;
    bool listFails = false;  ///< listProcesses() fails (the daemon is out of descriptors)
    std::uint64_t nextGeneration = 0;
    int walks = 0;
    int fdTableReads = 0;
    int listings = 0;
    std::map<std::uint32_t, int> readsOf;  ///< socketsOf calls per pid
    std::map<std::uint32_t, core::ProcessDetails> detailsOf;
    std::map<std::uint32_t, int> detailsReads;  ///< details() calls per pid
    std::map<std::uint32_t, core::ProcessUsage> usages;
    int usageReads = 0;
};

class FakeClock final : public core::IClock {
public:
    core::WallTime now() override { return time; }
    void advance(std::chrono::microseconds d) { time += d; }
    core::WallTime time{std::chrono::microseconds{1'700'000'000'000'000}};
};

inline core::SocketRecord tcpSocket(std::uint64_t inode, std::uint16_t localPort,
                                    core::TcpState state = core::TcpState::Listen, std::uint16_t remotePort = 0) {
    core::SocketRecord r;
    r.localAddress = "127.0.0.1";
    r.localPort = localPort;
    r.remoteAddress = remotePort ? "127.0.0.1" : "0.0.0.0";
    r.remotePort = remotePort;
    r.state = state;
    r.inode = inode;
    r.cookie = inode * 7 + 1;
    r.uid = 1000;
    return r;
}

/// A UDP socket: bound only (TCP_CLOSE, shown as UNCONN) unless `remotePort` makes it connected.
inline core::SocketRecord udpSocket(std::uint64_t inode, std::uint16_t localPort, std::uint16_t remotePort = 0) {
    auto r = tcpSocket(inode, localPort, remotePort ? core::TcpState::Established : core::TcpState::Close, remotePort);
    r.protocol = core::Protocol::Udp;
    return r;
}

}  // namespace porteye::fakes
