// SPDX-License-Identifier: MIT
#include "core/KernelSocketEvent.hpp"

namespace porteye::core {

std::string_view kernelEventKindName(KernelEventKind kind) {
    switch (kind) {
        case KernelEventKind::Listen:
            return "listen";
        case KernelEventKind::Connect:
            return "connect";
        case KernelEventKind::Accept:
            return "accept";
        case KernelEventKind::Close:
            return "close";
        case KernelEventKind::UdpBind:
            return "udp-bind";
        case KernelEventKind::UdpClose:
            return "udp-close";
        case KernelEventKind::Accepted:
            return "accepted";
    }
    return "unknown";
}

std::string_view eventSourceStageName(EventSourceStage stage) {
    switch (stage) {
        case EventSourceStage::Full:
            return "full";
        case EventSourceStage::TracepointOnly:
            return "tracepoint";
        case EventSourceStage::Polling:
            return "polling";
    }
    return "unknown";
}

std::string_view eventSourceModeName(EventSourceMode mode) {
    switch (mode) {
        case EventSourceMode::Auto:
            return "auto";
        case EventSourceMode::Tracepoint:
            return "tracepoint";
        case EventSourceMode::Off:
            return "off";
    }
    return "unknown";
}

std::optional<EventSourceMode> parseEventSourceMode(std::string_view text) {
    for (auto mode : {EventSourceMode::Auto, EventSourceMode::Tracepoint, EventSourceMode::Off}) {
        if (text == eventSourceModeName(mode)) {
            return mode;
        }
    }
    return std::nullopt;
}

}  // namespace porteye::core
