# SPDX-License-Identifier: MIT
# Records UDP sock_diag fixtures; run inside `unshare -n` (see README.md).
# `ss -D` records TCP only ("tcpdiag dump requested and no tcp in filter"), so this
# sends the requests itself: what `ss -uan` sends (inet_diag_req_v2, IPPROTO_UDP, one
# dump per family, idiag_ext 0, seq 123456), writing every recv() buffer as received.
# With "destroy" in the file name it records the SKNLGRP_INET{,6}_UDP_DESTROY
# broadcasts of closing the same sockets instead.
import socket, struct, subprocess, sys, time

NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLMSG_ERROR, NLMSG_DONE = 4, 20, 2, 3
NLM_F_REQUEST, NLM_F_DUMP, SEQ = 1, 0x300, 123456
SOL_NETLINK, NETLINK_ADD_MEMBERSHIP = 270, 1
SKNLGRP_INET_UDP_DESTROY, SKNLGRP_INET6_UDP_DESTROY = 2, 4


def dump(out, family, states=0x1FFE):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    req = struct.pack("=BBBBI", family, socket.IPPROTO_UDP, 0, 0, states) + bytes(48)
    s.sendto(struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, SEQ, 0) + req, (0, 0))
    done = False
    while not done:
        buf = s.recv(65536)
        out.write(buf)
        off = 0
        while off < len(buf):
            length, kind = struct.unpack_from("=IH", buf, off)
            done = done or kind in (NLMSG_DONE, NLMSG_ERROR)
            off += (length + 3) & ~3
    s.close()


def udp(family, addr, port, v6only=None):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, port))
    return s


out = sys.argv[1]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
keep = [udp(socket.AF_INET, "127.0.0.1", 5353), udp(socket.AF_INET, "0.0.0.0", 6000)]
c4 = udp(socket.AF_INET, "127.0.0.1", 41001)
c4.connect(("127.0.0.1", 5353))
keep += [c4, udp(socket.AF_INET6, "::1", 5354, 1), udp(socket.AF_INET6, "::", 6001, 0)]
c6 = udp(socket.AF_INET6, "::1", 41002, 1)
c6.connect(("::1", 5354))
keep.append(c6)
keep.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))  # never bound: in no hash, never dumped

if "destroy" in out:
    listener = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    listener.bind((0, 0))
    for group in (SKNLGRP_INET_UDP_DESTROY, SKNLGRP_INET6_UDP_DESTROY):
        listener.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
    bound = len(keep) - 1
    for s in keep:
        s.close()
    listener.settimeout(2)
    with open(out, "wb") as f:
        for _ in range(bound):  # one datagram per destroyed socket, sent from a workqueue
            f.write(listener.recv(65536))
else:
    with open(out, "wb") as f:
        dump(f, socket.AF_INET)
        dump(f, socket.AF_INET6)
print(subprocess.run(["ss", "-uaneH"], capture_output=True, text=True).stdout)
