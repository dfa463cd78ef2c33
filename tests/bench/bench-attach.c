/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Control-plane benchmark on the simulated Xen:
 *  1. latency from a backend directory appearing to InitWait, one device at a time;
 *  2. attaching 1000 devices across 250 guests: time until all are in InitWait;
 *  3. the daemon's memory per idle device.
 * The reference, measured in the same run, is the XenStore itself: the same
 * number of transactions written by the toolstack side with nobody serving
 * them. Results go to stdout as "name value unit" lines. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "harness.h"
#include "xensim.h"

#define GUESTS 250
#define DEVS_PER_GUEST 4
#define LATENCY_SAMPLES 100

/* Waits until every device of the given range reports InitWait. */
static int wait_all_initwait(Harness *h, uint32_t first_dom, unsigned guests, double timeout_s) {
        double end = now_s() + timeout_s;
        for (uint32_t d = first_dom; d < first_dom + guests; d++)
                for (uint32_t i = 0; i < DEVS_PER_GUEST; i++) {
                        char p[128];
                        int left_ms = (int) ((end - now_s()) * 1000);
                        snprintf(p, sizeof p, "/local/domain/0/backend/vtest/%u/%u/state", d, i);
                        if (left_ms <= 0 || ts_wait(h, p, "2", left_ms) < 0)
                                return -1;
                }
        return 0;
}

int main(void) {
        Harness h;
        double lat[LATENCY_SAMPLES], t0, t_attach, t_ref;
        long rss0, rss1;
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        r = harness_start(&h, "[daemon]\nlog-level = warning\n[limits]\nmax-guests = 1024\n");
        if (r < 0) {
                fprintf(stderr, "cannot start: %s\n", strerror(-r));
                return 1;
        }

        /* 1. one device at a time */
        ts_domain_create(&h, 1, "latency");
        for (unsigned i = 0; i < LATENCY_SAMPLES; i++) {
                char p[128];
                snprintf(p, sizeof p, "/local/domain/0/backend/vtest/1/%u/state", i);
                t0 = now_s();
                ts_device_add(&h, "vtest", 1, i, NULL);
                if (ts_wait(&h, p, "2", 10000) < 0) {
                        fprintf(stderr, "device %u never reached InitWait\n", i);
                        return 1;
                }
                lat[i] = (now_s() - t0) * 1000.0;
                ts_device_remove(&h, "vtest", 1, i, true);
        }
        qsort(lat, LATENCY_SAMPLES, sizeof lat[0], cmp_double);
        printf("initwait_latency_p50 %.3f ms\n", lat[LATENCY_SAMPLES / 2]);
        printf("initwait_latency_p99 %.3f ms\n", lat[LATENCY_SAMPLES * 99 / 100]);
        printf("initwait_latency_max %.3f ms\n", lat[LATENCY_SAMPLES - 1]);

        /* 2. 1000 devices across 250 guests, all added back to back */
        for (uint32_t d = 0; d < GUESTS; d++) {
                char name[32];
                snprintf(name, sizeof name, "bench%u", d);
                ts_domain_create(&h, 100 + d, name);
        }
        usleep(200 * 1000);
        rss0 = harness_rss_kib(&h);
        t0 = now_s();
        for (uint32_t d = 0; d < GUESTS; d++)
                for (uint32_t i = 0; i < DEVS_PER_GUEST; i++)
                        ts_device_add(&h, "vtest", 100 + d, i, NULL);
        if (wait_all_initwait(&h, 100, GUESTS, 60) < 0) {
                fprintf(stderr, "not all devices reached InitWait within 60 s\n");
                return 1;
        }
        t_attach = now_s() - t0;
        usleep(300 * 1000);
        rss1 = harness_rss_kib(&h);
        printf("attach_1000_devices_250_guests %.3f s\n", t_attach);
        printf("memory_per_idle_device %.2f KiB\n", (double) (rss1 - rss0) / (GUESTS * DEVS_PER_GUEST));

        /* Reference: the same transactions with no backend daemon. */
        harness_stop_pvbackd(&h);
        for (uint32_t d = 0; d < GUESTS; d++) {
                char name[32];
                snprintf(name, sizeof name, "ref%u", d);
                ts_domain_create(&h, 400 + d, name);
        }
        t0 = now_s();
        for (uint32_t d = 0; d < GUESTS; d++)
                for (uint32_t i = 0; i < DEVS_PER_GUEST; i++)
                        ts_device_add(&h, "vtest", 400 + d, i, NULL);
        t_ref = now_s() - t0;
        printf("reference_toolstack_writes_only %.3f s\n", t_ref);
        printf("attach_ratio_vs_reference %.2f x\n", t_attach / t_ref);
        printf("target_all_initwait_within_2s %s\n", t_attach <= 2.0 ? "met" : "MISSED");
        harness_finish(&h);
        return 0;
}
