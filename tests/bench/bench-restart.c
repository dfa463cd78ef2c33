/* SPDX-License-Identifier: GPL-2.0-or-later */

/* A planned restart (SIGTERM, the FD store kept, as `systemctl restart`)
 * with 100 connected devices on the simulated Xen (60 disks, 20 vifs, 20
 * consoles; needs root for the taps):
 *  1. the time from the SIGTERM until the new process has answered one
 *     request on every disk, one frame on every vif and echoed one line on
 *     every console;
 *  2. the pause a QD32 frontend sees: the latencies of the requests that
 *     span the restart (p50/p99/max), next to those of the same frontend's
 *     requests before it (the reference, same run).
 * Results go to stdout as "name value unit" lines. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench-util.h"
#include "blkfront.h"
#include "cons-front.h"
#include "netfront.h"
#include "harness.h"
#include "xensim.h"

#define N_DISK_GUESTS 30 /* two disks each */
#define N_VIF_GUESTS 20  /* one vif each */
#define N_CONS_GUESTS 20 /* one console each */
#define N_DEVICES (N_DISK_GUESTS * 2 + N_VIF_GUESTS + N_CONS_GUESTS)
#define QD 32
#define REF_REQUESTS 20000
#define RESTARTS 5

static Harness H;
static char imgdir[] = "/var/tmp/pvbackd-bench-restart-XXXXXX";

/* A failure: the daemon's log, the simulator cleaned up. */
static int fail_with_log(const char *what) {
        fprintf(stderr, "%s\n", what);
        setenv("HARNESS_SHOW_LOG", "1", 1);
        harness_finish(&H);
        return 1;
}

static int add_disk(uint32_t domid, uint32_t devid) {
        char img[256], name[32];
        const char *kv[] = { "params", img, "script", "/etc/xen/scripts/pvbackd-block", "mode", "w",
                             "device-type", "disk", "type", "phy", "dev", "xvda", NULL };
        FILE *f;

        snprintf(img, sizeof img, "%s/d%u-%u.img", imgdir, domid, devid);
        f = fopen(img, "we");
        if (!f || ftruncate(fileno(f), 4 << 20) < 0)
                return -1;
        fclose(f);
        snprintf(name, sizeof name, "disk%u", domid);
        if (xsim_domain_query(domid, NULL) < 0 && xsim_domain_create(domid, name, NULL, 1024) < 0)
                return -1;
        return ts_device_add(&H, "vbd", domid, devid, kv);
}

static int connect_disk(BlkFront *f, uint32_t domid, uint32_t devid) {
        if (bf_open_pages(f, &H, domid, devid, QD) < 0 || bf_wait_backend(f, XenbusStateInitWait, 10000) < 0 ||
            bf_setup_rings(f, 1, 0, false, false, true) < 0 || bf_set_state(f, XenbusStateInitialised) < 0 ||
            bf_wait_backend(f, XenbusStateConnected, 10000) < 0 || bf_set_state(f, XenbusStateConnected) < 0)
                return -1;
        return 0;
}

static int add_vif(NetFront *nf, uint32_t domid) {
        char name[32], mac[32], p[128];
        const char *kv[] = { "mac", mac, "bridge", "xenbr0", "handle", "0", "script", "/etc/xen/scripts/vif-bridge",
                             "type", "vif", "hotplug-status", "", NULL };
        NfOptions o = { .queues = 1, .split = true, .set_hotplug = true };

        snprintf(name, sizeof name, "net%u", domid);
        snprintf(mac, sizeof mac, "00:16:3e:00:%02x:00", domid & 0xff);
        if (xsim_domain_create(domid, name, NULL, 4096) < 0 || ts_device_add(&H, "vif", domid, 0, kv) < 0)
                return -1;
        snprintf(p, sizeof p, "/local/domain/%u/device/vif/0/mac", domid);
        ts_write(&H, p, mac);
        return nf_connect(nf, &H, domid, 0, &o);
}

/* One frame out of the guest: answered (whatever the tap made of it) means
 * the vif is served. */
static int xmit_one(NetFront *nf) {
        uint8_t frame[64] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x16, 0x3e, 0, 0, 0, 0x88, 0xb5 };

        return nf_xmit(nf, 0, frame, sizeof frame, &(NfTx) {}, 10000) == -ETIMEDOUT ? -1 : 0;
}

