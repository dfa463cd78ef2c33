/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The vif class against the simulated Xen, with real packets: the tap that
 * pvbackd creates is moved into a network namespace made by the test. The
 * guest side is netfront.c, behaving as Linux netfront or Windows xenvif;
 * in the "pump" tests it is backed by a second tap in another namespace, so
 * that a real kernel is the guest's network stack (ping, TCP). */

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define XEN_NETIF_DEFINE_TOEPLITZ
#include "netfront.h"
#include "service.h"
#include "xensim.h"
#include "netback.h" /* VIF_MAX_FRAME, VIF_MAX_SLOTS; packet_parse, csum helpers: the checksum checks below are independent of them */

#define T_WAIT HARNESS_WAIT_MS

static Harness H;
static char NS_P[32], NS_G[32]; /* peer and guest namespaces */
static int GTAP = -1;

typedef struct Pump Pump;
static Pump *RUNNING_PUMP;
static void pump_stop(Pump *p);

static int setup(void **state) {
        (void) state;
        snprintf(NS_P, sizeof NS_P, "pvbnb%dp", (int) getpid());
        snprintf(NS_G, sizeof NS_G, "pvbnb%dg", (int) getpid());
        return harness_start(&H, "[limits]\nmax-queues = 4\n");
}

static int teardown(void **state) {
        int r;

        (void) state;
        if (RUNNING_PUMP) /* a failed assertion jumped over pump_stop() */
                pump_stop(RUNNING_PUMP);
        if (GTAP >= 0)
                close(GTAP);
        GTAP = -1;
        (void) system("ip netns del pvbnb-dummy 2>/dev/null");
        harness_sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; true", NS_P, NS_G);
        r = harness_finish_checked(&H);
        return r;
}

static void guest_vif(uint32_t domid, uint32_t devid, const char *const *extra) {
        char name[32], mac[32], handle[16];
        const char *kv[32];
        size_t n = 0;

        snprintf(name, sizeof name, "guest%u", domid);
        if (xsim_domain_query(domid, NULL) < 0)
                assert_int_equal(xsim_domain_create(domid, name, NULL, 4096), 0);
        snprintf(mac, sizeof mac, "00:16:3e:00:%02x:%02x", domid & 0xff, devid & 0xff);
        snprintf(handle, sizeof handle, "%u", devid);
        kv[n++] = "mac", kv[n++] = mac, kv[n++] = "bridge", kv[n++] = "xenbr0", kv[n++] = "handle", kv[n++] = handle;
        kv[n++] = "script", kv[n++] = "/etc/xen/scripts/vif-bridge", kv[n++] = "type", kv[n++] = "vif";
        kv[n++] = "hotplug-status", kv[n++] = "";
        for (; extra && *extra && n < 30; extra++)
                kv[n++] = *extra;
        kv[n] = NULL;
        assert_int_equal(ts_device_add(&H, "vif", domid, devid, kv), 0);
        /* and in the frontend directory, as libxl does */
        char p[128];
        snprintf(p, sizeof p, "/local/domain/%u/device/vif/%u/mac", domid, devid);
        ts_write(&H, p, mac);
}

static void guest_mac(uint32_t domid, uint32_t devid, uint8_t m[6]) {
        const uint8_t b[6] = { 0x00, 0x16, 0x3e, 0x00, (uint8_t) domid, (uint8_t) devid };
        memcpy(m, b, 6);
}

/* ---- frames -------------------------------------------------------------- */

static uint16_t ip_csum(const void *p, size_t n) {
        return (uint16_t) ~csum_fold(csum_partial(p, n, 0));
}

static size_t build_ipv4(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint32_t saddr, uint32_t daddr,
                         uint8_t proto, size_t l4_len) {
        memcpy(f, dst, 6);
        memcpy(f + 6, src, 6);
        f[12] = 0x08, f[13] = 0x00;
        uint8_t *ip = f + 14;
        memset(ip, 0, 20);
        ip[0] = 0x45;
        ip[2] = (uint8_t) ((20 + l4_len) >> 8), ip[3] = (uint8_t) (20 + l4_len);
        ip[8] = 64, ip[9] = proto;
        uint32_t s = htonl(saddr), d = htonl(daddr);
        memcpy(ip + 12, &s, 4);
        memcpy(ip + 16, &d, 4);
        uint16_t c = ip_csum(ip, 20);
        ip[10] = (uint8_t) (c >> 8), ip[11] = (uint8_t) c;
        return 34 + l4_len;
}

/* A TCP segment with payload; partial: only the pseudo-header sum in the
 * checksum field (csum_blank), otherwise the full checksum. */
static size_t build_tcp(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint32_t saddr, uint32_t daddr,
                        uint16_t sport, uint16_t dport, const uint8_t *payload, size_t n, bool partial) {
        size_t len = build_ipv4(f, dst, src, saddr, daddr, IPPROTO_TCP, 20 + n);
        uint8_t *t = f + 34;
        memset(t, 0, 20);
        t[0] = (uint8_t) (sport >> 8), t[1] = (uint8_t) sport, t[2] = (uint8_t) (dport >> 8), t[3] = (uint8_t) dport;
        t[7] = 1;
        t[12] = 5 << 4;
        t[13] = 0x18; /* PSH ACK */
        t[14] = 0xff, t[15] = 0xff;
        memcpy(t + 20, payload, n);
        PacketInfo pi;
        assert_int_equal(packet_parse(f, len, &pi), 0);
        uint32_t ps = packet_pseudo_sum(f, &pi, 20 + n);
        uint16_t c = partial ? (uint16_t) ps : (uint16_t) ~csum_fold(csum_partial(t, 20 + n, ps));
        t[16] = (uint8_t) (c >> 8), t[17] = (uint8_t) c;
        return len;
}

static bool l4_csum_ok(const uint8_t *f, size_t len) {
        PacketInfo pi;
        if (packet_parse(f, len, &pi) < 0)
                return false;
        if (!pi.ipv6 && ip_csum(f + pi.l3_off, pi.l4_off - pi.l3_off) != 0)
                return false;
        uint32_t ps = packet_pseudo_sum(f, &pi, len - pi.l4_off);
        return csum_fold(csum_partial(f + pi.l4_off, len - pi.l4_off, ps)) == 0xffff;
}

/* Receives the next IPv4 TCP frame from source port sport, skipping
 * anything else the peer's kernel may send (the test checks only its own). */
static int recv_tcp_from(NetFront *nf, NfFrame *rf, uint16_t sport, int ms) {
        for (int i = 0; i < 64; i++) {
                int r = nf_recv(nf, -1, rf, ms);
                if (r < 0)
                        return r;
                if (rf->len >= 54 && rf->data[12] == 8 && rf->data[13] == 0 && rf->data[23] == IPPROTO_TCP &&
                    (rf->data[34] << 8 | rf->data[35]) == sport)
                        return 0;
        }
        return -ENOMSG;
}

/* ---- namespaces ---------------------------------------------------------- */

/* A namespace without IPv6, so that only the test's own frames flow. */
static void ns_create(const char *ns) {
        harness_sh("ip netns add %s 2>/dev/null; ip netns exec %s sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
           "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'", ns, ns);
}

static void move_tap(const char *ifname, const char *ns, const char *addr, const char *mac) {
        ns_create(ns);
        assert_int_equal(harness_sh("ip link set %s netns %s && ip -n %s link set lo up && "
                            "ip -n %s link set %s address %s && ip -n %s addr add %s dev %s && ip -n %s link set %s up",
                            ifname, ns, ns, ns, ifname, mac, ns, addr, ifname, ns, ifname),
                         0);
}

static int open_tap(const char *name, bool vnet, unsigned offload) {
        struct ifreq ifr = {};
        int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0 || (vnet && ioctl(fd, TUNSETOFFLOAD, offload) < 0)) {
                close(fd);
                return -errno;
        }
        return fd;
}

