// SPDX-License-Identifier: MIT
// PortMonitor fed by a kernel event source between dumps (fake events, fake /proc).
#include "core/PortMonitor.hpp"
#include "fakes/FakeSources.hpp"

#include <gtest/gtest.h>

using namespace porteye::core;
using namespace porteye::fakes;

namespace {

KernelSocketEvent opened(KernelEventKind kind, const SocketRecord& r, std::uint32_t tgid, std::string comm) {
    KernelSocketEvent e;
    e.kind = kind;
    e.protocol = r.protocol;
    e.family = r.family;
    e.localAddress = r.localAddress;
    e.localPort = r.localPort;
    e.remoteAddress = r.remoteAddress;
    e.remotePort = r.remotePort;
    e.state = r.state;
    e.cookie = r.cookie;
    e.inode = r.inode;
    e.tgid = tgid;
    e.uid = 1000;
    e.comm = std::move(comm);
    return e;
}

/// accept() returned `r` in process `tgid`, as the descriptor with `inode`.
KernelSocketEvent acceptedBy(const SocketRecord& r, std::uint32_t tgid, std::uint64_t inode) {
    auto e = opened(KernelEventKind::Accepted, r, tgid, "worker");
    e.inode = inode;
    return e;
}

KernelSocketEvent closed(const SocketRecord& r) {
    auto e = opened(KernelEventKind::Close, r, 0, "");
    e.state = TcpState::Close;
    return e;
}

class KernelEventsTest : public ::testing::Test {
protected:
    FakeSocketSource source;
    FakeProcessTable processes;
    FakeClock clock;
    PortMonitor monitor{source, processes, clock};
    std::vector<PortEvent> seen;
    void SetUp() override {
        monitor.addListener([this](const auto& events) { seen.insert(seen.end(), events.begin(), events.end()); });
        monitor.setKernelEventsActive(true);
        monitor.poll();  // the baseline
    }
};

}  // namespace

TEST_F(KernelEventsTest, AListenerIsAddedAtOnceWithItsOwnerAndTheNextDumpNeitherAddsNorWalks) {
    const auto listener = tcpSocket(100, 8080);
    processes.add(42, "python3", {100});
    EXPECT_EQ(monitor.applyKernelEvents({opened(KernelEventKind::Listen, listener, 42, "python3")}), 1u);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].action, Action::Added);
    EXPECT_EQ(seen[0].record.pid, 42u);
    EXPECT_EQ(seen[0].record.process, "python3");
    ASSERT_TRUE(seen[0].record.details) << "the holder's details, as for a dumped socket";

    source.sockets = {listener};
    const int walks = processes.walks;
    monitor.poll();
    EXPECT_EQ(seen.size(), 1u) << "the dump shows what the event already said";
    EXPECT_EQ(processes.walks, walks) << "the event's owner is known: no walk of /proc for its inode";
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.snapshot()[0].pid, 42u);
}

TEST_F(KernelEventsTest, ASocketThatLivedBetweenTwoDumpsIsInTheHistoryWithItsOwnerFlaggedShortLived) {
    const auto brief = tcpSocket(100, 9000);
    processes.add(42, "flash", {100});
    monitor.applyKernelEvents({opened(KernelEventKind::Listen, brief, 42, "flash")});
    monitor.applyKernelEvents({closed(brief)});
    // Both in one batch, too.
    const auto briefer = tcpSocket(101, 9001);
    monitor.applyKernelEvents({opened(KernelEventKind::Listen, briefer, 42, "flash"), closed(briefer)});
    monitor.poll();
    ASSERT_EQ(seen.size(), 4u);
    EXPECT_EQ(seen[0].action, Action::Added);
    EXPECT_EQ(seen[1].action, Action::Removed);
    EXPECT_TRUE(seen[1].shortLived);
    EXPECT_EQ(seen[1].record.pid, 42u);
    EXPECT_EQ(seen[2].action, Action::Added) << "in order, even within one batch";
    EXPECT_EQ(seen[3].action, Action::Removed);
    EXPECT_TRUE(seen[3].shortLived);
    EXPECT_LT(seen[2].sequence, seen[3].sequence);
    EXPECT_EQ(monitor.stats().shortLived, 2u);
    EXPECT_TRUE(monitor.snapshot().empty());
}

TEST_F(KernelEventsTest, ASocketADumpShowedIsNotShortLivedWhenItCloses) {
    const auto listener = tcpSocket(100, 8080);
    processes.add(42, "python3", {100});
    monitor.applyKernelEvents({opened(KernelEventKind::Listen, listener, 42, "python3")});
    source.sockets = {listener};
    monitor.poll();
    monitor.applyKernelEvents({closed(listener)});
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_FALSE(seen[1].shortLived);
}

TEST_F(KernelEventsTest, AnAcceptedSocketReportedBeforeItHadAnInodeIsTheSameSocketOnceTheDumpShowsIt) {
    auto conn = tcpSocket(0, 8080, TcpState::Established, 50000);
    conn.cookie = 777;
    processes.add(42, "server", {200});
    monitor.applyKernelEvents({opened(KernelEventKind::Accept, conn, 42, "server")});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].record.inode, 0u);
    conn.inode = 200;  // accept() returned: the dump shows its file
    source.sockets = {conn};
    monitor.poll();
    EXPECT_EQ(seen.size(), 1u) << "no removal and re-addition of the same connection";
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.snapshot()[0].inode, 200u);
}

