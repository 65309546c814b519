// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>

namespace porteye::core {

using WallTime = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

/// Wall-clock time source, injectable so tests get deterministic timestamps.
class IClock {
public:
    virtual ~IClock() = default;
    virtual WallTime now() = 0;
};

class SystemClock final : public IClock {
public:
    WallTime now() override {
        return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    }
};

}  // namespace porteye::core
