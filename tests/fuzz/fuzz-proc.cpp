// SPDX-License-Identifier: MIT
// The /proc texts ProcProcessTable reads (sys/ProcText.hpp): stat (comm, state, start time,
// CPU), status (uid, tgid), cmdline, statm and fd link targets. A process chooses its comm and
// argv, so every name and command line must come out as safe text.
// Input: byte 0 chooses the file; the rest is its content (for stat, up to the first 0xff is
// stat and the rest statm).
#include "fuzz/SafeText.hpp"
#include "sys/ProcText.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace porteye;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz-proc: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] % 4) {
        case 0: {
            const std::size_t split = text.find('\xff');
            const std::string_view stat = text.substr(0, split);
            const std::string_view statm = split == std::string_view::npos ? "" : text.substr(split + 1);
            if (const auto comm = sys::commFromStat(stat); comm && !fuzz::isDisplaySafe(*comm))
                fail("a comm is not safe text");
            (void)sys::statSaysZombie(stat);
            const auto start = sys::statStartTime(stat);
            if (start != sys::statField(stat, 22)) fail("the start time is not field 22");
            for (int n = 3; n < 60; n += 7)
                (void)sys::statField(stat, n);
            if (const auto usage = sys::usageFromStat(stat, statm, 100, 4096); usage && usage->startTimeTicks != start)
                fail("usage and the start time read different fields");
            break;
        }
        case 1:
            (void)sys::parseStatusUid(text);
            (void)sys::parseStatusField(text, "Tgid:");
            break;
        case 2:
            if (!fuzz::isDisplaySafe(sys::cmdlineFromBytes(text))) fail("a cmdline is not safe text");
            break;
        default:
            (void)sys::parseSocketLink(text);
            break;
    }
    return 0;
}