TEST_F(KernelEventsTest, AnAcceptAndItsAcceptorInOneBatchAreOneAdditionUnderTheAcceptor) {
    auto conn = tcpSocket(0, 8080, TcpState::Established, 50000);
    conn.cookie = 777;
    processes.add(43, "worker", {200});
    monitor.applyKernelEvents({opened(KernelEventKind::Accept, conn, 0, ""), acceptedBy(conn, 43, 200)});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].action, Action::Added);
    EXPECT_EQ(seen[0].record.pid, 43u);
    EXPECT_EQ(seen[0].record.inode, 200u);

    // The next listener-only poll carries it under its acceptor, without a walk of /proc.
    source.sockets = {};
    const int walks = processes.walks;
    DumpRequest listeners;
    listeners.states = stateBit(TcpState::Listen);
    monitor.poll({listeners});
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_EQ(processes.walks, walks);
    ASSERT_EQ(monitor.snapshot().size(), 1u);
    EXPECT_EQ(monitor.snapshot()[0].pid, 43u);
}

TEST_F(KernelEventsTest, AnAcceptorNamedInALaterBatchIsAnOwnerChangeFromTheAcceptQueue) {
    auto conn = tcpSocket(0, 8080, TcpState::Established, 50000);
    conn.cookie = 777;
    processes.add(43, "worker", {200});
    monitor.applyKernelEvents({opened(KernelEventKind::Accept, conn, 0, "")});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].record.pid, 0u) << "in the accept queue nobody holds it, as ss shows it";
    monitor.applyKernelEvents({acceptedBy(conn, 43, 200)});
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].action, Action::OwnerChanged);
    EXPECT_EQ(seen[1].previousPid, 0u);
    EXPECT_EQ(seen[1].record.pid, 43u);
    EXPECT_EQ(seen[1].record.inode, 200u);
    ASSERT_EQ(monitor.snapshot().size(), 1u) << "the accept queue's record is replaced, not kept beside";
    EXPECT_EQ(monitor.snapshot()[0].pid, 43u);

    conn.inode = 200;
    source.sockets = {conn};
    monitor.poll();
    EXPECT_EQ(seen.size(), 2u) << "the dump agrees: nothing more to say";
}

TEST_F(KernelEventsTest, AListenWithoutBindIsLeftToTheDumpAndUnknownClosesAreIgnored) {
    auto unbound = tcpSocket(100, 0);
    processes.add(42, "python3", {100});
    EXPECT_EQ(monitor.applyKernelEvents({opened(KernelEventKind::Listen, unbound, 42, "python3")}), 0u);
    EXPECT_EQ(monitor.applyKernelEvents({closed(tcpSocket(300, 1))}), 0u);
    EXPECT_TRUE(seen.empty());
}

TEST_F(KernelEventsTest, AnOwnerThatIsAlreadyGoneIsNamedByTheEventsComm) {
    const auto listener = tcpSocket(100, 8080);
    monitor.applyKernelEvents({opened(KernelEventKind::Listen, listener, 4242, "ev\x1b[31m")});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].record.pid, 4242u);
    EXPECT_EQ(seen[0].record.process, "ev\\x1b[31m") << "escaped as every name porteyed reads";
}

TEST(DestroyCounting, WithoutAnEventSourceASocketNoDumpShowedIsCountedWhenItCloses) {
    FakeSocketSource source;
    FakeProcessTable processes;
    FakeClock clock;
    PortMonitor monitor{source, processes, clock};
    monitor.poll();
    auto gone = tcpSocket(100, 8080, TcpState::Established, 5000);
    auto timeWait = tcpSocket(0, 8081, TcpState::TimeWait, 5001);
    EXPECT_EQ(monitor.applyDestroyed({gone, timeWait}), 0u);
    EXPECT_EQ(monitor.stats().unattributedShortLived, 1u) << "a TIME_WAIT's end is not a short-lived socket";
    EXPECT_EQ(monitor.stats().destroyNotifications, 2u);
}

TEST(DestroyCounting, AFewClosesInALargeTableRemoveExactlyTheirSocketsButNotATimeWaitSuccessor) {
    FakeSocketSource source;
    FakeProcessTable processes;
    FakeClock clock;
    for (std::uint64_t inode = 1; inode <= 200; ++inode)
        source.sockets.push_back(tcpSocket(inode, static_cast<std::uint16_t>(1000 + inode)));
    auto timeWait = tcpSocket(0, 999, TcpState::TimeWait, 5000);
    timeWait.cookie = source.sockets[10].cookie;  // a TIME_WAIT successor shares its socket's cookie
    source.sockets.push_back(timeWait);
    PortMonitor monitor{source, processes, clock};
    monitor.poll();
    ASSERT_EQ(monitor.snapshot().size(), 201u);
    std::vector<PortEvent> seen;
    monitor.addListener([&](const auto& events) { seen.insert(seen.end(), events.begin(), events.end()); });
    auto closedFull = source.sockets[10];
    closedFull.state = TcpState::Close;
    EXPECT_EQ(monitor.applyDestroyed({source.sockets[3], closedFull}), 2u);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(monitor.snapshot().size(), 199u) << "the TIME_WAIT successor stays";
    for (const auto& r : monitor.snapshot())
        EXPECT_NE(r.inode, source.sockets[3].inode);
    EXPECT_TRUE(std::is_sorted(monitor.snapshot().begin(), monitor.snapshot().end(),
                               [](const SocketRecord& a, const SocketRecord& b) { return keyOf(a) < keyOf(b); }));
}
