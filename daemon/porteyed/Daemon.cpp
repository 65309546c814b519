// SPDX-License-Identifier: MIT
#include "Daemon.hpp"

#include "ConfigReload.hpp"

#include "core/PortMonitor.hpp"
#include "control/ControlServer.hpp"
#include "wire/BusConnection.hpp"
#include "bus/DbusFrontend.hpp"
#include "wire/DbusTypes.hpp"
#include "flow/EventDebugLog.hpp"
#include "flow/EventFanout.hpp"
#include "flow/MonitorInlet.hpp"
#include "journal/JournalEventLog.hpp"
#include "journal/JournalSink.hpp"
#include "loop/DestroyPump.hpp"
#include "loop/BusEventBridge.hpp"
#include "loop/ProcessExitWatcher.hpp"
#include "loop/Timer.hpp"
#include "metrics/MetricsExporter.hpp"
#include "service/PortService.hpp"
#include "store/SqliteEventStore.hpp"
#include "loop/KernelEventPump.hpp"
#include "loop/NamespaceFollower.hpp"
#include "sys/BpfSocketEvents.hpp"
#include "sys/DestroyListener.hpp"
#include "sys/NamespacedSocketSource.hpp"
#include "sys/NetnsOpener.hpp"
#include "sys/ExpectedDir.hpp"
#include "sys/NetlinkSocketSource.hpp"
#include "sys/ProcProcessTable.hpp"
#include "sys/ProcessView.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>

