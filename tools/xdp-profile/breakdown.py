"""Splits the XDP program's samples between its own code and its callees.

Usage: breakdown.py SAMPLES [HZ]. SAMPLES is `perf script -F ip,sym` of a
`perf record -g` run. A sample is the program's when its call chain runs
through a `bpf_prog_*` frame under `veth_xdp_rcv_skb` (the server end's
receive path); it is counted under its leaf symbol.
"""
import collections
import sys

hz = float(sys.argv[2]) if len(sys.argv) > 2 else 4999
leaf = collections.Counter()
total = mine = 0
for sample in open(sys.argv[1]).read().split("\n\n"):
    frames = [l.split(None, 1) for l in sample.strip().split("\n") if l.strip()]
    if not frames:
        continue
    total += 1
    syms = [f[1] if len(f) > 1 else "?" for f in frames]
    if "veth_xdp_rcv_skb" not in syms:
        continue
    below = syms[: syms.index("veth_xdp_rcv_skb")]
    if any(s.startswith("bpf_prog_") for s in below):
        mine += 1
        leaf[syms[0]] += 1
print("samples %d, in the XDP program %d (%.0f ms of CPU)" % (total, mine, mine / hz * 1000))
for sym, n in leaf.most_common(20):
    print("%6d %5.1f%% %s" % (n, 100 * n / max(mine, 1), sym))
