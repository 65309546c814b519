// SPDX-License-Identifier: MIT
#pragma once

#include "Transport.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

namespace porteye::web {

/// Makes a new connection to porteyed (or the kernel, with --local). Transports are not
/// thread-safe: every HTTP request gets its own, and the event stream has one of its own.
using TransportFactory = std::function<std::unique_ptr<cli::ITransport>()>;

struct WebOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 5000;  ///< 0 = any free port (printed)
    /// The secret every request needs; empty = a random one for this start.
    std::string token;
};

/// "HOST:PORT", "[V6]:PORT" or "PORT" (host 127.0.0.1); throws CommandError(kExitUsage) otherwise.
WebOptions parseListen(const std::string& text);

/// `porteyectl web`: serves the page and /api/* until SIGINT or SIGTERM.
///
/// Threads: httplib answers each request on a pool thread with a transport of its own. The
/// calling thread reads porteyed's event stream and publishes each event to every open
/// /api/events stream through an EventHub (bounded queue per client; a slow client is told to reload).
///
/// Access: every request needs the per-start token (the printed URL's ?token=, then a cookie, or
/// `Authorization: Bearer`), and a connection from a loopback address must come from a socket
/// owned by the uid running porteyectl (looked up with sock_diag), else 403.
int runWeb(const WebOptions& options, const TransportFactory& connect, std::ostream& out, std::ostream& err);

}  // namespace porteye::web
