// SPDX-License-Identifier: MIT
#include "Daemon.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv, argv + argc);
    try {
        auto parsed = porteye::parseDaemonConfig(args);
        if (!parsed.config) return parsed.exitCode;
        return porteye::runDaemon(args, *parsed.config);
    } catch (const std::exception& e) {
        std::cerr << "porteyed: " << e.what() << '\n';
        return 1;
    }
}
