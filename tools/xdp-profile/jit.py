"""Dumps the JIT images of BPF program ID, one file per function.

Usage: jit.py ID PREFIX. Writes PREFIX.<kernel address>.bin per function
and prints "<address> <size>" lines. Uses BPF_OBJ_GET_INFO_BY_FD directly:
this bpftool has no libbfd, and /proc/kcore is not available.
"""
import ctypes
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
NR_BPF = 321  # x86_64
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, len(attr))
    r = libc.syscall(NR_BPF, cmd, buf, len(attr))
    if r < 0:
        raise OSError(ctypes.get_errno(), "bpf")
    return r


def info(fd, buf):
    attr = struct.pack("<IIQ", fd, len(buf), ctypes.addressof(buf))
    bpf(BPF_OBJ_GET_INFO_BY_FD, attr + b"\0" * (128 - len(attr)))


prog_id, prefix = int(sys.argv[1]), sys.argv[2]
fd = bpf(BPF_PROG_GET_FD_BY_ID, struct.pack("<I", prog_id) + b"\0" * 124)
# struct bpf_prog_info: jited_prog_len at 16, jited_prog_insns at 24,
# nr_jited_ksyms / nr_jited_func_lens at 104, their arrays at 112 / 120.
first = ctypes.create_string_buffer(256)
info(fd, first)
jited_len = struct.unpack_from("<I", first, 16)[0]
nksyms, nlens = struct.unpack_from("<II", first, 104)
image = ctypes.create_string_buffer(jited_len)
ksyms = (ctypes.c_uint64 * nksyms)()
lens = (ctypes.c_uint32 * nlens)()
second = ctypes.create_string_buffer(256)
struct.pack_into("<I", second, 16, jited_len)
struct.pack_into("<Q", second, 24, ctypes.addressof(image))
struct.pack_into("<II", second, 104, nksyms, nlens)
struct.pack_into("<QQ", second, 112, ctypes.addressof(ksyms), ctypes.addressof(lens))
info(fd, second)
offset = 0
for addr, length in zip(ksyms, lens):
    with open("%s.%x.bin" % (prefix, addr), "wb") as f:
        f.write(image.raw[offset:offset + length])
    print("%x %d" % (addr, length))
    offset += length
