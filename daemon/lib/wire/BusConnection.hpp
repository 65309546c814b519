// SPDX-License-Identifier: MIT
#pragma once

#include <sdbus-c++/IConnection.h>

#include <memory>
#include <string>

namespace porteye::dbus {

/// Which bus to use: every place that opens a bus goes through here, so tests
/// (private buses) and a future sdbus-c++ 2.x port touch one file.
struct BusSpec {
    enum class Kind { System, Session } kind = Kind::System;
    std::string address;  ///< non-empty: connect to this address instead (any bus type)
};

/// Parses "system" / "session"; throws std::invalid_argument otherwise.
BusSpec::Kind parseBusKind(const std::string& name);

/// Opens a connection; DBUS_SYSTEM_BUS_ADDRESS / DBUS_SESSION_BUS_ADDRESS are honoured.
std::unique_ptr<sdbus::IConnection> openBus(const BusSpec& spec);

}  // namespace porteye::dbus
