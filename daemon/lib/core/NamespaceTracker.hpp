// SPDX-License-Identifier: MIT
#pragma once

#include "core/IProcessTable.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace porteye::core {

/// A network namespace named in a directory such as /run/netns (`ip netns add`).
struct NamedNamespace {
    std::string name;
    std::uint64_t inode = 0;
    std::string path;  ///< the bind mount that keeps it, e.g. /run/netns/blue
};

/// One network namespace on the host, as the tracker knows it.
struct NetworkNamespace {
    std::uint64_t inode = 0;
    std::string name;              ///< `ip netns` name, else its container's name, else empty
    std::set<std::uint32_t> pids;  ///< processes in it, as far as the listings have shown
    std::string path;              ///< where to open it: its named bind mount, else a member's /proc/<pid>/ns/net
    bool own = false;              ///< the daemon's own namespace
};

struct NamespaceChanges {
    std::vector<std::uint64_t> appeared;
    std::vector<std::uint64_t> vanished;
    bool empty() const { return appeared.empty() && vanished.empty(); }
};

struct NamespaceTrackerOptions {
    /// Membership of every known process is read again after this many refreshes (0 = never):
    /// a process that entered another namespace after it was first listed (unshare, setns)
    /// is otherwise not seen to move.
    std::uint32_t recheckEvery = 60;
    std::string procRoot = "/proc";
};

/// Follows the host's network namespaces without reading every process on every poll: it
/// reads `/proc/<pid>/ns/net` only of processes a poll's listing shows for the first time
/// (OwnerResolver's observer), counts members per namespace, and drops a namespace when its
/// last member is gone and no name keeps it. Named namespaces (/run/netns) are listed on
/// each refresh. Not thread-safe: the poll's thread.
class NamespaceTracker {
public:
    using NamedLister = std::function<std::vector<NamedNamespace>()>;
    /// Names a namespace after what runs in it (its container), given one member pid; "" when none.
    using Namer = std::function<std::string(std::uint32_t pid)>;

    NamespaceTracker(IProcessTable& processes, std::uint64_t ownNetns, NamedLister named, Namer namer = {},
                     NamespaceTrackerOptions options = {});

    /// The observer to give PortMonitor::setProcessObserver.
    void processesChanged(const std::vector<ProcessId>& fresh, const std::vector<ProcessId>& vanished);

    /// Lists the named namespaces and returns what appeared and vanished since the last call.
    NamespaceChanges refresh();

    const std::map<std::uint64_t, NetworkNamespace>& namespaces() const { return m_namespaces; }
    std::uint64_t ownNetns() const { return m_own; }
    /// The name of a namespace, "" when it has none or is unknown.
    std::string nameOf(std::uint64_t inode) const;

private:
    void join(std::uint32_t pid, std::uint64_t netns);
    void leave(std::uint32_t pid);
    void recheckAll();
    std::string pathFor(const NetworkNamespace& ns) const;

    IProcessTable& m_processes;
    std::uint64_t m_own;
    NamedLister m_named;
    Namer m_namer;
    NamespaceTrackerOptions m_options;
    std::map<std::uint64_t, NetworkNamespace> m_namespaces;
    std::unordered_map<std::uint32_t, std::uint64_t> m_pidNetns;
    std::set<std::uint64_t> m_reported;  // namespaces the last refresh() returned as present
    std::map<std::uint64_t, NamedNamespace> m_namedNow;
    std::set<std::uint64_t> m_namerAsked;
    std::uint64_t m_refreshes = 0;
};

}  // namespace porteye::core