/* ---- the pump: a kernel in NS_G is the guest's network stack ------------ */

struct Pump {
        NetFront *nf;
        int fd;
        volatile bool stop;
        pthread_t thread;
        unsigned tx_gso, rx_gso, tx_csum_blank, rx_csum_blank, errors;
};

static void *pump_main(void *arg) {
        Pump *p = arg;
        static uint8_t buf[70000];
        static NfFrame f;

        while (!p->stop) {
                for (int k = 0; k < 32; k++) {
                        ssize_t n = read(p->fd, buf, sizeof buf);
                        struct virtio_net_hdr h;
                        NfTx t = {};
                        if (n <= (ssize_t) sizeof h)
                                break;
                        memcpy(&h, buf, sizeof h);
                        if (n - sizeof h > VIF_MAX_FRAME)
                                continue;
                        if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
                                t.flags = NETTXF_csum_blank | NETTXF_data_validated;
                                p->tx_csum_blank++;
                        }
                        if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
                                t.gso_type = (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV6
                                                     ? XEN_NETIF_GSO_TYPE_TCPV6
                                                     : XEN_NETIF_GSO_TYPE_TCPV4;
                                t.gso_size = h.gso_size;
                                t.hash_extra = true; /* as Windows: must be skipped */
                                p->tx_gso++;
                        }
                        /* Small frames: many slots at odd offsets; never more than
                         * VIF_MAX_SLOTS data slots, as real frontends (pvbackd closes a vif that
                         * sends more -- it did here when frames of 18-20 KB met
                         * 1000-byte chunks). */
                        t.chunk = n - sizeof h > VIF_MAX_SLOTS * 1000 ? 0 : 1000;
                        if (nf_xmit(p->nf, 0, buf + sizeof h, (size_t) n - sizeof h, &t, 5000) != 0)
                                p->errors++;
                }
                while (nf_recv(p->nf, -1, &f, 0) == 0) {
                        struct virtio_net_hdr h = {};
                        PacketInfo pi;
                        if (f.status < 0) {
                                p->errors++;
                                continue;
                        }
                        if ((f.flags & NETRXF_csum_blank) && !(f.flags & NETRXF_data_validated))
                                p->errors++; /* never blank without validated */
                        if ((f.flags & NETRXF_csum_blank) && packet_parse(f.data, f.len, &pi) == 0) {
                                h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
                                h.csum_start = (uint16_t) pi.l4_off;
                                h.csum_offset = pi.l4_proto == IPPROTO_TCP ? 16 : 6;
                                p->rx_csum_blank++;
                                if (f.has_gso) {
                                        h.gso_type = f.gso.u.gso.type == XEN_NETIF_GSO_TYPE_TCPV6 ? VIRTIO_NET_HDR_GSO_TCPV6
                                                                                                  : VIRTIO_NET_HDR_GSO_TCPV4;
                                        h.gso_size = f.gso.u.gso.size;
                                        h.hdr_len = (uint16_t) (pi.l4_off + pi.l4_hdr_len);
                                        p->rx_gso++;
                                }
                        } else if (f.flags & NETRXF_data_validated)
                                h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
                        memmove(f.data + sizeof h, f.data, f.len);
                        memcpy(f.data, &h, sizeof h);
                        if (write(p->fd, f.data, f.len + sizeof h) < 0)
                                p->errors++;
                }
                struct pollfd pf[2] = { { .fd = p->fd, .events = POLLIN },
                                        { .fd = xenevtchn_fd(p->nf->dev.xce), .events = POLLIN } };
                if (poll(pf, 2, 2) > 0 && (pf[1].revents & POLLIN))
                        nf_wait_event(p->nf, 0);
        }
        return NULL;
}

/* Sets up NS_P with the vif's tap (10.201.<net>.1) and NS_G with the
 * guest's kernel (10.201.<net>.2) behind the pump. */
static void pump_start(Pump *p, NetFront *nf, unsigned net) {
        char tapname[IFNAMSIZ], vif[IFNAMSIZ], addr[32], mac[32];
        uint8_t m[6];

        snprintf(vif, sizeof vif, "vif%u.%u", nf->dev.domid, nf->dev.devid);
        snprintf(addr, sizeof addr, "10.201.%u.1/24", net);
        move_tap(vif, NS_P, addr, "fe:ff:ff:ff:ff:ff");
        snprintf(tapname, sizeof tapname, "pvg%d", (int) getpid() % 100000);
        GTAP = open_tap(tapname, true, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
        assert_true(GTAP >= 0);
        guest_mac(nf->dev.domid, nf->dev.devid, m);
        snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        snprintf(addr, sizeof addr, "10.201.%u.2/24", net);
        move_tap(tapname, NS_G, addr, mac);
        *p = (Pump) { .nf = nf, .fd = GTAP };
        assert_int_equal(pthread_create(&p->thread, NULL, pump_main, p), 0);
        RUNNING_PUMP = p;
}

static void pump_stop(Pump *p) {
        p->stop = true;
        pthread_join(p->thread, NULL);
        RUNNING_PUMP = NULL;
}

static int enter_ns(const char *ns) {
        char path[128];
        snprintf(path, sizeof path, "/var/run/netns/%s", ns);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = setns(fd, CLONE_NEWNET);
        close(fd);
        return r < 0 ? -errno : 0;
}

typedef struct PingRun {
        uint32_t daddr;
        size_t size;
        int count, ok;
} PingRun;

/* ICMP echo from the guest's kernel (NS_G), raw socket: no ping binary needed. */
static void *ping_thread(void *arg) {
        PingRun *p = arg;
        static uint8_t pkt[9000], rep[9100];
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(p->daddr) };
        struct timeval tv = { .tv_sec = 3 };
        int fd;

        if (enter_ns(NS_G) < 0)
                return NULL;
        fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
        if (fd < 0)
                return NULL;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        for (int seq = 1; seq <= p->count; seq++) {
                memset(pkt, 0, 8);
                pkt[0] = 8;
                pkt[4] = 0x42, pkt[7] = (uint8_t) seq;
                for (size_t i = 8; i < 8 + p->size; i++)
                        pkt[i] = (uint8_t) (i * 3 + seq);
                uint16_t c = (uint16_t) ~csum_fold(csum_partial(pkt, 8 + p->size, 0));
                pkt[2] = (uint8_t) (c >> 8), pkt[3] = (uint8_t) c;
                if (sendto(fd, pkt, 8 + p->size, 0, (struct sockaddr *) &sa, sizeof sa) < 0)
                        continue;
                for (;;) {
                        ssize_t n = recv(fd, rep, sizeof rep, 0);
                        if (n < 0)
                                break;
                        size_t ihl = (rep[0] & 0xfu) * 4u;
                        if ((size_t) n != ihl + 8 + p->size || rep[ihl] != 0 || rep[ihl + 7] != (uint8_t) seq)
                                continue; /* our own request, or another reply */
                        if (memcmp(rep + ihl + 8, pkt + 8, p->size) == 0)
                                p->ok++;
                        break;
                }
        }
        close(fd);
        return NULL;
}

static int ping_from_guest(unsigned net, size_t size, int count) {
        PingRun p = { .daddr = 0x0ac90001u | (net << 8), .size = size, .count = count };
        pthread_t t;
        pthread_create(&t, NULL, ping_thread, &p);
        pthread_join(t, NULL);
        return p.ok;
}

typedef struct TcpRun {
        unsigned net;
        size_t bytes;
        uint32_t sum;
        int result;
        int listen_fd;
} TcpRun;

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 16777619u;
        return h;
}

