#!/usr/bin/env python3
"""Loads and pins toy XDP programs that each read one 64-byte entry of a
table, chosen by a hash of the packet's first four QNAME bytes, and drop
the packet: how much a per-name table read costs under real traffic,
apart from any DNS work (see table-read.sh, which runs them).

Usage (as root): table_read.py PIN_PREFIX

Pins PIN_PREFIX<kind> for each kind: `flat` (1 MB mmapable array of 16,384
entries, like NAME_SLOTS for 10,000 names), `m256k`, `m128k`, `m64k`,
`small` (the first 256 KB, 128 KB, 64 KB or 16 entries of it), `nested`
(the same 16,384 entries in 37 inner arrays small enough to be kmalloc'ed,
so in the kernel's huge-page direct map), and `codeN` (`small` followed
by N straight-line 16-byte `ld_imm64` instructions, about 10 N bytes of
x86 code run once per packet: what instruction fetch costs under
traffic). Raw BPF instructions: no toolchain needed.
"""
import ctypes
import os
import re
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
SYS_BPF = 321
SLOTS = 16384
# 448 entries of 64 bytes plus the array header stay under 32 KB: kmalloc.
PER = 448
MASKS = {"small": 15, "m256k": 4095, "m128k": 2047, "m64k": 1023}
CODE = (300, 600, 1200)


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, len(attr))
    r = libc.syscall(SYS_BPF, cmd, buf, len(attr))
    if r < 0:
        raise OSError(ctypes.get_errno(), f"bpf cmd {cmd}")
    return r


def map_create(mtype, ksz, vsz, n, inner_fd=0, flags=0):
    a = struct.pack("<IIIIII", mtype, ksz, vsz, n, flags, inner_fd)
    return bpf(0, a + b"\0" * (120 - len(a)))


def update(fd, k, v):
    kb = ctypes.create_string_buffer(k, len(k))
    vb = ctypes.create_string_buffer(v, len(v))
    a = struct.pack("<IIQQQ", fd, 0, ctypes.addressof(kb), ctypes.addressof(vb), 0)
    bpf(2, a + b"\0" * (120 - len(a)))


def pin(fd, path):
    p = ctypes.create_string_buffer(path.encode())
    a = struct.pack("<QI", ctypes.addressof(p), fd)
    bpf(6, a + b"\0" * (120 - len(a)))


def ins(op, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", op, dst | (src << 4), off, imm)


def ld_map(dst, fd):
    return ins(0x18, dst, 1, 0, fd) + ins(0, 0, 0, 0, 0)


def lookup(map_fd, key_reg, stack_off):
    """r0 = lookup(map, &key_reg) with the key spilled at r10 + stack_off."""
    return (ins(0x63, 10, key_reg, stack_off) + ld_map(1, map_fd)
            + ins(0xbf, 2, 10) + ins(0x07, 2, 0, 0, stack_off)
            + ins(0x85, 0, 0, 0, 1))


def lookup_inner(key_reg, stack_off):
    """r0 = lookup(r0 as map, &key_reg)."""
    return (ins(0x63, 10, key_reg, stack_off) + ins(0xbf, 1, 0)
            + ins(0xbf, 2, 10) + ins(0x07, 2, 0, 0, stack_off)
            + ins(0x85, 0, 0, 0, 1))


def prog(map_fd, kind):
    # r2 = data, r3 = data_end; the first 64 bytes must be there.
    p = ins(0x61, 2, 1, 0) + ins(0x61, 3, 1, 4) + ins(0xbf, 4, 2) + ins(0x07, 4, 0, 0, 64)
    body = ins(0x61, 6, 2, 55)                   # w6 = the first 4 QNAME bytes (IPv4)
    body += ins(0x24, 6, 0, 0, -1640531535)      # w6 *= 0x9e3779b1
    body += ins(0x74, 6, 0, 0, 18)               # w6 >>= 18: 0..16383
    code = re.fullmatch(r"code(\d+)", kind)
    if kind in MASKS or code:
        body += ins(0x54, 6, 0, 0, MASKS.get(kind, MASKS["small"]))
    if kind == "nested":
        body += ins(0xbc, 7, 6) + ins(0x94, 7, 0, 0, PER)  # w7 = w6 % PER
        body += ins(0x34, 6, 0, 0, PER)                     # w6 /= PER
        inner = lookup_inner(7, -8) + ins(0x15, 0, 0, 1, 0) + ins(0x79, 5, 0, 0)
        body += lookup(map_fd, 6, -4) + ins(0x15, 0, 0, len(inner) // 8, 0) + inner
    else:
        body += lookup(map_fd, 6, -4) + ins(0x15, 0, 0, 1, 0) + ins(0x79, 5, 0, 0)
    for i in range(int(code.group(1)) if code else 0):
        body += ins(0x18, 7 + i % 3, 0, 0, i) + ins(0, 0, 0, 0, 7 * i)  # r7..r9 = imm64
    out = ins(0xb7, 0, 0, 0, 1) + ins(0x95)      # XDP_DROP
    p += ins(0x2d, 4, 3, len(body) // 8) + body + out
    ib = ctypes.create_string_buffer(p, len(p))
    lic = ctypes.create_string_buffer(b"GPL")
    try:
        a = struct.pack("<IIQQ", 6, len(p) // 8, ctypes.addressof(ib), ctypes.addressof(lic))
        return bpf(5, a + b"\0" * (120 - len(a)))
    except OSError:
        # Again with the verifier's log (a long one: the code kinds).
        log = ctypes.create_string_buffer(1 << 24)
        a = struct.pack("<IIQQIIQ", 6, len(p) // 8, ctypes.addressof(ib),
                        ctypes.addressof(lic), 1, len(log), ctypes.addressof(log))
        try:
            bpf(5, a + b"\0" * (120 - len(a)))
        except OSError:
            print(log.value.decode()[-4000:], file=sys.stderr)
        raise


def main():
    prefix = sys.argv[1]
    flat = map_create(2, 4, 64, SLOTS, flags=0x400)  # BPF_F_MMAPABLE, as NAME_SLOTS
    for i in range(SLOTS):
        update(flat, struct.pack("<I", i), bytes([1]) * 64)
    nout = (SLOTS + PER - 1) // PER
    outer = map_create(12, 4, 4, nout, inner_fd=map_create(2, 4, 64, PER))
    for o in range(nout):
        m = map_create(2, 4, 64, PER)
        for i in range(PER):
            update(m, struct.pack("<I", i), bytes([1]) * 64)
        update(outer, struct.pack("<I", o), struct.pack("<I", m))
    for kind in ("flat", "nested", *MASKS, *("code%d" % n for n in CODE)):
        path = prefix + kind
        if os.path.exists(path):
            os.unlink(path)
        pin(prog(outer if kind == "nested" else flat, kind), path)


if __name__ == "__main__":
    main()
