"""Times the loaded gslb XDP program on crafted queries with BPF_PROG_TEST_RUN.

Usage: testrun.py PROG_ID[,PROG_ID...] NAME_FMT COUNT [RUNS] [--edns]
[--aaaa] [--v6] [--clients=N] [--ecs]

Sends RUNS (default 20000) single-run test_run calls, each an A (or AAAA)
query for NAME_FMT % (i % COUNT) (e.g. "g%d.bench.test"), and prints the
kernel's per-run duration (min, median, mean), and the verdicts. No
network, no load generator: the program's own cost on this CPU, with
its maps as the daemon filled them. With COUNT 1 the name's slot stays in
cache (the compute cost); with COUNT 10000 every query goes to another
slot (the cost with the slot table's cache misses, as under kxdpgun).
With several programs (e.g. two daemons' builds, each filled from the same
config), the calls alternate between them, so that the machine's noise
falls on all alike: an A/B comparison.

Client-aware data (the bench's: client groups by /24 of 198.18.0.0/15):
--clients=N sends query i from IPv4 /24 number i % N of 198.18.0.0/15
(as kxdpgun's source range does), or with --ecs from 198.18.0.2 with an
EDNS Client Subnet option of that /24 (source prefix 24, as dnsperf's
ECS queries); --ecs implies --edns.
"""
import ctypes
import statistics
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
NR_BPF = 321  # x86_64
BPF_PROG_TEST_RUN = 10
BPF_PROG_GET_FD_BY_ID = 13
VERDICTS = {0: "aborted", 1: "drop", 2: "pass", 3: "tx", 4: "redirect"}


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, len(attr))
    r = libc.syscall(NR_BPF, cmd, buf, len(attr))
    if r < 0:
        raise OSError(ctypes.get_errno(), "bpf")
    return r, buf


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def query(name, qtype, edns, v6, qid, client=None, ecs=False):
    """`client`: an IPv4 /24 (3 bytes) the query comes from, as its
    source address or (`ecs`) as its ECS option."""
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    edns = edns or ecs
    dns = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    dns += qname + struct.pack("!HH", qtype, 1)
    if edns and ecs and client is not None:
        # OPTION-CODE 8, FAMILY 1, SOURCE 24, SCOPE 0, 3 address bytes.
        opt = struct.pack("!HHHBB", 8, 7, 1, 24, 0) + client
        dns += b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(opt)) + opt
    elif edns:
        dns += b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    udp_len = 8 + len(dns)
    if v6:
        src = bytes.fromhex("20010db8000000000000000000000002")
        dst = bytes.fromhex("20010db8000000000000000000000001")
        pseudo = src + dst + struct.pack("!IxxxB", udp_len, 17)
        udp = struct.pack("!HHHH", 40000, 53, udp_len, 0) + dns
        udp = udp[:6] + struct.pack("!H", csum(pseudo + udp)) + udp[8:]
        ip = struct.pack("!IHBB", 0x60000000, udp_len, 17, 64) + src + dst
        eth = b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd"
    else:
        src, dst = bytes([198, 18, 0, 2]), bytes([198, 18, 0, 1])
        if client is not None and not ecs:
            src = client + bytes([qid % 253 + 2])
        ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0) + src + dst
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        pseudo = src + dst + struct.pack("!xBH", 17, udp_len)
        udp = struct.pack("!HHHH", 40000, 53, udp_len, 0) + dns
        udp = udp[:6] + struct.pack("!H", csum(pseudo + udp)) + udp[8:]
        eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    return eth + ip + udp


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = {a for a in sys.argv[1:] if a.startswith("--")}
    clients = 0
    for f in [f for f in flags if f.startswith("--clients=")]:
        clients = int(f.split("=", 1)[1])
        flags.discard(f)
    unknown = flags - {"--edns", "--aaaa", "--v6", "--ecs"}
    if unknown:
        sys.exit("unknown flags: %s" % " ".join(sorted(unknown)))
    if len(args) < 3:
        sys.exit(__doc__)
    ids = [int(i) for i in args[0].split(",")]
    fmt, count = args[1], int(args[2])
    runs = int(args[3]) if len(args) > 3 else 20000
    fds = [
        bpf(BPF_PROG_GET_FD_BY_ID, struct.pack("<I", i) + b"\0" * 124)[0] for i in ids
    ]
    qtype = 28 if "--aaaa" in flags else 1
    def block(i):
        """IPv4 /24 number i % clients of 198.18.0.0/15, or None."""
        if not clients:
            return None
        n = (198 << 16) + (18 << 8) + i % clients
        return bytes([n >> 16, (n >> 8) & 0xFF, n & 0xFF])

    pkts = [
        query(fmt % (i % count) if "%" in fmt else fmt, qtype, "--edns" in flags,
              "--v6" in flags, i, block(i), "--ecs" in flags)
        for i in range(min(max(count, clients), runs))
    ]
    out = ctypes.create_string_buffer(2048)
    times = [[] for _ in fds]
    verdicts = [{} for _ in fds]
    for r in range(runs * len(fds)):
        which = r % len(fds)
        fd = fds[which]
        p = pkts[(r // len(fds)) % len(pkts)]
        data = ctypes.create_string_buffer(p, len(p))
        # union bpf_attr.test: prog_fd, retval, data_size_in, data_size_out,
        # data_in, data_out, repeat, duration.
        attr = struct.pack(
            "<IIIIQQII", fd, 0, len(p), len(out), ctypes.addressof(data),
            ctypes.addressof(out), 1, 0,
        )
        _, buf = bpf(BPF_PROG_TEST_RUN, attr + b"\0" * (80 - len(attr)))
        retval, = struct.unpack_from("<I", buf, 4)
        duration, = struct.unpack_from("<I", buf, 36)
        times[which].append(duration)
        v = VERDICTS.get(retval, str(retval))
        verdicts[which][v] = verdicts[which].get(v, 0) + 1
    for prog_id, t, v in zip(ids, times, verdicts):
        t.sort()
        print(
            "prog %d  runs %d  min %d ns  p10 %d  median %d  mean %.0f  verdicts %s"
            % (prog_id, runs, t[0], t[len(t) // 10], statistics.median(t),
               statistics.mean(t), v)
        )


if __name__ == "__main__":
    main()