static int read_one(BlkFront *f, uint64_t sector) {
        BfReq r;

        bf_build_rw(f, &r, false, sector, 0, 0, 8, false, 0);
        return bf_roundtrip(f, 0, &r, 10000);
}

/* QD requests in flight on one disk, each resubmitted as it completes. */
typedef struct Qd32 {
        BlkFront *f;
        double sent[QD];
        uint64_t id_of[QD];
        uint32_t seed;
} Qd32;

static void qd_submit(Qd32 *q, unsigned slot) {
        BfReq r;

        q->seed = q->seed * 1103515245u + 12345u;
        bf_build_rw(q->f, &r, q->seed & 1, (q->seed >> 8) % 8000, slot, 0, 8, false, 0);
        q->id_of[slot] = r.id;
        q->sent[slot] = now_s();
        bf_put(q->f, 0, &r);
}

/* Collects for up to seconds, resubmitting; latencies of completed
 * requests appended to lat from n on (at most max in all). */
static size_t qd_run(Qd32 *q, double seconds, double *lat, size_t n, size_t max) {
        double end = now_s() + seconds;

        while (now_s() < end && n < max) {
                BfResult res[QD];
                int got = bf_collect(q->f, 0, res, 1, QD, 5);
                for (int i = 0; i < got; i++)
                        for (unsigned s = 0; s < QD; s++)
                                if (q->id_of[s] == res[i].id) {
                                        if (n < max)
                                                lat[n++] = (now_s() - q->sent[s]) * 1000.0;
                                        qd_submit(q, s);
                                }
                if (got > 0)
                        bf_push(q->f, 0);
        }
        return n;
}

