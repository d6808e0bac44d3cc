// testrun_loop PROG_ID PKTFILE SECONDS: BPF_PROG_TEST_RUN, one packet per
// call, cycling through the packets of PKTFILE (each a little-endian u16
// length and the frame; packets.py writes them) for SECONDS; prints the
// runs and the kernel's mean time per run. A tight C loop: the calls come
// about four times as fast as from testrun.py, so that `perf record -a`
// alongside sees mostly the program. For an A/B, run it on each program
// in turn, several rounds (the machine's drift falls on all alike):
//   gcc -O2 -o /tmp/testrun_loop testrun_loop.c
//   for i in 1 2 3 4 5 6; do for p in OLD NEW; do
//     /tmp/testrun_loop $p /tmp/ecs.pkts 1.5; done; done
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static long bpf(int cmd, union bpf_attr *a) { return syscall(__NR_bpf, cmd, a, sizeof(*a)); }
int main(int argc, char **argv) {
    union bpf_attr a; memset(&a, 0, sizeof a); a.prog_id = atoi(argv[1]);
    int fd = bpf(BPF_PROG_GET_FD_BY_ID, &a); if (fd < 0) { perror("fd"); return 1; }
    FILE *f = fopen(argv[2], "rb"); static unsigned char buf[1 << 26]; size_t n = fread(buf, 1, sizeof buf, f);
    int np = 0; static unsigned offs[1 << 20], lens[1 << 20];
    for (size_t o = 0; o + 2 <= n;) { unsigned l = buf[o] | buf[o + 1] << 8; offs[np] = o + 2; lens[np++] = l; o += 2 + l; }
    double secs = atof(argv[3]); struct timespec t0, t; clock_gettime(CLOCK_MONOTONIC, &t0);
    static unsigned char data[2048], out[2048]; unsigned long runs = 0, total = 0;
    for (;;) {
        for (int i = 0; i < 1000; i++) {
            int k = runs % np; memcpy(data, buf + offs[k], lens[k]);
            memset(&a, 0, sizeof a); a.test.prog_fd = fd; a.test.data_in = (unsigned long)data; a.test.data_size_in = lens[k];
            a.test.data_out = (unsigned long)out; a.test.data_size_out = sizeof out; a.test.repeat = 1;
            if (bpf(BPF_PROG_TEST_RUN, &a)) { perror("run"); return 1; }
            total += a.test.duration; runs++;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs) break;
    }
    printf("prog %s runs %lu mean %.1f ns\n", argv[1], runs, (double)total / runs);
}
