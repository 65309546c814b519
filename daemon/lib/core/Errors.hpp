// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace porteye::core {

/// Every error a caller of porteyed can get, whatever the transport.
enum class ErrorCode : std::uint8_t {
    InvalidArgument,
    NoSuchProcess,  ///< also for a process the caller may not see: the two are never told apart
    AccessDenied,
    NoSuchWatch,
    LimitExceeded,  ///< a per-user or global quota
    ReplyTooLarge,  ///< the answer would exceed the transport's message limit: page with limit/after_sequence
    TryAgain,       ///< a transient shortage (file descriptors, memory) in the daemon
    Failed,
};

/// One row of the error table: how each front-end and the client spell an error.
struct ErrorSpec {
    ErrorCode code;
    std::string_view name;  ///< D-Bus: org.porteye.PortEye1.Error.<name>; JSON-RPC: error.data.name
    int rpcCode;            ///< JSON-RPC 2.0 error code
    int exitCode;           ///< porteyectl's exit status
};

/// The one error table, shared by the D-Bus and Unix-socket front-ends and porteyectl.
inline constexpr std::array<ErrorSpec, 8> kErrorTable{{
    {ErrorCode::InvalidArgument, "InvalidArgument", -32602, 2},
    {ErrorCode::NoSuchProcess, "NoSuchProcess", -32001, 3},
    {ErrorCode::AccessDenied, "AccessDenied", -32002, 6},
    {ErrorCode::NoSuchWatch, "NoSuchWatch", -32003, 1},
    {ErrorCode::LimitExceeded, "LimitExceeded", -32004, 1},
    {ErrorCode::ReplyTooLarge, "ReplyTooLarge", -32005, 1},
    {ErrorCode::TryAgain, "TryAgain", -32006, 1},
    {ErrorCode::Failed, "Failed", -32000, 1},
}};

inline constexpr const ErrorSpec& errorSpec(ErrorCode code) {
    for (const auto& spec : kErrorTable)
        if (spec.code == code) return spec;
    return kErrorTable.back();
}

inline constexpr std::optional<ErrorCode> errorByName(std::string_view name) {
    for (const auto& spec : kErrorTable)
        if (spec.name == name) return spec.code;
    return std::nullopt;
}

inline constexpr std::optional<ErrorCode> errorByRpcCode(int rpcCode) {
    for (const auto& spec : kErrorTable)
        if (spec.rpcCode == rpcCode) return spec.code;
    return std::nullopt;
}

}  // namespace porteye::core
