/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Data-path benchmark of the network backend on the simulated Xen:
 * guest->tap and tap->guest, 64-byte and 1514-byte frames and 64 KiB GSO
 * frames, with one and four queues, through pvbackd-sim. The frontend is in
 * this process and as cheap as it can be (requests posted in batches, one
 * notify per batch, responses consumed in bulk without touching the data).
 * The tap is in a network namespace of its own; guest->tap frames are
 * addressed to another host, so that the kernel drops them right after the
 * tap has counted them, and tap->guest frames are sent into the tap with an
 * AF_PACKET socket in that namespace, paced so that nothing overflows.
 *
 * References measured in the same run:
 *   - memcpy of the same byte count in buffers of the same size (one core),
 *     which stay in the cache, and memcpy between buffers far larger than
 *     the cache (the machine's memory bandwidth);
 *   - tap-to-tap forwarding: a child process reading tap A and writing
 *     tap B (IFF_VNET_HDR, same queues, same offloads), each tap in its own
 *     namespace, fed and drained exactly like the vif;
 *   - the tap alone, which is the ceiling of any backend on a tap: a loop
 *     that only writes the same frames into a tap (guest->tap's kernel
 *     work, with nothing done to produce them), and a child that only reads
 *     what the generator sends into a tap (tap->guest's).
 * CPU time comes from /proc/<pid>/stat (the daemon, the forwarder) and
 * CLOCK_THREAD_CPUTIME_ID (the frontend, the packet generator).
 *
 * Output: lines "name value unit", then a summary table. Needs root (exit 77
 * otherwise). BENCH_NET_SECONDS sets the length of each run (default 2);
 * BENCH_NET_SIZE and BENCH_NET_QUEUES select one case. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/param.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "netfront.h"
#include "xensim.h"

#define ELEMENTS(x) (sizeof(x) / sizeof((x)[0]))
#define N_FLOWS 64u
#define GEN_BATCH 64u
#define GSO_FRAME 65534u /* the largest a netif request can say (16 bits), 16 pages */
#define GSO_MSS 1448u

typedef struct Size {
        const char *name;
        size_t len;
        bool gso;
} Size;

static const Size sizes[] = {
        { "64B", 64, false },
        { "1514B", 1514, false },
        { "64KiB-GSO", GSO_FRAME, true },
};
static const unsigned queue_counts[] = { 1, 4 };

typedef struct Result {
        bool ok;
        uint64_t packets, bytes;     /* completed inside the timed window */
        double wall, daemon_cpu, fe_cpu, gen_cpu;
        uint64_t lost, errors;       /* never arrived, error statuses */
} Result;

typedef struct Case {
        Result tx, rx, fwd, tap_write, tap_read;
        double memcpy_s, memcpy_cpu; /* memcpy of the larger byte count of tx and rx: wall, CPU */
        uint64_t memcpy_bytes;
} Case;

static Case cases[ELEMENTS(queue_counts)][ELEMENTS(sizes)];
static Harness H;
static char NS_P[32], NS_A[32], NS_B[32];
static int self_ns = -1;
static volatile sig_atomic_t interrupted;
static double run_seconds = 2.0;

/* The forwarder's shared page. */
typedef struct FwdShared {
        _Atomic uint64_t packets, bytes;
        _Atomic int stop;
        _Atomic int sink; /* only read, write nothing: the tap-read reference */
} FwdShared;
static FwdShared *fwd_shm;
static pid_t fwd_pid = -1;

static double gbs(uint64_t bytes, double s);

static void on_signal(int sig) {
        (void) sig;
        interrupted = 1;
}

/* ---- namespaces, taps ---------------------------------------------------- */

static int ns_create(const char *ns) {
        return harness_sh("ip netns add %s && ip netns exec %s sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
                  "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6' && ip -n %s link set lo up",
                  ns, ns, ns);
}

static int enter_ns(const char *ns) {
        char path[128];
        int fd, r;

        snprintf(path, sizeof path, "/var/run/netns/%s", ns);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = setns(fd, CLONE_NEWNET);
        close(fd);
        return r < 0 ? -errno : 0;
}

static void leave_ns(void) {
        if (setns(self_ns, CLONE_NEWNET) < 0)
                perror("setns back");
}

/* Moves ifname into ns, up, no address (all it receives is for another host,
 * and dropped right after the tap has counted it). */
static int tap_to_ns(const char *ifname, const char *ns) {
        return harness_sh("ip link set %s netns %s && ip -n %s link set %s txqueuelen 1000 up", ifname, ns, ns, ifname);
}

typedef struct DevStats {
        uint64_t rx_packets, rx_bytes, rx_drop, tx_packets, tx_drop;
} DevStats;

/* From /proc/net/dev as seen inside ns. */
static int dev_stats(const char *ns, const char *ifname, DevStats *ret) {
        char line[512];
        FILE *f;
        int r = -ENOENT;

        *ret = (DevStats) {};
        if (enter_ns(ns) < 0)
                return -errno;
        f = fopen("/proc/thread-self/net/dev", "re");
        leave_ns();
        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f)) {
                char *colon = strchr(line, ':'), *name = line;
                unsigned long long v[16];
                if (!colon)
                        continue;
                *colon = 0;
                while (*name == ' ')
                        name++;
                if (strcmp(name, ifname) != 0)
                        continue;
                if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                           &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]) == 12) {
                        *ret = (DevStats) { .rx_bytes = v[0], .rx_packets = v[1], .rx_drop = v[3],
                                            .tx_packets = v[9], .tx_drop = v[11] };
                        r = 0;
                }
        }
        fclose(f);
        return r;
}

/* A multi-queue tap with the virtio-net header and the offloads pvbackd
 * sets for a frontend with checksum offload and GSO. */
static int open_mq_tap(const char *name, unsigned n, int *fds) {
        for (unsigned i = 0; i < n; i++) {
                struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE };
                snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
                fds[i] = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (fds[i] < 0 || ioctl(fds[i], TUNSETIFF, &ifr) < 0 ||
                    ioctl(fds[i], TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0) {
                        fprintf(stderr, "tap %s queue %u: %s\n", name, i, strerror(errno));
                        return -errno;
                }
        }
        return 0;
}

