// SPDX-License-Identifier: MIT
#include "Transport.hpp"

namespace porteye::cli {

const sigset_t& stopSignals() {
    static const sigset_t signals = [] {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGINT);
        sigaddset(&s, SIGTERM);
        return s;
    }();
    return signals;
}

}  // namespace porteye::cli