static void set_timeouts(int fd) {
        struct timeval tv = { .tv_sec = 20 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Server in NS_P: reads everything, answers with its FNV-1a sum. */
static void *tcp_server(void *arg) {
        TcpRun *t = arg;
        static uint8_t buf[65536];
        uint32_t h = 2166136261u;
        size_t got = 0;
        int c = accept(t->listen_fd, NULL, NULL);
        if (c < 0) {
                t->result = -errno;
                return NULL;
        }
        set_timeouts(c);
        while (got < t->bytes) {
                ssize_t n = read(c, buf, sizeof buf);
                if (n <= 0) {
                        t->result = -EIO;
                        close(c);
                        return NULL;
                }
                h = fnv(h, buf, (size_t) n);
                got += (size_t) n;
        }
        t->sum = h;
        t->result = write(c, &h, sizeof h) == sizeof h ? 0 : -EIO;
        close(c);
        return NULL;
}

/* Client in NS_G sends a pattern, compares the sums. */
static void *tcp_client(void *arg) {
        TcpRun *t = arg;
        static uint8_t buf[65536];
        uint32_t h = 2166136261u, answer = 0;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(5001) };
        size_t sent = 0;
        int fd;

        if (enter_ns(NS_G) < 0) {
                t->result = -EPERM;
                return NULL;
        }
        sa.sin_addr.s_addr = htonl(0x0ac90001u | (t->net << 8));
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        set_timeouts(fd);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                t->result = -errno;
                close(fd);
                return NULL;
        }
        while (sent < t->bytes) {
                size_t n = t->bytes - sent < sizeof buf ? t->bytes - sent : sizeof buf;
                for (size_t i = 0; i < n; i++)
                        buf[i] = (uint8_t) ((sent + i) * 2654435761u >> 13);
                h = fnv(h, buf, n);
                if (write(fd, buf, n) != (ssize_t) n) {
                        t->result = -EIO;
                        close(fd);
                        return NULL;
                }
                sent += n;
        }
        t->result = read(fd, &answer, sizeof answer) == sizeof answer && answer == h ? 0 : -EBADMSG;
        close(fd);
        return NULL;
}

static void tcp_stream(unsigned net, size_t bytes) {
        TcpRun srv = { .net = net, .bytes = bytes }, cli = { .net = net, .bytes = bytes };
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(5001) };
        pthread_t ts, tc;
        int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        int one = 1;

        /* The listener is made in NS_P from this thread, then we come back. */
        assert_int_equal(enter_ns(NS_P), 0);
        srv.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setns(self, CLONE_NEWNET);
        close(self);
        setsockopt(srv.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sa.sin_addr.s_addr = htonl(0x0ac90001u | (net << 8));
        assert_int_equal(bind(srv.listen_fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(srv.listen_fd, 1), 0);
        pthread_create(&ts, NULL, tcp_server, &srv);
        pthread_create(&tc, NULL, tcp_client, &cli);
        pthread_join(tc, NULL);
        if (cli.result != 0)
                shutdown(srv.listen_fd, SHUT_RDWR);
        pthread_join(ts, NULL);
        close(srv.listen_fd);
        assert_int_equal(cli.result, 0);
        assert_int_equal(srv.result, 0);
}

/* ---- tests --------------------------------------------------------------- */

static void test_probe_creates_tap_and_keys(void **state) {
        char vif[IFNAMSIZ];
        (void) state;

        guest_vif(1, 0, (const char *const[]) { "mtu", "1400", NULL });
        wait_be(&H, "vif", 1, 0, "state", "2");
        assert_be(&H, "vif", 1, 0, "pvbackd-status", "ready");
        assert_be(&H, "vif", 1, 0, "feature-rx-copy", "1");
        assert_be(&H, "vif", 1, 0, "feature-rx-flip", "0");
        assert_be(&H, "vif", 1, 0, "feature-sg", "1");
        assert_be(&H, "vif", 1, 0, "feature-gso-tcpv4", "1");
        assert_be(&H, "vif", 1, 0, "feature-gso-tcpv6", "1");
        assert_be(&H, "vif", 1, 0, "feature-ipv6-csum-offload", "1");
        assert_be(&H, "vif", 1, 0, "multi-queue-max-queues", "4");
        assert_be(&H, "vif", 1, 0, "feature-split-event-channels", "1");
        assert_be(&H, "vif", 1, 0, "feature-ctrl-ring", "1");
        assert_be(&H, "vif", 1, 0, "feature-dynamic-multicast-control", "1");
        snprintf(vif, sizeof vif, "vif1.0");
        assert_true(if_nametoindex(vif) > 0);
        /* down, with the MTU we were given */
        assert_int_equal(harness_sh("ip link show vif1.0 | grep -q 'mtu 1400' && ! ip link show vif1.0 | grep -q ',UP'"), 0);
        /* a rename (vifname=) does not lose it: still served by ifindex */
        assert_int_equal(harness_sh("ip link set vif1.0 name pvbren%d", (int) getpid() % 10000), 0);
        /* detach: the tap goes with the device */
        assert_int_equal(ts_device_remove(&H, "vif", 1, 0, false), 0);
        for (int i = 0; i < 100 && harness_sh("ip link show pvbren%d >/dev/null 2>&1", (int) getpid() % 10000) == 0; i++)
                usleep(20000);
        assert_int_not_equal(system("ip link show vif1.0 >/dev/null 2>&1"), 0);
}

static void test_tap_failure_reported(void **state) {
        (void) state;
        /* Something else already owns the name. */
        assert_int_equal(harness_sh("ip link add vif2.0 type bridge"), 0);
        guest_vif(2, 0, NULL);
        wait_be(&H, "vif", 2, 0, "state", "2");
        assert_be(&H, "vif", 2, 0, "pvbackd-status", "error");
        char *e = be_read(&H, "vif", 2, 0, "hotplug-error");
        assert_non_null(e);
        assert_non_null(strstr(e, "vif2.0"));
        free(e);
        harness_sh("ip link del vif2.0");
        /* bad toolstack values are reported the same way */
        guest_vif(3, 0, (const char *const[]) { "rate", "fast", NULL });
        wait_be(&H, "vif", 3, 0, "pvbackd-status", "error");
        e = be_read(&H, "vif", 3, 0, "hotplug-error");
        assert_non_null(e);
        assert_non_null(strstr(e, "rate"));
        free(e);
}

static void test_hotplug_status_gate(void **state) {
        NetFront nf;
        NfOptions o = { .queues = 1 };
        (void) state;

        guest_vif(4, 0, NULL);
        /* Linux netfront: keys, then 4 straight away; no script yet. */
        assert_int_equal(nf_connect(&nf, &H, 4, 0, &o), -ETIMEDOUT);
        assert_be(&H, "vif", 4, 0, "state", "2");
        ts_write(&H, "/local/domain/0/backend/vif/4/0/hotplug-status", "connected");
        wait_be(&H, "vif", 4, 0, "state", "4");
        nf_close(&nf);
}

static void run_pump_test(uint32_t domid, const NfOptions *o, unsigned net) {
        /* static: teardown stops the pump after a failed assertion */
        static NetFront nf;
        static Pump p;

        guest_vif(domid, 0, NULL);
        assert_int_equal(nf_connect(&nf, &H, domid, 0, o), 0);
        if (o->ctrl) /* Windows at every enable */
                assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_HASH_ALGORITHM_NONE,
                                         0, 0, NULL, T_WAIT),
                                 XEN_NETIF_CTRL_STATUS_SUCCESS);
        pump_start(&p, &nf, net);
        assert_int_equal(ping_from_guest(net, 56, 3), 3);
        assert_int_equal(ping_from_guest(net, 6000, 2), 2); /* fragments, several slots each */
        tcp_stream(net, 8u << 20);
        pump_stop(&p);
        assert_int_equal(p.errors, 0);
        /* The guest kernel used TSO and partial checksums; so did the peer's. */
        assert_true(p.tx_gso > 0);
        assert_true(p.tx_csum_blank > 0);
        if (o->gso4)
                assert_true(p.rx_csum_blank > 0);
        assert_int_equal(nf_shutdown(&nf), 0);
        assert_int_equal(ts_device_remove(&H, "vif", domid, 0, false), 0);
        nf_close(&nf);
        assert_true(harness_log_contains(&H, "Statistics: tx"));
}

