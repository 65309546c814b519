// SPDX-License-Identifier: MIT
// The allowlist files (/etc/porteye/expected.d/*.conf, docs/expected-listeners.md): whoever may
// write there (or a package) can put any bytes in them. The parser must never throw, and every
// rule it keeps must survive formatExpectedRule (what `porteyectl expect --snapshot` writes) and
// be read back as the same rule.
#include "core/ExpectedListeners.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace porteye;

namespace {

[[noreturn]] void fail(const char* what, const std::string& line) {
    std::fprintf(stderr, "fuzz-expected-listeners: %s: %s\n", what, line.c_str());
    std::abort();
}

core::SocketRecord listener(core::Protocol protocol, const char* address, std::uint16_t port, const char* process) {
    core::SocketRecord r;
    r.protocol = protocol;
    r.localAddress = address;
    r.localPort = port;
    r.state = protocol == core::Protocol::Tcp ? core::TcpState::Listen : core::TcpState::Close;
    r.process = process;
    r.pid = 1;
    r.cookie = port;
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    core::ExpectedParseResult parsed = core::parseExpectedRules(text, "fuzz.conf");
    for (const auto& rule : parsed.rules) {
        const std::string line = core::formatExpectedRule(rule);
        const auto again = core::parseExpectedRules(line, "again.conf");
        if (again.rules.size() != 1 || !again.errors.empty()) fail("a formatted rule does not parse", line);
        if (!again.rules[0].sameAs(rule)) fail("a formatted rule parses as another rule", line);
        if (rule.portLow > rule.portHigh) fail("a port range runs backwards", line);
    }
    core::ExpectedListeners allowlist;
    allowlist.add(parsed);
    for (const auto& record :
         {listener(core::Protocol::Tcp, "0.0.0.0", 22, "sshd"), listener(core::Protocol::Udp, "::", 53, "dns"),
          listener(core::Protocol::Tcp, "127.0.0.1", 8080, "a*b\"c")}) {
        if (allowlist.match(record) == nullptr) (void)allowlist.whyUnexpected(record);
    }
    return 0;
}
