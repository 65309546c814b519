// SPDX-License-Identifier: MIT
#include "journal/UnexpectedListenerJournal.hpp"

#include "journal/MessageIds.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-journal.h>

#include <cstdlib>
#include <string>

namespace porteye::journal {

void journalUnexpected(const core::UnexpectedListener& alert) {
    const auto& r = alert.event.record;
    const std::string protocol(core::protocolName(r.protocol));
    const auto* d = r.details.get();
    const std::string unit = d ? d->unit : std::string();
    const std::string container = d ? (d->containerName.empty() ? d->containerId : d->containerName) : std::string();
    const std::string netns = r.netnsName.empty() ? (r.netns ? std::to_string(r.netns) : std::string()) : r.netnsName;
    const std::string owner = r.pid ? std::to_string(r.pid) + " (" + r.process + ")" : "no visible owner";
    const std::string address = r.family == 6 ? "[" + r.localAddress + "]" : r.localAddress;
    const std::string message = std::string(alert.present ? "unexpected listener present: " : "unexpected listener: ") +
                                protocol + " " + address + ":" + std::to_string(r.localPort) + " by " + owner +
                                (unit.empty() ? "" : " in " + unit) + "; " + alert.reason;
    // Strings are escaped where they were read (core/Escape.hpp): no newline can forge a field.
    // Logging never fails porteyed: without journald the call returns an error we ignore.
    (void)sd_journal_send(
        "MESSAGE=%s", message.c_str(), "MESSAGE_ID=%s", std::string(message_id::kUnexpectedListener).c_str(),
        "PRIORITY=4", "PORTEYE_ACTION=unexpected", "PORTEYE_PROTOCOL=%s", protocol.c_str(), "PORTEYE_LOCAL_ADDRESS=%s",
        r.localAddress.c_str(), "PORTEYE_PORT=%u", static_cast<unsigned>(r.localPort), "PORTEYE_PID=%u",
        static_cast<unsigned>(r.pid), "PORTEYE_PROCESS=%s", r.process.c_str(), "PORTEYE_UNIT=%s", unit.c_str(),
        "PORTEYE_CONTAINER=%s", container.c_str(), "PORTEYE_NETNS=%s", netns.c_str(), "PORTEYE_PRESENT=%d",
        alert.present ? 1 : 0, "PORTEYE_REASON=%s", alert.reason.c_str(), "SYSLOG_IDENTIFIER=porteyed", nullptr);
    if (std::getenv("JOURNAL_STREAM") == nullptr) spdlog::warn("{}", message);
}

}  // namespace porteye::journal
