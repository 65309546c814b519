// SPDX-License-Identifier: MIT
#include "journal/JournalEntry.hpp"

#include "journal/MessageIds.hpp"

namespace porteye::journal {
namespace {

std::string endpoint(const core::SocketRecord& r, const std::string& address, std::uint16_t port) {
    // An IPv6 address takes brackets, so its colons cannot be read as the port's.
    return r.family == 6 ? "[" + address + "]:" + std::to_string(port) : address + ":" + std::to_string(port);
}

std::string holder(std::uint32_t pid, const std::string& process) {
    if (pid == 0) return "a process porteyed cannot see";
    return (process.empty() ? std::string("pid") : process) + "[" + std::to_string(pid) + "]";
}

std::string containerOf(const core::SocketRecord& r) {
    if (!r.details) return {};
    return !r.details->containerName.empty() ? r.details->containerName : r.details->containerId;
}

/// " (nginx.service, container web, netns blue)": where the holder runs, as far as known.
std::string where(const core::SocketRecord& r) {
    std::vector<std::string> parts;
    if (r.details && !r.details->unit.empty()) parts.push_back(r.details->unit);
    if (const auto c = containerOf(r); !c.empty()) parts.push_back("container " + c);
    if (!r.netnsName.empty()) parts.push_back("netns " + r.netnsName);
    if (parts.empty()) return {};
    std::string out = " (";
    for (std::size_t i = 0; i < parts.size(); ++i)
        out += (i ? ", " : "") + parts[i];
    return out + ")";
}

std::string socketText(const core::SocketRecord& r) {
    std::string text = std::string(core::protocolName(r.protocol)) + " " + endpoint(r, r.localAddress, r.localPort);
    if (!r.listening()) text += " -> " + endpoint(r, r.remoteAddress, r.remotePort);
    return text;
}

void add(std::vector<std::string>& fields, std::string_view key, const std::string& value) {
    if (value.empty()) return;
    std::string field(key);
    field += '=';
    field += value;
    fields.push_back(std::move(field));
}

}  // namespace

std::optional<JournalEvents> parseJournalEvents(std::string_view name) {
    for (auto s : {JournalEvents::Off, JournalEvents::Listeners, JournalEvents::All})
        if (journalEventsName(s) == name) return s;
    return std::nullopt;
}

std::string_view journalEventsName(JournalEvents setting) {
    switch (setting) {
        case JournalEvents::Off:
            return "off";
        case JournalEvents::Listeners:
            return "listeners";
        case JournalEvents::All:
            return "all";
    }
    return "listeners";
}

bool journalled(JournalEvents setting, const core::PortEvent& event) {
    switch (setting) {
        case JournalEvents::Off:
            return false;
        case JournalEvents::Listeners:
            return event.record.listening();
        case JournalEvents::All:
            return true;
    }
    return false;
}

std::string_view messageIdOf(const core::PortEvent& event) {
    const bool listener = event.record.listening();
    switch (event.action) {
        case core::Action::Added:
            return listener ? message_id::kListenerAdded : message_id::kConnectionAdded;
        case core::Action::Removed:
            return listener ? message_id::kListenerRemoved : message_id::kConnectionRemoved;
        case core::Action::OwnerChanged:
            return message_id::kOwnerChanged;
    }
    return message_id::kOwnerChanged;
}

int priorityOf(const core::PortEvent& event) {
    return event.record.listening() ? kPriorityInfo : kPriorityDebug;
}

std::string messageOf(const core::PortEvent& event) {
    const auto& r = event.record;
    const bool listener = r.listening();
    const std::string who = holder(r.pid, r.process);
    const std::string socket = socketText(r);
    const std::string state(core::stateName(r.protocol, r.state));
    switch (event.action) {
        case core::Action::Added:
            return listener ? who + " started listening on " + socket + where(r)
                            : who + " opened " + socket + " " + state + where(r);
        case core::Action::Removed:
            return (listener ? who + " stopped listening on " + socket : who + " closed " + socket + " " + state) +
                   where(r) + (event.shortLived ? ", short-lived" : "");
        case core::Action::OwnerChanged:
            if (r.pid == 0)
                return "pid " + std::to_string(event.previousPid) + " let go of " + socket + " " + state +
                       "; no visible owner is left";
            if (event.previousPid == 0) return who + " now also holds " + socket + " " + state + where(r);
            return who + " took over " + socket + " " + state + " from pid " + std::to_string(event.previousPid) +
                   where(r);
    }
    return socket;
}

std::vector<std::string> entryFields(const core::PortEvent& event) {
    return entryFields(event, messageIdOf(event), priorityOf(event), messageOf(event));
}

std::vector<std::string> entryFields(const core::PortEvent& event, std::string_view messageId, int priority,
                                     const std::string& message) {
    const auto& r = event.record;
    std::vector<std::string> f;
    f.reserve(24);
    add(f, "MESSAGE", message);
    add(f, "MESSAGE_ID", std::string(messageId));
    add(f, "PRIORITY", std::to_string(priority));
    add(f, "SYSLOG_IDENTIFIER", "porteyed");
    add(f, "PORTEYE_ACTION", std::string(core::actionName(event.action)));
    add(f, "PORTEYE_PROTOCOL", std::string(core::protocolName(r.protocol)));
    add(f, "PORTEYE_FAMILY", r.family == 6 ? "ipv6" : "ipv4");
    add(f, "PORTEYE_LOCAL_ADDRESS", r.localAddress);
    add(f, "PORTEYE_PORT", std::to_string(r.localPort));
    if (!r.listening()) {
        add(f, "PORTEYE_REMOTE_ADDRESS", r.remoteAddress);
        add(f, "PORTEYE_REMOTE_PORT", std::to_string(r.remotePort));
    }
    add(f, "PORTEYE_STATE", std::string(core::stateName(r.protocol, r.state)));
    if (r.pid != 0) {
        add(f, "PORTEYE_PID", std::to_string(r.pid));
        add(f, "PORTEYE_PROCESS", r.process);
        add(f, "PORTEYE_UID", std::to_string(r.ownerUid));
    }
    if (event.action == core::Action::OwnerChanged && event.previousPid != 0)
        add(f, "PORTEYE_PREVIOUS_PID", std::to_string(event.previousPid));
    if (const auto* d = r.details.get()) {
        add(f, "PORTEYE_USER", d->user);
        add(f, "PORTEYE_UNIT", d->unit);
        add(f, "PORTEYE_CONTAINER", containerOf(r));
        add(f, "PORTEYE_CONTAINER_RUNTIME", d->containerRuntime);
    }
    if (r.netns != 0) add(f, "PORTEYE_NETNS", std::to_string(r.netns));
    add(f, "PORTEYE_NETNS_NAME", r.netnsName);
    if (r.inode != 0) add(f, "PORTEYE_INODE", std::to_string(r.inode));
    if (event.shortLived) add(f, "PORTEYE_SHORT_LIVED", "1");
    add(f, "PORTEYE_SEQUENCE", std::to_string(event.sequence));
    return f;
}

std::vector<std::string> suppressedFields(std::uint64_t suppressed, std::string_view kind, double seconds) {
    std::vector<std::string> f;
    const auto secs = std::to_string(static_cast<std::uint64_t>(seconds + 0.5));
    add(f, "MESSAGE",
        "porteyed's rate limit held back " + std::to_string(suppressed) + " journal entries of " + std::string(kind) +
            " in the last " + secs + " s; `porteyectl history` has every event");
    add(f, "MESSAGE_ID", std::string(message_id::kSuppressed));
    add(f, "PRIORITY", std::to_string(kPriorityWarning));
    add(f, "SYSLOG_IDENTIFIER", "porteyed");
    add(f, "PORTEYE_SUPPRESSED", std::to_string(suppressed));
    add(f, "PORTEYE_SUPPRESSED_KIND", std::string(kind));
    return f;
}

std::string alertMessageOf(const core::UnexpectedListener& alert) {
    const auto& r = alert.event.record;
    const auto* d = r.details.get();
    const std::string owner = r.pid ? std::to_string(r.pid) + " (" + r.process + ")" : "no visible owner";
    return std::string(alert.present ? "unexpected listener present: " : "unexpected listener: ") + socketText(r) +
           " by " + owner + (d && !d->unit.empty() ? " in " + d->unit : "") + "; " + alert.reason;
}

std::vector<std::string> alertFields(const core::UnexpectedListener& alert) {
    auto f = entryFields(alert.event, message_id::kUnexpectedListener, kPriorityWarning, alertMessageOf(alert));
    for (auto& field : f)
        if (field.rfind("PORTEYE_ACTION=", 0) == 0) field = "PORTEYE_ACTION=unexpected";
    add(f, "PORTEYE_PRESENT", alert.present ? "1" : "0");
    add(f, "PORTEYE_REASON", alert.reason);
    return f;
}

std::vector<std::string> heldBackAlertsFields(std::uint32_t uid, std::uint64_t count, double seconds) {
    std::vector<std::string> f;
    const auto secs = std::to_string(static_cast<std::uint64_t>(seconds + 0.5));
    add(f, "MESSAGE",
        std::to_string(count) + " unexpected-listener alerts for uid " + std::to_string(uid) +
            " held back in the last " + secs +
            " s (rate limit per uid); `porteyectl events --unexpected` and "
            "`status` count every one");
    add(f, "MESSAGE_ID", std::string(message_id::kSuppressed));
    add(f, "PRIORITY", std::to_string(kPriorityWarning));
    add(f, "SYSLOG_IDENTIFIER", "porteyed");
    add(f, "PORTEYE_SUPPRESSED", std::to_string(count));
    add(f, "PORTEYE_SUPPRESSED_KIND", "unexpected-listener alerts");
    add(f, "PORTEYE_UID", std::to_string(uid));
    return f;
}

}  // namespace porteye::journal