/* ---- frames -------------------------------------------------------------- */

static const uint8_t GUEST_MAC[6] = { 0x00, 0x16, 0x3e, 0x00, 0x00, 0x01 };
static const uint8_t PEER_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x09 };   /* a host that is not there */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n) {
        for (size_t i = 0; i + 1 < n; i += 2)
                sum += (uint32_t) (p[i] << 8 | p[i + 1]);
        if (n & 1)
                sum += (uint32_t) p[n - 1] << 8;
        return sum;
}

static uint16_t csum_fold16(uint32_t sum) {
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t) sum;
}

/* An Ethernet/IPv4 frame of len bytes: UDP (checksum 0, allowed in IPv4)
 * unless gso, then TCP with the pseudo-header sum in its checksum field
 * (a partial checksum, NETTXF_csum_blank / VIRTIO_NET_HDR_F_NEEDS_CSUM). */
static void build_frame(uint8_t *f, size_t len, const uint8_t dst[6], const uint8_t src[6], bool tcp,
                        uint16_t sport) {
        size_t ip_len = len - 14, l4_len = ip_len - 20;
        uint8_t *ip = f + 14, *l4 = f + 34;
        uint32_t s;

        memcpy(f, dst, 6);
        memcpy(f + 6, src, 6);
        f[12] = 0x08, f[13] = 0x00;
        memset(ip, 0, 20);
        ip[0] = 0x45;
        ip[2] = (uint8_t) (ip_len >> 8), ip[3] = (uint8_t) ip_len;
        ip[6] = 0x40; /* DF */
        ip[8] = 64, ip[9] = tcp ? IPPROTO_TCP : IPPROTO_UDP;
        ip[12] = 10, ip[13] = 202, ip[14] = 0, ip[15] = 2;
        ip[16] = 10, ip[17] = 202, ip[18] = 0, ip[19] = 1;
        uint16_t c = (uint16_t) ~csum_fold16(csum_add(0, ip, 20));
        ip[10] = (uint8_t) (c >> 8), ip[11] = (uint8_t) c;
        for (size_t i = tcp ? 20 : 8; i < l4_len; i++)
                l4[i] = (uint8_t) (i * 7 + 1);
        l4[0] = (uint8_t) (sport >> 8), l4[1] = (uint8_t) sport, l4[2] = 0x13, l4[3] = 0x89; /* -> 5001 */
        if (!tcp) {
                l4[4] = (uint8_t) (l4_len >> 8), l4[5] = (uint8_t) l4_len, l4[6] = l4[7] = 0;
                return;
        }
        memset(l4 + 4, 0, 16);
        l4[7] = 1, l4[12] = 5 << 4, l4[13] = 0x18, l4[14] = 0xff, l4[15] = 0xff;
        s = csum_add(0, ip + 12, 8) + IPPROTO_TCP + (uint32_t) l4_len;
        c = csum_fold16(s);
        l4[16] = (uint8_t) (c >> 8), l4[17] = (uint8_t) c;
}

static struct virtio_net_hdr vnet_hdr_for(const Size *sz) {
        if (!sz->gso)
                return (struct virtio_net_hdr) {};
        return (struct virtio_net_hdr) { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                         .hdr_len = 54, .gso_size = GSO_MSS, .csum_start = 34, .csum_offset = 16 };
}

/* ---- the packet generator: AF_PACKET into a tap, inside its namespace ---- */

typedef struct Gen {
        int fd;
        struct virtio_net_hdr vh;
        uint8_t hdrs[N_FLOWS][64]; /* the first 54 bytes of each flow's frame */
        uint8_t *payload;          /* the rest, shared by all flows */
        size_t hdr_len, payload_len;
        struct mmsghdr msgs[GEN_BATCH];
        struct iovec iov[GEN_BATCH][3];
        unsigned next_flow;
        double cpu;                /* thread CPU spent in sendmmsg */
} Gen;

