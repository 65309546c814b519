// SPDX-License-Identifier: MIT
// porteye-dbus-fuzz --address ADDR --xml FILE [--calls N] [--seed S]: what dfuzzer does, for
// org.porteye.PortEye1 (dfuzzer is not packaged for Debian 12). Reads the introspection XML and
// calls every method and reads every property of the manager object and of the watch objects
// its Watch replies name, with random values of the right signature, values of wrong
// signatures, and a{sv} options with unknown keys, wrong variant types and huge values. Every
// 200 calls a fresh connection must get an answer to GetStatus (the daemon keeps serving a
// reading client); every 1,000 calls the fuzzing connection is replaced, so the watches it made
// end with their client.
//
// Prints one JSON object: calls, replies, errors by name, values the client library refused to
// send, and the checks. Exit 0 when every check got its answer, 1 when the daemon stopped
// answering, 2 for bad usage.
#include <systemd/sd-bus.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <limits>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* kService = "org.porteye.PortEye1";
constexpr const char* kManagerPath = "/org/porteye/PortEye1";
constexpr std::uint64_t kCallTimeoutUs = 10'000'000;

struct Method {
    std::string name;
    std::string in;  ///< the signature of its in arguments, concatenated
};
struct Property {
    std::string name;
    std::string type;
};
struct Interface {
    std::string name;
    std::vector<Method> methods;
    std::vector<Property> properties;
};

/// The value of attribute `name` in a tag's text, or "".
std::string attribute(std::string_view tag, std::string_view name) {
    const std::string key = " " + std::string(name) + "=\"";
    const auto at = tag.find(key);
    if (at == std::string_view::npos) return {};
    const auto start = at + key.size();
    const auto end = tag.find('"', start);
    return end == std::string_view::npos ? std::string{} : std::string(tag.substr(start, end - start));
}

/// The interfaces, methods (in signatures) and properties of an introspection file. Just enough
/// XML for introspection data: tags and attributes; comments and doc elements are skipped.
std::vector<Interface> parseIntrospection(const std::string& xml) {
    std::vector<Interface> out;
    Method* method = nullptr;
    for (std::size_t pos = xml.find('<'); pos != std::string::npos; pos = xml.find('<', pos + 1)) {
        if (xml.compare(pos, 4, "<!--") == 0) {
            pos = xml.find("-->", pos);
            if (pos == std::string::npos) break;
            continue;
        }
        const auto end = xml.find('>', pos);
        if (end == std::string::npos) break;
        const std::string_view tag(xml.data() + pos, end - pos + 1);
        if (tag.starts_with("<interface ")) {
            out.push_back({attribute(tag, "name"), {}, {}});
        } else if (tag.starts_with("<method ") && !out.empty()) {
            out.back().methods.push_back({attribute(tag, "name"), ""});
            method = tag.ends_with("/>") ? nullptr : &out.back().methods.back();
        } else if (tag.starts_with("</method")) {
            method = nullptr;
        } else if (tag.starts_with("<arg ") && method != nullptr && attribute(tag, "direction") != "out") {
            method->in += attribute(tag, "type");
        } else if (tag.starts_with("<property ") && !out.empty()) {
            out.back().properties.push_back({attribute(tag, "name"), attribute(tag, "type")});
        }
    }
    return out;
}

/// Length of the one complete type at the start of `sig` (0 when it is not one).
std::size_t completeTypeLength(std::string_view sig) {
    if (sig.empty()) return 0;
    const char open = sig[0];
    if (open == 'a') {
        const std::size_t element = completeTypeLength(sig.substr(1));
        return element == 0 ? 0 : 1 + element;
    }
    if (open == '(' || open == '{') {
        const char close = open == '(' ? ')' : '}';
        std::size_t i = 1;
        while (i < sig.size() && sig[i] != close) {
            const std::size_t n = completeTypeLength(sig.substr(i));
            if (n == 0) return 0;
            i += n;
        }
        return i < sig.size() ? i + 1 : 0;
    }
    return std::string_view("ybnqiuxtdsogvh").find(open) == std::string_view::npos ? 0 : 1;
}

