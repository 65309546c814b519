// SPDX-License-Identifier: MIT
#include "Daemon.hpp"

#include "core/PortMonitor.hpp"
#include "control/ControlServer.hpp"
#include "dbus/BusConnection.hpp"
#include "dbus/DbusFrontend.hpp"
#include "dbus/DbusTypes.hpp"
#include "service/PortService.hpp"
#include "sys/DestroyListener.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/ProcProcessTable.hpp"

#include <grp.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

namespace porteye {
namespace {

constexpr std::size_t kMaxEventsLoggedPerPoll = 20;

std::uint64_t toMicros(double seconds) {
    return static_cast<std::uint64_t>(seconds * 1e6);
}

std::string describe(const core::PortEvent& e) {
    const auto& r = e.record;
    std::string owner = r.pid ? " pid " + std::to_string(r.pid) + " (" + r.process + ")" : " no owner";
    return std::string(core::actionName(e.action)) + " " + std::string(core::protocolName(r.protocol)) + " " +
           r.localAddress + ":" + std::to_string(r.localPort) + " -> " + r.remoteAddress + ":" +
           std::to_string(r.remotePort) + " " + std::string(core::stateName(r.state)) + owner + " #" +
           std::to_string(e.sequence);
}

void setupLogging(const std::string& level) {
    // Under systemd, the journal gets priorities and fields; elsewhere, stderr.
    std::shared_ptr<spdlog::logger> logger;
    if (std::getenv("JOURNAL_STREAM") != nullptr)
        logger =
            std::make_shared<spdlog::logger>("porteyed", std::make_shared<spdlog::sinks::systemd_sink_mt>("porteyed"));
    else
        logger = std::make_shared<spdlog::logger>("porteyed", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(level));
}

/// 128 random bits, new on every start, as systemd's invocation ids.
std::string newInstanceId() {
    sd_id128_t id{};
    if (sd_id128_randomize(&id) < 0) return std::to_string(::getpid()) + "-" + std::to_string(::time(nullptr));
    char text[SD_ID128_STRING_MAX];
    return sd_id128_to_string(id, text);
}

std::optional<std::uint32_t> privilegedGroup() {
    group gr{};
    group* found = nullptr;
    std::vector<char> buf(16384);
    if (getgrnam_r("porteye", &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) return std::nullopt;
    return gr.gr_gid;
}

/// Everything the loop's callbacks need; they get it as userdata.
class DaemonLoop {
public:
    DaemonLoop(std::vector<std::string> args, DaemonConfig config)
        : m_args(std::move(args)), m_config(std::move(config)) {}
    ~DaemonLoop();
    int run();

private:
    static int onStopSignal(sd_event_source*, const signalfd_siginfo*, void* self);
    static int onReloadSignal(sd_event_source*, const signalfd_siginfo*, void* self);
    static int onPollTimer(sd_event_source*, std::uint64_t, void* self);
    static int onWatchTimer(sd_event_source*, std::uint64_t, void* self);
    static int onBusPrepare(sd_event_source*, void* self);
    static int onBusIo(sd_event_source*, int, std::uint32_t, void* self);
    static int onBusTimer(sd_event_source*, std::uint64_t, void* self);
    static int onDestroyed(sd_event_source*, int, std::uint32_t, void* self);
    static int onWatchedProcessExit(sd_event_source*, int, std::uint32_t, void* userdata);

    bool setupBus(bool reconnecting = false);
    void dropBus();
    static int onReconnectTimer(sd_event_source*, std::uint64_t, void* self);
    void setupDestroyListener();
    void followWatchedProcess(service::WatchId id, int exitFd);
    void forgetWatchedProcess(service::WatchId id);
    bool setupControl();
    void pollOnce();
    void armWatchTimer();
    void processBus();
    void reload();
    void notifyStatus();
    void onEvents(const std::vector<core::PortEvent>& events);

    std::vector<std::string> m_args;
    DaemonConfig m_config;
    sd_event* m_event = nullptr;
    sd_event_source* m_pollTimer = nullptr;
    sd_event_source* m_watchTimer = nullptr;
    sd_event_source* m_busIo = nullptr;
    sd_event_source* m_busTimer = nullptr;
    sd_event_source* m_reconnectTimer = nullptr;
    sd_event_source* m_destroyIo = nullptr;

    std::unique_ptr<sys::NetlinkSocketSource> m_source;
    std::unique_ptr<sys::ProcProcessTable> m_processes;
    std::unique_ptr<sys::DestroyListener> m_destroyListener;
    std::vector<core::SocketRecord> m_destroyed;
    /// A pidfd per watched process: readable the moment it exits.
    struct ExitWatch {
        DaemonLoop* loop = nullptr;
        service::WatchId id = 0;
        int pidfd = -1;
        sd_event_source* source = nullptr;
    };
    std::map<service::WatchId, std::unique_ptr<ExitWatch>> m_exitWatches;
    core::SystemClock m_clock;
    std::unique_ptr<core::PortMonitor> m_monitor;
    std::unique_ptr<service::PortService> m_service;
    std::unique_ptr<sdbus::IConnection> m_bus;
    std::unique_ptr<dbus::DbusFrontend> m_dbus;
    std::unique_ptr<control::ControlServer> m_control;
    std::uint64_t m_lastLoggedFailures = 0;
    std::uint64_t m_lastStatusUsec = 0;
    int m_exitCode = 0;
};

DaemonLoop::~DaemonLoop() {
    // Front-ends go before the connection they use, sources before the loop.
    m_control.reset();
    m_dbus.reset();
    if (m_service) m_service->setWatchLifecycle({});
    while (!m_exitWatches.empty())
        forgetWatchedProcess(m_exitWatches.begin()->first);
    for (auto* source : {m_pollTimer, m_watchTimer, m_busIo, m_busTimer, m_reconnectTimer, m_destroyIo})
        if (source) sd_event_source_disable_unref(source);
    m_bus.reset();
    if (m_event) sd_event_unref(m_event);
}

int DaemonLoop::run() {
    setupLogging(m_config.logLevel);
    if (int r = sd_event_default(&m_event); r < 0) {
        spdlog::critical("cannot create the event loop: {}", std::strerror(-r));
        return 1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&mask, s);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    sd_event_add_signal(m_event, nullptr, SIGTERM, onStopSignal, this);
    sd_event_add_signal(m_event, nullptr, SIGINT, onStopSignal, this);
    sd_event_add_signal(m_event, nullptr, SIGHUP, onReloadSignal, this);

    try {
        m_source = std::make_unique<sys::NetlinkSocketSource>();
    } catch (const std::exception& e) {
        spdlog::critical("cannot open the netlink sock_diag socket: {}", e.what());
        return 1;
    }
    m_processes = std::make_unique<sys::ProcProcessTable>();
    core::MonitorOptions options;
    options.historyCapacity = m_config.historySize;
    m_monitor = std::make_unique<core::PortMonitor>(*m_source, *m_processes, m_clock, options);
    service::ServiceOptions serviceOptions;
    serviceOptions.version = PORTEYE_VERSION;
    serviceOptions.instanceId = newInstanceId();
    serviceOptions.pollIntervalSeconds = m_config.intervalSeconds;
    serviceOptions.privilegedGid = privilegedGroup();
    serviceOptions.maxReplyRecords = m_config.maxReplyRecords;
    m_service = std::make_unique<service::PortService>(*m_monitor, *m_source, serviceOptions);
    m_monitor->addListener([this](const std::vector<core::PortEvent>& events) { onEvents(events); });
    m_service->setWatchLifecycle({[this](service::WatchId id, int exitFd) { followWatchedProcess(id, exitFd); },
                                  [this](service::WatchId id) { forgetWatchedProcess(id); }});

    // The first snapshot is the baseline; READY=1 promises clients a populated table.
    pollOnce();

    if (!m_config.noBus && !setupBus()) return m_exitCode;
    if (!setupControl()) return m_exitCode;

    std::uint64_t now = 0;
    sd_event_now(m_event, CLOCK_MONOTONIC, &now);
    sd_event_add_time(m_event, &m_pollTimer, CLOCK_MONOTONIC, now + toMicros(m_config.intervalSeconds), 0, onPollTimer,
                      this);
    sd_event_add_time(m_event, &m_watchTimer, CLOCK_MONOTONIC, UINT64_MAX, 0, onWatchTimer, this);
    sd_event_source_set_enabled(m_watchTimer, SD_EVENT_OFF);
    setupDestroyListener();
    sd_event_set_watchdog(m_event, 1);  // sends WATCHDOG=1 itself when WATCHDOG_USEC is set

    spdlog::info("porteyed {} ready: {} sockets, polling every {}s{}", PORTEYE_VERSION, m_monitor->snapshot().size(),
                 m_config.intervalSeconds, m_config.noBus ? ", no D-Bus" : ", serving " + std::string(dbus::kBusName));
    sd_notify(0, "READY=1");
    notifyStatus();

    const int r = sd_event_loop(m_event);
    sd_notify(0, "STOPPING=1");
    if (r < 0) {
        spdlog::error("event loop failed: {}", std::strerror(-r));
        return 1;
    }
    spdlog::info("porteyed stopped");
    return m_exitCode != 0 ? m_exitCode : r;
}

bool DaemonLoop::setupBus(bool reconnecting) {
    try {
        dbus::BusSpec spec;
        spec.kind = dbus::parseBusKind(m_config.bus);
        spec.address = m_config.busAddress;
        m_bus = dbus::openBus(spec);
        m_dbus = std::make_unique<dbus::DbusFrontend>(*m_bus, *m_service, [this] { armWatchTimer(); });
        m_bus->requestName(dbus::kBusName);
    } catch (const sdbus::Error& e) {
        m_dbus.reset();
        m_bus.reset();
        if (reconnecting) {
            spdlog::debug("reconnecting to D-Bus failed: {}", e.getMessage());
            return false;
        }
        if (e.getName() == "org.freedesktop.DBus.Error.FileExists")
            spdlog::critical("porteyed is already running: {} is owned on this bus", dbus::kBusName);
        else
            spdlog::critical("cannot serve {} on the {} bus: {} ({})", dbus::kBusName,
                             m_config.busAddress.empty() ? m_config.bus : m_config.busAddress, e.getMessage(),
                             e.getName());
        m_exitCode = 1;
        return false;
    }
    const auto poll = m_bus->getEventLoopPollData();
    sd_event_add_io(m_event, &m_busIo, poll.fd, static_cast<std::uint32_t>(poll.events), onBusIo, this);
    sd_event_source_set_prepare(m_busIo, onBusPrepare);
    sd_event_add_time(m_event, &m_busTimer, CLOCK_MONOTONIC, UINT64_MAX, 0, onBusTimer, this);
    sd_event_source_set_enabled(m_busTimer, SD_EVENT_OFF);
    return true;
}

bool DaemonLoop::setupControl() {
    control::ControlOptions options;
    options.path = m_config.socketPath;
    // A socket passed by systemd (porteyed.socket) takes precedence over --socket.
    const int passed = sd_listen_fds(1);
    if (passed > 1) spdlog::warn("systemd passed {} sockets; serving the first as the control socket", passed);
    if (passed >= 1)
        options.listenFd = SD_LISTEN_FDS_START;
    else if (m_config.socketPath.empty())
        return true;
    try {
        m_control = std::make_unique<control::ControlServer>(m_event, *m_service, options, [this] { armWatchTimer(); });
        m_control->start();
    } catch (const std::exception& e) {
        spdlog::critical("cannot serve the control socket: {}", e.what());
        m_control.reset();
        m_exitCode = 1;
        return false;
    }
    return true;
}

void DaemonLoop::setupDestroyListener() {
    // Closed sockets are announced by the kernel at once; without this they
    // show up at the next poll, which is still correct, just later.
    try {
        m_destroyListener = std::make_unique<sys::DestroyListener>();
    } catch (const std::exception& e) {
        spdlog::warn("no sock_diag destroy notifications ({}); closes are reported at the next poll", e.what());
        return;
    }
    sd_event_add_io(m_event, &m_destroyIo, m_destroyListener->fd(), EPOLLIN, onDestroyed, this);
}

int DaemonLoop::onDestroyed(sd_event_source*, int, std::uint32_t, void* self) {
    auto* loop = static_cast<DaemonLoop*>(self);
    loop->m_destroyed.clear();
    const auto result = loop->m_destroyListener->drain(loop->m_destroyed);
    try {
        loop->m_monitor->applyDestroyed(loop->m_destroyed);
        // The kernel dropped notifications: only a full dump can tell what closed.
        if (result.overrun) loop->pollOnce();
    } catch (const std::exception& e) {
        spdlog::error("handling destroyed sockets failed: {}", e.what());
    }
    if (result.error != 0 && !result.overrun) spdlog::debug("destroy listener: {}", result.message);
    return 0;
}

void DaemonLoop::followWatchedProcess(service::WatchId id, int exitFd) {
    // The service owns the pidfd. Without one (old kernel, seccomp) the exit is still
    // seen at the watch's next step.
    if (exitFd < 0) return;
    auto watch = std::make_unique<ExitWatch>();
    watch->loop = this;
    watch->id = id;
    watch->pidfd = exitFd;
    if (sd_event_add_io(m_event, &watch->source, exitFd, EPOLLIN, onWatchedProcessExit, watch.get()) < 0) return;
    m_exitWatches[id] = std::move(watch);
}

void DaemonLoop::forgetWatchedProcess(service::WatchId id) {
    auto it = m_exitWatches.find(id);
    if (it == m_exitWatches.end()) return;
    sd_event_source_disable_unref(it->second->source);
    m_exitWatches.erase(it);
}

int DaemonLoop::onWatchedProcessExit(sd_event_source* source, int, std::uint32_t, void* userdata) {
    auto* watch = static_cast<ExitWatch*>(userdata);
    DaemonLoop* loop = watch->loop;
    const auto id = watch->id;
    // Stepping the watch reports the closed ports and the exit, and removes the
    // watch, which frees `watch` (and this source) through forgetWatchedProcess.
    sd_event_source_set_enabled(source, SD_EVENT_OFF);
    try {
        loop->m_service->stepWatch(id);
    } catch (const std::exception& e) {
        spdlog::error("watch {} step failed: {}", id, e.what());
    }
    if (loop->m_dbus) loop->m_dbus->collectGarbage();
    loop->armWatchTimer();
    return 0;
}

void DaemonLoop::pollOnce() {
    const auto result = m_service->pollHost();
    const auto& stats = m_monitor->stats();
    if (!result.ok && stats.failedPolls >= m_lastLoggedFailures * 2) {
        // Log the 1st, 2nd, 4th, 8th... consecutive-ish failure so a broken netlink does not flood the journal.
        spdlog::warn("poll failed ({} so far): {}", stats.failedPolls, result.error);
        m_lastLoggedFailures = std::max<std::uint64_t>(1, stats.failedPolls);
    }
    spdlog::debug("poll: {} sockets, +{} -{}, {} µs", result.sockets, result.added, result.removed,
                  result.duration.count());
}

void DaemonLoop::onEvents(const std::vector<core::PortEvent>& events) {
    std::size_t logged = 0;
    for (const auto& e : events) {
        if (logged++ == kMaxEventsLoggedPerPoll) {
            spdlog::info("... and {} more changes", events.size() - kMaxEventsLoggedPerPoll);
            break;
        }
        spdlog::info("{}", describe(e));
    }
    if (m_dbus) m_dbus->emitEvents(events);
    if (m_control) m_control->publishEvents(events);
}

void DaemonLoop::notifyStatus() {
    // At most one STATUS= a second: a busy host changes constantly, and every
    // datagram wakes systemd.
    std::uint64_t now = 0;
    sd_event_now(m_event, CLOCK_MONOTONIC, &now);
    if (m_lastStatusUsec != 0 && now - m_lastStatusUsec < 1'000'000) return;
    m_lastStatusUsec = now;
    const auto s = m_service->hostStatus();
    sd_notifyf(0, "STATUS=%zu sockets, %zu events in history, %zu watches", s.sockets, s.historySize, s.watches);
}

void DaemonLoop::armWatchTimer() {
    if (!m_watchTimer) return;
    const auto next = m_service->nextWatchDue();
    if (!next) {
        sd_event_source_set_enabled(m_watchTimer, SD_EVENT_OFF);
        return;
    }
    // steady_clock is CLOCK_MONOTONIC on Linux, the clock of this timer.
    const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(next->time_since_epoch()).count();
    sd_event_source_set_time(m_watchTimer, static_cast<std::uint64_t>(std::max<std::int64_t>(usec, 1)));
    sd_event_source_set_enabled(m_watchTimer, SD_EVENT_ONESHOT);
}

void DaemonLoop::processBus() {
    try {
        while (m_bus->processPendingRequest()) {
        }
    } catch (const std::exception& e) {
        // The bus went away (a restart of dbus-daemon, say). Keep monitoring and
        // keep the history; the control socket keeps serving; reconnect in the background.
        spdlog::error("lost the D-Bus connection ({}); reconnecting every second", e.what());
        dropBus();
        return;
    }
    m_dbus->collectGarbage();
}

void DaemonLoop::dropBus() {
    m_dbus.reset();  // ends the watches of D-Bus clients: they were on the old bus
    for (auto** source : {&m_busIo, &m_busTimer}) {
        if (*source) sd_event_source_disable_unref(*source);
        *source = nullptr;
    }
    m_bus.reset();
    std::uint64_t now = 0;
    sd_event_now(m_event, CLOCK_MONOTONIC, &now);
    if (!m_reconnectTimer)
        sd_event_add_time(m_event, &m_reconnectTimer, CLOCK_MONOTONIC, now + 1'000'000, 0, onReconnectTimer, this);
    sd_event_source_set_time(m_reconnectTimer, now + 1'000'000);
    sd_event_source_set_enabled(m_reconnectTimer, SD_EVENT_ONESHOT);
}

int DaemonLoop::onReconnectTimer(sd_event_source* source, std::uint64_t usec, void* self) {
    auto* loop = static_cast<DaemonLoop*>(self);
    if (loop->setupBus(/*reconnecting=*/true)) {
        spdlog::info("reconnected to D-Bus: serving {} again", dbus::kBusName);
        return 0;
    }
    sd_event_source_set_time(source, usec + 1'000'000);
    sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
    return 0;
}

void DaemonLoop::reload() {
    sd_notify(0, "RELOADING=1");
    auto parsed = parseDaemonConfig(m_args);
    if (!parsed.config) {
        spdlog::error("reload: configuration is invalid; keeping the running one");
    } else {
        const auto& next = *parsed.config;
        if (next.intervalSeconds != m_config.intervalSeconds) {
            spdlog::info("reload: poll interval {}s -> {}s", m_config.intervalSeconds, next.intervalSeconds);
            m_config.intervalSeconds = next.intervalSeconds;
            m_service->setPollInterval(next.intervalSeconds);
            std::uint64_t now = 0;
            sd_event_now(m_event, CLOCK_MONOTONIC, &now);
            sd_event_source_set_time(m_pollTimer, now + toMicros(next.intervalSeconds));
        }
        if (next.historySize != m_config.historySize) {
            spdlog::info("reload: history capacity {} -> {}", m_config.historySize, next.historySize);
            m_config.historySize = next.historySize;
            m_service->setHistoryCapacity(next.historySize);
        }
        if (next.logLevel != m_config.logLevel) {
            spdlog::info("reload: log level {} -> {}", m_config.logLevel, next.logLevel);
            m_config.logLevel = next.logLevel;
            spdlog::set_level(spdlog::level::from_str(next.logLevel));
        }
        if (next.bus != m_config.bus || next.busAddress != m_config.busAddress ||
            next.socketPath != m_config.socketPath)
            spdlog::warn("reload: bus and socket settings change only on restart");
        if (m_dbus) m_dbus->settingsChanged();
    }
    sd_notify(0, "READY=1");
}

int DaemonLoop::onStopSignal(sd_event_source* source, const signalfd_siginfo* info, void*) {
    spdlog::info("received {}, stopping", strsignal(static_cast<int>(info->ssi_signo)));
    return sd_event_exit(sd_event_source_get_event(source), 0);
}

int DaemonLoop::onReloadSignal(sd_event_source*, const signalfd_siginfo*, void* self) {
    static_cast<DaemonLoop*>(self)->reload();
    return 0;
}

int DaemonLoop::onPollTimer(sd_event_source* source, std::uint64_t usec, void* self) {
    auto* loop = static_cast<DaemonLoop*>(self);
    try {
        loop->pollOnce();
        loop->notifyStatus();
    } catch (const std::exception& e) {
        spdlog::error("poll failed: {}", e.what());
    }
    std::uint64_t now = 0;
    sd_event_now(loop->m_event, CLOCK_MONOTONIC, &now);
    // Keep the cadence, but never try to catch up on missed ticks.
    std::uint64_t next = usec + toMicros(loop->m_config.intervalSeconds);
    if (next <= now) next = now + toMicros(loop->m_config.intervalSeconds);
    sd_event_source_set_time(source, next);
    sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
    return 0;
}

int DaemonLoop::onWatchTimer(sd_event_source*, std::uint64_t, void* self) {
    auto* loop = static_cast<DaemonLoop*>(self);
    try {
        loop->m_service->runDueWatches(service::PortService::Clock::now());
    } catch (const std::exception& e) {
        spdlog::error("watch step failed: {}", e.what());
    }
    if (loop->m_dbus) loop->m_dbus->collectGarbage();
    loop->armWatchTimer();
    return 0;
}

int DaemonLoop::onBusPrepare(sd_event_source*, void* self) {
    auto* loop = static_cast<DaemonLoop*>(self);
    const auto poll = loop->m_bus->getEventLoopPollData();
    sd_event_source_set_io_events(loop->m_busIo, static_cast<std::uint32_t>(poll.events));
    if (poll.timeout_usec == UINT64_MAX) {
        sd_event_source_set_enabled(loop->m_busTimer, SD_EVENT_OFF);
    } else {
        sd_event_source_set_time(loop->m_busTimer, poll.timeout_usec);
        sd_event_source_set_enabled(loop->m_busTimer, SD_EVENT_ONESHOT);
    }
    return 0;
}

int DaemonLoop::onBusIo(sd_event_source*, int, std::uint32_t, void* self) {
    static_cast<DaemonLoop*>(self)->processBus();
    return 0;
}

int DaemonLoop::onBusTimer(sd_event_source*, std::uint64_t, void* self) {
    static_cast<DaemonLoop*>(self)->processBus();
    return 0;
}

}  // namespace

int runDaemon(const std::vector<std::string>& args, const DaemonConfig& config) {
    DaemonLoop loop(args, config);
    return loop.run();
}

}  // namespace porteye
