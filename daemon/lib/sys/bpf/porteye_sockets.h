/* SPDX-License-Identifier: MIT */
/* The record porteye_sockets.bpf.c writes to its ring buffer, shared with user space (BpfSocketEvents.cpp).
 * Plain C with kernel fixed-width types: vmlinux.h provides them in BPF, <linux/types.h> in user space. */
#ifndef PORTEYE_SOCKETS_H
#define PORTEYE_SOCKETS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Same numbering as porteye::core::KernelEventKind. */
enum porteye_event_kind {
    PORTEYE_EV_LISTEN = 0,
    PORTEYE_EV_CONNECT = 1,
    PORTEYE_EV_ACCEPT = 2,
    PORTEYE_EV_CLOSE = 3,
    PORTEYE_EV_UDP_BIND = 4,
    PORTEYE_EV_UDP_CLOSE = 5,
    PORTEYE_EV_ACCEPTED = 6, /* accept() returned the socket: tgid, uid, comm and inode are the acceptor's */
};

#define PORTEYE_COMM_LEN 16
/* Slots of the per-CPU loss counter; CPUs above it share the last slot. */
#define PORTEYE_MAX_CPUS 1024

struct porteye_sock_event {
    __u64 cookie;   /* bpf_get_socket_cookie(): sock_diag's idiag_cookie */
    __u64 inode;    /* socket inode, 0 when the socket has no file (yet) */
    __u64 netns;    /* inode of the socket's network namespace */
    __u64 ts_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
    __u32 tgid;     /* owner, 0 when unknown (socket older than the program) */
    __u32 uid;      /* owner's real uid; the socket's uid when tgid is 0 */
    __u8 saddr[16]; /* network order; IPv4 in the first 4 bytes */
    __u8 daddr[16];
    __u16 sport; /* host order */
    __u16 dport; /* host order */
    __u16 family; /* AF_INET or AF_INET6 */
    __u8 kind;    /* enum porteye_event_kind */
    __u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
    __u8 state;    /* TCP state after the change (UDP: TCP_CLOSE) */
    __u8 oldstate;
    __u8 pad[6];
    char comm[PORTEYE_COMM_LEN];
};

#endif