static void test_linux_netfront_ping_tcp(void **state) {
        NfOptions o = { .queues = 2, .split = true, .gso4 = true, .gso6 = true, .csum6 = true, .set_hotplug = true };
        (void) state;
        run_pump_test(5, &o, 5);
}

static void test_windows_xenvif_ping_tcp(void **state) {
        NfOptions o = { .windows = true, .queues = 4, .split = true, .gso4 = true, .gso6 = true, .csum6 = true,
                        .ctrl = true, .set_hotplug = true };
        (void) state;
        run_pump_test(6, &o, 6);
}

static void test_single_queue_no_offload(void **state) {
        NfOptions o = { .queues = 1, .no_csum = true, .set_hotplug = true };
        (void) state;
        run_pump_test(7, &o, 7);
}

/* NS_P: a bridge with the vif's tap and a plain tap the test reads (no
 * virtio header, no offloads: the kernel hands it finished frames). */
static int peer_bridge(NetFront *nf, bool peer_vnet) {
        char vif[IFNAMSIZ], peer[IFNAMSIZ];
        int fd;

        snprintf(vif, sizeof vif, "vif%u.%u", nf->dev.domid, nf->dev.devid);
        snprintf(peer, sizeof peer, "pvp%d", (int) getpid() % 100000);
        fd = open_tap(peer, peer_vnet, 0);
        assert_true(fd >= 0);
        ns_create(NS_P);
        assert_int_equal(harness_sh("ip link set %s netns %s && ip link set %s netns %s && "
                            "ip -n %s link add br0 mtu 9000 type bridge && ip -n %s link set br0 up && "
                            "ip -n %s link set %s mtu 9000 master br0 up && ip -n %s link set %s mtu 9000 master br0 up",
                            vif, NS_P, peer, NS_P, NS_P, NS_P, NS_P, vif, NS_P, peer),
                         0);
        return fd;
}

static ssize_t peer_read(int fd, uint8_t *buf, size_t n, int ms, uint16_t want_ethertype) {
        for (long end = ms; end > 0; end -= 5) {
                ssize_t r = read(fd, buf, n);
                /* only the test's TCP: the bridge itself sends IGMP reports */
                if (r >= 34 && (buf[12] << 8 | buf[13]) == want_ethertype && buf[23] == IPPROTO_TCP)
                        return r;
                if (r < 0)
                        usleep(5000);
        }
        return -ETIMEDOUT;
}

static void test_checksums_and_gso_at_peer(void **state) {
        NfOptions o = { .queues = 1, .gso4 = true, .set_hotplug = true };
        static uint8_t frame[70000], payload[60000], got[70000], seen[60000];
        uint8_t gm[6], bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, pm[6] = { 2, 0, 0, 0, 0, 9 };
        NetFront nf;
        NfFrame *rf = calloc(1, sizeof *rf);
        size_t len, total = 0;
        int peer;
        (void) state;

        guest_vif(8, 0, NULL);
        assert_int_equal(nf_connect(&nf, &H, 8, 0, &o), 0);
        peer = peer_bridge(&nf, false);
        guest_mac(8, 0, gm);
        for (size_t i = 0; i < sizeof payload; i++)
                payload[i] = (uint8_t) (i * 7 + 3);

        /* 1. csum_blank TCP, 18 data slots: arrives with a full checksum. */
        len = build_tcp(frame, bcast, gm, 0x0a000002, 0x0a000001, 1234, 80, payload, 1400, true);
        NfTx t = { .flags = NETTXF_csum_blank | NETTXF_data_validated, .chunk = 80, .first_offset = 4000 };
        assert_int_equal(nf_xmit(&nf, 0, frame, len, &t, T_WAIT), NETIF_RSP_OKAY);
        ssize_t n = peer_read(peer, got, sizeof got, T_WAIT, 0x0800);
        if (n != (ssize_t) len) {
                for (ssize_t i = 0; i < n && i < 80; i++)
                        fprintf(stderr, "%02x%s", got[i], i % 16 == 15 ? "\n" : " ");
                fprintf(stderr, "\n");
        }
        assert_int_equal(n, (ssize_t) len);
        assert_true(l4_csum_ok(got, (size_t) n));
        assert_memory_equal(got + 54, payload, 1400);

        /* 2. A 30000-byte GSO super-frame: MSS-sized segments, each checksummed. */
        len = build_tcp(frame, bcast, gm, 0x0a000002, 0x0a000001, 1234, 80, payload, 30000, true);
        NfTx g = { .flags = NETTXF_csum_blank | NETTXF_data_validated, .gso_type = XEN_NETIF_GSO_TYPE_TCPV4,
                   .gso_size = 1448, .hash_extra = true };
        assert_int_equal(nf_xmit(&nf, 0, frame, len, &g, T_WAIT), NETIF_RSP_OKAY);
        while (total < 30000) {
                n = peer_read(peer, got, sizeof got, T_WAIT, 0x0800);
                assert_true(n > 0);
                assert_true(n <= 14 + 20 + 20 + 1448);
                assert_true(l4_csum_ok(got, (size_t) n));
                uint32_t seq = (uint32_t) got[38] << 24 | got[39] << 16 | got[40] << 8 | got[41];
                assert_true(seq - 1 + (size_t) n - 54 <= 30000);
                memcpy(seen + seq - 1, got + 54, (size_t) n - 54);
                total += (size_t) n - 54;
        }
        assert_memory_equal(seen, payload, 30000);

        /* 3. The other way: a frame from the peer with a full checksum. */
        len = build_tcp(frame, gm, pm, 0x0a000001, 0x0a000002, 80, 1234, payload, 8000, false);
        assert_int_equal(write(peer, frame, len), (ssize_t) len);
        assert_int_equal(recv_tcp_from(&nf, rf, 80, T_WAIT), 0);
        if (rf->len != len) {
                for (size_t i = 0; i < rf->len && i < 64; i++)
                        fprintf(stderr, "%02x%s", rf->data[i], i % 16 == 15 ? "\n" : " ");
                fprintf(stderr, "flags %x status %d\n", rf->flags, rf->status);
        }
        assert_int_equal(rf->len, len); /* 3 slots */
        assert_memory_equal(rf->data, frame, len);
        assert_false(rf->flags & NETRXF_csum_blank);

        close(peer);
        free(rf);
        nf_close(&nf);
}

static void test_gso_to_guest(void **state) {
        static uint8_t frame[70000], payload[60000], buf[70000];
        uint8_t gm[6], pm[6] = { 2, 0, 0, 0, 0, 9 };
        NfFrame *rf = calloc(1, sizeof *rf);
        (void) state;

        for (size_t i = 0; i < sizeof payload; i++)
                payload[i] = (uint8_t) (i * 5 + 1);
        for (int gso = 1; gso >= 0; gso--) {
                NfOptions o = { .queues = 1, .gso4 = gso, .set_hotplug = true };
                NetFront nf;
                uint32_t dom = 9 + (uint32_t) (1 - gso);
                size_t len, total = 0;
                int peer;

                guest_vif(dom, 0, NULL);
                assert_int_equal(nf_connect(&nf, &H, dom, 0, &o), 0);
                peer = peer_bridge(&nf, true);
                guest_mac(dom, 0, gm);
                len = build_tcp(frame, gm, pm, 0x0a000001, 0x0a000002, 80, 1234, payload, 20000, true);
                struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                            .hdr_len = 54, .gso_size = 1000, .csum_start = 34, .csum_offset = 16 };
                memcpy(buf, &h, sizeof h);
                memcpy(buf + sizeof h, frame, len);
                assert_int_equal(write(peer, buf, sizeof h + len), (ssize_t) (sizeof h + len));
                if (gso) {
                        assert_int_equal(recv_tcp_from(&nf, rf, 80, T_WAIT), 0);
                        assert_true(rf->has_gso);
                        assert_int_equal(rf->gso.u.gso.size, 1000);
                        assert_int_equal(rf->gso.u.gso.type, XEN_NETIF_GSO_TYPE_TCPV4);
                        assert_int_equal(rf->flags & (NETRXF_csum_blank | NETRXF_data_validated),
                                         NETRXF_csum_blank | NETRXF_data_validated);
                        assert_int_equal(rf->len, len);
                        assert_memory_equal(rf->data + 54, payload, 20000);
                } else {
                        /* No GSO for a frontend that did not ask: segments, finished. */
                        while (total < 20000) {
                                assert_int_equal(recv_tcp_from(&nf, rf, 80, T_WAIT), 0);
                                assert_false(rf->has_gso);
                                assert_true(rf->len <= 14 + 40 + 1000);
                                if (rf->flags & NETRXF_csum_blank)
                                        assert_true(rf->flags & NETRXF_data_validated);
                                else
                                        assert_true(l4_csum_ok(rf->data, rf->len));
                                total += rf->len - 54;
                        }
                        assert_int_equal(total, 20000);
                }
                close(peer);
                nf_close(&nf);
                harness_sh("ip netns del %s", NS_P);
        }
        free(rf);
}

