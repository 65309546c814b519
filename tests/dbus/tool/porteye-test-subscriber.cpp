// SPDX-License-Identifier: MIT
// porteye-test-subscriber ADDRESS COUNT [STOPS]: one D-Bus client that holds its subscriptions,
// as a page or porteyectl does (busctl leaves the bus after each call, which ends them). On one
// connection it calls org.porteye.PortEye1.Subscribe({}) COUNT times, printing a line per call:
//   subscribed PATH        or    error ERROR.NAME
// then calls Stop on the first STOPS of them ("stopped PATH" or "error ERROR.NAME") and
// Subscribes STOPS times again, then prints "ready", and then, until it is killed, one line per signal from porteyed it
// receives:
//   signal INTERFACE MEMBER PATH port=PORT uid=UID
// It also asks the bus for the manager's broadcast signals (a match rule), so a line for
// interface org.porteye.PortEye1 shows that the bus policy let a broadcast through to this user.
#include <systemd/sd-bus.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

constexpr const char* kService = "org.porteye.PortEye1";
constexpr const char* kManagerPath = "/org/porteye/PortEye1";
constexpr const char* kSubscriptionInterface = "org.porteye.PortEye1.Subscription";

/// Prints a porteye event signal: its record's local port and uid, enough for the tests.
int onMessage(sd_bus_message* m, void*, sd_bus_error*) {
    std::uint8_t type = 0;
    if (sd_bus_message_get_type(m, &type) < 0 || type != SD_BUS_MESSAGE_SIGNAL) return 0;
    const char* interface = sd_bus_message_get_interface(m);
    const char* member = sd_bus_message_get_member(m);
    const char* path = sd_bus_message_get_path(m);
    if (!interface || std::string(interface).rfind(kService, 0) != 0) return 0;
    std::uint64_t seq = 0, when = 0;
    const char* action = nullptr;
    std::uint32_t pid = 0, uid = 0;
    const char *process = nullptr, *protocol = nullptr, *local = nullptr, *remote = nullptr, *state = nullptr;
    std::uint8_t family = 0;
    std::uint16_t port = 0, remotePort = 0;
    std::uint64_t inode = 0;
    if (sd_bus_message_enter_container(m, 'r', "tst(ussysqsqstuta{sv})su") < 0 ||
        sd_bus_message_read(m, "tst", &seq, &action, &when) < 0 ||
        sd_bus_message_enter_container(m, 'r', "ussysqsqstuta{sv}") < 0 ||
        sd_bus_message_read(m, "ussysqsqstu", &pid, &process, &protocol, &family, &local, &port, &remote, &remotePort,
                            &state, &inode, &uid) < 0) {
        std::printf("signal %s %s %s unreadable\n", interface, member, path);
        return 0;
    }
    std::printf("signal %s %s %s port=%u uid=%u\n", interface, member, path, port, uid);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: porteye-test-subscriber ADDRESS COUNT [STOPS]\n");
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    sd_bus* bus = nullptr;
    if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, argv[1]) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
        sd_bus_start(bus) < 0) {
        std::fprintf(stderr, "cannot connect to %s\n", argv[1]);
        return 1;
    }
    // Unicast signals need no match; the filter sees every message that reaches us.
    sd_bus_add_filter(bus, nullptr, onMessage, nullptr);
    const std::string broadcasts = std::string("type='signal',sender='") + kService + "',interface='" + kService + "'";
    if (sd_bus_add_match(bus, nullptr, broadcasts.c_str(), nullptr, nullptr) < 0) {
        std::fprintf(stderr, "cannot add the broadcast match\n");
        return 1;
    }
    const long count = std::strtol(argv[2], nullptr, 10);
    const long stops = argc == 4 ? std::strtol(argv[3], nullptr, 10) : 0;
    std::vector<std::string> paths;
    auto subscribe = [&](long times) {
        for (long i = 0; i < times; ++i) {
            sd_bus_error error = SD_BUS_ERROR_NULL;
            sd_bus_message* reply = nullptr;
            if (sd_bus_call_method(bus, kService, kManagerPath, kService, "Subscribe", &error, &reply, "a{sv}", 0) <
                0) {
                std::printf("error %s\n", error.name ? error.name : "?");
            } else {
                const char* path = nullptr;
                sd_bus_message_read(reply, "o", &path);
                paths.emplace_back(path ? path : "?");
                std::printf("subscribed %s\n", paths.back().c_str());
            }
            sd_bus_message_unref(reply);
            sd_bus_error_free(&error);
        }
    };
    subscribe(count);
    for (long i = 0; i < stops && i < static_cast<long>(paths.size()); ++i) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        if (sd_bus_call_method(bus, kService, paths[i].c_str(), kSubscriptionInterface, "Stop", &error, nullptr, "") <
            0)
            std::printf("error %s\n", error.name ? error.name : "?");
        else
            std::printf("stopped %s\n", paths[i].c_str());
        sd_bus_error_free(&error);
    }
    subscribe(stops);
    std::printf("ready\n");
    for (;;) {
        const int r = sd_bus_process(bus, nullptr);
        if (r < 0) return 1;
        if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0) return 1;
    }
}
