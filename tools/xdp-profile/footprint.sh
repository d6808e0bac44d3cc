#!/usr/bin/env bash
# How much of the XDP program's code one kind of query runs: samples a
# loop of BPF_PROG_TEST_RUN calls (testrun.py) with `perf record -a` at
# 20 kHz and counts (hot.py) the 64-byte lines of the program's JIT
# image that got samples. Usage (as root):
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
perf record -a -g -F 20000 -o "$work/perf.data" -- \
    python3 "$here/testrun.py" "$id" "$name" 1 1000000 "$@" 2>&1 | { grep -v "^\[" || true; }
perf script -i "$work/perf.data" -F ip,sym > "$work/samples" 2> /dev/null
# The program's body is its largest function.
read -r addr size < <(sort -k2 -n "$work/ksyms" | tail -1)
python3 "$here/hot.py" "$work/samples" "$addr" "$size" 0