namespace porteye {
namespace {

std::uint64_t toMicros(double seconds) {
    return static_cast<std::uint64_t>(seconds * 1e6);
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

/// The composition root: builds the real sources, the service and its front-ends,
/// and wires them to one sd-event loop. The loop's parts are units of their own
/// (loop/): timers with explicit accuracy, the sd-bus bridge, the exit watcher.
class DaemonLoop {
public:
    DaemonLoop(std::vector<std::string> args, DaemonConfig config)
        : m_args(std::move(args)), m_config(std::move(config)) {}
    ~DaemonLoop();
    int run();

private:
    static int onStopSignal(sd_event_source*, const signalfd_siginfo*, void* self);
    static int onReloadSignal(sd_event_source*, const signalfd_siginfo*, void* self);

    bool setupBus(bool reconnecting = false);
    void onBusLost(const std::string& why);
    void onReconnectTimer();
    void setupDestroyListener();
    void followWatchedProcess(service::WatchId id, int exitFd);
    void forgetWatchedProcess(service::WatchId id);
    void onWatchedProcessExit(service::WatchId id);
    bool setupControl();
    bool setupMetrics();
    std::uint64_t openStore();
    void pollOnce();
    /// Every part of every namespace, all states: what a resync dumps.
    std::vector<core::DumpRequest> fullPlan();
    /// Registers a front-end with the fan-out, or takes it off before it goes.
    void plug(flow::IEventSink* sink);
    void unplug(flow::IEventSink* sink);
    /// Attaches the kernel event source (before the first dump, so nothing falls between).
    void openEventSource();
    /// How other network namespaces are entered, per the config; null: the own one only.
    std::unique_ptr<sys::INetnsOpener> openNamespaces();
    void onPollTimer(std::uint64_t usec);
    void onWatchTimer();
    void armWatchTimer();
    void reload();
    /// How often connections are dumped, from the interval, the reconcile interval and whether
    /// kernel events report opens and closes; recomputed on every reload that changes one of them.
    core::PollPlanOptions planOptions() const;
    void logConfigWarnings() const;
    void notifyStatus();
    void loadExpected();
    std::uint64_t pollIntervalUsec() const { return toMicros(m_config.intervalSeconds); }

    std::vector<std::string> m_args;
    DaemonConfig m_config;
    sd_event* m_event = nullptr;
    std::unique_ptr<loop::Timer> m_pollTimer;
    std::unique_ptr<loop::Timer> m_watchTimer;
    std::unique_ptr<loop::Timer> m_reconnectTimer;

    std::unique_ptr<sys::NamespacedSocketSource> m_source;
    std::unique_ptr<loop::NamespaceFollower> m_namespaces;
    std::string m_namespacesWhy;  // why only the own namespace is followed
    std::unique_ptr<sys::BpfSocketEvents> m_kernelEvents;
    std::unique_ptr<loop::KernelEventPump> m_eventPump;
    bool m_eventsOn = false;  // a kernel event source reports opens and closes
    std::string m_eventSourceStatus = "polling";
    std::unique_ptr<sys::ProcProcessTable> m_processes;
    std::unique_ptr<sys::DestroyListener> m_destroyListener;
    std::unique_ptr<loop::DestroyPump> m_destroyPump;
    std::unique_ptr<loop::ProcessExitWatcher> m_exitWatcher;
    core::SystemClock m_clock;
    std::unique_ptr<store::SqliteEventStore> m_store;  // outlives the service that reads it
    std::string m_storeStatus = "disabled";            // when m_store is null
    std::unique_ptr<core::PortMonitor> m_monitor;
    std::unique_ptr<flow::MonitorInlet> m_inlet;  // the one door in
    flow::EventFanout m_fanout;                   // the one door out
    flow::EventDebugLog m_debugLog;
    std::unique_ptr<service::PortService> m_service;
    std::unique_ptr<sdbus::IConnection> m_bus;
    std::unique_ptr<loop::BusEventBridge> m_busBridge;
    std::unique_ptr<dbus::DbusFrontend> m_dbus;
    std::unique_ptr<control::ControlServer> m_control;
    std::unique_ptr<journal::JournalEventLog> m_journal;
    std::unique_ptr<journal::JournalSink> m_journalSink;
    std::unique_ptr<metrics::MetricsExporter> m_metrics;  // reads the service, the control server, the journal log
    std::uint64_t m_lastLoggedFailures = 0;
    std::uint64_t m_lastStatusUsec = 0;
    int m_exitCode = 0;
};

DaemonLoop::~DaemonLoop() {
    // Front-ends go before the connection they use, sources before the loop.
    unplug(m_metrics.get());
    m_metrics.reset();
    unplug(m_control.get());
    m_control.reset();
    unplug(m_dbus.get());
    m_dbus.reset();
    if (m_service) m_service->setWatchLifecycle({});
    m_exitWatcher.reset();  // before the service closes the pidfds it polls
    m_busBridge.reset();
    m_bus.reset();
    m_pollTimer.reset();
    m_watchTimer.reset();
    m_reconnectTimer.reset();
    m_eventPump.reset();
    m_namespaces.reset();  // before the monitor it observes
    m_destroyPump.reset();
    if (m_event) sd_event_unref(m_event);
}

int DaemonLoop::run() {
    setupLogging(m_config.logLevel);
    logConfigWarnings();
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
        m_source = std::make_unique<sys::NamespacedSocketSource>(sys::ownNetworkNamespace(), openNamespaces());
    } catch (const std::exception& e) {
        spdlog::critical("cannot open the netlink sock_diag socket: {}", e.what());
        return 1;
    }
    m_processes = std::make_unique<sys::ProcProcessTable>();
    openEventSource();
    core::MonitorOptions options;
    options.historyCapacity = m_config.historyCapacity;
    options.firstSequence = openStore();  // sequence numbers continue after the stored ones
    m_monitor = std::make_unique<core::PortMonitor>(*m_source, *m_processes, m_clock, options);
    m_inlet = std::make_unique<flow::MonitorInlet>(*m_monitor);
    m_inlet->setFullPlan([this] { return fullPlan(); });
    m_inlet->setDestroyCounter([this](std::size_t records, bool overrun) {
        if (m_metrics) m_metrics->countDestroyed(records, overrun);
    });
    service::ServiceOptions serviceOptions;
    serviceOptions.version = PORTEYE_VERSION;
    serviceOptions.instanceId = newInstanceId();
    serviceOptions.pollIntervalSeconds = m_config.intervalSeconds;
    serviceOptions.privilegedGid = privilegedGroup();
    serviceOptions.maxReplyRecords = m_config.maxReplyRecords;
    const auto view = sys::probeProcessView();  // the seed's permission check: say once what we see
    if (view.all)
        spdlog::info("porteyed sees all processes: {}", view.why);
    else
        spdlog::warn("porteyed sees only its own user's processes (uid {}): {}", ::getuid(), view.why);
    serviceOptions.view = view.name;
    m_service = std::make_unique<service::PortService>(*m_monitor, *m_source, serviceOptions);
    m_service->setEventStore(m_store.get(), m_storeStatus);
    m_service->setStatusSources([this](service::ServiceStatus& s) {
        s.eventSource = m_eventSourceStatus;
        if (s.hostWide) s.resyncs = m_inlet->resyncs();
        if (s.hostWide && m_eventPump) s.eventSourceLost = m_eventPump->lostEvents();
        const auto ns = m_namespaces->status();
        if (!ns.enabled) {
            s.networkNamespaces = "own only: " + m_namespacesWhy;
        } else if (s.hostWide) {
            s.networkNamespaces = "all (" + ns.how + ", " + std::to_string(ns.followed) + " others followed" +
                                  (ns.failed ? ", " + std::to_string(ns.failed) + " could not be entered" : "");
            for (const auto& [uid, count] : ns.limited)
                s.networkNamespaces +=
                    ", " + std::to_string(count) + " namespaces of uid " + std::to_string(uid) + " not followed: limit";
            s.networkNamespaces += ")";
        } else {
            s.networkNamespaces = "all";
        }
    });
    // Every batch leaves through the fan-out: the store first (a client told of an event finds it
    // in the history), then the journal and the debug log; the front-ends plug in as they start.
    m_monitor->addListener([this](const std::vector<core::PortEvent>& events) { m_fanout.publish(events); });
    m_fanout.setAlertCheck(
        [this](const std::vector<core::PortEvent>& events) { return m_service->checkExpected(events); });
    // The service counted every alert already; the journal's per-uid limit decides which are told.
    m_fanout.setAlertFilter([this](const std::vector<core::UnexpectedListener>& alerts) {
        return m_journal ? m_journal->admitAlerts(alerts, m_pollTimer->now()) : alerts;
    });
    plug(m_store.get());
    m_eventsOn = m_kernelEvents && m_kernelEvents->stage() != core::EventSourceStage::Polling;
    if (m_eventsOn) m_monitor->setKernelEventsActive(true);
    const core::PollPlanOptions plan = planOptions();
    m_namespaces = std::make_unique<loop::NamespaceFollower>(
        m_event, *m_source, *m_monitor, *m_inlet, *m_processes, plan, "/run/netns",
        loop::NamespaceLimits{core::limits::kMaxFollowedNamespaces, m_config.maxNamespacesPerUid});
    m_monitor->setNamespaceNamer([this](std::uint64_t netns) {
        return netns == m_source->ownNetns() ? std::string{} : m_namespaces->tracker().nameOf(netns);
    });
    if (m_eventsOn) {
        m_eventPump = std::make_unique<loop::KernelEventPump>(m_event, *m_kernelEvents, *m_inlet);
        m_service->setFreshener([this] { m_eventPump->drain(); });
    }
    m_journal = std::make_unique<journal::JournalEventLog>(
        journal::parseJournalEvents(m_config.journalEvents).value_or(journal::JournalEvents::Listeners));
    try {
        m_pollTimer = std::make_unique<loop::Timer>(m_event, [this](std::uint64_t usec) { onPollTimer(usec); });
        m_watchTimer = std::make_unique<loop::Timer>(m_event, [this](std::uint64_t) { onWatchTimer(); });
        m_reconnectTimer = std::make_unique<loop::Timer>(m_event, [this](std::uint64_t) { onReconnectTimer(); });
    } catch (const std::exception& e) {
        spdlog::critical("cannot create the loop's timers: {}", e.what());
        return 1;
    }
    m_journalSink = std::make_unique<journal::JournalSink>(*m_journal, [this] { return m_pollTimer->now(); });
    plug(m_journalSink.get());
    plug(&m_debugLog);
    m_exitWatcher =
        std::make_unique<loop::ProcessExitWatcher>(m_event, [this](service::WatchId id) { onWatchedProcessExit(id); });
    m_service->setWatchLifecycle({[this](service::WatchId id, int exitFd) { followWatchedProcess(id, exitFd); },
                                  [this](service::WatchId id) { forgetWatchedProcess(id); }});

    // The first snapshot is the baseline; READY=1 promises clients a populated table.
    pollOnce();

    if (!m_config.noBus && !setupBus()) return m_exitCode;
    if (!setupControl()) return m_exitCode;
    loadExpected();  // after the front-ends: listeners already open are reported once, flagged present
    if (!setupMetrics()) return m_exitCode;

    m_pollTimer->armIn(pollIntervalUsec());
    setupDestroyListener();
    sd_event_set_watchdog(m_event, 1);  // sends WATCHDOG=1 itself when WATCHDOG_USEC is set

    spdlog::info("porteyed {} ready: {} sockets, polling every {}s{}", PORTEYE_VERSION, m_monitor->snapshot().size(),
                 m_config.intervalSeconds, m_config.noBus ? ", no D-Bus" : ", serving " + std::string(dbus::kBusName));
    sd_notify(0, "READY=1");
    notifyStatus();

    const int r = sd_event_loop(m_event);
    sd_notify(0, "STOPPING=1");
    // Every event a client was told about is on disk before porteyed exits.
    if (m_store) m_store->close();
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
        plug(m_dbus.get());
        m_busBridge = std::make_unique<loop::BusEventBridge>(
            m_event, *m_bus,
            loop::BusEventBridge::Callbacks{[this] {
                                                if (m_dbus) m_dbus->collectGarbage();
                                            },
                                            [this](const std::string& why) { onBusLost(why); }});
        return true;
    } catch (const std::system_error& e) {
        spdlog::critical("cannot attach D-Bus to the event loop: {}", e.what());
        m_exitCode = 1;
    } catch (const sdbus::Error& e) {
        if (reconnecting) {
            spdlog::debug("reconnecting to D-Bus failed: {}", e.getMessage());
        } else {
            if (e.getName() == "org.freedesktop.DBus.Error.FileExists")
                spdlog::critical("porteyed is already running: {} is owned on this bus", dbus::kBusName);
            else
                spdlog::critical("cannot serve {} on the {} bus: {} ({})", dbus::kBusName,
                                 m_config.busAddress.empty() ? m_config.bus : m_config.busAddress, e.getMessage(),
                                 e.getName());
            m_exitCode = 1;
        }
    }
    m_busBridge.reset();
    m_dbus.reset();
    m_bus.reset();
    return false;
}

void DaemonLoop::onBusLost(const std::string& why) {
    // The bus went away (a restart of dbus-daemon, say). Keep monitoring and keep the
    // history; the control socket keeps serving; reconnect in the background.
    spdlog::error("lost the D-Bus connection ({}); reconnecting every second", why);
    unplug(m_dbus.get());
    m_dbus.reset();  // ends the watches of D-Bus clients: they were on the old bus
    // The bridge is running this callback: it and its connection go on the reconnect timer.
    m_reconnectTimer->armIn(1'000'000);
}

void DaemonLoop::onReconnectTimer() {
    m_busBridge.reset();
    m_bus.reset();
    if (setupBus(/*reconnecting=*/true)) {
        spdlog::info("reconnected to D-Bus: serving {} again", dbus::kBusName);
        return;
    }
    m_reconnectTimer->armIn(1'000'000);
}

std::uint64_t DaemonLoop::openStore() {
    if (m_config.stateDir.empty()) {
        spdlog::info("no state directory: the history is kept in memory only");
        return 1;
    }
    store::StoreOptions options;
    options.directory = m_config.stateDir;
    options.keepEvents = m_config.historyKeepEvents;
    options.keepDays = m_config.historyKeepDays;
    auto opened = store::SqliteEventStore::open(options);
    if (!opened.store) {
        // Not fatal: porteyed serves from the in-memory ring, and status says why.
        spdlog::error("history store unavailable: {}; the history is kept in memory only", opened.error);
        m_storeStatus = "failed: " + opened.error;
        return 1;
    }
    m_store = std::move(opened.store);
    spdlog::info("history store {}: continuing after event #{}", m_store->path(), m_store->lastSequence());
    return m_store->lastSequence() + 1;
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
        plug(m_control.get());
    } catch (const std::exception& e) {
        spdlog::critical("cannot serve the control socket: {}", e.what());
        m_control.reset();
        m_exitCode = 1;
        return false;
    }
    return true;
}

