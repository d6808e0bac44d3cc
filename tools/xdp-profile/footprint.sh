#!/usr/bin/env bash
# How much of the XDP program's code one kind of query runs: samples a
# loop of BPF_PROG_TEST_RUN calls (testrun.py) with `perf record -a` at
# 20 kHz and counts the 64-byte lines of the program's JIT image that
# got samples. Usage (as root):
#   tools/xdp-profile/footprint.sh PROG_ID NAME [testrun.py flags]
# e.g. `footprint.sh 123 g0.bench.test --edns` (the name must be one the
# daemon answers). Every line the query's path runs through shows up
# given enough samples; under traffic each of them is a fetch from a
# cache the packets and the generator have been through (BENCH.md).
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,10p "$0" >&2; exit 2; }
for tool in perf python3; do
    command -v "$tool" > /dev/null || { echo "needs $tool" >&2; exit 1; }
done
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
id=$1 name=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/jit.py" "$id" "$work/jit" > "$work/ksyms"
perf record -a -F 20000 -o "$work/perf.data" -- \
    python3 "$here/testrun.py" "$id" "$name" 1 1000000 "$@" 2>&1 | grep -v "^\[" || true
perf script -i "$work/perf.data" -F ip 2> /dev/null > "$work/ips"
# The program's body is its largest function.
python3 - "$work/ksyms" "$work/ips" <<'PY'
import collections, sys
addr, size = max((l.split() for l in open(sys.argv[1])), key=lambda x: int(x[1]))
base, size = int(addr, 16), int(size)
lines = collections.Counter()
for l in open(sys.argv[2]):
    if l.strip():
        off = int(l, 16) - base
        if 0 <= off < size:
            lines[off // 64] += 1
total = sum(lines.values())
print("JIT image %d bytes (%d lines of 64 bytes); %d samples in it; lines with samples: %d"
      " (%d with at least 0.2%% of them)"
      % (size, (size + 63) // 64, total, len(lines),
         sum(1 for n in lines.values() if n * 500 >= total)))
PY