class Fuzzer {
public:
    Fuzzer(std::string address, std::vector<Interface> interfaces, std::uint64_t seed)
        : m_address(std::move(address)), m_interfaces(std::move(interfaces)), m_rng(seed) {
        m_devNull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    ~Fuzzer() {
        if (m_bus != nullptr) sd_bus_flush_close_unref(m_bus);
        if (m_devNull >= 0) ::close(m_devNull);
    }
    Fuzzer(const Fuzzer&) = delete;
    Fuzzer& operator=(const Fuzzer&) = delete;

    /// Makes `calls` calls; false as soon as a check went unanswered.
    bool run(std::uint64_t calls) {
        for (std::uint64_t i = 0; i < calls; ++i) {
            if (i % 1000 == 0 && !reconnect()) return false;
            if (i % 200 == 199 && !checkServing()) return false;
            oneCall();
        }
        return checkServing();
    }

    nlohmann::json report() const {
        nlohmann::json errors = nlohmann::json::object();
        for (const auto& [name, count] : m_errors)
            errors[name] = count;
        return {{"calls", m_calls},
                {"replies", m_replies},
                {"errors", errors},
                {"refused_by_client_library", m_refused},
                {"watch_objects_seen", m_watchesSeen},
                {"serving_checks", m_checks},
                {"serving_checks_failed", m_checksFailed}};
    }

private:
    std::uint64_t below(std::uint64_t n) {
        return n == 0 ? 0 : std::uniform_int_distribution<std::uint64_t>(0, n - 1)(m_rng);
    }
    bool chance(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }

    sd_bus* open() const {
        sd_bus* bus = nullptr;
        if (sd_bus_new(&bus) < 0) return nullptr;
        if (sd_bus_set_address(bus, m_address.c_str()) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_negotiate_fds(bus, 1) < 0 || sd_bus_start(bus) < 0) {
            sd_bus_unref(bus);
            return nullptr;
        }
        return bus;
    }

    bool reconnect() {
        if (m_bus != nullptr) sd_bus_flush_close_unref(m_bus);
        m_watches.clear();
        m_bus = open();
        return m_bus != nullptr;
    }

    /// A reading client on a connection of its own gets GetStatus answered.
    bool checkServing() {
        ++m_checks;
        sd_bus* reader = open();
        bool ok = false;
        if (reader != nullptr) {
            sd_bus_error error = SD_BUS_ERROR_NULL;
            sd_bus_message* reply = nullptr;
            ok = sd_bus_call_method(reader, kService, kManagerPath, kService, "GetStatus", &error, &reply, "") >= 0;
            sd_bus_message_unref(reply);
            sd_bus_error_free(&error);
            sd_bus_flush_close_unref(reader);
        }
        if (!ok) ++m_checksFailed;
        return ok;
    }

    std::string randomText() {
        static const std::vector<std::string> kWords = {
            "",         "pid",         "port",      "process",       "state",
            "protocol", "unit",        "container", "netns",         "listening",
            "offset",   "limit",       "action",    "since",         "after_sequence",
            "interval", "children",    "LISTEN",    "ESTABLISHED",   "tcp",
            "udp",      "added",       "removed",   "owner-changed", "2024-01-01T00:00:00Z",
            "*",        "ssh.service", "héllo",     "\x1b[31m",      "-1",
            "1e308",    "nan"};
        switch (below(4)) {
            case 0:
                return kWords[below(kWords.size())];
            case 1: {
                std::string s;
                for (std::uint64_t n = below(24); n > 0; --n)
                    s += static_cast<char>(1 + below(127));  // any ASCII but NUL
                return s;
            }
            case 2:
                // Huge: up to 4 MiB, well under the bus's 32 MiB.
                return std::string(std::size_t{1} << (10 + below(13)), static_cast<char>('a' + below(26)));
            default:
                return std::to_string(static_cast<std::int64_t>(m_rng()));
        }
    }

    std::string randomSignature(int depth) {
        static const std::string kBasic = "ybnqiuxtdsogh";
        switch (depth > 2 ? 0 : below(6)) {
            case 0:
            case 1:
                return std::string(1, kBasic[below(kBasic.size())]);
            case 2:
                return "a" + randomSignature(depth + 1);
            case 3:
                return "a{s" + randomSignature(depth + 1) + "}";
            case 4:
                return "v";
            default:
                return "(" + randomSignature(depth + 1) + randomSignature(depth + 1) + ")";
        }
    }

    /// The a{sv} options a caller may send: mostly known keys, with values of any type.
    int appendOptions(sd_bus_message* m, int depth) {
        static const std::vector<std::string> kKeys = {
            "pid",       "port",   "process", "state",  "protocol", "unit",           "container", "netns",
            "listening", "offset", "limit",   "action", "since",    "after_sequence", "interval",  "children"};
        int r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (std::uint64_t n = below(6); r >= 0 && n > 0; --n) {
            const std::string key = chance(80) ? kKeys[below(kKeys.size())] : randomText();
            r = sd_bus_message_open_container(m, 'e', "sv");
            if (r >= 0) r = sd_bus_message_append_basic(m, 's', key.c_str());
            if (r >= 0) r = appendVariant(m, depth + 1);
            if (r >= 0) r = sd_bus_message_close_container(m);
        }
        return r >= 0 ? sd_bus_message_close_container(m) : r;
    }

    int appendVariant(sd_bus_message* m, int depth) {
        static const std::vector<std::string> kLikely = {"s", "u", "q", "t", "x", "i", "b", "d", "y", "n"};
        const std::string type = chance(70) || depth > 2 ? kLikely[below(kLikely.size())] : randomSignature(depth);
        int r = sd_bus_message_open_container(m, 'v', type.c_str());
        if (r >= 0) r = appendValues(m, type, depth + 1);
        return r >= 0 ? sd_bus_message_close_container(m) : r;
    }

    int appendNumber(sd_bus_message* m, char type) {
        // Edges as often as random bits: 0, 1, the maxima, the minima.
        std::uint64_t bits = m_rng();
        switch (below(4)) {
            case 0:
                bits = 0;
                break;
            case 1:
                bits = 1 + below(70000);
                break;
            case 2:
                bits = ~std::uint64_t{0};
                break;
            default:
                break;
        }
        switch (type) {
            case 'y': {
                auto v = static_cast<std::uint8_t>(bits);
                return sd_bus_message_append_basic(m, type, &v);
            }
            case 'b': {
                int v = static_cast<int>(bits & 1);
                return sd_bus_message_append_basic(m, type, &v);
            }
            case 'n':
            case 'q': {
                auto v = static_cast<std::uint16_t>(bits);
                return sd_bus_message_append_basic(m, type, &v);
            }
            case 'i':
            case 'u': {
                auto v = static_cast<std::uint32_t>(bits);
                return sd_bus_message_append_basic(m, type, &v);
            }
            case 'd': {
                static const double kDoubles[] = {0.0,
                                                  -0.0,
                                                  1e-320,
                                                  0.05,
                                                  0.5,
                                                  1.0,
                                                  3600.0,
                                                  1e308,
                                                  -1.0,
                                                  std::numeric_limits<double>::infinity(),
                                                  std::numeric_limits<double>::quiet_NaN()};
                double v = kDoubles[below(std::size(kDoubles))];
                return sd_bus_message_append_basic(m, type, &v);
            }
            default:
                return sd_bus_message_append_basic(m, type, &bits);  // x, t
        }
    }

    /// Appends one value of every complete type in `sig`.
    int appendValues(sd_bus_message* m, std::string_view sig, int depth) {
        while (!sig.empty()) {
            const std::size_t n = completeTypeLength(sig);
            if (n == 0) return -EINVAL;
            const std::string type(sig.substr(0, n));
            sig.remove_prefix(n);
            int r = 0;
            switch (type[0]) {
                case 's': {
                    const std::string s = randomText();
                    r = sd_bus_message_append_basic(m, 's', s.c_str());
                    break;
                }
                case 'o': {
                    std::string path = kManagerPath;
                    if (!m_watches.empty() && chance(60)) {
                        path = *std::next(m_watches.begin(), static_cast<long>(below(m_watches.size())));
                    } else if (chance(50)) {
                        path += "/watch/" + std::to_string(below(100));
                    }
                    r = sd_bus_message_append_basic(m, 'o', path.c_str());
                    break;
                }
                case 'g':
                    r = sd_bus_message_append_basic(m, 'g', randomSignature(0).c_str());
                    break;
                case 'h':
                    r = sd_bus_message_append_basic(m, 'h', &m_devNull);
                    break;
                case 'v':
                    r = appendVariant(m, depth);
                    break;
                case 'a':
                    if (type == "a{sv}") {
                        r = appendOptions(m, depth);
                    } else {
                        const std::string element = type.substr(1);
                        const std::string contents =
                            element[0] == '{' ? element.substr(1, element.size() - 2) : element;
                        r = sd_bus_message_open_container(m, 'a', element.c_str());
                        for (std::uint64_t k = depth > 2 ? 0 : below(4); r >= 0 && k > 0; --k) {
                            if (element[0] == '{') {
                                r = sd_bus_message_open_container(m, 'e', contents.c_str());
                                if (r >= 0) r = appendValues(m, contents, depth + 1);
                                if (r >= 0) r = sd_bus_message_close_container(m);
                            } else {
                                r = appendValues(m, element, depth + 1);
                            }
                        }
                        if (r >= 0) r = sd_bus_message_close_container(m);
                    }
                    break;
                case '(': {
                    const std::string contents = type.substr(1, type.size() - 2);
                    r = sd_bus_message_open_container(m, 'r', contents.c_str());
                    if (r >= 0) r = appendValues(m, contents, depth + 1);
                    if (r >= 0) r = sd_bus_message_close_container(m);
                    break;
                }
                default:
                    r = appendNumber(m, type[0]);
                    break;
            }
            if (r < 0) return r;
        }
        return 0;
    }

    /// Builds one call of signature `sig` with random values and sends it.
    void call(const std::string& path, const std::string& interface, const std::string& member,
              const std::string& sig) {
        sd_bus_message* m = nullptr;
        if (sd_bus_message_new_method_call(m_bus, &m, kService, path.c_str(), interface.c_str(), member.c_str()) < 0) {
            ++m_refused;
            return;
        }
        if (appendValues(m, sig, 0) < 0) {
            ++m_refused;  // e.g. a signature sd-bus refuses to nest
            sd_bus_message_unref(m);
            return;
        }
        send(m, member);
    }

    /// Sends a built call and takes its message; counts the reply or error; remembers the watch
    /// objects Watch replies name.
    void send(sd_bus_message* m, std::string_view member) {
        ++m_calls;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message* reply = nullptr;
        if (sd_bus_call(m_bus, m, kCallTimeoutUs, &error, &reply) >= 0) {
            ++m_replies;
            const char* watch = nullptr;
            if (member == "Watch" && sd_bus_message_read_basic(reply, 'o', &watch) > 0 && watch != nullptr) {
                m_watches.insert(watch);
                ++m_watchesSeen;
            }
        } else {
            ++m_errors[error.name != nullptr ? error.name : "(none)"];
        }
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_error_free(&error);
        if (!sd_bus_is_open(m_bus)) reconnect();  // the bus dropped us (a message it would not take)
    }

    void oneCall() {
        const Interface& iface = m_interfaces[below(m_interfaces.size())];
        const bool onWatch = iface.name != kService;
        std::string path = kManagerPath;
        if (onWatch) {
            if (m_watches.empty() || chance(10))
                path += "/watch/" + std::to_string(below(100));  // maybe none such
            else
                path = *std::next(m_watches.begin(), static_cast<long>(below(m_watches.size())));
        }
        const std::uint64_t what = below(100);
        if (what < 15 || iface.methods.empty()) {
            // Properties: every one by name, some that do not exist, all of them, and a write.
            const std::string name = !iface.properties.empty() && chance(80)
                                         ? iface.properties[below(iface.properties.size())].name
                                         : randomText();
            switch (below(4)) {
                case 0:
                case 1:
                    callWith(path, "org.freedesktop.DBus.Properties", "Get", {iface.name, name});
                    break;
                case 2:
                    callWith(path, "org.freedesktop.DBus.Properties", "GetAll", {iface.name});
                    break;
                default:
                    call(path, "org.freedesktop.DBus.Properties", "Set", "ssv");
                    break;
            }
            return;
        }
        const Method& method = iface.methods[below(iface.methods.size())];
        if (what < 75) {
            call(path, iface.name, method.name, method.in);  // the right signature
        } else if (what < 95) {
            std::string wrong;
            for (std::uint64_t n = below(4); n > 0; --n)
                wrong += randomSignature(0);
            if (wrong == method.in) wrong += "s";
            call(path, iface.name, method.name, wrong);
        } else {
            call(path, "org.freedesktop.DBus.Introspectable", "Introspect", "");
        }
    }

    /// Properties.Get/GetAll with the given strings (names need to be right to get past sd-bus).
    void callWith(const std::string& path, const char* interface, const char* member,
                  const std::vector<std::string>& args) {
        sd_bus_message* m = nullptr;
        int r = sd_bus_message_new_method_call(m_bus, &m, kService, path.c_str(), interface, member);
        for (const auto& a : args)
            if (r >= 0) r = sd_bus_message_append_basic(m, 's', a.c_str());
        if (r < 0) {
            ++m_refused;
            sd_bus_message_unref(m);
            return;
        }
        send(m, member);
    }

    std::string m_address;
    std::vector<Interface> m_interfaces;
    std::mt19937_64 m_rng;
    sd_bus* m_bus = nullptr;
    int m_devNull = -1;
    std::set<std::string> m_watches;
    std::uint64_t m_calls = 0;
    std::uint64_t m_replies = 0;
    std::uint64_t m_refused = 0;
    std::uint64_t m_watchesSeen = 0;
    std::uint64_t m_checks = 0;
    std::uint64_t m_checksFailed = 0;
    std::map<std::string, std::uint64_t> m_errors;
};

}  // namespace

