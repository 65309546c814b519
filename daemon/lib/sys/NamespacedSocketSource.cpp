// SPDX-License-Identifier: MIT
#include "sys/NamespacedSocketSource.hpp"

#include "core/Escape.hpp"

#include <cerrno>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace porteye::sys {

std::uint64_t ownNetworkNamespace() {
    struct stat st {};
    return ::stat("/proc/self/ns/net", &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

std::vector<core::NamedNamespace> listNamedNamespaces(const std::string& directory) {
    std::vector<core::NamedNamespace> out;
    DIR* dir = ::opendir(directory.c_str());
    if (dir == nullptr) return out;
    while (const dirent* ent = ::readdir(dir)) {
        const std::string name = ent->d_name;
        if (name == "." || name == "..") continue;
        const std::string path = directory + "/" + name;
        struct stat st {};
        // A namespace bind mount is an nsfs inode; an unmounted placeholder is an empty file
        // on the directory's own file system, told apart by its device.
        struct stat parent {};
        if (::stat(path.c_str(), &st) != 0 || ::stat(directory.c_str(), &parent) != 0 || st.st_dev == parent.st_dev)
            continue;
        // The name goes into records, D-Bus and the journal: escaped as every name read from the system.
        out.push_back(core::NamedNamespace{core::escapeUntrusted(name), static_cast<std::uint64_t>(st.st_ino), path});
        if (out.size() >= 4096) break;  // bounded: a directory of thousands is not ours to follow
    }
    ::closedir(dir);
    return out;
}

NamespacedSocketSource::NamespacedSocketSource(std::uint64_t ownNetns, std::unique_ptr<INetnsOpener> opener)
    : m_own(ownNetns), m_opener(std::move(opener)) {}

NamespacedSocketSource::~NamespacedSocketSource() {
    for (auto& [inode, ns] : m_namespaces)
        if (ns.nsFd >= 0) ::close(ns.nsFd);
}

std::string NamespacedSocketSource::attach(std::uint64_t inode, const std::string& path) {
    if (inode == 0 || inode == m_own || m_namespaces.contains(inode)) return {};
    if (!m_opener) return "entering network namespaces is off or not permitted";
    const int nsFd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsFd < 0) return "cannot open " + path + ": " + std::strerror(errno);
    struct stat st {};
    // The path named the namespace when it was read; its process may have exited and the PID
    // been reused since: only the inode says it is still the same one.
    if (::fstat(nsFd, &st) != 0 || static_cast<std::uint64_t>(st.st_ino) != inode) {
        ::close(nsFd);
        return path + " is no longer that namespace";
    }
    Namespace ns;
    ns.nsFd = nsFd;
    INetnsOpener* opener = m_opener.get();
    try {
        ns.source = std::make_unique<NetlinkSocketSource>([opener, nsFd] { return opener->openSockDiag(nsFd); });
        ns.destroyed = std::make_unique<DestroyListener>(opener->openSockDiag(nsFd), DestroyGroups{});
    } catch (const std::exception& e) {
        ::close(nsFd);
        return std::string("cannot open sock_diag in namespace ") + std::to_string(inode) + ": " + e.what();
    }
    m_namespaces.emplace(inode, std::move(ns));
    return {};
}

void NamespacedSocketSource::detach(std::uint64_t inode) {
    auto it = m_namespaces.find(inode);
    if (it == m_namespaces.end()) return;
    if (it->second.nsFd >= 0) ::close(it->second.nsFd);
    m_namespaces.erase(it);
}

std::vector<std::pair<std::uint64_t, DestroyListener*>> NamespacedSocketSource::destroyListeners() {
    std::vector<std::pair<std::uint64_t, DestroyListener*>> out;
    for (auto& [inode, ns] : m_namespaces)
        out.emplace_back(inode, ns.destroyed.get());
    return out;
}

core::DumpResult NamespacedSocketSource::dump(const core::DumpRequest& request) {
    const auto stamped = [](core::DumpResult result, std::uint64_t netns) {
        for (auto& r : result.sockets)
            r.netns = netns;
        return result;
    };
    if (request.netns == 0 || request.netns == m_own) return stamped(m_ownSource.dump(request), m_own);
    if (request.netns != core::kEveryNamespace) {
        auto it = m_namespaces.find(request.netns);
        if (it == m_namespaces.end())
            return {{}, ENOENT, "network namespace " + std::to_string(request.netns) + " is not followed"};
        return stamped(it->second.source->dump(request), request.netns);
    }
    // Every namespace: a namespace that fails is left out rather than failing the others.
    core::DumpResult all = stamped(m_ownSource.dump(request), m_own);
    if (!all.ok()) return all;
    for (auto& [inode, ns] : m_namespaces) {
        auto part = stamped(ns.source->dump(request), inode);
        if (!part.ok()) continue;
        all.sockets.insert(all.sockets.end(), std::make_move_iterator(part.sockets.begin()),
                           std::make_move_iterator(part.sockets.end()));
    }
    return all;
}

}  // namespace porteye::sys