bool DaemonLoop::setupMetrics() {
    if (m_config.metricsListen.empty()) return true;
    metrics::MetricsServerOptions options;
    options.listen = m_config.metricsListen;
    metrics::MetricsSources sources{PORTEYE_VERSION, [this] { return m_control ? m_control->clientCount() : 0; },
                                    m_journal.get(), m_config.metricsMaxListenerSeries};
    try {
        m_metrics = std::make_unique<metrics::MetricsExporter>(m_event, options, *m_service, std::move(sources));
        m_metrics->start();
        plug(m_metrics.get());
    } catch (const std::exception& e) {
        spdlog::critical("cannot serve metrics on {}: {}", m_config.metricsListen, e.what());
        m_metrics.reset();
        m_exitCode = 1;
        return false;
    }
    spdlog::info("serving Prometheus metrics on {} (/metrics): every user's listeners, to whoever can connect",
                 m_metrics->boundAddress());
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
    m_destroyPump = std::make_unique<loop::DestroyPump>(m_event, *m_destroyListener, *m_inlet);
}

void DaemonLoop::followWatchedProcess(service::WatchId id, int exitFd) {
    // The service owns the pidfd and closes it after removed(). Without one (old
    // kernel, seccomp) the exit is still seen at the watch's next step.
    if (exitFd >= 0) m_exitWatcher->add(id, exitFd);
}

