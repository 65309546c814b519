// SPDX-License-Identifier: GPL-2.0 OR MIT
// Socket opens and closes with their owners, for porteyed (user half: daemon/lib/sys/BpfSocketEvents.cpp).
// Required: tp_btf/inet_sock_set_state (TCP, IPv4 and IPv6). Optional (loaded one by one, may be refused):
// fexit on inet_accept (acceptor and inode), fexit on inet_bind/inet6_bind and fentry on udp_lib_unhash (UDP),
// and tp_btf/sys_exit for accept()/accept4() returning (acceptor and inode where fexit is refused).
// Only typed loads on BTF pointers: no bpf_probe_read (refused under lockdown=confidentiality); memory
// reached through untyped pointers is typed with bpf_rdonly_cast, whose loads are checked the same way.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "porteye_sockets.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// Set by user space before load.
const volatile __u64 wakeup_bytes = 256 * 1024;  // wake the consumer only once this much is queued
const volatile __u64 only_netns = 0;              // report only sockets of this network namespace (0: all)

// Written by user space after load (mmapped .bss).
__u32 accept_hooked = 0;    // fexit/inet_accept is attached: it reports accepts, not the tracepoint
__u32 acceptor_hooked = 0;  // tp_btf/sys_exit is attached: it names the acceptor when accept() returns

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

// Failed ring reserves, one slot per CPU (read by user space through the mmapped .bss).
__u64 lost_events[PORTEYE_MAX_CPUS] = {};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 2 * 1024 * 1024);  // resized by user space before load
} events SEC(".maps");

// Who owns a socket, recorded where the call runs in the owner's context (listen, connect, accept,
// bind). Freed with the socket; an accepted socket inherits its listener's (BPF_F_CLONE).
struct owner {
    __u64 cookie;  // the socket this was recorded for: differs from the socket's in an inherited copy
    __u64 inode;
    __u32 tgid;
    __u32 uid;
    char comm[PORTEYE_COMM_LEN];
};

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
    __type(key, int);
    __type(value, struct owner);
} owners SEC(".maps");

static __always_inline __u64 inode_of(const struct sock *sk) {
    struct socket *sock = sk->sk_socket;
    if (!sock)
        return 0;
    struct file *file = sock->file;
    if (!file)
        return 0;
    struct inode *inode = file->f_inode;
    if (!inode)
        return 0;
    return inode->i_ino;
}

