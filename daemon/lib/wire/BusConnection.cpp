// SPDX-License-Identifier: MIT
#include "wire/BusConnection.hpp"

#include <stdexcept>

namespace porteye::dbus {

BusSpec::Kind parseBusKind(const std::string& name) {
    if (name == "system") return BusSpec::Kind::System;
    if (name == "session") return BusSpec::Kind::Session;
    throw std::invalid_argument("bus must be 'system' or 'session', not '" + name + "'");
}

std::unique_ptr<sdbus::IConnection> openBus(const BusSpec& spec) {
    // sdbus-c++ 1.2 has no "connect to address as system bus"; the session
    // variant with an address works for any bus.
    if (!spec.address.empty()) return sdbus::createSessionBusConnectionWithAddress(spec.address);
    if (spec.kind == BusSpec::Kind::Session) return sdbus::createSessionBusConnection();
    return sdbus::createSystemBusConnection();
}

}  // namespace porteye::dbus
