#!/usr/bin/env bash
# Samples the gslb XDP program under a kxdpgun flood and says where its
# time goes. Usage (as root, from anywhere): tools/xdp-profile/profile.sh
# [TAG] [extra `cargo xtask bench` flags, e.g. --names 1000]
#
# Runs a quick gslb-xdp bench with a 20 s kxdpgun step, records 10 s of it
# with `perf record -a -g` (cpu-clock: this VM has no PMU), dumps the
# program's JIT image (bpftool here has no disassembler), and prints:
#   - the program's time split between its own code and the helpers it
#     calls (breakdown.py),
#   - its hottest instructions by offset (hot.py), with the image
#     disassembled to /tmp/xdp-prof-TAG.asm.
# A sample lands on the instruction after one that stalls, so a cache miss
# shows up just past its load.
set -euo pipefail
for tool in perf objdump bpftool python3; do
    command -v "$tool" > /dev/null || {
        echo "needs $tool (Debian: linux-perf, binutils, bpftool, python3)" >&2
        exit 1
    }
done
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag="${1:-x}"
shift || true
out="/tmp/xdp-prof-$tag"
cd "$here/../.."
cargo xtask bench --quick --servers gslb-xdp --no-dnsperf --kxdpgun-steps 1 \
    --kxdpgun-secs 20 "$@" > "$out.bench.log" 2>&1 &
bench=$!
for _ in $(seq 1 600); do pgrep -x kxdpgun > /dev/null && break; sleep 0.5; done
sleep 3
prog() { bpftool prog show | awk -F: '/xdp  name gslb /{print $1}' | sed -n 1p; }
id="$(prog)"
bpftool prog show id "$id" | sed -n 1p
perf record -a -g -F 4999 -o "$out.perf.data" -- sleep 10 2>&1 | tail -1
bpftool prog show id "$id" | sed -n 1p
python3 "$here/jit.py" "$id" "$out.jit" > "$out.ksyms"
wait "$bench" || true
grep "^gslb XDP" "$out.bench.log" || tail -5 "$out.bench.log"
perf script -i "$out.perf.data" -F ip,sym > "$out.samples" 2> /dev/null
python3 "$here/breakdown.py" "$out.samples" 4999
# The program's body is its largest function.
read -r addr size < <(sort -k2 -n "$out.ksyms" | tail -1)
objdump -b binary -m i386:x86-64 -D "$out.jit.$addr.bin" | tail -n +8 > "$out.asm"
python3 "$here/hot.py" "$out.samples" "$addr" "$size" 20
echo "disassembly: $out.asm"