void DaemonLoop::forgetWatchedProcess(service::WatchId id) {
    m_exitWatcher->remove(id);
}

void DaemonLoop::onWatchedProcessExit(service::WatchId id) {
    // Stepping the watch reports the closed ports and the exit, and removes the
    // watch, which ends the exit watch through forgetWatchedProcess.
    try {
        m_service->stepWatch(id);
    } catch (const std::exception& e) {
        spdlog::error("watch {} step failed: {}", id, e.what());
    }
    if (m_dbus) m_dbus->collectGarbage();
    armWatchTimer();
}

void DaemonLoop::openEventSource() {
    sys::EventSourceOptions options;
    options.mode = core::parseEventSourceMode(m_config.eventSource).value_or(core::EventSourceMode::Auto);
    // Events of namespaces porteyed does not follow would add sockets no dump ever reconciles.
    if (!m_source->canEnterNamespaces()) options.netns = m_source->ownNetns();
    if (m_config.eventRingBytes != 0) {
        // Testing: a ring that wakes nobody until it is full, drained by the timer alone, loses a burst.
        options.ringBytes = m_config.eventRingBytes;
        options.wakeupBytes = m_config.eventRingBytes;
    }
    auto opened = sys::BpfSocketEvents::open(options);
    // Each fallback once, at start: the reason a host runs on polling is worth one line, not one a poll.
    for (const auto& why : opened.fallbacks)
        spdlog::info("event source: {}", why);
    m_eventSourceStatus = std::string(core::eventSourceStageName(opened.stage));
    if (!opened.fallbacks.empty()) m_eventSourceStatus += " (" + opened.fallbacks.back() + ")";
    spdlog::info("event source: {}", m_eventSourceStatus);
    m_kernelEvents = std::move(opened.source);
}