int main(void) {
        static BlkFront disks[N_DISK_GUESTS][2];
        static NetFront vifs[N_VIF_GUESTS];
        static ConsFront cons[N_CONS_GUESTS];
        static double ref[REF_REQUESTS], span[RESTARTS * QD];
        char config[4096];
        size_t off = 0, n_ref = 0, n_span = 0;
        double t_all[RESTARTS], t_stop[RESTARTS], t_ready[RESTARTS];
        Qd32 q = { .seed = 1 };
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (!mkdtemp(imgdir))
                return 1;
        off += (size_t) snprintf(config + off, sizeof config - off,
                                 "[daemon]\nlog-level = warning\n[limits]\nmax-guests = 1024\n");
        for (unsigned i = 0; i < N_CONS_GUESTS; i++)
                off += (size_t) snprintf(config + off, sizeof config - off, "[guest \"cons%u\"]\nconsole.c = pty\n", i);
        r = harness_start(&H, config);
        if (r < 0) {
                fprintf(stderr, "cannot start: %s\n", strerror(-r));
                return 1;
        }
        for (uint32_t d = 0; d < N_DISK_GUESTS; d++)
                for (uint32_t k = 0; k < 2; k++)
                        if (add_disk(10 + d, 51712 + k * 16) < 0 || connect_disk(&disks[d][k], 10 + d, 51712 + k * 16) < 0) {
                                fprintf(stderr, "disk %u/%u did not connect\n", d, k);
                                return 1;
                        }
        for (uint32_t v = 0; v < N_VIF_GUESTS; v++)
                if (add_vif(&vifs[v], 100 + v) < 0 || xmit_one(&vifs[v]) < 0) {
                        fprintf(stderr, "vif %u did not connect\n", v);
                        return fail_with_log("a vif did not connect");
                }
        for (uint32_t c = 0; c < N_CONS_GUESTS; c++) {
                char name[32], p[128];
                snprintf(name, sizeof name, "cons%u", c);
                snprintf(p, sizeof p, "/local/domain/%u/device/console/1/name", 200 + c);
                if (ts_domain_create(&H, 200 + c, name) < 0 || ts_wait(&H, p, "c", 10000) < 0 ||
                    cf_open(&cons[c], &H, 200 + c, 1) < 0 || cf_connect_linux(&cons[c], 10000) < 0) {
                        fprintf(stderr, "console %u did not connect\n", c);
                        return 1;
                }
        }
        printf("devices_connected %u disks + %u vifs + %u consoles\n", N_DISK_GUESTS * 2, N_VIF_GUESTS,
               N_CONS_GUESTS);

        /* The QD32 frontend on the first disk: the reference first. */
        q.f = &disks[0][0];
        for (unsigned s = 0; s < QD; s++)
                qd_submit(&q, s);
        bf_push(q.f, 0);
        n_ref = qd_run(&q, 2.0, ref, 0, REF_REQUESTS);

        for (unsigned k = 0; k < RESTARTS; k++) {
                double t0;
                size_t before;
                int fds[N_CONS_GUESTS];

                /* Consoles read through their tty, as xl console would. */
                for (uint32_t c = 0; c < N_CONS_GUESTS; c++)
                        fds[c] = cf_open_tty(&cons[c], NULL);
                t0 = now_s();
                if (harness_stop_pvbackd(&H) != 0) {
                        fprintf(stderr, "stop %u failed\n", k);
                        return 1;
                }
                t_stop[k] = now_s() - t0;
                if (harness_start_pvbackd(&H, NULL) != 0) {
                        fprintf(stderr, "start %u failed\n", k);
                        return 1;
                }
                t_ready[k] = now_s() - t0;
                /* Requests in flight across the restart: the next QD
                 * completions are the ones sent before it. */
                before = n_span;
                while (n_span < before + QD) {
                        double tmp[QD];
                        size_t got = qd_run(&q, 0.05, tmp, 0, before + QD - n_span);
                        memcpy(span + n_span, tmp, got * sizeof *tmp);
                        n_span += got;
                        if (now_s() - t0 > 30) {
                                fprintf(stderr, "%zu of %u answered after restart %u\n", n_span - before, QD, k);
                                return fail_with_log("the QD32 frontend's requests were not answered");
                        }
                }
                for (uint32_t d = 0; d < N_DISK_GUESTS; d++)
                        for (uint32_t i = 0; i < 2; i++)
                                if ((d || i) && read_one(&disks[d][i], d * 8) != BLKIF_RSP_OKAY) {
                                        fprintf(stderr, "disk %u/%u not served after restart %u\n", d, i, k);
                                        return 1;
                                }
                for (uint32_t v = 0; v < N_VIF_GUESTS; v++)
                        if (xmit_one(&vifs[v]) < 0) {
                                fprintf(stderr, "vif %u not served after restart %u\n", v, k);
                                return fail_with_log("a vif was not served");
                        }
                for (uint32_t c = 0; c < N_CONS_GUESTS; c++) {
                        char buf[8];
                        if (fds[c] < 0 || cf_write_all(&cons[c], "echo\n", 5, 10000) < 0 ||
                            fd_read_all(fds[c], buf, 5, 10000) < 0) {
                                fprintf(stderr, "console %u not served after restart %u\n", c, k);
                                return 1;
                        }
                        close(fds[c]);
                }
                t_all[k] = now_s() - t0;
                {
                        static double settle[REF_REQUESTS];
                        qd_run(&q, 0.5, settle, 0, REF_REQUESTS); /* back to steady state, not measured */
                }
        }

        qsort(ref, n_ref, sizeof *ref, cmp_double);
        qsort(span, n_span, sizeof *span, cmp_double);
        qsort(t_all, RESTARTS, sizeof *t_all, cmp_double);
        qsort(t_stop, RESTARTS, sizeof *t_stop, cmp_double);
        qsort(t_ready, RESTARTS, sizeof *t_ready, cmp_double);
        printf("restart_old_process_gone_p50 %.3f s\n", t_stop[RESTARTS / 2]);
        printf("restart_new_process_ready_p50 %.3f s\n", t_ready[RESTARTS / 2]);
        printf("restart_all_served_p50 %.3f s (%u devices, %u restarts)\n", t_all[RESTARTS / 2], N_DEVICES,
               RESTARTS);
        printf("restart_all_served_max %.3f s\n", t_all[RESTARTS - 1]);
        printf("target_all_served_within_1s %s\n", t_all[RESTARTS - 1] < 1.0 ? "met" : "MISSED");
        printf("qd32_reference_latency_p50 %.3f ms\n", ref[n_ref / 2]);
        printf("qd32_reference_latency_p99 %.3f ms\n", ref[n_ref * 99 / 100]);
        printf("qd32_across_restart_latency_p50 %.1f ms\n", span[n_span / 2]);
        printf("qd32_across_restart_latency_p99 %.1f ms\n", span[n_span * 99 / 100]);
        printf("qd32_across_restart_latency_max %.1f ms\n", span[n_span - 1]);
        harness_finish(&H);
        {
                char cmd[128];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", imgdir);
                if (system(cmd) != 0)
                        fprintf(stderr, "cannot remove %s\n", imgdir);
        }
        return 0;
}
