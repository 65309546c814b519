# SPDX-License-Identifier: MIT
# Records sock_diag fixtures; run inside `unshare -n` (see README.md).
import socket, subprocess, sys, time, os
out = sys.argv[1]
subprocess.run(["ip","link","set","lo","up"], check=True)
def listener(fam, addr, port, v6only=None):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, port)); s.listen(8); return s
def connect(fam, laddr, lport, raddr, rport):
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((laddr, lport)); c.connect((raddr, rport)); return c
keep = []
l1 = listener(socket.AF_INET, "127.0.0.1", 8080); keep.append(l1)
l2 = listener(socket.AF_INET, "0.0.0.0", 9090); keep.append(l2)
l3 = listener(socket.AF_INET6, "::1", 8443, 1); keep.append(l3)
l4 = listener(socket.AF_INET6, "::", 7070, 0); keep.append(l4)
# established IPv4 pair
c1 = connect(socket.AF_INET, "127.0.0.1", 40001, "127.0.0.1", 8080); a1,_ = l1.accept(); keep += [c1, a1]
# established IPv6 pair
c2 = connect(socket.AF_INET6, "::1", 40002, "::1", 8443); a2,_ = l3.accept(); keep += [c2, a2]
# IPv4 client to dual-stack listener: accepted side is IPv4-mapped IPv6
c3 = connect(socket.AF_INET, "127.0.0.1", 40003, "127.0.0.1", 7070); a3,_ = l4.accept(); keep += [c3, a3]
# TIME_WAIT: client closes first
c4 = connect(socket.AF_INET, "127.0.0.1", 40004, "127.0.0.1", 9090); a4,_ = l2.accept()
c4.close(); time.sleep(0.1); a4.close(); time.sleep(0.2)
if out.endswith("timewait.bin"):  # close everything: only TIME_WAIT remains
    for s in keep: s.close()
    subprocess.run(["ss","-tan","-D",out], check=True)
elif "ipv6" in out:
    subprocess.run(["ss","-6","-tan","-D",out], check=True)
else:
    subprocess.run(["ss","-tan","-D",out], check=True)
print(subprocess.run(["ss","-tanei"] + (["-6"] if "ipv6" in out else []), capture_output=True, text=True).stdout)
