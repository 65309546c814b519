// SPDX-License-Identifier: MIT
#include "wire/FieldTables.hpp"

#include <array>

namespace porteye::protocol {

namespace {

using S = core::DaemonStatus;
using P = StatusPresence;

// The order is JSON's, and golden files hold it: append new fields at the end.
const std::array kStatusFields{
    StatusField{"version", &S::version, P::Always, true},
    StatusField{"instance_id", &S::instanceId},
    StatusField{"host_wide", &S::hostWide},
    StatusField{"poll_interval", &S::pollIntervalSeconds, P::Always, true},
    StatusField{"sockets", &S::sockets, P::Always, true},
    StatusField{"history_size", &S::historySize, P::Always, true},
    StatusField{"history_capacity", &S::historyCapacity, P::Always, true},
    StatusField{"history_dropped", &S::historyDropped, P::Always, true},
    StatusField{"next_sequence", &S::nextSequence, P::Always, true},
    StatusField{"watches", &S::watches, P::Always, true},
    StatusField{"view", &S::view},
    StatusField{"store", &S::store},
    StatusField{"network_namespaces", &S::networkNamespaces},
    StatusField{"event_source", &S::eventSource},
    StatusField{"expected_active", &S::expectedActive},
    StatusField{"expected_rules", &S::expectedRules},
    StatusField{"unexpected_listeners", &S::unexpectedListeners},
    StatusField{"unexpected_total", &S::unexpectedTotal},
    StatusField{"polls", &S::polls, P::NonZero},
    StatusField{"failed_polls", &S::failedPolls, P::NonZero},
    StatusField{"short_lived", &S::shortLived, P::HostWide},
    StatusField{"unattributed_short_lived", &S::unattributedShortLived, P::HostWide},
    StatusField{"resyncs", &S::resyncs, P::HostWide},
    StatusField{"event_source_lost", &S::eventSourceLost, P::HostWide},
    StatusField{"store_dropped", &S::storeDropped, P::HostWide},
};

using D = core::ProcessDetails;

const std::array kDetailStrings{
    DetailField{"cmdline", &D::cmdline},
    DetailField{"user", &D::user},
    DetailField{"exe", &D::exe},
    DetailField{"unit", &D::unit},
    DetailField{"container_runtime", &D::containerRuntime},
    DetailField{"container_id", &D::containerId},
    DetailField{"container_name", &D::containerName},
};

}  // namespace

std::span<const StatusField> statusFields() {
    return kStatusFields;
}

std::span<const DetailField> detailStringFields() {
    return kDetailStrings;
}

}  // namespace porteye::protocol