/* ICMP echo built here, answered by the kernel of NS_P. */
static void ping_raw(NetFront *nf, unsigned net) {
        static uint8_t f[2000];
        NfFrame *rf = calloc(1, sizeof *rf);
        uint8_t gm[6], tm[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };
        uint16_t seq = 7;
        size_t len;

        guest_mac(nf->dev.domid, nf->dev.devid, gm);
        len = build_ipv4(f, tm, gm, 0x0ac90002u | net << 8, 0x0ac90001u | net << 8, 1, 8 + 100);
        uint8_t *ic = f + 34;
        memset(ic, 0, 8);
        ic[0] = 8, ic[4] = 0x12, ic[5] = 0x34, ic[6] = 0, ic[7] = (uint8_t) seq;
        for (int i = 0; i < 100; i++)
                ic[8 + i] = (uint8_t) i;
        uint16_t c = ip_csum(ic, 108);
        ic[2] = (uint8_t) (c >> 8), ic[3] = (uint8_t) c;
        assert_int_equal(nf_xmit(nf, 0, f, len, NULL, T_WAIT), NETIF_RSP_OKAY);
        for (int tries = 0; tries < 20; tries++) {
                assert_int_equal(nf_recv(nf, -1, rf, T_WAIT), 0);
                if (rf->len >= 34 + 8 && rf->data[12] == 8 && rf->data[13] == 0 && rf->data[23] == 1 && rf->data[34] == 0)
                        break;
        }
        assert_int_equal(rf->data[34], 0); /* echo reply */
        assert_int_equal(ip_csum(rf->data + 34, rf->len - 34), 0);
        assert_memory_equal(rf->data + 42, ic + 8, 100);
        free(rf);
}

static void test_hostile_frontends(void **state) {
        NfOptions o = { .queues = 1, .set_hotplug = true };
        NetFront good, bad[4];
        char vif[IFNAMSIZ];
        (void) state;

        guest_vif(20, 0, NULL);
        assert_int_equal(nf_connect(&good, &H, 20, 0, &o), 0);
        snprintf(vif, sizeof vif, "vif20.0");
        move_tap(vif, NS_P, "10.201.20.1/24", "fe:ff:ff:ff:ff:ff");
        assert_int_equal(harness_sh("ip -n %s neigh add 10.201.20.2 lladdr 00:16:3e:00:14:00 dev vif20.0", NS_P), 0);
        ping_raw(&good, 20);

        for (unsigned i = 0; i < 4; i++) {
                guest_vif(21, i, NULL);
                assert_int_equal(nf_connect(&bad[i], &H, 21, i, &o), 0);
                NfQueue *q = &bad[i].q[0];
                netif_tx_request_t r = { .gref = q->tx_gref[0], .size = 100, .id = 1 };
                switch (i) {
                case 0: /* crosses the page */
                        r.offset = 4050;
                        nf_put_raw(&bad[i], 0, &r);
                        break;
                case 1: /* 25 slots */
                        r.size = 25 * 60;
                        for (unsigned s = 0; s < 25; s++) {
                                netif_tx_request_t x = { .gref = q->tx_gref[s], .size = s ? 60 : 25 * 60, .id = (uint16_t) s,
                                                         .flags = s < 24 ? NETTXF_more_data : 0 };
                                nf_put_raw(&bad[i], 0, &x);
                        }
                        break;
                case 2: /* a grant that does not exist */
                        r.gref = 4000;
                        nf_put_raw(&bad[i], 0, &r);
                        break;
                case 3: /* producer index far beyond the ring */
                        q->tx.req_prod_pvt += 1000;
                        break;
                }
                nf_push(&bad[i], 0);
                char p[128];
                snprintf(p, sizeof p, "/local/domain/0/error/backend/vif/21/%u/error", i);
                wait_be(&H, "vif", 21, i, "state", "5");
                char *err = ts_read(&H, "%s", p);
                assert_non_null(err);
                free(err);
                nf_close(&bad[i]);
        }
        assert_true(harness_log_contains(&H, "crosses"));
        assert_true(harness_log_contains(&H, "more than 19 slots"));
        assert_true(harness_log_contains(&H, "cannot copy TX data from grant 4000"));
        assert_true(harness_log_contains(&H, "beyond the ring"));
        /* The other guest's vif is untouched. */
        ping_raw(&good, 20);
        nf_close(&good);
}

static void test_rss_control_ring(void **state) {
        NfOptions o = { .windows = true, .queues = 4, .split = true, .gso4 = true, .csum6 = true, .ctrl = true,
                        .set_hotplug = true };
        static const uint8_t key[40] = { 0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
                                         0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
                                         0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa };
        static uint8_t frame[2000];
        uint8_t gm[6], pm[6] = { 2, 0, 0, 0, 0, 9 };
        uint32_t data = 0, *map;
        NetFront nf;
        NfFrame *rf = calloc(1, sizeof *rf);
        int peer;
        (void) state;

        /* The Microsoft RSS verification vector, with netif.h's reference code. */
        uint8_t in[12] = { 66, 9, 149, 187, 161, 142, 100, 80, 0x0a, 0xea, 0x06, 0xe6 };
        assert_int_equal(xen_netif_toeplitz_hash(key, 40, in, 12), 0x51ccc178);
        assert_int_equal(toeplitz_hash(key, 40, in, 12), 0x51ccc178);

        guest_vif(30, 0, NULL);
        assert_int_equal(nf_connect(&nf, &H, 30, 0, &o), 0);
        /* Before an algorithm: flags are not available. */
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, 0, 0, 0, &data, T_WAIT),
                         XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED);
        /* xenvif's order: ALGORITHM, MAPPING_SIZE, MAPPING, KEY, FLAGS. */
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, 0, 0,
                                 NULL, T_WAIT),
                         0);
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, 0, 0, 0, &data, T_WAIT), 0);
        assert_int_equal(data, 0xf);
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, 129, 0, 0, NULL, T_WAIT),
                         XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, 128, 0, 0, NULL, T_WAIT), 0);
        map = nf_ctrl_page(&nf);
        for (unsigned i = 0; i < 128; i++)
                map[i] = 7; /* only 4 queues */
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, nf.ctrl_data_ref, 128, 0, NULL, T_WAIT),
                         XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        for (unsigned i = 0; i < 128; i++)
                map[i] = (i * 3 + 1) % 4;
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, nf.ctrl_data_ref, 128, 0, NULL, T_WAIT), 0);
        uint32_t mapping[128];
        memcpy(mapping, map, sizeof mapping);
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, nf.ctrl_data_ref, 41, 0, NULL, T_WAIT),
                         XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW);
        memcpy(nf_ctrl_page(&nf), key, 40);
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, nf.ctrl_data_ref, 40, 0, NULL, T_WAIT), 0);
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, 0x10, 0, 0, NULL, T_WAIT),
                         XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        assert_int_equal(nf_ctrl(&nf, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
                                 XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, 0, 0, NULL, T_WAIT),
                         0);
        assert_int_equal(nf_ctrl(&nf, 99, 0, 0, 0, NULL, T_WAIT), XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED);

        peer = peer_bridge(&nf, false);
        guest_mac(30, 0, gm);
        unsigned per_queue[4] = {};
        for (uint16_t port = 1000; port < 1040; port++) {
                size_t len = build_tcp(frame, gm, pm, 0x0a000001, 0x0a000002, port, 80, frame, 10, false);
                assert_int_equal(write(peer, frame, len), (ssize_t) len);
                assert_int_equal(recv_tcp_from(&nf, rf, port, T_WAIT), 0);
                uint8_t hin[12];
                memcpy(hin, frame + 26, 8);
                memcpy(hin + 8, frame + 34, 4);
                uint32_t want = xen_netif_toeplitz_hash(key, 40, hin, 12), val;
                assert_true(rf->has_hash);
                memcpy(&val, rf->hash.u.hash.value, 4);
                assert_int_equal(val, want);
                assert_int_equal(rf->hash.u.hash.type, _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP);
                assert_int_equal(rf->hash.u.hash.algorithm, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ);
                assert_int_equal(rf->queue, mapping[want % 128]);
                per_queue[rf->queue]++;
        }
        for (unsigned i = 0; i < 4; i++)
                assert_true(per_queue[i] > 0);
        close(peer);
        free(rf);
        nf_close(&nf);
}

