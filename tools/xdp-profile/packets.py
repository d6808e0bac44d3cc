"""Writes query frames for testrun_loop.c: COUNT random A queries of the
names NAME_FMT % i (i < NAMES), each a little-endian u16 length and the
frame, as testrun.py builds them.

Usage: packets.py OUT NAME_FMT NAMES COUNT [--clients=N] [--ecs] [--edns]
--clients=N: each query from (or, with --ecs, with an ECS option of) a
random one of the first N /24s of 198.18.0.0/15, as testrun.py does.
"""
import random
import struct
import sys

from testrun import query

args = [a for a in sys.argv[1:] if not a.startswith("--")]
flags = [a for a in sys.argv[1:] if a.startswith("--")]
if len(args) != 4:
    sys.exit(__doc__)
out, fmt, names, count = args[0], args[1], int(args[2]), int(args[3])
clients = 0
for f in flags:
    if f.startswith("--clients="):
        clients = int(f.split("=", 1)[1])
ecs, edns = "--ecs" in flags, "--edns" in flags
rng = random.Random(1)


def block():
    if not clients:
        return None
    n = (198 << 16) + (18 << 8) + rng.randrange(clients)
    return bytes([n >> 16, (n >> 8) & 0xFF, n & 0xFF])


with open(out, "wb") as f:
    for i in range(count):
        p = query(fmt % rng.randrange(names), 1, edns, False, i % 65536, block(), ecs)
        f.write(struct.pack("<H", len(p)) + p)