// Records the current task as the socket's owner.
static __always_inline struct owner *claim(const struct sock *sk, __u64 cookie) {
    struct owner *o = bpf_sk_storage_get(&owners, (void *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!o)
        return 0;
    o->cookie = cookie;
    o->tgid = bpf_get_current_pid_tgid() >> 32;
    o->uid = (__u32)bpf_get_current_uid_gid();
    bpf_get_current_comm(o->comm, sizeof(o->comm));
    __u64 ino = inode_of(sk);
    if (ino)
        o->inode = ino;
    else if (o->cookie != cookie)
        o->inode = 0;
    return o;
}

// Sockets of other namespaces are left alone before any work when user space asked for one.
static __always_inline bool wanted(const struct sock *sk) {
    return !only_netns || sk->__sk_common.skc_net.net->ns.inum == only_netns;
}

static __always_inline void count_lost(void) {
    __u32 cpu = bpf_get_smp_processor_id();
    if (cpu >= PORTEYE_MAX_CPUS)
        cpu = PORTEYE_MAX_CPUS - 1;
    __sync_fetch_and_add(&lost_events[cpu], 1);
}

static __always_inline void fill_addresses(struct porteye_sock_event *e, const struct sock *sk) {
    __u16 family = sk->__sk_common.skc_family;
    e->family = family;
    if (family == AF_INET6) {
        __builtin_memcpy(e->saddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
        __builtin_memcpy(e->daddr, &sk->__sk_common.skc_v6_daddr, 16);
    } else {
        __u32 s = sk->__sk_common.skc_rcv_saddr;
        __u32 d = sk->__sk_common.skc_daddr;
        __builtin_memcpy(e->saddr, &s, 4);
        __builtin_memcpy(e->daddr, &d, 4);
    }
}

static __always_inline void emit(const struct sock *sk, __u8 kind, __u8 protocol, __u16 sport, int oldstate,
                                 int newstate, __u64 cookie, struct owner *o) {
    struct porteye_sock_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_lost();
        return;
    }
    __builtin_memset(e, 0, sizeof(*e));  // no stale ring bytes (padding, short comm, IPv4's upper words)
    e->kind = kind;
    e->protocol = protocol;
    e->state = newstate;
    e->oldstate = oldstate;
    e->cookie = cookie;
    e->ts_ns = bpf_ktime_get_ns();
    e->netns = sk->__sk_common.skc_net.net->ns.inum;
    fill_addresses(e, sk);
    e->sport = sport;
    e->dport = bpf_ntohs(sk->__sk_common.skc_dport);

    __u64 ino = inode_of(sk);
    if (o && o->cookie == cookie) {
        if (ino)
            o->inode = ino;
        else
            ino = o->inode;
    }
    e->inode = ino;
    if (o && o->tgid) {
        e->tgid = o->tgid;
        e->uid = o->uid;
        __builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
    } else {
        e->uid = sk->sk_uid.val;
    }

    // Batched wake-ups: a wake-up per event costs the producer dearly; the consumer drains on a timer.
    // Wake it only when this record crosses a multiple of the threshold: once per threshold's worth
    // of records, also while the consumer lags (waking on every record above it would cost the most
    // exactly when the consumer is already behind).
    const __u64 record = sizeof(*e) + 8;  // + BPF_RINGBUF_HDR_SZ
    __u64 queued = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    bool crossed = queued >= wakeup_bytes && queued / wakeup_bytes != (queued - record) / wakeup_bytes;
    // Listeners come and go rarely and matter most ("is 8080 up yet?"): their events wake the
    // consumer at once, carrying whatever connection events are queued before them.
    bool listener = kind == PORTEYE_EV_LISTEN || kind == PORTEYE_EV_UDP_BIND || kind == PORTEYE_EV_UDP_CLOSE ||
                    (kind == PORTEYE_EV_CLOSE && oldstate == TCP_LISTEN);
    bpf_ringbuf_submit(e, (crossed || listener) ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

// The local port: skc_num is cleared by the time of →CLOSE, inet_sport is not.
static __always_inline __u16 tcp_local_port(const struct sock *sk) {
    __u16 num = sk->__sk_common.skc_num;
    if (num)
        return num;
    struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
    if (!tp)
        return 0;
    return bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, int oldstate, int newstate) {
    if (sk->sk_protocol != IPPROTO_TCP)
        return 0;
    __u16 family = sk->__sk_common.skc_family;
    if ((family != AF_INET && family != AF_INET6) || !wanted(sk))
        return 0;
    // The changes below are all this program looks at; the rest (SYN_RECV of a new child,
    // FIN_WAIT2, TIME_WAIT, ...) leave before any work.
    if (newstate != TCP_LISTEN && newstate != TCP_SYN_SENT && newstate != TCP_ESTABLISHED &&
        newstate != TCP_CLOSE && newstate != TCP_FIN_WAIT1 && newstate != TCP_LAST_ACK)
        return 0;

    __u64 cookie = bpf_get_socket_cookie((void *)sk);
    struct owner *o;
    __u8 kind;
    if (newstate == TCP_LISTEN) {
        // listen() runs in the owner's context.
        o = claim(sk, cookie);
        kind = PORTEYE_EV_LISTEN;
    } else if (newstate == TCP_SYN_SENT) {
        // connect() runs in the owner's context, but the source port is not chosen yet: the event
        // is sent at ESTABLISHED (often in softirq), with the owner recorded here.
        claim(sk, cookie);
        return 0;
    } else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT) {
        o = bpf_sk_storage_get(&owners, (void *)sk, 0, 0);
        kind = PORTEYE_EV_CONNECT;
    } else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
        // A passive open, in softirq: the owner is the listener's, inherited with the storage. The
        // inherited inode is the listener's: forget it (accept() has not made a file yet).
        o = bpf_sk_storage_get(&owners, (void *)sk, 0, 0);
        if (o && o->cookie != cookie) {
            o->cookie = cookie;
            o->inode = 0;
        }
        if (accept_hooked)
            return 0;
        // With the acceptor reported when accept() returns, the listener's owner is not written as the
        // owner: until then no process holds the socket (it waits in the accept queue, as ss shows it),
        // and the process that accepts may be another (pre-fork servers, socket activation).
        if (acceptor_hooked)
            o = 0;
        kind = PORTEYE_EV_ACCEPT;
    } else if (newstate == TCP_CLOSE && oldstate != TCP_CLOSE) {
        o = bpf_sk_storage_get(&owners, (void *)sk, 0, 0);
        kind = PORTEYE_EV_CLOSE;
    } else if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) {
        // close() or shutdown() in the owner's context, while the socket may still have its file:
        // keep the inode for the CLOSE that comes later, often in softirq without it.
        o = bpf_sk_storage_get(&owners, (void *)sk, 0, 0);
        if (o && o->cookie == cookie && !o->inode)
            o->inode = inode_of(sk);
        return 0;
    } else {
        return 0;  // ESTABLISHED from another state (none in practice)
    }
    emit(sk, kind, IPPROTO_TCP, tcp_local_port(sk), oldstate, newstate, cookie, o);
    return 0;
}