std::vector<core::DumpRequest> DaemonLoop::fullPlan() {
    core::DumpRequest base;
    auto plan = m_namespaces->nextPlan(base);
    for (auto& q : plan)
        q.states = base.states;
    return plan;
}

void DaemonLoop::plug(flow::IEventSink* sink) {
    if (sink) m_fanout.add(*sink);
}

void DaemonLoop::unplug(flow::IEventSink* sink) {
    if (sink) m_fanout.remove(*sink);
}

std::unique_ptr<sys::INetnsOpener> DaemonLoop::openNamespaces() {
    if (m_config.networkNamespaces != "all") {
        m_namespacesWhy = "network_namespaces = " + m_config.networkNamespaces;
        spdlog::info("network namespaces: only porteyed's own ({})", m_namespacesWhy);
        return nullptr;
    }
    std::string why;
    struct stat st {};
    const std::string& helper = m_config.netnsHelper;
    if (!helper.empty() && ::stat(helper.c_str(), &st) == 0) {
        std::unique_ptr<sys::INetnsOpener> opener;
        if (S_ISSOCK(st.st_mode)) {
            opener = sys::HelperNetnsOpener::connect(helper, why);
        } else {
            opener = sys::HelperNetnsOpener::spawn(helper, why);
        }
        if (opener) {
            spdlog::info("network namespaces: every one, entered by {}", opener->describe());
            return opener;
        }
    }
    std::string inProcessWhy;
    if (auto opener = sys::InProcessNetnsOpener::create(inProcessWhy)) {
        spdlog::info("network namespaces: every one, entered by porteyed itself");
        return opener;
    }
    m_namespacesWhy = (why.empty() ? "" : why + "; ") + inProcessWhy;
    spdlog::warn("network namespaces: only porteyed's own: {}", m_namespacesWhy);
    return nullptr;
}

