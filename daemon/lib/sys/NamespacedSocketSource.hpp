// SPDX-License-Identifier: MIT
#pragma once

#include "core/ISocketSource.hpp"
#include "core/NamespaceTracker.hpp"
#include "sys/DestroyListener.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/NetnsOpener.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace porteye::sys {

/// The inode of this process's network namespace (/proc/self/ns/net); 0 when unreadable.
std::uint64_t ownNetworkNamespace();

/// The namespaces `ip netns add` names: bind mounts in `directory` (default /run/netns).
/// A missing directory is no namespaces; an entry that is not a namespace is skipped.
std::vector<core::NamedNamespace> listNamedNamespaces(const std::string& directory = "/run/netns");

/// ISocketSource over every network namespace it has been told of: the daemon's own through
/// a plain socket, each other one through a socket made inside it by an INetnsOpener (and a
/// destroy listener there too). A request's netns picks the namespace (0 or the own inode:
/// the daemon's; core::kEveryNamespace: all of them, merged, each record stamped).
/// Not thread-safe: the loop's thread.
class NamespacedSocketSource final : public core::ISocketSource {
public:
    /// `opener` may be null: then only the own namespace is dumped.
    NamespacedSocketSource(std::uint64_t ownNetns, std::unique_ptr<INetnsOpener> opener);
    ~NamespacedSocketSource() override;

    core::DumpResult dump(const core::DumpRequest& request) override;

    /// Starts dumping namespace `inode`, opened through `path` (/proc/<pid>/ns/net or a
    /// /run/netns entry, checked to be that inode). Returns "" or why it could not.
    std::string attach(std::uint64_t inode, const std::string& path);
    /// Stops dumping it and closes its sockets (which also let the kernel free the namespace).
    void detach(std::uint64_t inode);
    bool attached(std::uint64_t inode) const { return m_namespaces.contains(inode); }
    std::size_t attachedCount() const { return m_namespaces.size(); }

    /// Destroy listeners of the attached namespaces, by namespace inode.
    std::vector<std::pair<std::uint64_t, DestroyListener*>> destroyListeners();

    std::uint64_t ownNetns() const { return m_own; }
    bool canEnterNamespaces() const { return m_opener != nullptr; }
    std::string openerDescription() const { return m_opener ? m_opener->describe() : std::string("none"); }

private:
    struct Namespace {
        int nsFd = -1;  // keeps the namespace open while attached
        std::unique_ptr<NetlinkSocketSource> source;
        std::unique_ptr<DestroyListener> destroyed;
    };

    std::uint64_t m_own;
    std::unique_ptr<INetnsOpener> m_opener;
    NetlinkSocketSource m_ownSource;
    std::map<std::uint64_t, Namespace> m_namespaces;
};

}  // namespace porteye::sys