static int gen_open(Gen *g, const char *ns, const char *ifname, const Size *sz) {
        struct sockaddr_ll sa = { .sll_family = AF_PACKET }; /* protocol 0: sends only, receives nothing */
        static uint8_t frame[GSO_FRAME];
        int one = 1;

        *g = (Gen) { .fd = -1 };
        if (enter_ns(ns) < 0)
                return -errno;
        g->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        sa.sll_ifindex = (int) if_nametoindex(ifname);
        leave_ns();
        if (g->fd < 0 || sa.sll_ifindex <= 0 ||
            setsockopt(g->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0 ||
            setsockopt(g->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0 ||
            bind(g->fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                fprintf(stderr, "packet socket on %s in %s: %s\n", ifname, ns, strerror(errno));
                if (g->fd >= 0)
                        close(g->fd);
                g->fd = -1;
                return -errno;
        }
        g->vh = vnet_hdr_for(sz);
        g->hdr_len = sz->gso ? 54 : 42;
        for (unsigned i = 0; i < N_FLOWS; i++) {
                build_frame(frame, sz->len, GUEST_MAC, PEER_MAC, sz->gso, (uint16_t) (20000 + i * 7));
                memcpy(g->hdrs[i], frame, g->hdr_len);
        }
        g->payload_len = sz->len - g->hdr_len;
        g->payload = malloc(g->payload_len);
        memcpy(g->payload, frame + g->hdr_len, g->payload_len);
        for (unsigned i = 0; i < GEN_BATCH; i++) {
                g->iov[i][0] = (struct iovec) { &g->vh, sizeof g->vh };
                g->iov[i][2] = (struct iovec) { g->payload, g->payload_len };
                g->msgs[i].msg_hdr = (struct msghdr) { .msg_iov = g->iov[i], .msg_iovlen = 3 };
        }
        return 0;
}

static void gen_close(Gen *g) {
        if (g->fd >= 0)
                close(g->fd);
        free(g->payload);
        g->fd = -1;
        g->payload = NULL;
}

/* Sends up to n frames, round robin over the flows; returns how many went. */
static unsigned gen_send(Gen *g, unsigned n) {
        double c0 = thread_cpu_s();
        int r;

        if (n > GEN_BATCH)
                n = GEN_BATCH;
        for (unsigned i = 0; i < n; i++)
                g->iov[i][1] = (struct iovec) { g->hdrs[(g->next_flow + i) % N_FLOWS], g->hdr_len };
        r = sendmmsg(g->fd, g->msgs, n, MSG_DONTWAIT);
        g->cpu += thread_cpu_s() - c0;
        if (r <= 0)
                return 0;
        g->next_flow = (g->next_flow + (unsigned) r) % N_FLOWS;
        return (unsigned) r;
}

/* ---- guest -> tap -------------------------------------------------------- */

/* Guest pages hold the frames once; requests only point at them. GSO
 * frames use groups of 16 pages, 16 groups per queue. */
static void tx_fill_pages(NetFront *nf, const Size *sz) {
        static uint8_t frame[GSO_FRAME];

        build_frame(frame, sz->len, PEER_MAC, GUEST_MAC, sz->gso, 40000);
        for (unsigned qi = 0; qi < nf->o.queues; qi++)
                for (unsigned p = 0; p < NF_RING; p++) {
                        uint8_t *page = xsim_guest_page(nf->dev.domid, nf->q[qi].tx_gfn[p]);
                        if (!sz->gso)
                                memcpy(page, frame, sz->len);
                        else {
                                size_t off = (p % 16) * 4096u;
                                memcpy(page, frame + off, MIN(4096u, sz->len - off));
                        }
                }
}

static unsigned tx_slots_per_packet(const Size *sz) {
        return sz->gso ? 1 + 1 + (unsigned) ((sz->len - 1) / 4096) : 1; /* data slots + the GSO extra */
}

static void tx_post(NetFront *nf, unsigned qi, const Size *sz, unsigned *group) {
        NfQueue *q = &nf->q[qi];
        RING_IDX i = q->tx.req_prod_pvt;

        if (!sz->gso) {
                netif_tx_request_t r = { .gref = q->tx_gref[i % NF_RING], .offset = 0, .size = (uint16_t) sz->len,
                                         .flags = NETTXF_data_validated, .id = (uint16_t) i };
                *RING_GET_REQUEST(&q->tx, i) = r;
                q->tx.req_prod_pvt = i + 1;
                return;
        }
        unsigned base = (*group)++ % 16 * 16, n_data = (unsigned) ((sz->len + 4095) / 4096);
        for (unsigned s = 0; s < n_data; s++) {
                netif_tx_request_t r = { .gref = q->tx_gref[base + s], .offset = 0, .id = (uint16_t) i };
                if (s == 0) {
                        r.size = (uint16_t) sz->len;
                        r.flags = NETTXF_csum_blank | NETTXF_data_validated | NETTXF_extra_info;
                } else
                        r.size = (uint16_t) MIN(4096u, sz->len - s * 4096u);
                if (s + 1 < n_data)
                        r.flags |= NETTXF_more_data;
                *RING_GET_REQUEST(&q->tx, i) = r;
                i++;
                if (s == 0) {
                        netif_extra_info_t *e = (netif_extra_info_t *) RING_GET_REQUEST(&q->tx, i);
                        *e = (netif_extra_info_t) { .type = XEN_NETIF_EXTRA_TYPE_GSO };
                        e->u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
                        e->u.gso.size = GSO_MSS;
                        i++;
                }
        }
        q->tx.req_prod_pvt = i;
}

static Result run_tx(NetFront *nf, const Size *sz, const char *vif) {
        unsigned spp = tx_slots_per_packet(sz), group = 0, errors = 0;
        uint64_t slots_done = 0, posted = 0;
        double t0, t1, d0, fe0, deadline;
        DevStats s0, s1;
        Result res = {};

        tx_fill_pages(nf, sz);
        if (dev_stats(NS_P, vif, &s0) < 0)
                return res;
        t0 = now_s();
        d0 = process_cpu_seconds(H.pvbackd);
        fe0 = thread_cpu_s();
        deadline = t0 + run_seconds;
        for (double t = t0; t < deadline && !interrupted; t = now_s()) {
                bool progress = false;
                for (unsigned qi = 0; qi < nf->o.queues; qi++) {
                        NfQueue *q = &nf->q[qi];
                        unsigned got = nf_tx_reap(nf, qi, &errors), n = 0;
                        slots_done += got;
                        while (NF_RING - (q->tx.req_prod_pvt - q->tx.rsp_cons) >= spp) {
                                tx_post(nf, qi, sz, &group);
                                n++;
                        }
                        if (n > 0)
                                nf_push(nf, qi); /* one notify per batch, if the backend asked */
                        posted += n;
                        progress |= got > 0 || n > 0;
                }
                if (!progress && !nf_arm(nf))
                        nf_wait_event(nf, 1);
        }
        t1 = now_s();
        res.daemon_cpu = process_cpu_seconds(H.pvbackd) - d0;
        res.fe_cpu = thread_cpu_s() - fe0;
        res.wall = t1 - t0;
        res.packets = slots_done / spp;
        res.bytes = res.packets * sz->len;

        /* Drain, then compare what the tap counted with what was posted. */
        for (double end = now_s() + 3; now_s() < end;) {
                bool busy = false;
                for (unsigned qi = 0; qi < nf->o.queues; qi++) {
                        nf_tx_reap(nf, qi, &errors);
                        busy |= nf->q[qi].tx.rsp_cons != nf->q[qi].tx.req_prod_pvt;
                }
                if (!busy)
                        break;
                if (!nf_arm(nf))
                        nf_wait_event(nf, 5);
        }
        if (dev_stats(NS_P, vif, &s1) < 0)
                return res;
        res.lost = posted > s1.rx_packets - s0.rx_packets ? posted - (s1.rx_packets - s0.rx_packets) : 0;
        res.errors = errors;
        res.ok = res.packets > 0;
        return res;
}

/* ---- tap -> guest -------------------------------------------------------- */

/* Frames in flight (sent, not yet received) that keep the daemon busy
 * without overflowing the guest rings and the tap queues (1000 each). */
static unsigned window_for(const Size *sz, unsigned queues) {
        return sz->gso ? 24 * queues : 256 * queues;
}

static Result run_rx(NetFront *nf, const Size *sz, const char *vif) {
        uint64_t sent = 0, received = 0, bytes = 0, lost = 0;
        unsigned errors = 0, window = window_for(sz, nf->o.queues);
        double t0, d0, fe0, deadline, last_progress;
        bool timing = true;
        DevStats s0, s1;
        Result res = {};
        Gen g;

        if (gen_open(&g, NS_P, vif, sz) < 0)
                return res;
        dev_stats(NS_P, vif, &s0);
        t0 = now_s();
        d0 = process_cpu_seconds(H.pvbackd);
        fe0 = thread_cpu_s();
        deadline = t0 + run_seconds;
        last_progress = t0;
        for (;;) {
                double t = now_s();
                bool progress = false;

                if (timing && (t >= deadline || interrupted)) {
                        timing = false;
                        res.wall = t - t0;
                        res.daemon_cpu = process_cpu_seconds(H.pvbackd) - d0;
                        res.gen_cpu = g.cpu;
                        res.fe_cpu = thread_cpu_s() - fe0 - g.cpu;
                        res.packets = received;
                        res.bytes = bytes;
                }
                for (unsigned qi = 0; qi < nf->o.queues; qi++) {
                        int n = nf_rx_reap(nf, qi, &bytes, &errors);
                        if (n < 0) {
                                fprintf(stderr, "rx queue %u: bad ring indexes\n", qi);
                                gen_close(&g);
                                return res;
                        }
                        received += (unsigned) n;
                        progress |= n > 0;
                }
                if (timing && sent - received < window)
                        sent += gen_send(&g, (unsigned) (window - (sent - received)));
                if (progress)
                        last_progress = t;
                else if (sent > received && t - last_progress > 0.2) {
                        lost += sent - received; /* dropped on the way: stop waiting for them */
                        sent = received;
                        last_progress = t;
                }
                if (!timing && (sent == received || t > deadline + 3))
                        break;
                if (!progress && !nf_arm(nf) && (!timing || sent - received >= window))
                        nf_wait_event(nf, 1);
        }
        gen_close(&g);
        dev_stats(NS_P, vif, &s1);
        res.lost = lost + (sent - received);
        res.errors = errors;
        res.ok = res.packets > 0;
        if (s1.tx_drop != s0.tx_drop)
                fprintf(stderr, "%s: the tap dropped %llu frames towards the daemon (queue full)\n", vif,
                        (unsigned long long) (s1.tx_drop - s0.tx_drop));
        return res;
}

/* ---- reference: tap-to-tap forwarding ------------------------------------ */

/* The child: one loop over the queues of A, each frame written to the same
 * queue of B, like pvbackd's one event loop. */
static void fwd_main(const int *a, const int *b, unsigned n) {
        static uint8_t buf[sizeof(struct virtio_net_hdr) + 65536 + 256];
        struct pollfd pf[8];

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (unsigned i = 0; i < n; i++)
                pf[i] = (struct pollfd) { .fd = a[i], .events = POLLIN };
        while (!atomic_load_explicit(&fwd_shm->stop, memory_order_relaxed)) {
                if (poll(pf, n, 100) <= 0)
                        continue;
                for (unsigned i = 0; i < n; i++) {
                        if (!(pf[i].revents & POLLIN))
                                continue;
                        bool sink = atomic_load_explicit(&fwd_shm->sink, memory_order_relaxed);
                        for (unsigned k = 0; k < 64; k++) {
                                ssize_t r = read(a[i], buf, sizeof buf);
                                if (r <= 0)
                                        break;
                                if (sink || write(b[i], buf, (size_t) r) == r) {
                                        atomic_fetch_add_explicit(&fwd_shm->packets, 1, memory_order_relaxed);
                                        atomic_fetch_add_explicit(&fwd_shm->bytes, (uint64_t) r - sizeof(struct virtio_net_hdr),
                                                                  memory_order_relaxed);
                                }
                        }
                }
        }
        _exit(0);
}

static Result run_fwd(const Size *sz, unsigned queues, const char *ta, const char *tb) {
        uint64_t sent = 0, received = 0, lost = 0, p0, b0;
        unsigned window = window_for(sz, queues);
        double t0, f0, c0, deadline, last_progress;
        bool timing = true;
        Result res = {};
        Gen g;

        if (gen_open(&g, NS_A, ta, sz) < 0)
                return res;
        p0 = atomic_load(&fwd_shm->packets);
        b0 = atomic_load(&fwd_shm->bytes);
        t0 = now_s();
        f0 = process_cpu_seconds(fwd_pid);
        c0 = thread_cpu_s();
        deadline = t0 + run_seconds;
        last_progress = t0;
        for (;;) {
                double t = now_s();
                uint64_t got = atomic_load_explicit(&fwd_shm->packets, memory_order_relaxed) - p0;
                bool progress = got != received;

                received = got;
                if (timing && (t >= deadline || interrupted)) {
                        timing = false;
                        res.wall = t - t0;
                        res.daemon_cpu = process_cpu_seconds(fwd_pid) - f0;
                        res.gen_cpu = g.cpu;
                        res.fe_cpu = thread_cpu_s() - c0 - g.cpu;
                        res.packets = received;
                        res.bytes = atomic_load(&fwd_shm->bytes) - b0;
                }
                if (timing && sent - received < window)
                        sent += gen_send(&g, (unsigned) (window - (sent - received)));
                if (progress)
                        last_progress = t;
                else if (sent > received && t - last_progress > 0.2) {
                        lost += sent - received;
                        sent = received;
                        last_progress = t;
                }
                if (!timing && (sent == received || t > deadline + 3))
                        break;
                if (!progress && (!timing || sent - received >= window)) {
                        struct timespec ts = { .tv_nsec = 20000 };
                        nanosleep(&ts, NULL); /* the forwarder tells us nothing: look again soon */
                }
        }
        gen_close(&g);
        res.lost = lost + (sent - received);
        res.ok = res.packets > 0;
        return res;
}

/* ---- reference: the tap alone, writing ------------------------------------ */

/* Writes the frames guest->tap writes (the same virtio-net header, the same
 * addresses, so the kernel drops them at the same point), round robin over
 * the queues, as fast as one core can: what the tap costs a backend that
 * did nothing else. */
static Result run_tap_write(const Size *sz, const int *fds, unsigned queues) {
        static uint8_t buf[sizeof(struct virtio_net_hdr) + GSO_FRAME];
        struct virtio_net_hdr vh = vnet_hdr_for(sz);
        size_t len = sizeof vh + sz->len;
        double t0, c0, deadline;
        Result res = {};

        memcpy(buf, &vh, sizeof vh);
        build_frame(buf + sizeof vh, sz->len, PEER_MAC, GUEST_MAC, sz->gso, 40000);
        t0 = now_s();
        c0 = thread_cpu_s();
        deadline = t0 + run_seconds;
        for (unsigned i = 0; !interrupted; i++) {
                if (write(fds[i % queues], buf, len) == (ssize_t) len) {
                        res.packets++;
                        res.bytes += sz->len;
                } else
                        res.errors++;
                if ((i & 255) == 0 && now_s() >= deadline)
                        break;
        }
        res.wall = now_s() - t0;
        res.daemon_cpu = thread_cpu_s() - c0;
        res.ok = res.packets > 0;
        return res;
}

/* ---- reference: memcpy --------------------------------------------------- */

/* Memory bandwidth: 64 KiB copies through 256 MiB buffers, far larger than
 * any cache, for about a second (one core). */
static double stream_core_gbs;
static void run_memcpy_stream(void) {
        const size_t size = 256u << 20, chunk = 65536;
        uint8_t *src = aligned_alloc(4096, size), *dst = aligned_alloc(4096, size);
        uint64_t done = 0;
        double c0, c;

        if (!src || !dst)
                goto out;
        memset(src, 1, size);
        memset(dst, 0, size); /* fault every page in before timing */
        c0 = thread_cpu_s();
        do {
                for (size_t off = 0; off < size; off += chunk)
                        memcpy(dst + off, src + off, chunk);
                __asm__ volatile("" ::: "memory");
                done += size;
                c = thread_cpu_s() - c0;
        } while (c < 1.0 && !interrupted);
        stream_core_gbs = gbs(done, c);
out:
        free(src);
        free(dst);
}

/* The same bytes in buffers of the same size: from a 1 MiB "guest" area
 * (256 pages, as one queue's TX pages) into a 256 KiB arena (as pvbackd's). */
static double run_memcpy(const Size *sz, uint64_t bytes, double *ret_cpu) {
        static uint8_t *src, *dst;
        size_t arena = 4u * (65536u + 64u), pos = 0, so = 0;
        uint64_t done = 0;
        double t0, c0;

        if (!src) {
                src = aligned_alloc(4096, 256u * 4096u);
                dst = aligned_alloc(4096, arena);
                memset(src, 1, 256u * 4096u);
                memset(dst, 0, arena);
        }
        t0 = now_s();
        c0 = thread_cpu_s();
        while (done < bytes) {
                if (pos + sz->len > arena)
                        pos = 0;
                if (so + sz->len > 256u * 4096u)
                        so = 0;
                memcpy(dst + pos, src + so, sz->len);
                __asm__ volatile("" ::: "memory");
                pos += (sz->len + 63) & ~(size_t) 63;
                so += sz->gso ? 65536u : 4096u;
                done += sz->len;
        }
        *ret_cpu = thread_cpu_s() - c0;
        return now_s() - t0;
}

/* ---- output -------------------------------------------------------------- */

static double gbs(uint64_t bytes, double s) {
        return s > 0 ? (double) bytes / s / 1e9 : 0;
}

static double pps(const Result *r) {
        return r->wall > 0 ? (double) r->packets / r->wall : 0;
}

static double per_core(const Result *r) {
        return r->daemon_cpu > 0 ? (double) r->packets / r->daemon_cpu : 0;
}

static double ratio(double a, double b) {
        return b > 0 ? a / b : 0;
}

/* Per core: per CPU-second of the daemon (forwarder, memcpy loop). */
static double bytes_per_core(const Result *r) {
        return r->daemon_cpu > 0 ? (double) r->bytes / r->daemon_cpu / 1e9 : 0;
}

static double memcpy_wall(const Case *c) {
        return gbs(c->memcpy_bytes, c->memcpy_s);
}

static double memcpy_core(const Case *c) {
        return gbs(c->memcpy_bytes, c->memcpy_cpu);
}

/* The tap-alone reference for the direction of r. */
static const Result *tap_alone(const Case *c, const Result *r) {
        return r == &c->rx ? &c->tap_read : &c->tap_write;
}

static void print_result(const char *dir, const Size *sz, unsigned q, const Result *r, const Case *c) {
        char n[96];

        snprintf(n, sizeof n, "net.%s.%s.%uq", dir, sz->name, q);
        if (!r->ok) {
                printf("%s.failed 1 bool\n", n);
                return;
        }
        printf("%s.pps %.0f pkt/s\n", n, pps(r));
        printf("%s.throughput %.3f GB/s\n", n, gbs(r->bytes, r->wall));
        printf("%s.daemon-cpu %.2f cores\n", n, ratio(r->daemon_cpu, r->wall));
        printf("%s.pps-per-core %.0f pkt/s/core\n", n, per_core(r));
        printf("%s.throughput-per-core %.3f GB/s/core\n", n, bytes_per_core(r));
        printf("%s.frontend-cpu %.2f cores\n", n, ratio(r->fe_cpu, r->wall));
        printf("%s.frontend-share %.1f %%\n", n, 100 * ratio(r->fe_cpu, r->fe_cpu + r->daemon_cpu));
        if (r->gen_cpu > 0)
                printf("%s.generator-cpu %.2f cores\n", n, ratio(r->gen_cpu, r->wall));
        printf("%s.lost %llu pkt\n", n, (unsigned long long) r->lost);
        printf("%s.errors %llu pkt\n", n, (unsigned long long) r->errors);
        printf("%s.vs-tap-fwd %.3f ratio\n", n, ratio(pps(r), pps(&c->fwd)));
        printf("%s.per-core-vs-tap-fwd %.3f ratio\n", n, ratio(per_core(r), per_core(&c->fwd)));
        printf("%s.vs-memcpy %.4f ratio\n", n, ratio(gbs(r->bytes, r->wall), memcpy_wall(c)));
        printf("%s.per-core-vs-memcpy %.4f ratio\n", n, ratio(bytes_per_core(r), memcpy_core(c)));
        printf("%s.per-core-vs-memcpy-stream %.4f ratio\n", n, ratio(bytes_per_core(r), stream_core_gbs));
        printf("%s.per-core-vs-tap-alone %.3f ratio\n", n, ratio(per_core(r), per_core(tap_alone(c, r))));
}

static void print_all(void) {
        bool gso_goal = true, gso_goal_wall = true, pps_goal = true, have_gso = false, have_pps = false;
        double tap_alone_64_min = 1e18, tap_alone_64_max = 0;
        double worst_gso = 1e9, worst_gso_wall = 1e9, worst_gso_stream = 1e9, worst_pps = 1e18, worst_pps_vs_tap = 1e9;

        for (unsigned qi = 0; qi < ELEMENTS(queue_counts); qi++)
                for (unsigned si = 0; si < ELEMENTS(sizes); si++) {
                        const Case *c = &cases[qi][si];
                        const Size *sz = &sizes[si];
                        unsigned q = queue_counts[qi];
                        char n[96];

                        snprintf(n, sizeof n, "ref.tap-fwd.%s.%uq", sz->name, q);
                        if (c->fwd.ok) {
                                printf("%s.pps %.0f pkt/s\n", n, pps(&c->fwd));
                                printf("%s.throughput %.3f GB/s\n", n, gbs(c->fwd.bytes, c->fwd.wall));
                                printf("%s.forwarder-cpu %.2f cores\n", n, ratio(c->fwd.daemon_cpu, c->fwd.wall));
                                printf("%s.pps-per-core %.0f pkt/s/core\n", n, per_core(&c->fwd));
                                printf("%s.throughput-per-core %.3f GB/s/core\n", n, bytes_per_core(&c->fwd));
                                printf("%s.lost %llu pkt\n", n, (unsigned long long) c->fwd.lost);
                        } else
                                printf("%s.failed 1 bool\n", n);
                        const struct {
                                const char *name;
                                const Result *r;
                        } alone[] = { { "tap-write", &c->tap_write }, { "tap-read", &c->tap_read } };
                        for (unsigned k = 0; k < ELEMENTS(alone); k++) {
                                snprintf(n, sizeof n, "ref.%s.%s.%uq", alone[k].name, sz->name, q);
                                if (!alone[k].r->ok) {
                                        printf("%s.failed 1 bool\n", n);
                                        continue;
                                }
                                printf("%s.pps-per-core %.0f pkt/s/core\n", n, per_core(alone[k].r));
                                printf("%s.throughput-per-core %.3f GB/s/core\n", n, bytes_per_core(alone[k].r));
                        }
                        if (c->memcpy_s > 0) {
                                printf("ref.memcpy.%s.%uq.throughput %.3f GB/s\n", sz->name, q, memcpy_wall(c));
                                printf("ref.memcpy.%s.%uq.throughput-per-core %.3f GB/s/core\n", sz->name, q,
                                       memcpy_core(c));
                        }
                        print_result("guest-to-tap", sz, q, &c->tx, c);
                        print_result("tap-to-guest", sz, q, &c->rx, c);

                        const Result *both[] = { &c->tx, &c->rx };
                        for (unsigned k = 0; k < ELEMENTS(both); k++) {
                                const Result *r = both[k];
                                if (!r->ok)
                                        continue;
                                if (sz->gso) {
                                        double x = ratio(bytes_per_core(r), memcpy_core(c));
                                        double w = ratio(gbs(r->bytes, r->wall), memcpy_wall(c));
                                        have_gso = true;
                                        worst_gso = MIN(worst_gso, x);
                                        worst_gso_wall = MIN(worst_gso_wall, w);
                                        worst_gso_stream = MIN(worst_gso_stream, ratio(bytes_per_core(r), stream_core_gbs));
                                        gso_goal &= x >= 0.5;
                                        gso_goal_wall &= w >= 0.5;
                                }
                                if (sz->len == 64) {
                                        have_pps = true;
                                        worst_pps = MIN(worst_pps, per_core(r));
                                        worst_pps_vs_tap = MIN(worst_pps_vs_tap, ratio(per_core(r), per_core(tap_alone(c, r))));
                                        pps_goal &= per_core(r) >= 1e6;
                                }
                        }
                }
        for (unsigned qi = 0; qi < ELEMENTS(queue_counts); qi++)
                for (unsigned si = 0; si < ELEMENTS(sizes); si++)
                        if (sizes[si].len == 64)
                                for (unsigned k = 0; k < 2; k++) {
                                        const Result *r = k ? &cases[qi][si].tap_read : &cases[qi][si].tap_write;
                                        if (!r->ok)
                                                continue;
                                        tap_alone_64_min = MIN(tap_alone_64_min, per_core(r));
                                        tap_alone_64_max = MAX(tap_alone_64_max, per_core(r));
                                }
        printf("ref.memcpy-stream.throughput-per-core %.3f GB/s/core\n", stream_core_gbs);
        if (have_gso) {
                printf("goal.gso-per-core-vs-memcpy-per-core.worst %.4f ratio\n", worst_gso);
                printf("goal.gso-per-core-vs-memcpy-stream.worst %.4f ratio\n", worst_gso_stream);
                printf("goal.gso-wall-vs-memcpy-wall.worst %.4f ratio\n", worst_gso_wall);
                printf("goal.gso-within-2x-of-memcpy.per-core %d bool\n", gso_goal);
                printf("goal.gso-within-2x-of-memcpy.wall %d bool\n", gso_goal_wall);
        }
        if (have_pps) {
                printf("goal.64B-pps-per-core.worst %.0f pkt/s/core\n", worst_pps);
                printf("goal.64B-pps-per-core-vs-tap-alone.worst %.3f ratio\n", worst_pps_vs_tap);
                printf("goal.64B-1Mpps-per-core %d bool\n", pps_goal);
        }

        printf("\n%-10s %-2s %-14s %9s %7s %10s %8s %5s %6s %7s %7s %7s %7s %8s %5s\n", "frame", "q", "path", "pkt/s",
               "GB/s", "pkt/s/core", "GB/s/core", "cpu", "fe-cpu", "vs-fwd", "core/fwd", "core/tap", "core/mcpy",
               "core/strm", "lost");
        for (unsigned qi = 0; qi < ELEMENTS(queue_counts); qi++)
                for (unsigned si = 0; si < ELEMENTS(sizes); si++) {
                        const Case *c = &cases[qi][si];
                        const Size *sz = &sizes[si];
                        const struct {
                                const char *name;
                                const Result *r;
                        } rows[] = { { "guest->tap", &c->tx },           { "tap->guest", &c->rx },
                                     { "tap-fwd(ref)", &c->fwd },        { "tap-write(ref)", &c->tap_write },
                                     { "tap-read(ref)", &c->tap_read } };
                        for (unsigned k = 0; k < ELEMENTS(rows); k++) {
                                const Result *r = rows[k].r;
                                bool own = r == &c->tx || r == &c->rx;
                                printf("%-10s %-2u %-14s %9.0f %7.3f %10.0f %8.3f %5.2f %6.2f %7.3f %7.3f %7.3f %7.4f %8.4f %5llu\n",
                                       sz->name, queue_counts[qi], rows[k].name, pps(r), gbs(r->bytes, r->wall),
                                       per_core(r), bytes_per_core(r), ratio(r->daemon_cpu, r->wall),
                                       ratio(r->fe_cpu, r->wall), ratio(pps(r), pps(&c->fwd)),
                                       ratio(per_core(r), per_core(&c->fwd)),
                                       own ? ratio(per_core(r), per_core(tap_alone(c, r))) : 0,
                                       ratio(bytes_per_core(r), memcpy_core(c)), ratio(bytes_per_core(r), stream_core_gbs),
                                       (unsigned long long) r->lost);
                        }
                        printf("%-10s %-2u %-14s %9s %7.3f %10s %8.3f\n", sz->name, queue_counts[qi], "memcpy(ref)", "-",
                               memcpy_wall(c), "-", memcpy_core(c));
                }
        printf("cpu: cores used by the daemon (or the forwarder); fe-cpu: by the test frontend (or the reference's\n"
               "feeding loop), without the packet generator's sendmmsg time. Per-core figures divide by that CPU\n"
               "time (from /proc/<pid>/stat; 10 ms ticks), so they hold on a shared machine; wall figures do not.\n"
               "core/tap: per core against the tap alone in the same direction (tap-write for guest->tap, tap-read\n"
               "for tap->guest): the share of the tap's own ceiling reached. core/mcpy: against memcpy of the same\n"
               "bytes in cache-resident buffers; core/strm: against memcpy through memory (%.1f GB/s per core).\n"
               "Goals (per core): GSO throughput within 2x of memcpy: %s (in cache), %s (through memory);\n"
               "64-byte frames at 1M pkt/s per core: %s (the tap alone does %.0f-%.0f k).\n",
               stream_core_gbs, have_gso ? (gso_goal ? "met" : "NOT met") : "not measured",
               have_gso ? (worst_gso_stream >= 0.5 ? "met" : "NOT met") : "not measured",
               have_pps ? (pps_goal ? "met" : "NOT met") : "not measured", tap_alone_64_min / 1e3,
               tap_alone_64_max / 1e3);
}

/* ---- main ---------------------------------------------------------------- */

/* BENCH_NET_SIZE=64KiB-GSO (and BENCH_NET_QUEUES=1) run one case only, for
 * profiling. */
static bool size_selected(const Size *sz) {
        const char *only = getenv("BENCH_NET_SIZE");
        return !only || strcmp(only, sz->name) == 0;
}

static int guest_vif(uint32_t domid, unsigned queues, NetFront *nf) {
        char name[32], mac[32];
        const char *kv[] = { "mac", mac, "bridge", "xenbr0", "handle", "0", "script", "/etc/xen/scripts/vif-bridge",
                             "type", "vif", "hotplug-status", "", NULL };
        NfOptions o = { .queues = queues, .split = true, .gso4 = true, .gso6 = true, .csum6 = true,
                        .set_hotplug = true };
        int r;

        snprintf(name, sizeof name, "bench%u", domid);
        snprintf(mac, sizeof mac, "00:16:3e:00:00:%02x", domid & 0xff);
        r = xsim_domain_create(domid, name, NULL, 8192);
        if (r < 0)
                return r;
        r = ts_device_add(&H, "vif", domid, 0, kv);
        if (r < 0)
                return r;
        return nf_connect(nf, &H, domid, 0, &o);
}

static void run_queues(unsigned qi) {
        unsigned q = queue_counts[qi];
        uint32_t domid = 10 + q;
        char vif[IFNAMSIZ], ta[IFNAMSIZ], tb[IFNAMSIZ];
        int fa[8], fb[8];
        NetFront nf;

        /* pvbackd */
        snprintf(vif, sizeof vif, "vif%u.0", domid);
        if (guest_vif(domid, q, &nf) < 0 || ns_create(NS_P) != 0 || tap_to_ns(vif, NS_P) != 0) {
                fprintf(stderr, "setting up %s failed\n", vif);
                nf_close(&nf);
                return;
        }
        for (unsigned si = 0; si < ELEMENTS(sizes) && !interrupted; si++) {
                if (!size_selected(&sizes[si]))
                        continue;
                Case *c = &cases[qi][si];
                c->tx = run_tx(&nf, &sizes[si], vif);
                if (!interrupted)
                        c->rx = run_rx(&nf, &sizes[si], vif);
                c->memcpy_bytes = MAX(c->tx.bytes, c->rx.bytes);
                if (c->memcpy_bytes > 0 && !interrupted)
                        c->memcpy_s = run_memcpy(&sizes[si], c->memcpy_bytes, &c->memcpy_cpu);
                fprintf(stderr, "%s %uq: guest->tap %.0f pkt/s, tap->guest %.0f pkt/s, memcpy %.2f GB/s\n",
                        sizes[si].name, q, pps(&c->tx), pps(&c->rx), gbs(c->memcpy_bytes, c->memcpy_s));
        }
        if (nf_shutdown(&nf) < 0 || ts_device_remove(&H, "vif", domid, 0, false) < 0)
                fprintf(stderr, "closing %s did not go cleanly\n", vif);
        nf_close(&nf);
        harness_sh("ip netns del %s", NS_P);
        if (interrupted)
                return;

        /* the tap-to-tap reference, with as many queues */
        snprintf(ta, sizeof ta, "pvbfa%d", (int) getpid() % 100000);
        snprintf(tb, sizeof tb, "pvbfb%d", (int) getpid() % 100000);
        for (unsigned i = 0; i < q; i++)
                fa[i] = fb[i] = -1;
        if (open_mq_tap(ta, q, fa) < 0 || open_mq_tap(tb, q, fb) < 0 || ns_create(NS_A) != 0 || ns_create(NS_B) != 0 ||
            tap_to_ns(ta, NS_A) != 0 || tap_to_ns(tb, NS_B) != 0)
                goto out;
        atomic_store(&fwd_shm->stop, 0);
        fwd_pid = fork();
        if (fwd_pid == 0)
                fwd_main(fa, fb, q);
        if (fwd_pid < 0)
                goto out;
        for (unsigned si = 0; si < ELEMENTS(sizes) && !interrupted; si++) {
                if (!size_selected(&sizes[si]))
                        continue;
                Case *c = &cases[qi][si];
                atomic_store(&fwd_shm->sink, 0);
                c->fwd = run_fwd(&sizes[si], q, ta, tb);
                atomic_store(&fwd_shm->sink, 1);
                c->tap_read = run_fwd(&sizes[si], q, ta, tb);
                if (!interrupted)
                        c->tap_write = run_tap_write(&sizes[si], fb, q);
                fprintf(stderr, "%s %uq: tap-fwd %.0f pkt/s, tap-read %.0f pkt/s/core, tap-write %.0f pkt/s/core\n",
                        sizes[si].name, q, pps(&c->fwd), per_core(&c->tap_read), per_core(&c->tap_write));
        }
        atomic_store(&fwd_shm->stop, 1);
        waitpid(fwd_pid, NULL, 0);
        fwd_pid = -1;
out:
        for (unsigned i = 0; i < q; i++) {
                if (fa[i] >= 0)
                        close(fa[i]);
                if (fb[i] >= 0)
                        close(fb[i]);
        }
        harness_sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; true", NS_A, NS_B);
}

int main(void) {
        struct sigaction sa = { .sa_handler = on_signal };
        double load[1] = { 0 };
        int status;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) < 0 || system("ip netns list >/dev/null 2>&1") != 0) {
                printf("SKIP: bench-net needs root, /dev/net/tun and ip(8) with netns\n");
                return 77;
        }
        if (getenv("BENCH_NET_SECONDS"))
                run_seconds = MAX(0.2, atof(getenv("BENCH_NET_SECONDS")));
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        snprintf(NS_P, sizeof NS_P, "pvbnbench%dp", (int) getpid());
        snprintf(NS_A, sizeof NS_A, "pvbnbench%da", (int) getpid());
        snprintf(NS_B, sizeof NS_B, "pvbnbench%db", (int) getpid());
        self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        fwd_shm = mmap(NULL, sizeof *fwd_shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (self_ns < 0 || fwd_shm == MAP_FAILED) {
                perror("setup");
                return 1;
        }
        if (harness_start(&H, "[limits]\nmax-queues = 4\n") < 0) {
                fprintf(stderr, "cannot start the simulator and pvbackd-sim\n");
                harness_finish(&H);
                return 1;
        }
        getloadavg(load, 1);
        printf("bench.run-seconds %.1f s\n", run_seconds);
        printf("bench.online-cpus %ld cpus\n", sysconf(_SC_NPROCESSORS_ONLN));
        printf("bench.loadavg-at-start %.2f load\n", load[0]);

        run_memcpy_stream();
        for (unsigned qi = 0; qi < ELEMENTS(queue_counts) && !interrupted; qi++)
                if (!getenv("BENCH_NET_QUEUES") || (unsigned) atoi(getenv("BENCH_NET_QUEUES")) == queue_counts[qi])
                        run_queues(qi);

        status = harness_stop_pvbackd(&H);
        if (status != 0) {
                fprintf(stderr, "pvbackd exited with %d; its log:\n", status);
                setenv("HARNESS_SHOW_LOG", "1", 1);
        }
        harness_finish(&H);
        harness_sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; true", NS_P, NS_A,
           NS_B);
        if (interrupted) {
                fprintf(stderr, "interrupted\n");
                return 1;
        }
        print_all();
        return status == 0 ? 0 : 1;
}
