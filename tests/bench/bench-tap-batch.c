/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Would batching the tap's system calls make a tap-based backend faster?
 * The tap alone, per CPU-second, in a network namespace of its own:
 *   - writing 64-byte frames (with the virtio-net header, addressed to a
 *     host that is not there, so the stack drops them as it drops
 *     guest->tap traffic in bench-net) with one write() each, and with
 *     io_uring, 16 or 64 writes per io_uring_enter();
 *   - reading frames that an AF_PACKET socket sent into the tap, with one
 *     read() each, and with io_uring, 16 or 64 reads per io_uring_enter().
 * The reference is the plain system call in the same run; the ratios say
 * what batching would gain at most (the frames are produced for free here).
 *
 * Needs root for the namespace and the tap (exit 77 otherwise). */

#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <liburing.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#define FRAME 64u
#define PACKETS 600000u      /* per measurement */
#define READ_FILL 10000u     /* frames queued in the tap before each read pass */

static int tap_open(const char *name) {
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE };
        int fd, s;

        fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
        if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;
        s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_qlen = (int) READ_FILL * 2;
        if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0)
                return -errno;
        close(s);
        return fd;
}

/* Completes n queued operations; returns how many succeeded. */
static unsigned uring_reap(struct io_uring *ring, unsigned n) {
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0, ok = 0;

        if (io_uring_submit_and_wait(ring, n) < 0)
                return 0;
        io_uring_for_each_cqe(ring, head, cqe) {
                seen++;
                ok += cqe->res > 0;
        }
        io_uring_cq_advance(ring, seen);
        return ok;
}

/* Packets written per CPU-second; batch 0 means one write() each. */
static double bench_write(int fd, struct io_uring *ring, unsigned batch) {
        static uint8_t frame[sizeof(struct virtio_net_hdr) + FRAME];
        unsigned done = 0;
        double c0;

        memset(frame + sizeof(struct virtio_net_hdr), 0x02, 6); /* to a host that is not there */
        frame[sizeof(struct virtio_net_hdr) + 6] = 0x02;
        frame[sizeof(struct virtio_net_hdr) + 12] = 0x08; /* IPv4 */
        c0 = thread_cpu_s();
        while (done < PACKETS) {
                if (batch == 0) {
                        if (write(fd, frame, sizeof frame) != (ssize_t) sizeof frame)
                                return 0;
                        done++;
                        continue;
                }
                for (unsigned i = 0; i < batch; i++)
                        io_uring_prep_write(io_uring_get_sqe(ring), fd, frame, sizeof frame, 0);
                if (uring_reap(ring, batch) != batch)
                        return 0;
                done += batch;
        }
        return done / (thread_cpu_s() - c0);
}

/* Packets read per CPU-second (the reads only, not the sending). */
static double bench_read(int fd, int pkt, int ifindex, struct io_uring *ring, unsigned batch) {
        static uint8_t frame[FRAME], bufs[64][2048];
        struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
        unsigned done = 0;
        double cpu = 0;

        memset(frame, 0x02, 12);
        frame[12] = 0x08;
        while (done < PACKETS) {
                unsigned queued = 0, got = 0;
                double c0;

                for (; queued < READ_FILL; queued++)
                        if (sendto(pkt, frame, sizeof frame, 0, (struct sockaddr *) &to, sizeof to) < 0)
                                break;
                c0 = thread_cpu_s();
                while (got < queued) {
                        unsigned n = batch == 0 ? 1 : (queued - got < batch ? queued - got : batch);
                        if (batch == 0) {
                                if (read(fd, bufs[0], sizeof bufs[0]) <= 0)
                                        return 0;
                                got++;
                                continue;
                        }
                        for (unsigned i = 0; i < n; i++)
                                io_uring_prep_read(io_uring_get_sqe(ring), fd, bufs[i], sizeof bufs[i], 0);
                        if (uring_reap(ring, n) != n)
                                return 0;
                        got += n;
                }
                cpu += thread_cpu_s() - c0;
                done += got;
        }
        return done / cpu;
}

int main(void) {
        static const unsigned batches[] = { 0, 16, 64 };
        struct io_uring ring;
        int fd, pkt, ifindex;
        double w[3], r[3];

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
                printf("SKIP: bench-tap-batch needs root (a network namespace and a tap)\n");
                return 77;
        }
        fd = tap_open("tapbatch0");
        ifindex = (int) if_nametoindex("tapbatch0");
        pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* protocol 0: sends only */
        if (fd < 0 || ifindex <= 0 || pkt < 0 || io_uring_queue_init(128, &ring, 0) < 0) {
                fprintf(stderr, "setting up the tap, the packet socket or io_uring failed: %s\n", strerror(errno));
                return 1;
        }
        for (unsigned i = 0; i < 3; i++) {
                w[i] = bench_write(fd, &ring, batches[i]);
                r[i] = bench_read(fd, pkt, ifindex, &ring, batches[i]);
                if (w[i] <= 0 || r[i] <= 0) {
                        fprintf(stderr, "a tap %s failed: %s\n", w[i] <= 0 ? "write" : "read", strerror(errno));
                        return 1;
                }
        }
        printf("ref.tap-write.64B.syscall %.0f pkt/s/core\n", w[0]);
        printf("ref.tap-read.64B.syscall %.0f pkt/s/core\n", r[0]);
        for (unsigned i = 1; i < 3; i++) {
                printf("tap-write.64B.io_uring-%u %.0f pkt/s/core\n", batches[i], w[i]);
                printf("tap-write.64B.io_uring-%u.vs-syscall %.3f ratio\n", batches[i], w[i] / w[0]);
                printf("tap-read.64B.io_uring-%u %.0f pkt/s/core\n", batches[i], r[i]);
                printf("tap-read.64B.io_uring-%u.vs-syscall %.3f ratio\n", batches[i], r[i] / r[0]);
        }
        io_uring_queue_exit(&ring);
        return 0;
}
