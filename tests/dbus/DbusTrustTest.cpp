// SPDX-License-Identifier: MIT
// Who the D-Bus front-end says a caller is, what it lets each caller see, and how watches end:
// real users made here (useradd), real porteyed on a private system bus, clients run by setpriv.
#include "support/RpcClient.hpp"
#include "support/DaemonTest.hpp"
#include "support/Subprocess.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <systemd/sd-bus.h>

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>

using namespace porteye::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// This test process's own users, as the other tests that make users name theirs: ctest runs
// every test in a process of its own, in parallel, and with shared names the first to end
// removed the users another was still running as (its setpriv then failed).
const std::string kPlainName = "pet1-" + std::to_string(::getpid() % 100000);
const std::string kMemberName = "pet2-" + std::to_string(::getpid() % 100000);
const char* const kPlain = kPlainName.c_str();    ///< an ordinary user
const char* const kMember = kMemberName.c_str();  ///< a user in group porteye

/// useradd/groupadd fail while another program holds the passwd lock: try again, boundedly.
bool runUntilOk(const std::vector<std::string>& argv) {
    return runAccountTool(argv).exitCode == 0;
}

/// Creates the users (and group porteye, if missing) once for the suite and removes what it created.
class Users {
public:
    static void create() {
        if (getgrnam("porteye") == nullptr) {
            createdGroup() = runUntilOk({"groupadd", "--system", "porteye"});
        }
        for (const char* name : {kPlain, kMember}) {
            if (getpwnam(name) != nullptr) continue;
            std::vector<std::string> argv{"useradd", "--system",          "--no-create-home",
                                          "--shell", "/usr/sbin/nologin", "--user-group"};
            if (std::string(name) == kMember) argv.insert(argv.end(), {"--groups", "porteye"});
            argv.push_back(name);
            if (runUntilOk(argv)) createdUsers().push_back(name);
        }
    }
    static void remove() {
        for (const auto& name : createdUsers())
            runUntilOk({"userdel", name});
        createdUsers().clear();
        // Group porteye stays: other test executables running in parallel may hold users in it.
        createdGroup() = false;
    }
    static std::uint32_t uid(const char* name) {
        const passwd* pw = getpwnam(name);
        return pw == nullptr ? 0 : pw->pw_uid;
    }

private:
    static std::vector<std::string>& createdUsers() {
        static std::vector<std::string> users;
        return users;
    }
    static bool& createdGroup() {
        static bool created = false;
        return created;
    }
};