int main(int argc, char** argv) {
    std::string address;
    std::string xmlPath;
    std::uint64_t calls = 1000;
    std::uint64_t seed = std::random_device{}();
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--address") {
            address = argv[i + 1];
        } else if (flag == "--xml") {
            xmlPath = argv[i + 1];
        } else if (flag == "--calls") {
            calls = std::stoull(argv[i + 1]);
        } else if (flag == "--seed") {
            seed = std::stoull(argv[i + 1]);
        } else {
            std::fprintf(stderr, "usage: %s --address ADDR --xml FILE [--calls N] [--seed S]\n", argv[0]);
            return 2;
        }
    }
    std::ifstream file(xmlPath);
    std::stringstream text;
    text << file.rdbuf();
    auto interfaces = parseIntrospection(text.str());
    if (address.empty() || interfaces.empty()) {
        std::fprintf(stderr, "usage: %s --address ADDR --xml FILE [--calls N] [--seed S] (no interfaces in '%s')\n",
                     argv[0], xmlPath.c_str());
        return 2;
    }
    Fuzzer fuzzer(address, std::move(interfaces), seed);
    const bool serving = fuzzer.run(calls);
    auto report = fuzzer.report();
    report["seed"] = seed;
    std::printf("%s\n", report.dump().c_str());
    return serving ? 0 : 1;
}