void DaemonLoop::pollOnce() {
    core::DumpRequest base;
    const auto plan = m_namespaces->nextPlan(base);
    if (m_eventsOn)
        for (const auto& q : plan)
            if (q.netns == m_source->ownNetns() && q.states == base.states)
                spdlog::debug("reconcile: the host's connections dumped (every {}s)", m_config.reconcileSeconds);
    const auto result = m_inlet->poll(plan);
    if (m_namespaces->afterPoll()) {
        // A namespace just attached: list its sockets now, not an interval later.
        m_inlet->poll(m_namespaces->nextPlan(base));
    }
    const auto& stats = m_monitor->stats();
    if (m_metrics) m_metrics->countPoll(result);
    if (m_journal) m_journal->flush(m_pollTimer->now());  // reports held-back entries after a quiet spell
    if (!result.ok && stats.failedPolls >= m_lastLoggedFailures * 2) {
        // Log the 1st, 2nd, 4th, 8th... consecutive-ish failure so a broken netlink does not flood the journal.
        spdlog::warn("poll failed ({} so far): {}", stats.failedPolls, result.error);
        m_lastLoggedFailures = std::max<std::uint64_t>(1, stats.failedPolls);
    }
    spdlog::debug("poll: {} sockets, +{} -{}, {} µs", result.sockets, result.added, result.removed,
                  result.duration.count());
}

void DaemonLoop::loadExpected() {
    auto loaded = sys::loadExpectedDir(m_config.expectedDir);
    for (const auto& error : loaded.errors)
        spdlog::error("expected listeners: {}", error);
    for (const auto& warning : loaded.warnings)
        spdlog::warn("expected listeners: {}", warning);
    if (loaded.rules && loaded.files == 0)
        // Fail closed: the admin's rules exist, so alerts stay on, and nothing is expected.
        spdlog::error(
            "expected listeners: none of the {} *.conf in {} could be used; alerts stay on with no rule, "
            "so every listener is unexpected",
            loaded.unusable, m_config.expectedDir);
    else if (loaded.rules)
        spdlog::info("expected listeners: {} rules from {} files in {}{}", loaded.rules->size(), loaded.files,
                     m_config.expectedDir,
                     loaded.unusable ? " (" + std::to_string(loaded.unusable) + " unusable *.conf)" : "");
    else
        spdlog::info("expected listeners: no *.conf in {}; unexpected-listener alerts are off", m_config.expectedDir);
    m_fanout.publishUnexpected(m_service->setExpected(std::move(loaded.rules)));
}

void DaemonLoop::notifyStatus() {
    // At most one STATUS= a second: a busy host changes constantly, and every
    // datagram wakes systemd.
    const std::uint64_t now = m_pollTimer->now();
    if (m_lastStatusUsec != 0 && now - m_lastStatusUsec < 1'000'000) return;
    m_lastStatusUsec = now;
    const auto s = m_service->hostStatus();
    sd_notifyf(0, "STATUS=%zu sockets, %zu events in history, %zu watches", s.sockets, s.historySize, s.watches);
}