/// `setpriv` as `user` with the user database's groups (group porteye for kMember).
std::vector<std::string> as(const std::string& user, std::vector<std::string> argv) {
    const passwd* pw = getpwnam(user.c_str());
    const std::string gid = pw == nullptr ? user : std::to_string(pw->pw_gid);
    std::vector<std::string> out{"setpriv", "--reuid=" + user, "--regid=" + gid, "--init-groups"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

/// A TCP listener held by a process of `user`; its port is read from the child's first line.
class UserListener {
public:
    explicit UserListener(const std::string& user)
        : m_process(as(user, {"/usr/bin/python3", "-c",
                              "import socket, time\n"
                              "s = socket.socket()\n"
                              "s.bind(('127.0.0.1', 0))\n"
                              "s.listen()\n"
                              "print(s.getsockname()[1], flush=True)\n"
                              "time.sleep(600)\n"})) {
        if (m_process.waitForOutput([](const std::string& out) { return out.find('\n') != std::string::npos; }, 10s))
            m_port = static_cast<std::uint16_t>(std::stoul(m_process.out()));
    }
    std::uint16_t port() const { return m_port; }
    pid_t pid() const { return m_process.pid(); }  // setpriv execs python3: the same process

private:
    Subprocess m_process;
    std::uint16_t m_port = 0;
};

class DbusTrust : public porteye::testing::DaemonTest {
protected:
    static void SetUpTestSuite() { Users::create(); }
    static void TearDownTestSuite() { Users::remove(); }

    void SetUp() override {
        ASSERT_NE(getpwnam(kPlain), nullptr) << "useradd failed";
        ASSERT_NE(getpwnam(kMember), nullptr) << "useradd failed";
        bus = std::make_unique<PrivateBus>(policyFilePath());
        // porteyed looks group porteye up at start: it exists by now.
        startDaemon({"--bus-address", bus->address(), "--interval", "0.1", "--socket", m_dir.path() + "/s.sock"});
    }

    /// busctl --json=short on the private bus, as root or (with `user`) through setpriv.
    RunResult busctl(std::vector<std::string> args, const std::string& user = {}) {
        std::vector<std::string> argv{"busctl", "--address=" + bus->address(), "--json=short"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(user.empty() ? argv : as(user, argv));
    }
    RunResult callManager(const std::string& method, std::vector<std::string> args, const std::string& user = {}) {
        std::vector<std::string> argv{"call", "org.porteye.PortEye1", "/org/porteye/PortEye1", "org.porteye.PortEye1",
                                      method};
        argv.insert(argv.end(), args.begin(), args.end());
        return busctl(argv, user);
    }
    json listPorts(const std::string& user = {}) {
        auto result = callManager("ListPorts", {"a{sv}", "0"}, user);
        EXPECT_EQ(result.exitCode, 0) << result.err;
        return result.exitCode == 0 ? json::parse(result.out)["data"][0] : json::array();
    }
    static bool hasPort(const json& records, std::uint16_t port) {
        for (const auto& r : records)
            if (r[5] == port) return true;
        return false;
    }
    /// Object paths of the watches now exported.
    std::vector<std::string> watchPaths() {
        auto tree = run({"busctl", "--address=" + bus->address(), "--list", "tree", "org.porteye.PortEye1"});
        std::vector<std::string> paths;
        std::istringstream lines(tree.out);
        for (std::string line; std::getline(lines, line);)
            if (line.rfind("/org/porteye/PortEye1/watch/", 0) == 0) paths.push_back(line);
        return paths;
    }
    std::vector<std::string> porteyectlAs(const std::string& user, std::vector<std::string> args) {
        std::vector<std::string> argv{porteyectlPath(), "--bus-address", bus->address()};
        argv.insert(argv.end(), args.begin(), args.end());
        return as(user, argv);
    }

    TempDir m_dir{0755};
    std::unique_ptr<PrivateBus> bus;
};

}  // namespace

TEST_F(DbusTrust, AnOrdinaryUserSeesOnlyItsOwnSocketsAndGroupPorteyeSeesEverything) {
    UserListener mine(kPlain);
    ASSERT_NE(mine.port(), 0) << "the user's listener did not start";
    PortHolder rootHolder;
    const auto rootPort = rootHolder.open();
    ASSERT_TRUE(eventually([&] { return hasPort(listPorts(), mine.port()) && hasPort(listPorts(), rootPort); }, 5s));

    const auto plain = listPorts(kPlain);
    EXPECT_TRUE(hasPort(plain, mine.port())) << plain.dump();
    EXPECT_FALSE(hasPort(plain, rootPort)) << "root's socket leaked to " << kPlain;
    for (const auto& r : plain)
        EXPECT_EQ(r[10], Users::uid(kPlain)) << r.dump();

    const auto member = listPorts(kMember);
    EXPECT_TRUE(hasPort(member, mine.port())) << "group porteye sees every user's sockets";
    EXPECT_TRUE(hasPort(member, rootPort)) << "group porteye sees root's sockets";

    auto statusOf = [&](const std::string& user) {
        auto r = callManager("GetStatus", {}, user);
        EXPECT_EQ(r.exitCode, 0) << r.err;
        return json::parse(r.out)["data"][0];
    };
    EXPECT_EQ(statusOf(kPlain)["host_wide"]["data"], false);
    EXPECT_EQ(statusOf(kPlain)["polls"]["data"], 0) << "host-wide counters are for privileged callers";
    EXPECT_EQ(statusOf(kMember)["host_wide"]["data"], true);
}

TEST_F(DbusTrust, ACallerIsWhoTheBusRecordedAtConnectionNotWhatProcSaysAtCallTime) {
    // Connect as root, then become an ordinary user before calling: /proc now says kPlain,
    // while the bus vouches for root. Reading /proc at call time (sd-bus augmented credentials)
    // is the race a process that execs or changes ids between send and check wins.
    const passwd* pw = getpwnam(kPlain);
    ASSERT_NE(pw, nullptr);
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;
    const std::string address = bus->address();
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        sd_bus* b = nullptr;
        if (sd_bus_new(&b) < 0 || sd_bus_set_address(b, address.c_str()) < 0 || sd_bus_set_bus_client(b, 1) < 0 ||
            sd_bus_start(b) < 0)
            _exit(20);
        if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(21);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message* reply = nullptr;
        if (sd_bus_call_method(b, "org.porteye.PortEye1", "/org/porteye/PortEye1", "org.porteye.PortEye1", "GetStatus",
                               &error, &reply, "") < 0)
            _exit(22);
        int hostWide = -1;
        if (sd_bus_message_enter_container(reply, 'a', "{sv}") < 0) _exit(23);
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
            const char* key = nullptr;
            sd_bus_message_read(reply, "s", &key);
            if (std::string(key) == "host_wide") {
                int value = 0;
                sd_bus_message_read(reply, "v", "b", &value);
                hostWide = value;
            } else {
                sd_bus_message_skip(reply, "v");
            }
            sd_bus_message_exit_container(reply);
        }
        _exit(hostWide == 1 ? 10 : hostWide == 0 ? 11 : 24);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 10) << "11: judged by /proc (the ordinary user it became), not by the bus";
}

