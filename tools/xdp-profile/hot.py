"""Hottest instructions of one JIT image, by leaf samples, and how many
of its 64-byte lines got any.

Usage: hot.py SAMPLES ADDR SIZE [N]: ADDR (hex) and SIZE as jit.py prints
them. Offsets match the disassembly of that function's image.
"""
import collections
import sys

base, size = int(sys.argv[2], 16), int(sys.argv[3])
n = int(sys.argv[4]) if len(sys.argv) > 4 else 15
hits = collections.Counter()
for sample in open(sys.argv[1]).read().split("\n\n"):
    frames = [l.split(None, 1) for l in sample.strip().split("\n") if l.strip()]
    if not frames:
        continue
    off = int(frames[0][0], 16) - base
    if 0 <= off < size:
        hits[off] += 1
total = sum(hits.values())
lines = collections.Counter()
for off, k in hits.items():
    lines[off // 64] += k
print("leaf samples in the image: %d" % total)
print("image %d bytes (%d lines of 64 bytes); lines with samples: %d (%d with at least 0.2%% of them)"
      % (size, (size + 63) // 64, len(lines), sum(1 for k in lines.values() if k * 500 >= total)))
for off, k in hits.most_common(n):
    print("%6x %6d %5.1f%%" % (off, k, 100 * k / max(total, 1)))
