#!/usr/bin/env bash
# How much one per-name table read costs the XDP program under real
# traffic, apart from any DNS work. Usage (as root):
#   tools/xdp-profile/table-read.sh [ROUNDS] [RATE] [KINDS...]
# Loads table_read.py's toy programs (one table read, then XDP_DROP),
# attaches each in turn to the server end of a fresh veth pair and times
# it with kernel.bpf_stats_enabled while kxdpgun sends RATE q/s (default
# 200000; 2000000 floods) over 10,000 random names for 4 s. KINDS default
# to flat m256k m128k m64k small nested; code300 code600 code1200 time
# instruction fetch instead (see table_read.py). Prints ns per packet for
# each kind and round, after each kind's warm time: BPF_PROG_TEST_RUN
# repeated on one packet, caches hot (its own overhead differs from
# bpf_stats': compare kinds with `small`, not the two columns).
set -euo pipefail
rounds=${1:-3}
rate=${2:-200000}
shift $(( $# < 2 ? $# : 2 ))
kinds=${*:-flat m256k m128k m64k small nested}
here=$(cd "$(dirname "$0")" && pwd)
tag=tr$$
s=$tag-s c=$tag-c pins=/sys/fs/bpf/$tag- work=$(mktemp -d)
stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
cleanup() {
    ip netns del "$s" 2> /dev/null || true
    ip netns del "$c" 2> /dev/null || true
    rm -f "$pins"* && rm -rf "$work"
    echo "$stats_before" > /proc/sys/kernel/bpf_stats_enabled
}
trap cleanup EXIT
python3 - "$work/q.txt" <<'PY'
import random, sys
random.seed(3)
a = "abcdefghijklmnopqrstuvwxyz0123456789"
with open(sys.argv[1], "w") as f:
    for _ in range(10000):
        f.write("".join(random.choice(a) for _ in range(8)) + ".bench.test A\n")
PY
python3 "$here/table_read.py" "$pins"
# A 64-byte frame (the programs read its first 64 bytes) for the warm runs.
head -c 64 /dev/zero > "$work/frame"
for k in $kinds; do
    warm=$(bpftool prog run pinned "$pins$k" data_in "$work/frame" repeat 2000000 |
        sed -n 's/.*duration (average): //p')
    echo "warm $k: $warm"
done
ip netns add "$s"
ip netns add "$c"
ip link add "${tag}s" type veth peer name "${tag}c"
ip link set "${tag}s" netns "$s"
ip link set "${tag}c" netns "$c"
ip -n "$s" addr add 198.18.9.1/24 dev "${tag}s"
ip -n "$c" addr add 198.18.9.2/24 dev "${tag}c"
ip -n "$s" link set "${tag}s" up
ip -n "$c" link set "${tag}c" up
mac() { ip -n "$1" -j link show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
smac=$(mac "$s" "${tag}s")
cmac=$(mac "$c" "${tag}c")
stats() { bpftool -j prog show id "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("run_time_ns",0), d.get("run_cnt",0))'; }
for r in $(seq 1 "$rounds"); do
    for k in $kinds; do
        id=$(bpftool -j prog show pinned "$pins$k" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
        ip netns exec "$s" bpftool net detach xdpdrv dev "${tag}s" 2> /dev/null || true
        ip netns exec "$s" bpftool net attach xdpdrv id "$id" dev "${tag}s"
        echo 1 > /proc/sys/kernel/bpf_stats_enabled
        read -r t0 n0 < <(stats "$id")
        ip netns exec "$c" kxdpgun -t 4 -Q "$rate" -i "$work/q.txt" -I "${tag}c" \
            -L "$cmac" -R "$smac" 198.18.9.1 > "$work/kxdpgun.txt" 2>&1
        read -r t1 n1 < <(stats "$id")
        echo 0 > /proc/sys/kernel/bpf_stats_enabled
        n=$((n1 - n0))
        echo "round $r $k: $n packets, $(( (t1 - t0) / (n > 0 ? n : 1) )) ns per packet"
    done
done