TEST_F(DbusTrust, AnotherUserCannotReadOrEndAWatch) {
    UserListener mine(kPlain);
    ASSERT_NE(mine.port(), 0);
    Subprocess watch(porteyectlAs(kPlain, {"watch", std::to_string(mine.pid()), "--interval", "0.1"}));
    ASSERT_TRUE(watch.waitForOutput("Monitoring active ports", 10s)) << watch.err();
    std::vector<std::string> paths;
    ASSERT_TRUE(eventually([&] { return (paths = watchPaths()).size() == 1; }, 5s));
    const auto& path = paths[0];

    for (const std::string user : {"nobody"}) {
        auto info = busctl({"call", "org.porteye.PortEye1", path, "org.porteye.PortEye1.Watch", "GetInfo"}, user);
        EXPECT_NE(info.exitCode, 0);
        EXPECT_EQ(info.out.find(std::to_string(mine.pid())), std::string::npos) << info.out;
        auto property =
            busctl({"get-property", "org.porteye.PortEye1", path, "org.porteye.PortEye1.Watch", "Pid"}, user);
        EXPECT_NE(property.exitCode, 0) << "watch objects have no readable Pid: " << property.out;
        auto stop = busctl({"call", "org.porteye.PortEye1", path, "org.porteye.PortEye1.Watch", "Stop"}, user);
        EXPECT_NE(stop.exitCode, 0);
    }
    // gdbus prints the error name: the same as for a watch that does not exist.
    auto named = run({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "gdbus", "call", "--address",
                      bus->address(), "--dest", "org.porteye.PortEye1", "--object-path", path, "--method",
                      "org.porteye.PortEye1.Watch.GetInfo"});
    EXPECT_NE(named.err.find("org.porteye.PortEye1.Error.NoSuchWatch"), std::string::npos) << named.err;
    EXPECT_EQ(watchPaths().size(), 1u) << "a stranger's Stop must not end the watch";

    // Root (and the owner) may read it.
    auto info = busctl({"call", "org.porteye.PortEye1", path, "org.porteye.PortEye1.Watch", "GetInfo"});
    ASSERT_EQ(info.exitCode, 0) << info.err;
    EXPECT_EQ(json::parse(info.out)["data"][0]["pid"]["data"], mine.pid());
    EXPECT_EQ(watch.stop(SIGINT), 0);
}

