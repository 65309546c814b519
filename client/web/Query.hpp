// SPDX-License-Identifier: MIT
#pragma once

#include "core/Filters.hpp"

#include <map>
#include <string>

namespace porteye::web {

/// HTTP query parameters, as httplib parses them (a key may repeat).
using QueryParams = std::multimap<std::string, std::string>;

/// `GET /api/ports`: keys port, process, pid, state, protocol, listening. `listening` defaults to
/// true, as the seed's /api/ports listed listening ports; `listening=false` lists every socket.
/// An empty value counts as absent (the seed's form sends `?port=&process=`). Unknown keys,
/// repeated keys and bad values throw protocol::InvalidArgument, whose message the 400 carries.
core::SocketFilter portsQuery(const QueryParams& params);

/// `GET /api/history`: the keys of portsQuery (listening defaults to false here: opens and closes
/// of every socket) plus limit (default 100), action, since and after_sequence.
core::HistoryFilter historyQuery(const QueryParams& params);

}  // namespace porteye::web