static void test_multicast_filter(void **state) {
        NfOptions o = { .windows = true, .queues = 1, .mcast = true, .set_hotplug = true };
        static uint8_t frame[2000];
        uint8_t pm[6] = { 2, 0, 0, 0, 0, 9 }, m1[6] = { 1, 0, 0x5e, 0, 0, 0xfb }, m2[6] = { 1, 0, 0x5e, 0, 0, 0xfc },
                bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
        NetFront nf;
        NfFrame *rf = calloc(1, sizeof *rf);
        int peer;
        (void) state;

        guest_vif(31, 0, NULL);
        assert_int_equal(nf_connect(&nf, &H, 31, 0, &o), 0);
        NfTx add = { .mcast_type = XEN_NETIF_EXTRA_TYPE_MCAST_ADD };
        memcpy(add.mcast_addr, m1, 6);
        /* OKAY, then exactly one NULL (checked by nf_xmit) */
        assert_int_equal(nf_xmit(&nf, 0, NULL, 0, &add, T_WAIT), NETIF_RSP_OKAY);
        peer = peer_bridge(&nf, false);
        const uint8_t *dsts[3] = { m2, m1, bc };
        for (unsigned i = 0; i < 3; i++) {
                size_t len = build_ipv4(frame, dsts[i], pm, 0x0a000001, 0xe00000fb, 17, 8 + 20);
                frame[37] = (uint8_t) i; /* tag */
                assert_int_equal(write(peer, frame, len), (ssize_t) len);
        }
        /* m2 was filtered: the first to arrive is m1, then broadcast. */
        assert_int_equal(nf_recv(&nf, -1, rf, T_WAIT), 0);
        assert_memory_equal(rf->data, m1, 6);
        assert_int_equal(nf_recv(&nf, -1, rf, T_WAIT), 0);
        assert_memory_equal(rf->data, bc, 6);
        /* Remove it: now m1 is filtered too. */
        NfTx del = { .mcast_type = XEN_NETIF_EXTRA_TYPE_MCAST_DEL };
        memcpy(del.mcast_addr, m1, 6);
        assert_int_equal(nf_xmit(&nf, 0, NULL, 0, &del, T_WAIT), NETIF_RSP_OKAY);
        size_t len = build_ipv4(frame, m1, pm, 0x0a000001, 0xe00000fb, 17, 8 + 20);
        assert_int_equal(write(peer, frame, len), (ssize_t) len);
        assert_int_equal(nf_recv(&nf, -1, rf, 500), -ETIMEDOUT);
        close(peer);
        free(rf);
        assert_int_equal(nf_shutdown(&nf), 0);
        nf_close(&nf);
        assert_int_equal(ts_device_remove(&H, "vif", 31, 0, false), 0);
        assert_false(harness_log_contains(&H, " 0 filtered"));
}

static void test_rx_stall_drops(void **state) {
        NfOptions o = { .queues = 1, .set_hotplug = true };
        static uint8_t frame[2000];
        uint8_t gm[6], pm[6] = { 2, 0, 0, 0, 0, 9 };
        NetFront nf;
        NfFrame *rf = calloc(1, sizeof *rf);
        int peer;
        (void) state;

        guest_vif(32, 0, NULL);
        assert_int_equal(nf_connect(&nf, &H, 32, 0, &o), 0);
        peer = peer_bridge(&nf, false);
        guest_mac(32, 0, gm);
        /* The guest consumes nothing: 256 buffers fill, then we hold one packet. */
        for (unsigned i = 0; i < 400; i++) {
                size_t len = build_ipv4(frame, gm, pm, 0x0a000001, 0x0a000002, 17, 8 + 1000);
                (void) write(peer, frame, len);
        }
        for (int i = 0; i < 400 && !harness_log_contains(&H, "posted no receive buffers"); i++)
                usleep(10000);
        assert_true(harness_log_contains(&H, "posted no receive buffers"));
        /* The guest comes back: traffic flows again. */
        unsigned n = 0;
        while (nf_recv(&nf, -1, rf, 200) == 0)
                n++;
        assert_true(n >= 256);
        size_t len = build_ipv4(frame, gm, pm, 0x0a000001, 0x0a000002, 17, 8 + 77);
        assert_int_equal(write(peer, frame, len), (ssize_t) len);
        assert_int_equal(nf_recv(&nf, -1, rf, T_WAIT), 0);
        assert_int_equal(rf->len, len);
        close(peer);
        free(rf);
        assert_int_equal(nf_shutdown(&nf), 0);
        nf_close(&nf);
        assert_int_equal(ts_device_remove(&H, "vif", 32, 0, false), 0);
        assert_false(harness_log_contains(&H, " 0 dropped, 0 errors, 0 filtered"));
}

/* An RX ring whose producer index is more than a ring ahead of the
 * responses: no frontend can have posted that many buffers. The first
 * packet to that guest finds it and closes the device as broken. */
static void test_rx_producer_beyond_responses(void **state) {
        NfOptions o = { .queues = 1, .set_hotplug = true };
        static uint8_t frame[2000];
        uint8_t gm[6], pm[6] = { 2, 0, 0, 0, 0, 9 };
        NetFront nf;
        NfQueue *q;
        int peer;
        (void) state;

        guest_vif(34, 0, NULL);
        assert_int_equal(nf_connect(&nf, &H, 34, 0, &o), 0);
        peer = peer_bridge(&nf, false);
        guest_mac(34, 0, gm);
        q = &nf.q[0];
        size_t len = build_ipv4(frame, gm, pm, 0x0a000001, 0x0a000002, 17, 8 + 100);
        /* Until one gets through the fresh bridge. */
        for (int i = 0; i < T_WAIT / 100; i++) {
                char *st = be_read(&H, "vif", 34, 0, "state");
                bool closing = st && strcmp(st, "5") == 0;
                free(st);
                if (closing)
                        break;
                /* One buffer more than a ring beyond the responses the
                 * backend has pushed (the bridge's own frames, IGMP and
                 * IPv6, may have used some of the posted ones). */
                q->rx.sring->req_prod = q->rx.sring->rsp_prod + NF_RING + 1;
                assert_int_equal(write(peer, frame, len), (ssize_t) len);
                usleep(100000);
        }
        wait_be(&H, "vif", 34, 0, "state", "5");
        char *err = ts_read(&H, "/local/domain/0/error/backend/vif/34/0/error");
        assert_non_null(err);
        free(err);
        assert_true(harness_log_contains(&H, "RX producer index"));
        close(peer);
        nf_close(&nf);
}