// Optional: accept() returning, in the acceptor's context: the accepting process and the new inode.
// Only the first two arguments are read: their position is the same on 6.1 and later kernels.
SEC("fexit/inet_accept")
int BPF_PROG(on_accept, struct socket *sock, struct socket *newsock) {
    struct sock *sk = newsock->sk;
    if (!sk || sk->sk_protocol != IPPROTO_TCP || !wanted(sk))
        return 0;
    __u64 cookie = bpf_get_socket_cookie(sk);
    struct owner *o = claim(sk, cookie);
    emit(sk, PORTEYE_EV_ACCEPT, IPPROTO_TCP, sk->__sk_common.skc_num, TCP_SYN_RECV, sk->__sk_common.skc_state,
         cookie, o);
    return 0;
}

static __always_inline int on_bind_common(struct socket *sock, long ret) {
    if (ret != 0)
        return 0;
    struct sock *sk = sock->sk;
    if (!sk || sk->sk_protocol != IPPROTO_UDP || !wanted(sk))
        return 0;
    __u64 cookie = bpf_get_socket_cookie(sk);
    struct owner *o = claim(sk, cookie);
    emit(sk, PORTEYE_EV_UDP_BIND, IPPROTO_UDP, sk->__sk_common.skc_num, TCP_CLOSE, TCP_CLOSE, cookie, o);
    return 0;
}

// Optional: UDP bind() (explicit binds; an implicit bind on sendto()/connect() is not seen).
SEC("fexit/inet_bind")
int BPF_PROG(on_bind4, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret) {
    return on_bind_common(sock, ret);
}

SEC("fexit/inet6_bind")
int BPF_PROG(on_bind6, struct socket *sock, struct sockaddr *uaddr, int addr_len, int ret) {
    return on_bind_common(sock, ret);
}

