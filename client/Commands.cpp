// SPDX-License-Identifier: MIT
#include "Commands.hpp"

#include "ExitCode.hpp"
#include "Output.hpp"
#include "core/IClock.hpp"
#include "protocol/Json.hpp"

namespace porteye::cli {

int runList(ITransport& transport, const core::SocketFilter& filter, const OutputOptions& output, std::ostream& out) {
    auto records = transport.list(filter);
    if (output.json) {
        nlohmann::json array = nlohmann::json::array();
        for (const auto& r : records) array.push_back(protocol::toJson(r));
        out << array.dump(2) << '\n';
    } else {
        printSocketTable(out, records, output.color);
    }
    return kExitOk;
}

int runWatch(ITransport& transport, std::uint32_t pid, const WatchOptions& options, const std::string& intervalText,
             const OutputOptions& output, std::ostream& out, std::ostream& err) {
    const auto interval = formatInterval(intervalText).value_or(intervalText);
    if (!output.json) printWatchHeader(out, pid, interval);
    bool exited = false;
    core::SystemClock clock;
    transport.watch(pid, options, [&](const core::PortChange& change) {
        if (output.json) {
            out << protocol::toJson(pid, change, clock.now()).dump() << '\n';
            out.flush();
        } else {
            printWatchChange(out, change);
        }
        exited = change.processExited;
        return true;
    });
    if (exited) {
        err << "Process " << pid << " exited; stopped monitoring.\n";
        return kExitProcessExited;
    }
    return kExitOk;
}

}  // namespace porteye::cli