void DaemonLoop::onPollTimer(std::uint64_t usec) {
    try {
        pollOnce();
        notifyStatus();
    } catch (const std::exception& e) {
        spdlog::error("poll failed: {}", e.what());
    }
    // Keep the cadence, but never try to catch up on missed ticks.
    const std::uint64_t interval = pollIntervalUsec();
    const std::uint64_t now = m_pollTimer->now();
    std::uint64_t next = usec + interval;
    if (next <= now) next = now + interval;
    m_pollTimer->armAt(next, loop::accuracyFor(interval));
}

void DaemonLoop::onWatchTimer() {
    try {
        m_service->runDueWatches(service::PortService::Clock::now());
    } catch (const std::exception& e) {
        spdlog::error("watch step failed: {}", e.what());
    }
    if (m_dbus) m_dbus->collectGarbage();
    armWatchTimer();
}

void DaemonLoop::armWatchTimer() {
    if (!m_watchTimer) return;
    const auto next = m_service->nextWatchDue();
    if (!next) {
        m_watchTimer->disarm();
        return;
    }
    // steady_clock is CLOCK_MONOTONIC on Linux, the clock of this timer. Watches differ in
    // interval; the shortest allowed one sets the accuracy, so every watch steps on time.
    const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(next->time_since_epoch()).count();
    m_watchTimer->armAt(static_cast<std::uint64_t>(std::max<std::int64_t>(usec, 1)),
                        loop::accuracyFor(toMicros(core::limits::kMinWatchIntervalSeconds)));
}

core::PollPlanOptions DaemonLoop::planOptions() const {
    core::PollPlanOptions plan;
    plan.namespaceConnectionsEvery = m_config.netnsConnectionsEvery;
    if (m_eventsOn) {
        // Events report opens and closes; dumps reconcile. Listeners (cheap, LISTEN-only walk)
        // every interval, connections every reconcile interval.
        plan.hostConnectionsEvery =
            static_cast<std::uint32_t>(std::max(1.0, m_config.reconcileSeconds / m_config.intervalSeconds));
        plan.namespaceConnectionsEvery = std::max(plan.namespaceConnectionsEvery, plan.hostConnectionsEvery);
    }
    return plan;
}

void DaemonLoop::logConfigWarnings() const {
    for (const auto& warning : m_config.warnings)
        spdlog::warn("config: {}", warning);
}

void DaemonLoop::reload() {
    sd_notify(0, "RELOADING=1");
    auto parsed = parseDaemonConfig(m_args);
    if (!parsed.config) {
        spdlog::error("reload: configuration is invalid; keeping the running one");
        sd_notify(0, "READY=1");
        return;
    }
    const auto plan = planReload(m_config, *parsed.config);
    m_config = plan.applied;
    logConfigWarnings();
    for (const auto& change : plan.changes) {
        if (change.reloadable)
            spdlog::info("reload: {} '{}' -> '{}'", change.key, change.from, change.to);
        else
            spdlog::warn("reload: {} '{}' -> '{}' not applied: it changes only on restart (still '{}')", change.key,
                         change.from, change.to, change.from);
    }
    if (plan.needs(kReloadLogLevel)) spdlog::set_level(spdlog::level::from_str(m_config.logLevel));
    if (plan.needs(kReloadPollTimer)) {
        m_service->setPollInterval(m_config.intervalSeconds);
        m_pollTimer->armIn(pollIntervalUsec());
    }
    if (plan.needs(kReloadPlan)) {
        const auto options = planOptions();
        m_namespaces->setPlanOptions(options);
        spdlog::info("reload: connections now dumped every {} polls ({} for other namespaces)",
                     options.hostConnectionsEvery, options.namespaceConnectionsEvery);
    }
    if (plan.needs(kReloadHistory)) m_service->setHistoryCapacity(m_config.historyCapacity);
    if (plan.needs(kReloadJournal))
        m_journal->setSetting(
            journal::parseJournalEvents(m_config.journalEvents).value_or(journal::JournalEvents::Listeners));
    loadExpected();
    if (m_dbus) m_dbus->settingsChanged();
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

}  // namespace

int runDaemon(const std::vector<std::string>& args, const DaemonConfig& config) {
    DaemonLoop loop(args, config);
    return loop.run();
}

}  // namespace porteye