// Optional: a UDP socket leaving the hash (close, or disconnect of an implicitly bound one).
SEC("fentry/udp_lib_unhash")
int BPF_PROG(on_udp_unhash, struct sock *sk) {
    if (sk->sk_protocol != IPPROTO_UDP || !sk->__sk_common.skc_num)
        return 0;
    __u16 family = sk->__sk_common.skc_family;
    if ((family != AF_INET && family != AF_INET6) || !wanted(sk))
        return 0;
    __u64 cookie = bpf_get_socket_cookie(sk);
    struct owner *o = bpf_sk_storage_get(&owners, sk, 0, 0);
    emit(sk, PORTEYE_EV_UDP_CLOSE, IPPROTO_UDP, sk->__sk_common.skc_num, TCP_CLOSE, TCP_CLOSE, cookie, o);
    return 0;
}

#if defined(__TARGET_ARCH_x86)
#define PORTEYE_NR_ACCEPT 43
#define PORTEYE_NR_ACCEPT4 288
#define PORTEYE_SYSCALL_NR(regs) ((long)(regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define PORTEYE_NR_ACCEPT 202
#define PORTEYE_NR_ACCEPT4 242
#define PORTEYE_SYSCALL_NR(regs) ((long)(regs)->syscallno)
#endif

// Optional, where fexit/inet_accept is refused: accept()/accept4() returning, in the acceptor's
// context. The new descriptor leads to the socket (its cookie joins the earlier ESTABLISHED event)
// and to its inode: the acceptor is then known for certain, not inferred from the listener.
// Runs at every system call's exit: it leaves at the first test for anything but a successful accept.
SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret) {
#ifdef PORTEYE_NR_ACCEPT
    if (ret < 0)
        return 0;
    long nr = PORTEYE_SYSCALL_NR(regs);
    if (nr != PORTEYE_NR_ACCEPT && nr != PORTEYE_NR_ACCEPT4)
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    struct fdtable *fdt = task->files->fdt;
    if (!fdt || (unsigned long)ret >= fdt->max_fds)
        return 0;
    // fdt->fd is an array of pointers, which BTF does not type: read the slot as a struct whose first
    // member is a pointer, then type what it points to.
    struct file **slots = fdt->fd;
    struct callback_head *slot =
        bpf_rdonly_cast((void *)(slots + ret), bpf_core_type_id_kernel(struct callback_head));
    struct file *file = bpf_rdonly_cast((void *)slot->next, bpf_core_type_id_kernel(struct file));
    if (!file)
        return 0;
    struct socket *sock = bpf_rdonly_cast(file->private_data, bpf_core_type_id_kernel(struct socket));
    if (!sock)
        return 0;
    struct sock *sk = sock->sk;
    if (!sk || sk->sk_protocol != IPPROTO_TCP)
        return 0;
    __u16 family = sk->__sk_common.skc_family;
    if ((family != AF_INET && family != AF_INET6) || !wanted(sk))
        return 0;
    // Set by bpf_get_socket_cookie() at the ESTABLISHED event; 0: the socket predates the program.
    __u64 cookie = sk->__sk_common.skc_cookie.counter;
    if (!cookie)
        return 0;
    struct porteye_sock_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_lost();
        return 0;
    }
    __builtin_memset(e, 0, sizeof(*e));
    e->kind = PORTEYE_EV_ACCEPTED;
    e->protocol = IPPROTO_TCP;
    e->state = sk->__sk_common.skc_state;
    e->oldstate = TCP_SYN_RECV;
    e->cookie = cookie;
    e->ts_ns = bpf_ktime_get_ns();
    e->netns = sk->__sk_common.skc_net.net->ns.inum;
    fill_addresses(e, sk);
    e->sport = sk->__sk_common.skc_num;
    e->dport = bpf_ntohs(sk->__sk_common.skc_dport);
    e->inode = file->f_inode->i_ino;
    e->tgid = bpf_get_current_pid_tgid() >> 32;
    e->uid = (__u32)bpf_get_current_uid_gid();
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    // Batched like the connection events it completes: the consumer drains on its timer.
    bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
#endif
    return 0;
}