static void test_rate_limit_live(void **state) {
        NfOptions o = { .queues = 1, .set_hotplug = true };
        static uint8_t frame[2000];
        uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, gm[6];
        NetFront nf;
        struct timespec a, b;
        (void) state;

        /* 10000 bytes per 100 ms */
        guest_vif(33, 0, (const char *const[]) { "rate", "10000,100000", NULL });
        assert_int_equal(nf_connect(&nf, &H, 33, 0, &o), 0);
        guest_mac(33, 0, gm);
        size_t len = build_ipv4(frame, bc, gm, 1, 2, 17, 8 + 1400);
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 21; i++) /* ~30 kB: at least two refills */
                assert_int_equal(nf_xmit(&nf, 0, frame, len, NULL, T_WAIT), NETIF_RSP_OKAY);
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= 190);
        /* Live change: effectively unlimited. */
        ts_write(&H, "/local/domain/0/backend/vif/33/0/rate", "100000000,100000");
        for (int i = 0; i < 100 && !harness_log_contains(&H, "Rate limit now 100000000"); i++)
                usleep(10000);
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 21; i++)
                assert_int_equal(nf_xmit(&nf, 0, frame, len, NULL, T_WAIT), NETIF_RSP_OKAY);
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 150);
        nf_close(&nf);
}

/* ---- restart and crash under traffic ------------------------------------ */

/* A TCP stream in both directions at once, every byte checked against the
 * pattern its sender used. */
typedef struct BidirEnd {
        unsigned net;
        size_t bytes;
        bool server, paced;
        int listen_fd;
        int result;
        size_t sent, got;
} BidirEnd;

static uint8_t bidir_byte(bool from_server, size_t i) {
        return (uint8_t) ((i * 2654435761u >> 13) ^ (from_server ? 0x5a : 0xc3) ^ (i >> 20));
}

static void *bidir_main(void *arg) {
        BidirEnd *e = arg;
        static __thread uint8_t buf[65536];
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(5002) };
        bool shut = false;
        int fd;

        if (e->server) {
                fd = accept(e->listen_fd, NULL, NULL);
        } else {
                if (enter_ns(NS_G) < 0) {
                        e->result = -EPERM;
                        return NULL;
                }
                sa.sin_addr.s_addr = htonl(0x0ac90001u | (e->net << 8));
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                        close(fd);
                        fd = -1;
                }
        }
        if (fd < 0) {
                e->result = -errno;
                return NULL;
        }
        (void) fcntl(fd, F_SETFL, O_NONBLOCK);
        while (e->got < e->bytes || e->sent < e->bytes) {
                struct pollfd pf = { .fd = fd, .events = (e->got < e->bytes ? POLLIN : 0) |
                                                         (e->sent < e->bytes ? POLLOUT : 0) };
                int n = poll(&pf, 1, 30000);
                if (n <= 0) {
                        e->result = -ETIMEDOUT;
                        break;
                }
                if (pf.revents & POLLOUT) {
                        size_t k = MIN(sizeof buf, e->bytes - e->sent);
                        for (size_t i = 0; i < k; i++)
                                buf[i] = bidir_byte(e->server, e->sent + i);
                        ssize_t w = write(fd, buf, k);
                        if (w > 0) {
                                e->sent += (size_t) w;
                                if (e->paced)
                                        usleep(2000); /* at most 32 MB/s: the stream outlasts many restarts */
                        }
                        else if (w < 0 && errno != EAGAIN) {
                                e->result = -errno;
                                break;
                        }
                }
                if (e->sent == e->bytes && !shut) {
                        shutdown(fd, SHUT_WR);
                        shut = true;
                }
                if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t r = read(fd, buf, sizeof buf);
                        if (r == 0 || (r < 0 && errno != EAGAIN)) {
                                e->result = r == 0 ? -EPIPE : -errno;
                                break;
                        }
                        for (ssize_t i = 0; i < r; i++)
                                if (buf[i] != bidir_byte(!e->server, e->got + (size_t) i)) {
                                        e->result = -EBADMSG;
                                        break;
                                }
                        if (e->result)
                                break;
                        if (r > 0)
                                e->got += (size_t) r;
                }
        }
        close(fd);
        return NULL;
}

typedef struct Bidir {
        BidirEnd srv, cli;
        pthread_t ts, tc;
} Bidir;

