/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Console data-path benchmark on the simulated Xen:
 *  1. guest -> pty throughput: 32 MiB through out[] to a reader of the pty
 *     pvbackd wrote into F/tty (rate limit raised so that it measures the
 *     data path, not xenconsoled's 30 events per 200 ms);
 *  2. round-trip latency of one byte: guest out[] -> pty -> echoed back by the
 *     reader -> pty -> guest in[].
 * The reference, measured in the same run: the same transfers through a
 * plain pty between two processes (what any pty-based console costs at
 * least). Results go to stdout as "name value unit" lines. */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "cons-front.h"
#include "harness.h"
#include "xensim.h"

#define BYTES (32u << 20)
#define ROUNDS 2000
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* A child that reads fd: counts to total (drain) or echoes each byte (echo). */
static pid_t reader_child(int fd, bool echo, size_t total) {
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        char buf[65536];
        size_t got = 0;
        int fl = 0;
        (void) fl;
        while (echo || got < total) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t k;
                if (poll(&p, 1, 10000) <= 0)
                        _exit(1);
                k = read(fd, buf, sizeof buf);
                if (k < 0 && errno == EAGAIN)
                        continue;
                if (k <= 0)
                        _exit(echo ? 0 : 1);
                got += (size_t) k;
                if (echo && write(fd, buf, (size_t) k) != k)
                        _exit(1);
        }
        _exit(0);
}

static int wait_child(pid_t pid) {
        int status;
        if (waitpid(pid, &status, 0) != pid)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void raw(int fd) {
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
                cfmakeraw(&t);
                tcsetattr(fd, TCSANOW, &t);
        }
}

/* The reference: a pty, writer on the master, reader on the slave. */
static int reference(double *ret_mibs, double *lat) {
        int master = posix_openpt(O_RDWR | O_NOCTTY), slave;
        static char chunk[2048];
        double t0;
        pid_t pid;

        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
                return -1;
        slave = open(ptsname(master), O_RDWR | O_NOCTTY);
        if (slave < 0)
                return -1;
        raw(slave);
        pid = reader_child(slave, false, BYTES);
        t0 = now_s();
        for (size_t done = 0; done < BYTES; done += sizeof chunk)
                if (write(master, chunk, sizeof chunk) != (ssize_t) sizeof chunk)
                        return -1;
        if (wait_child(pid) != 0)
                return -1;
        *ret_mibs = BYTES / (now_s() - t0) / (1 << 20);

        pid = reader_child(slave, true, 0);
        for (int i = 0; i < ROUNDS; i++) {
                char c = (char) i, back;
                double t = now_s();
                if (write(master, &c, 1) != 1)
                        return -1;
                struct pollfd p = { .fd = master, .events = POLLIN };
                if (poll(&p, 1, 5000) <= 0 || read(master, &back, 1) != 1 || back != c)
                        return -1;
                lat[i] = (now_s() - t) * 1e6;
        }
        kill(pid, SIGTERM);
        wait_child(pid);
        close(slave);
        close(master);
        return 0;
}

int main(void) {
        static char chunk[2048];
        Harness h;
        ConsFront f;
        double t0, mibs, ref_mibs, lat[ROUNDS], ref_lat[ROUNDS];
        pid_t pid;
        int fd, r;

        if (reference(&ref_mibs, ref_lat) < 0) {
                fprintf(stderr, "reference failed\n");
                return 1;
        }

        r = harness_start(&h, "[console]\nrate-limit = 1000000\nrate-interval-ms = 1\noverflow = keep\n"
                              "[guest \"bench\"]\nconsole.b = pty\n");
        if (r < 0) {
                fprintf(stderr, "cannot start: %s\n", strerror(-r));
                return 1;
        }
        if (ts_domain_create(&h, 1, "bench") < 0 || cf_open(&f, &h, 1, 1) < 0 ||
            ts_wait(&h, "/local/domain/1/device/console/1/name", "b", 5000) < 0 ||
            cf_connect_linux(&f, 5000) < 0 || (fd = cf_open_tty(&f, NULL)) < 0) {
                fprintf(stderr, "console did not connect\n");
                harness_finish(&h);
                return 1;
        }

        pid = reader_child(fd, false, BYTES);
        t0 = now_s();
        for (size_t done = 0; done < BYTES;) {
                size_t k = cf_write(&f, chunk, MIN(sizeof chunk, BYTES - done));
                done += k;
                if (k == 0)
                        sched_yield();
        }
        if (wait_child(pid) != 0) {
                fprintf(stderr, "the pty reader did not get everything\n");
                harness_finish(&h);
                return 1;
        }
        mibs = BYTES / (now_s() - t0) / (1 << 20);

        pid = reader_child(fd, true, 0);
        for (int i = 0; i < ROUNDS; i++) {
                char c = (char) i, back = 0;
                double t = now_s();
                cf_write(&f, &c, 1);
                while (cf_read(&f, &back, 1) == 0)
                        if (now_s() - t > 5) {
                                fprintf(stderr, "round trip %d timed out\n", i);
                                return 1;
                        }
                if (back != c)
                        return 1;
                lat[i] = (now_s() - t) * 1e6;
        }
        kill(pid, SIGTERM);
        wait_child(pid);
        close(fd);
        cf_close(&f);
        harness_finish(&h);

        qsort(lat, ROUNDS, sizeof *lat, cmp_double);
        qsort(ref_lat, ROUNDS, sizeof *ref_lat, cmp_double);
        printf("cons_guest_to_pty %.1f MiB/s\n", mibs);
        printf("reference_pty_throughput %.1f MiB/s\n", ref_mibs);
        printf("cons_throughput_ratio %.2f\n", mibs / ref_mibs);
        printf("cons_roundtrip_p50 %.1f us\n", lat[ROUNDS / 2]);
        printf("cons_roundtrip_p99 %.1f us\n", lat[ROUNDS * 99 / 100]);
        printf("reference_pty_roundtrip_p50 %.1f us\n", ref_lat[ROUNDS / 2]);
        printf("reference_pty_roundtrip_p99 %.1f us\n", ref_lat[ROUNDS * 99 / 100]);
        printf("cons_roundtrip_ratio_p50 %.2f\n", lat[ROUNDS / 2] / ref_lat[ROUNDS / 2]);
        return 0;
}