TEST_F(DbusTrust, RootUnwatchingThroughTheSocketEndsTheDbusWatchAndTellsItsClient) {
    UserListener mine(kPlain);
    ASSERT_NE(mine.port(), 0);
    Subprocess watch(porteyectlAs(kPlain, {"watch", std::to_string(mine.pid()), "--interval", "0.1"}));
    ASSERT_TRUE(watch.waitForOutput("Monitoring active ports", 10s)) << watch.err();
    std::vector<std::string> paths;
    ASSERT_TRUE(eventually([&] { return (paths = watchPaths()).size() == 1; }, 5s));
    const auto id = std::stoull(paths[0].substr(std::string("/org/porteye/PortEye1/watch/").size()));

    RpcClient root(m_dir.path() + "/s.sock");
    ASSERT_TRUE(root.connected());
    const auto reply = root.call("unwatch", {{"watch", id}});
    EXPECT_EQ(errorCode(reply), 0) << reply.dump();

    EXPECT_TRUE(eventually([&] { return watchPaths().empty(); }, 5s)) << "the watch object stays exported";
    const auto status = watch.wait(5s);
    ASSERT_TRUE(status) << "the D-Bus client was not told its watch ended";
    EXPECT_EQ(*status, 1);
    EXPECT_NE(watch.err().find("unwatched"), std::string::npos) << watch.err();
}

TEST_F(DbusTrust, EveryEventCarriesTheInstanceIdOfTheDaemon) {
    auto instance =
        busctl({"get-property", "org.porteye.PortEye1", "/org/porteye/PortEye1", "org.porteye.PortEye1", "InstanceId"});
    ASSERT_EQ(instance.exitCode, 0) << instance.err;
    const auto id = json::parse(instance.out)["data"].get<std::string>();
    EXPECT_EQ(id.size(), 32u) << id;

    PortHolder holder;
    const auto port = std::to_string(holder.open());
    json events;
    ASSERT_TRUE(eventually(
        [&] {
            auto r = callManager("GetHistory", {"a{sv}", "1", "port", "q", port});
            events = r.exitCode == 0 ? json::parse(r.out)["data"][0] : json::array();
            return events.size() == 1;
        },
        5s));
    EXPECT_EQ(events[0][4], id) << events.dump();
    EXPECT_TRUE(events[0][3][12].is_object()) << "record details are an a{sv}: " << events.dump();
}

TEST(DbusPaging, ALongHistoryIsRefusedWithReplyTooLargeAndTheDaemonStaysOnTheBus) {
    PrivateBus bus(policyFilePath());
    DaemonProcess daemon(
        {"--bus-address", bus.address(), "--interval", "0.1", "--socket", "", "--max-reply-records", "2"});
    ASSERT_TRUE(daemon.ready()) << daemon.log();
    PortHolder holder;
    auto listed = [&](std::uint16_t port) {
        auto r = run({"busctl", "--address=" + bus.address(), "--json=short", "call", "org.porteye.PortEye1",
                      "/org/porteye/PortEye1", "org.porteye.PortEye1", "ListPorts", "a{sv}", "2", "port", "q",
                      std::to_string(port), "limit", "u", "1"});
        return r.exitCode == 0 && !json::parse(r.out)["data"][0].empty();
    };
    for (int i = 0; i < 2; ++i) {  // two opens and two closes, each seen by a poll
        const auto port = holder.open();
        ASSERT_TRUE(eventually([&] { return listed(port); }, 5s));
        holder.close();
        ASSERT_TRUE(eventually([&] { return !listed(port); }, 5s));
    }
    auto gdbus = [&](const std::string& method, const std::string& args) {
        std::vector<std::string> argv{"gdbus",         "call",
                                      "--address",     bus.address(),
                                      "--dest",        "org.porteye.PortEye1",
                                      "--object-path", "/org/porteye/PortEye1",
                                      "--method",      "org.porteye.PortEye1." + method};
        if (!args.empty()) argv.push_back(args);
        return run(argv);
    };
    const std::string pid = std::to_string(holder.pid());
    const std::string mine = "'pid': <uint32 " + pid + ">";
    RunResult all;
    ASSERT_TRUE(eventually(
        [&] {
            all = gdbus("GetHistory", "{" + mine + ", 'limit': <uint32 0>}");
            return all.err.find("org.porteye.PortEye1.Error.ReplyTooLarge") != std::string::npos;
        },
        5s))
        << all.out << all.err;
    EXPECT_NE(all.err.find("after_sequence"), std::string::npos) << "the error says how to page: " << all.err;

    // A page within the cap is answered: the newest two, oldest first.
    auto page = run({"busctl", "--address=" + bus.address(), "--json=short", "call", "org.porteye.PortEye1",
                     "/org/porteye/PortEye1", "org.porteye.PortEye1", "GetHistory", "a{sv}", "2", "pid", "u", pid,
                     "limit", "u", "2"});
    ASSERT_EQ(page.exitCode, 0) << page.err;
    const auto events = json::parse(page.out)["data"][0];
    ASSERT_EQ(events.size(), 2u) << events.dump();
    EXPECT_LT(events[0][0].get<std::uint64_t>(), events[1][0].get<std::uint64_t>());

    auto list = gdbus("ListPorts", "{'limit': <uint32 3>}");
    EXPECT_NE(list.err.find("org.porteye.PortEye1.Error.ReplyTooLarge"), std::string::npos) << list.err;
    EXPECT_EQ(gdbus("ListPorts", "{'limit': <uint32 1>, 'offset': <uint32 0>}").exitCode, 0);
    EXPECT_FALSE(daemon.process().wait(0ms)) << "porteyed must stay up";
    EXPECT_EQ(gdbus("GetStatus", "").exitCode, 0) << "and on the bus";
}