static void bidir_start(Bidir *b, unsigned net, size_t bytes, bool paced) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(5002) };
        int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        int one = 1;

        *b = (Bidir) { .srv = { .net = net, .bytes = bytes, .server = true, .paced = paced },
                       .cli = { .net = net, .bytes = bytes, .paced = paced } };
        assert_int_equal(enter_ns(NS_P), 0);
        b->srv.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setns(self, CLONE_NEWNET);
        close(self);
        setsockopt(b->srv.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sa.sin_addr.s_addr = htonl(0x0ac90001u | (net << 8));
        assert_int_equal(bind(b->srv.listen_fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(b->srv.listen_fd, 1), 0);
        pthread_create(&b->ts, NULL, bidir_main, &b->srv);
        pthread_create(&b->tc, NULL, bidir_main, &b->cli);
}

static bool bidir_done(Bidir *b) {
        return (b->srv.got == b->srv.bytes && b->srv.sent == b->srv.bytes) || b->srv.result || b->cli.result;
}

static void bidir_finish(Bidir *b) {
        pthread_join(b->tc, NULL);
        if (b->cli.result != 0)
                shutdown(b->srv.listen_fd, SHUT_RDWR);
        pthread_join(b->ts, NULL);
        close(b->srv.listen_fd);
        if (b->cli.result || b->srv.result)
                fail_msg("TCP stream: guest %d (sent %zu, got %zu), peer %d (sent %zu, got %zu)", b->cli.result,
                         b->cli.sent, b->cli.got, b->srv.result, b->srv.sent, b->srv.got);
        assert_int_equal(b->cli.got, b->cli.bytes);
        assert_int_equal(b->srv.got, b->srv.bytes);
}

typedef enum Stop {
        STOP_RESTART, /* SIGTERM, the FD store kept: systemctl restart */
        STOP_CRASH,   /* SIGKILL, the FD store kept: a crash, Restart=always */
} Stop;

static uint32_t test_seed(void) {
        const char *e = getenv("PVBACKD_RESTART_SEED");
        uint32_t seed = e ? (uint32_t) strtoul(e, NULL, 0) : (uint32_t) time(NULL) ^ (uint32_t) getpid() << 16;

        return seed ?: 1;
}

static uint32_t rnd(uint32_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        return *s;
}

/* What the guest must not have seen: an unknown or second response, an
 * error response, a closed device. */
static void assert_vif_healthy(NetFront *nf, Pump *p) {
        char path[128];

        if (nf->violations)
                fail_msg("%u protocol violations seen by the frontend, the first: %s", nf->violations, nf->violation);
        assert_int_equal(p->errors, 0);
        assert_be(&H, "vif", nf->dev.domid, nf->dev.devid, "state", "4");
        snprintf(path, sizeof path, "/local/domain/0/error/backend/vif/%u/%u/error", nf->dev.domid, nf->dev.devid);
        char *e = ts_read(&H, "%s", path);
        if (e)
                fail_msg("device error: %s", e);
}

static void connect_pumped(NetFront *nf, Pump *p, uint32_t domid, const NfOptions *o, unsigned net) {
        char name[48];

        guest_vif(domid, 0, NULL);
        assert_int_equal(nf_connect(nf, &H, domid, 0, o), 0);
        if (o->ctrl)
                assert_int_equal(nf_ctrl(nf, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_HASH_ALGORITHM_NONE,
                                         0, 0, NULL, T_WAIT),
                                 XEN_NETIF_CTRL_STATUS_SUCCESS);
        pump_start(p, nf, net);
        for (unsigned i = 0; i < 4; i++) {
                snprintf(name, sizeof name, "tap-%u-0-%u", domid, i);
                assert_true(service_has_fd(H.sm, name));
        }
        assert_int_equal(ping_from_guest(net, 56, 3), 3);
}

/* pvbackd restarted (SIGTERM) and crashed (SIGKILL) at random moments, for
 * as long as a TCP stream runs both ways through the vif (at least
 * min_cycles times): the
 * stream completes with every byte right, and the frontend never sees an
 * unknown or duplicate response. The seed is printed;
 * PVBACKD_RESTART_SEED=<seed> runs it again. */
static void restart_under_traffic(const NfOptions *o, uint32_t domid, unsigned net, unsigned min_cycles) {
        static NetFront nf;
        static Pump p;
        Bidir b;
        uint32_t seed = test_seed();
        unsigned counts[2] = {};

        print_message("restart under traffic (%s): seed %u\n", o->windows ? "Windows" : "Linux", seed);
        connect_pumped(&nf, &p, domid, o, net);
        bidir_start(&b, net, 64u << 20, true);
        for (unsigned c = 0; c < 500 && !bidir_done(&b); c++) {
                Stop how = rnd(&seed) % 2 ? STOP_CRASH : STOP_RESTART;
                usleep(rnd(&seed) % 150000);
                if (how == STOP_RESTART)
                        assert_int_equal(harness_stop_pvbackd(&H), 0);
                else
                        assert_int_equal(harness_kill_pvbackd(&H, SIGKILL), SIGKILL);
                assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
                counts[how]++;
        }
        bidir_finish(&b);
        print_message("restart under traffic: %u restarts, %u crashes\n", counts[0], counts[1]);
        assert_true(counts[0] + counts[1] >= min_cycles);
        assert_true(harness_log_contains(&H, "Took tap vif"));
        assert_true(harness_log_contains(&H, "Took the rings back"));
        /* And it goes on as before. */
        tcp_stream(net, 2u << 20);
        pump_stop(&p);
        assert_vif_healthy(&nf, &p);
        assert_int_equal(nf_shutdown(&nf), 0);
        assert_int_equal(ts_device_remove(&H, "vif", domid, 0, false), 0);
        nf_close(&nf);
        /* The device went while the daemon ran: its taps left the store. */
        for (int i = 0; i < 100 && service_n_fds(H.sm) > 1; i++)
                usleep(20000);
        char name[48];
        snprintf(name, sizeof name, "tap-%u-0-0", domid);
        assert_false(service_has_fd(H.sm, name));
}

static void test_restart_under_traffic_linux(void **state) {
        NfOptions o = { .queues = 2, .split = true, .gso4 = true, .gso6 = true, .csum6 = true, .set_hotplug = true };
        (void) state;
        restart_under_traffic(&o, 40, 40, 10);
}

static void test_restart_under_traffic_windows(void **state) {
        NfOptions o = { .windows = true, .queues = 4, .split = true, .gso4 = true, .gso6 = true, .csum6 = true,
                        .ctrl = true, .set_hotplug = true };
        (void) state;
        restart_under_traffic(&o, 41, 41, 10);
}

/* pvbackd killed at each named instant of a packet's life: the next
 * process serves on, the stream is intact, no response is unknown or
 * duplicate. */
static void test_net_crash_points(void **state) {
        static const char *const points[] = { "net-tx-taken:20", "net-tx-written:20", "net-rx-pushed:20",
                                              "net-tx-unpushed:20", "net-rx-unpushed:20" };
        static NetFront nf;
        static Pump p;
        NfOptions o = { .queues = 2, .split = true, .gso4 = true, .gso6 = true, .csum6 = true, .set_hotplug = true };
        (void) state;

        connect_pumped(&nf, &p, 42, &o, 42);
        for (size_t i = 0; i < ELEMENTSOF(points); i++) {
                Bidir b;
                int sig;
                assert_int_equal(harness_stop_pvbackd(&H), 0);
                setenv("PVBACKD_CRASH_AT", points[i], 1);
                assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
                unsetenv("PVBACKD_CRASH_AT");
                bidir_start(&b, 42, 4u << 20, false);
                sig = harness_wait_pvbackd_death(&H, T_WAIT);
                if (sig != SIGKILL)
                        fail_msg("pvbackd did not die at %s (%d)", points[i], sig);
                assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
                bidir_finish(&b);
        }
        assert_true(harness_log_contains(&H, "Crash point net-tx-taken reached"));
        assert_true(harness_log_contains(&H, "Crash point net-tx-written reached"));
        assert_true(harness_log_contains(&H, "Crash point net-rx-pushed reached"));
        /* The two unpushed points leave responses over their requests: the
         * next process finishes those pushes from the journal. */
        assert_true(harness_log_contains(&H, "finishing a push of"));
        pump_stop(&p);
        assert_vif_healthy(&nf, &p);
        nf_close(&nf);
}

/* `systemctl stop` closes the FD store and the tap goes with it. The
 * restarted pvbackd keeps the guest's rings served on a re-created tap of
 * the same name (down, in no bridge: the hotplug script does not run
 * again) and says so; once the tap is set up again, as the script would,
 * traffic flows with no sign of it in the guest's rings. */
static void test_stop_recreates_tap(void **state) {
        static NetFront nf;
        static Pump p;
        NfOptions o = { .queues = 2, .split = true, .gso4 = true, .gso6 = true, .csum6 = true, .set_hotplug = true };
        (void) state;

        connect_pumped(&nf, &p, 43, &o, 43);
        tcp_stream(43, 1u << 20);
        assert_int_equal(harness_stop_pvbackd(&H), 0);
        service_close_fds(H.sm);
        assert_int_not_equal(harness_sh("ip -n %s link show vif43.0 >/dev/null 2>&1", NS_P), 0); /* gone */
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        assert_true(harness_log_contains(&H, "was lost while pvbackd was stopped"));
        assert_true(harness_log_contains(&H, "Took the rings back"));
        assert_int_equal(harness_sh("ip link show vif43.0 >/dev/null"), 0); /* here again, not in NS_P */
        assert_int_equal(ping_from_guest(43, 56, 1), 0);
        /* What the hotplug script would do. */
        move_tap("vif43.0", NS_P, "10.201.43.1/24", "fe:ff:ff:ff:ff:ff");
        assert_int_equal(ping_from_guest(43, 56, 3), 3);
        tcp_stream(43, 2u << 20);
        pump_stop(&p);
        assert_vif_healthy(&nf, &p);
        nf_close(&nf);
}

#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
static const struct CMUnitTest tests[] = {
        T(test_probe_creates_tap_and_keys),
        T(test_tap_failure_reported),
        T(test_hotplug_status_gate),
        T(test_linux_netfront_ping_tcp),
        T(test_windows_xenvif_ping_tcp),
        T(test_single_queue_no_offload),
        T(test_checksums_and_gso_at_peer),
        T(test_gso_to_guest),
        T(test_hostile_frontends),
        T(test_rss_control_ring),
        T(test_multicast_filter),
        T(test_rx_stall_drops),
        T(test_rx_producer_beyond_responses),
        T(test_rate_limit_live),
        T(test_restart_under_traffic_linux),
        T(test_restart_under_traffic_windows),
        T(test_net_crash_points),
        T(test_stop_recreates_tap),
};

DEFINE_SIM_TEST_MAIN_WITH("netback", tests, .needs_root = "tap devices, network namespaces");