TEST(DbusProperties, IntrospectionSaysWhichPropertiesChangeAndSighupEmitsPropertiesChanged) {
    PrivateBus bus(policyFilePath());
    TempDir dir;
    const auto config = dir.path() + "/porteyed.conf";
    std::ofstream(config) << "interval = 0.5\n";
    DaemonProcess daemon({"--config", config, "--bus-address", bus.address(), "--socket", ""});
    ASSERT_TRUE(daemon.ready()) << daemon.log();

    auto introspect = run({"busctl", "--address=" + bus.address(), "introspect", "org.porteye.PortEye1",
                           "/org/porteye/PortEye1", "org.porteye.PortEye1"});
    ASSERT_EQ(introspect.exitCode, 0) << introspect.err;
    auto flagOf = [&](const std::string& property) {  // the line of the property, with its flags last
        std::istringstream lines(introspect.out);
        for (std::string line; std::getline(lines, line);)
            if (line.rfind("." + property + " ", 0) == 0) return line;
        return std::string();
    };
    EXPECT_NE(flagOf("Version").find("const"), std::string::npos) << introspect.out;
    EXPECT_NE(flagOf("InstanceId").find("const"), std::string::npos) << introspect.out;
    EXPECT_NE(flagOf("PollInterval").find("emits-change"), std::string::npos) << introspect.out;
    EXPECT_NE(flagOf("HistoryCapacity").find("emits-change"), std::string::npos) << introspect.out;
    EXPECT_EQ(introspect.out.find("SocketCount"), std::string::npos) << "per-caller counters are GetStatus'";

    // Only what the test looks at, not every PortAdded of the shared host.
    Subprocess monitor({"busctl", "--address=" + bus.address(), "--json=short", "monitor",
                        "--match=type='signal',member='PropertiesChanged'",
                        "--match=type='method_call',member='GetStatus'"});
    ASSERT_TRUE(busMonitorIsLive(monitor, bus.address())) << monitor.err();
    std::ofstream(config) << "interval = 0.25\n";
    kill(daemon.process().pid(), SIGHUP);
    EXPECT_TRUE(monitor.waitForLine(
        [](std::string_view line) {
            auto j = json::parse(line, nullptr, false);
            return !j.is_discarded() && j["member"] == "PropertiesChanged" &&
                   j["payload"]["data"][1]["PollInterval"]["data"] == 0.25;
        },
        5s))
        << monitor.out();
}
