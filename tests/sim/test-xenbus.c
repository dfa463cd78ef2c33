/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The XenBus core against the simulated Xen: every path of the backend state
 * machine, driven by frontends that behave as the Windows PV drivers and the
 * Linux frontends do, and by a toolstack that behaves as libxl 4.17 does. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "xensim.h"

#define T_WAIT HARNESS_WAIT_MS

static Harness H;

static int setup(void **state) {
        (void) state;
        return harness_start(&H, "[limits]\nmax-devices-per-guest = 4\nmax-guests = 8\n");
}

/* Every test ends with a clean daemon exit: status 0 after SIGTERM, and no
 * sanitizer report (leaks, UB) in its log. */
static int teardown(void **state) {
        (void) state;
        return harness_finish_checked(&H);
}

static void guest_with_device(uint32_t domid, uint32_t devid, const char *const *extra) {
        char name[32];
        snprintf(name, sizeof name, "guest%u", domid);
        if (xsim_domain_query(domid, NULL) < 0)
                assert_int_equal(ts_domain_create(&H, domid, name), 0);
        assert_int_equal(ts_device_add(&H, "vtest", domid, devid, extra), 0);
}

/* Brings a frontend to Connected the Linux blkfront way: 1 -> (BE 2) -> 3 -> (BE 4) -> 4. */
static void connect_linux(Frontend *f, unsigned order) {
        assert_int_equal(fe_wait_backend(f, XenbusStateInitWait, T_WAIT), 0);
        assert_int_equal(fe_setup_ring(f, order), 0);
        assert_int_equal(fe_set_state(f, XenbusStateInitialised), 0);
        assert_int_equal(fe_wait_backend(f, XenbusStateConnected, T_WAIT), 0);
        assert_int_equal(fe_set_state(f, XenbusStateConnected), 0);
}

/* ---- InitWait ------------------------------------------------------------- */

static void test_initwait_with_features(void **state) {
        (void) state;
        guest_with_device(1, 51712, NULL);
        wait_be(&H, "vtest", 1, 51712, "state", "2");
        /* Published before (in the same transaction as) InitWait. */
        assert_be(&H, "vtest", 1, 51712, "feature-vtest", "1");
        assert_be(&H, "vtest", 1, 51712, "max-ring-page-order", "4");
        assert_be(&H, "vtest", 1, 51712, "pvbackd-status", "ready");
        assert_be_absent(&H, "vtest", 1, 51712, "hotplug-error");
        assert_true(harness_wait_notify(&H, " vtest 1", T_WAIT) || strstr(H.status, " vtest 1"));
}

static void test_initwait_despite_tx_conflicts(void **state) {
        (void) state;
        assert_int_equal(ts_domain_create(&H, 2, "conflicted"), 0);
        xsim_fault_tx_conflicts(5);
        assert_int_equal(ts_device_add(&H, "vtest", 2, 0, NULL), 0);
        wait_be(&H, "vtest", 2, 0, "state", "2");
        assert_be(&H, "vtest", 2, 0, "feature-vtest", "1");
}

/* ---- Windows xenvbd's close cycle on a fresh device: 1 -> 5 -> 6 -> 1 -> 3 -> 4 */

static void test_windows_close_cycle_fresh(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(3, 51712, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 3, 51712), 0);
        /* FrontendClose: wait until BE != 1, then 5 until BE in {5,6}, then 6 until BE 6. */
        assert_int_equal(fe_wait_backend(&f, XenbusStateInitWait, T_WAIT), 0);
        assert_int_equal(fe_set_state(&f, XenbusStateClosing), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosing, T_WAIT), 0);
        assert_int_equal(fe_set_state(&f, XenbusStateClosed), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosed, T_WAIT), 0);
        /* The directory stays while online=1. */
        assert_be(&H, "vtest", 3, 51712, "online", "1");
        /* FrontendPrepare: 1, require BE 2 with features re-published. */
        assert_int_equal(fe_set_state(&f, XenbusStateInitialising), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateInitWait, T_WAIT), 0);
        assert_be(&H, "vtest", 3, 51712, "feature-vtest", "1");
        /* FrontendConnect: rings, 3, require 4, then 4. */
        connect_linux(&f, 1);
        assert_be(&H, "vtest", 3, 51712, "vtest-ring-pages", "2");
        assert_int_equal(fe_roundtrip(&f, 0, 4096, T_WAIT), 0);
        assert_int_equal(fe_roundtrip(&f, 100, 17, T_WAIT), 0);
        fe_close(&f);
}

/* After a driver reload (or resume): connected -> 5 -> 6 -> 1 -> 3 -> 4. */
static void test_windows_driver_reload(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(4, 51712, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 4, 51712), 0);
        connect_linux(&f, 0);
        assert_int_equal(fe_roundtrip(&f, 0, 512, T_WAIT), 0);

        assert_int_equal(fe_set_state(&f, XenbusStateClosing), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosing, T_WAIT), 0);
        /* Windows revokes grants as soon as it is Closed: the backend must
         * have unmapped before it says Closed. */
        assert_int_equal(fe_set_state(&f, XenbusStateClosed), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosed, T_WAIT), 0);
        assert_int_equal(fe_end_grants(&f), 0);

        assert_int_equal(fe_set_state(&f, XenbusStateInitialising), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateInitWait, T_WAIT), 0);
        connect_linux(&f, 2);
        assert_be(&H, "vtest", 4, 51712, "vtest-ring-pages", "4");
        assert_int_equal(fe_roundtrip(&f, 8, 4000, T_WAIT), 0);
        fe_close(&f);
}

/* netfront and xenvif go 1 -> 4 with no Initialised step. */
static void test_straight_to_connected(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(5, 0, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 5, 0), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateInitWait, T_WAIT), 0);
        assert_int_equal(fe_setup_ring(&f, 0), 0);
        assert_int_equal(fe_set_state(&f, XenbusStateConnected), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateConnected, T_WAIT), 0);
        assert_int_equal(fe_roundtrip(&f, 0, 1, T_WAIT), 0);
        fe_close(&f);
}

/* netback's gate: connect only once the hotplug script said "connected". */
static void test_connect_waits_for_hotplug_status(void **state) {
        static const char *const extra[] = { "vtest-gate", "1", "hotplug-status", "", NULL };
        Frontend f;
        (void) state;

        guest_with_device(6, 0, extra);
        assert_int_equal(fe_open(&f, &H, "vtest", 6, 0), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateInitWait, T_WAIT), 0);
        assert_int_equal(fe_setup_ring(&f, 0), 0);
        assert_int_equal(fe_set_state(&f, XenbusStateConnected), 0);
        usleep(200 * 1000);
        assert_int_equal(fe_backend_state(&f), XenbusStateInitWait);
        assert_int_equal(ts_write(&H, "/local/domain/0/backend/vtest/6/0/hotplug-status", "connected"), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateConnected, T_WAIT), 0);
        assert_int_equal(fe_roundtrip(&f, 0, 64, T_WAIT), 0);
        fe_close(&f);
}

/* blkback's gate: set-up completes when the stock block script writes
 * physical-device-path; until then pvbackd-status stays unset. */
static void test_setup_waits_for_script_node(void **state) {
        static const char *const extra[] = { "vtest-wait", "physical-device-path", NULL };
        Frontend f;
        (void) state;

        guest_with_device(7, 0, extra);
        wait_be(&H, "vtest", 7, 0, "state", "2");
        assert_be_absent(&H, "vtest", 7, 0, "pvbackd-status");
        assert_int_equal(fe_open(&f, &H, "vtest", 7, 0), 0);
        assert_int_equal(fe_setup_ring(&f, 0), 0);
        assert_int_equal(fe_set_state(&f, XenbusStateInitialised), 0);
        usleep(200 * 1000);
        assert_int_equal(fe_backend_state(&f), XenbusStateInitWait);
        assert_int_equal(ts_write(&H, "/local/domain/0/backend/vtest/7/0/physical-device-path", "/dev/loop0"), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateConnected, T_WAIT), 0);
        assert_be(&H, "vtest", 7, 0, "pvbackd-status", "ready");
        fe_close(&f);
}

/* ---- hot-unplug and removal ------------------------------------------------ */

/* xl block-detach: online=0, state=5 while the guest uses the device. The
 * backend keeps serving until the frontend writes 6, then drains, unmaps and
 * writes 6 -- and never removes the directory (libxl does). */
static void test_hot_unplug_keeps_serving(void **state) {
        static const char *const extra[] = { "vtest-drain-ms", "150", NULL };
        Frontend f;
        char *v;
        (void) state;

        guest_with_device(1, 51728, extra);
        assert_int_equal(fe_open(&f, &H, "vtest", 1, 51728), 0);
        connect_linux(&f, 0);

        assert_int_equal(ts_write(&H, "/local/domain/0/backend/vtest/1/51728/online", "0"), 0);
        assert_int_equal(ts_write(&H, "/local/domain/0/backend/vtest/1/51728/state", "5"), 0);
        usleep(100 * 1000);
        assert_int_equal(fe_backend_state(&f), XenbusStateClosing);
        assert_int_equal(fe_roundtrip(&f, 0, 2048, T_WAIT), 0); /* still served */

        assert_int_equal(fe_set_state(&f, XenbusStateClosed), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosed, T_WAIT), 0);
        assert_int_equal(fe_end_grants(&f), 0); /* unmapped before Closed */
        v = be_read(&H, "vtest", 1, 51728, "frontend");
        assert_non_null(v); /* directory still there */
        free(v);
        fe_close(&f);
        /* libxl now removes the directories; the released device stays gone. */
        assert_int_equal(ts_device_remove(&H, "vtest", 1, 51728, false), 0);
}

/* Detach of a device whose frontend never connected: Closed at once. */
static void test_unplug_unconnected_is_immediate(void **state) {
        long ms;
        (void) state;

        guest_with_device(2, 5, NULL);
        wait_be(&H, "vtest", 2, 5, "state", "2");
        assert_int_equal(ts_write(&H, "/local/domain/0/backend/vtest/2/5/online", "0"), 0);
        assert_int_equal(ts_write(&H, "/local/domain/0/backend/vtest/2/5/state", "5"), 0);
        ms = ts_time_until(&H, "/local/domain/0/backend/vtest/2/5/state", "6", T_WAIT);
        assert_true(ms >= 0);
}

/* Frontend Closed with online=1 stays Closed until the frontend writes 1. */
static void test_closed_online_waits_for_reinit(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(3, 1, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 3, 1), 0);
        connect_linux(&f, 0);
        assert_int_equal(fe_set_state(&f, XenbusStateClosed), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosed, T_WAIT), 0);
        usleep(200 * 1000);
        assert_int_equal(fe_backend_state(&f), XenbusStateClosed);
        assert_int_equal(fe_set_state(&f, XenbusStateInitialising), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateInitWait, T_WAIT), 0);
        fe_close(&f);
}

/* xl destroy / block-detach -f: the frontend directory goes first. */
static void test_frontend_removed(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(4, 2, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 4, 2), 0);
        connect_linux(&f, 0);
        assert_int_equal(ts_device_remove(&H, "vtest", 4, 2, true), 0);
        assert_int_equal(fe_end_grants(&f), 0);
        fe_close(&f);
}

/* A dying domain is released at once and does not become a zombie. */
static void test_domain_destroyed(void **state) {
        Frontend f[2];
        (void) state;

        guest_with_device(5, 10, NULL);
        guest_with_device(5, 11, NULL);
        for (int i = 0; i < 2; i++) {
                assert_int_equal(fe_open(&f[i], &H, "vtest", 5, 10 + i), 0);
                connect_linux(&f[i], 0);
                fe_close(&f[i]);
        }
        assert_int_equal(xsim_domain_destroy(5), 0);
        for (int i = 0; i < 100 && xsim_domain_query(5, NULL) >= 0; i++)
                usleep(20 * 1000);
        assert_true(xsim_domain_query(5, NULL) < 0); /* gone, not a zombie */
        wait_be(&H, "vtest", 5, 10, "state", "6");
        wait_be(&H, "vtest", 5, 11, "state", "6");
}

/* xl save / migration: the guest suspends itself. In-flight work is finished
 * but the rings stay mapped, since a cancelled suspend resumes on them. */
static void test_suspend_quiesces_and_keeps_rings(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(2, 20, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 2, 20), 0);
        connect_linux(&f, 0);
        assert_int_equal(xsim_domain_shutdown(2, 2 /* SHUTDOWN_suspend */), 0);
        wait_be(&H, "vtest", 2, 20, "vtest-quiesced", "1");
        assert_true(xsim_grant_map_count(2, f.ring_refs[0]) > 0);
        assert_be(&H, "vtest", 2, 20, "state", "4");
        fe_close(&f);
}

/* The same domid for a new domain: the new device is served afresh. */
static void test_domid_reuse(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(6, 1, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 6, 1), 0);
        connect_linux(&f, 0);
        fe_close(&f);
        /* As after a reboot: libxl removes everything, the domain dies, and
         * the domid comes back with a new UUID. */
        assert_int_equal(ts_device_remove(&H, "vtest", 6, 1, true), 0);
        xs_rm(H.xs, XBT_NULL, "/local/domain/6");
        assert_int_equal(xsim_domain_destroy(6), 0);
        for (int i = 0; i < 100 && xsim_domain_query(6, NULL) >= 0; i++)
                usleep(20 * 1000);
        assert_int_equal(ts_domain_create(&H, 6, "reborn"), 0);
        assert_int_equal(ts_device_add(&H, "vtest", 6, 1, NULL), 0);
        assert_int_equal(fe_open(&f, &H, "vtest", 6, 1), 0);
        connect_linux(&f, 0);
        assert_int_equal(fe_roundtrip(&f, 0, 300, T_WAIT), 0);
        fe_close(&f);
}

/* Soft reset (an HVM guest's kexec; xl's on_soft_reset="soft-reset"): the
 * old kernel closes its frontends, the domain shuts down with
 * SHUTDOWN_soft_reset and keeps its id and UUID; libxl removes the devices
 * (the frontend is gone, so only the backend answers), Xen closes the
 * guest's event channels and clears the shutdown, libxl adds the same
 * devices again and the new kernel connects on new rings. */
static void test_soft_reset(void **state) {
        Frontend f;
        uint32_t old_ring;
        (void) state;

        guest_with_device(9, 1, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 9, 1), 0);
        connect_linux(&f, 0);
        old_ring = f.ring_refs[0];
        /* Linux's frontend shutdown at kexec: Closing, then Closed once the
         * backend is Closing. */
        assert_int_equal(fe_set_state(&f, XenbusStateClosing), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosing, T_WAIT), 0);
        assert_int_equal(fe_set_state(&f, XenbusStateClosed), 0);
        assert_int_equal(xsim_domain_shutdown(9, SHUTDOWN_soft_reset), 0);
        assert_int_equal(ts_device_remove(&H, "vtest", 9, 1, false), 0);
        assert_int_equal(xsim_grant_map_count(9, old_ring), 0);
        fe_close(&f);
        assert_int_equal(xsim_domain_soft_reset(9), 0);
        assert_int_equal(ts_device_add(&H, "vtest", 9, 1, NULL), 0);
        assert_int_equal(fe_open(&f, &H, "vtest", 9, 1), 0);
        connect_linux(&f, 1);
        assert_true(f.ring_refs[0] != old_ring);
        assert_int_equal(fe_roundtrip(&f, 0, 300, T_WAIT), 0);
        fe_close(&f);
}

/* ---- hostile and broken input ---------------------------------------------- */

/* The other guest keeps being served whatever this one does. */
static Frontend bystander;

static void bystander_up(void) {
        guest_with_device(7, 99, NULL);
        assert_int_equal(fe_open(&bystander, &H, "vtest", 7, 99), 0);
        connect_linux(&bystander, 0);
}

static void bystander_check(void) {
        assert_int_equal(fe_roundtrip(&bystander, 0, 1000, T_WAIT), 0);
        fe_close(&bystander);
}

static void test_bad_frontend_path_refused(void **state) {
        static const char *const extra[] = { "frontend", "/local/domain/7/device/vtest/99", NULL };
        char *err;
        (void) state;

        bystander_up();
        guest_with_device(1, 3, extra);
        wait_be(&H, "vtest", 1, 3, "state", "2");
        assert_be(&H, "vtest", 1, 3, "pvbackd-status", "error");
        err = be_read(&H, "vtest", 1, 3, "hotplug-error");
        assert_non_null(err);
        assert_non_null(strstr(err, "frontend is not /local/domain/1/device/vtest/3"));
        free(err);
        /* It never connects, and detaches promptly. */
        assert_int_equal(ts_device_remove(&H, "vtest", 1, 3, false), 0);
        bystander_check();
}

static void test_hostile_toolstack_values(void **state) {
        static const char *const bad_id[] = { "frontend-id", "1x", NULL };
        static const char *const bad_online[] = { "online", "yes", NULL };
        char big[5000];
        const char *const oversized[] = { "frontend", big, NULL };
        (void) state;

        memset(big, 'a', sizeof big - 1);
        big[0] = '/';
        big[sizeof big - 1] = 0;
        bystander_up();
        guest_with_device(2, 1, bad_id);
        guest_with_device(2, 2, bad_online);
        assert_int_equal(ts_domain_create(&H, 3, "big") == 0 || xsim_domain_query(3, NULL) >= 0, 1);
        (void) ts_device_add(&H, "vtest", 3, 1, oversized); /* may be refused by XenStore itself */
        wait_be(&H, "vtest", 2, 1, "pvbackd-status", "error");
        wait_be(&H, "vtest", 2, 2, "pvbackd-status", "error");
        wait_be(&H, "vtest", 2, 1, "state", "2");
        bystander_check();
}

static void test_setup_failure_reported(void **state) {
        static const char *const extra[] = { "vtest-setup", "fail", NULL };
        char *err;
        (void) state;

        guest_with_device(4, 7, extra);
        wait_be(&H, "vtest", 4, 7, "state", "2");
        assert_be(&H, "vtest", 4, 7, "pvbackd-status", "error");
        err = be_read(&H, "vtest", 4, 7, "hotplug-error");
        assert_non_null(err);
        assert_non_null(strstr(err, "/nonexistent/vtest.img"));
        free(err);
        assert_true(harness_log_contains(&H, "/nonexistent/vtest.img"));
}

static void test_invalid_frontend_state(void **state) {
        Frontend f;
        char *err;
        (void) state;

        bystander_up();
        guest_with_device(5, 3, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 5, 3), 0);
        connect_linux(&f, 0);
        assert_true(xs_write(f.dev.xs, XBT_NULL, "/local/domain/5/device/vtest/3/state", "connected", 9));
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosing, T_WAIT), 0);
        err = ts_read(&H, "/local/domain/0/error/backend/vtest/5/3/error");
        assert_non_null(err);
        free(err);
        assert_int_equal(fe_end_grants(&f), 0); /* data path closed */
        fe_close(&f);
        bystander_check();
}

static void test_broken_ring_closes_only_that_device(void **state) {
        Frontend f;
        vtest_sring_t *s;
        char *err;
        (void) state;

        bystander_up();
        guest_with_device(6, 3, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 6, 3), 0);
        connect_linux(&f, 0);
        s = fe_sring(&f);
        s->req_prod += 1000; /* far beyond the ring */
        xenevtchn_notify(f.dev.xce, f.port);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosing, T_WAIT), 0);
        err = ts_read(&H, "/local/domain/0/error/backend/vtest/6/3/error");
        assert_non_null(err);
        assert_non_null(strstr(err, "beyond the ring"));
        free(err);
        assert_int_equal(fe_end_grants(&f), 0);
        /* The frontend can still close and start over. */
        assert_int_equal(fe_set_state(&f, XenbusStateClosed), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosed, T_WAIT), 0);
        assert_int_equal(fe_set_state(&f, XenbusStateInitialising), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateInitWait, T_WAIT), 0);
        fe_close(&f);
        bystander_check();
}

static void test_invalid_request_gets_error(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(7, 4, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 7, 4), 0);
        connect_linux(&f, 0);
        assert_int_equal(fe_roundtrip(&f, 4000, 200, T_WAIT), -EIO); /* crosses the page */
        assert_int_equal(fe_roundtrip(&f, 0, 100, T_WAIT), 0);       /* and the ring goes on */
        fe_close(&f);
}

static void test_map_failure_closes_device(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(1, 8, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 1, 8), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateInitWait, T_WAIT), 0);
        assert_int_equal(fe_setup_ring(&f, 0), 0);
        xsim_fault_map(1, 1);
        assert_int_equal(fe_set_state(&f, XenbusStateInitialised), 0);
        assert_int_equal(fe_wait_backend(&f, XenbusStateClosing, T_WAIT), 0);
        wait_be(&H, "vtest", 1, 8, "state", "5");
        {
                char *err = ts_read(&H, "/local/domain/0/error/backend/vtest/1/8/error");
                assert_non_null(err);
                free(err);
        }
        fe_close(&f);
}

static void test_per_guest_device_cap(void **state) {
        (void) state;
        for (unsigned i = 0; i < 5; i++)
                guest_with_device(2, 100 + i, NULL);
        wait_be(&H, "vtest", 2, 104, "state", "2");
        assert_be(&H, "vtest", 2, 104, "pvbackd-status", "error");
        assert_be(&H, "vtest", 2, 100, "pvbackd-status", "ready");
}

/* An event-channel storm (XSA-332): a guest notifying as fast as it can must
 * not make the daemon spin, and the device works again afterwards. */
static int setup_ratelimited(void **state) {
        (void) state;
        return harness_start(&H, "[limits]\nevtchn-rate-limit = 20\nevtchn-rate-interval-ms = 100\n");
}

static void test_event_storm_is_throttled(void **state) {
        Frontend f;
        struct timespec t0, t;
        double cpu0, cpu;
        unsigned long notifies = 0;
        (void) state;

        guest_with_device(1, 0, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 1, 0), 0);
        connect_linux(&f, 0);
        cpu0 = harness_cpu_seconds(&H);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
                for (int i = 0; i < 1000; i++, notifies++)
                        xenevtchn_notify(f.dev.xce, f.port);
                clock_gettime(CLOCK_MONOTONIC, &t);
        } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
        cpu = harness_cpu_seconds(&H) - cpu0;
        print_message("%lu notifications in 1 s; the daemon used %.3f s of CPU\n", notifies, cpu);
        /* Masked while handled and held back beyond 20 per 100 ms: a small
         * fraction of one core, where an unthrottled loop would take all of it. */
        assert_true(cpu < 0.3);
        assert_int_equal(fe_roundtrip(&f, 0, 256, T_WAIT), 0);
        fe_close(&f);
}

/* ---- daemon lifecycle ---------------------------------------------------- */

/* SIGTERM: in-flight work finished, grants released, nothing a frontend sees
 * changed (B/state stays Connected for a later re-attach). */
static void test_sigterm_leaves_frontend_view(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(3, 9, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 3, 9), 0);
        connect_linux(&f, 0);
        assert_int_equal(harness_stop_pvbackd(&H), 0);
        assert_be(&H, "vtest", 3, 9, "state", "4");
        assert_int_equal(fe_end_grants(&f), 0);
        fe_close(&f);
}

/* sd_notify: STATUS= counts guests and devices per class; the watchdog is
 * kept when systemd asks for it. */
static void test_notify_status_and_watchdog(void **state) {
        (void) state;
        guest_with_device(1, 1, NULL);
        guest_with_device(2, 1, NULL);
        guest_with_device(2, 2, NULL);
        wait_be(&H, "vtest", 2, 2, "state", "2");
        assert_true(harness_wait_notify(&H, " vtest 3", T_WAIT));
        assert_non_null(strstr(H.status, "Serving 2 guests, 3 devices:"));

        assert_int_equal(harness_stop_pvbackd(&H), 0);
        setenv("HARNESS_WATCHDOG_USEC", "200000", 1);
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        unsetenv("HARNESS_WATCHDOG_USEC");
        assert_true(harness_wait_notify(&H, "WATCHDOG=1", 2000));
}

/* Per device, pvbackd watches only the frontend's state node: never a whole
 * guest-writable directory (a guest could flood us with watch events). */
static void test_watches_only_frontend_state(void **state) {
        Frontend f;
        char *w = NULL;
        (void) state;

        guest_with_device(3, 7, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 3, 7), 0);
        connect_linux(&f, 0);
        fe_close(&f);
        assert_int_equal(xsim_watches("/local/domain/3", &w), 0);
        assert_non_null(w);
        /* The state node and the one node the class asked for, nothing else. */
        assert_true(strcmp(w, "/local/domain/3/device/vtest/7/state\n/local/domain/3/device/vtest/7/vtest-knob\n") == 0 ||
                    strcmp(w, "/local/domain/3/device/vtest/7/vtest-knob\n/local/domain/3/device/vtest/7/state\n") == 0);
        free(w);
}

/* A frontend node the class follows is reported while connected. */
static void test_frontend_node_followed(void **state) {
        Frontend f;
        (void) state;

        guest_with_device(4, 8, NULL);
        assert_int_equal(fe_open(&f, &H, "vtest", 4, 8), 0);
        connect_linux(&f, 0);
        assert_true(xs_write(f.dev.xs, XBT_NULL, "/local/domain/4/device/vtest/8/vtest-knob", "7", 1));
        wait_be(&H, "vtest", 4, 8, "vtest-knob-seen", "7");
        assert_true(xs_write(f.dev.xs, XBT_NULL, "/local/domain/4/device/vtest/8/vtest-knob", "9", 1));
        wait_be(&H, "vtest", 4, 8, "vtest-knob-seen", "9");
        fe_close(&f);
}

/* SIGHUP: a new config applies to devices set up from then on; a bad one is
 * logged and the old one kept, with the daemon still serving. */
static void test_sighup_reload(void **state) {
        FILE *c;
        (void) state;

        guest_with_device(4, 1, NULL);
        guest_with_device(4, 2, NULL);
        wait_be(&H, "vtest", 4, 2, "pvbackd-status", "ready");

        c = fopen(H.config_path, "we");
        assert_non_null(c);
        fputs("[limits]\nmax-devices-per-guest = 2\n", c);
        fclose(c);
        kill(H.pvbackd, SIGHUP);
        assert_true(harness_wait_notify(&H, "READY=1", T_WAIT));
        guest_with_device(4, 3, NULL);
        wait_be(&H, "vtest", 4, 3, "pvbackd-status", "error");

        c = fopen(H.config_path, "we");
        assert_non_null(c);
        fputs("[limits]\nmax-devices-per-guest = many\n", c);
        fclose(c);
        kill(H.pvbackd, SIGHUP);
        assert_true(harness_wait_notify(&H, "READY=1", T_WAIT));
        assert_true(harness_log_contains(&H, "Keeping the previous configuration"));
        guest_with_device(5, 1, NULL);
        wait_be(&H, "vtest", 5, 1, "pvbackd-status", "ready");
}

/* [classes]: a class switched off is not served at all (its devices are
 * left to whoever else serves that kind) and not counted in STATUS. */
static int setup_vbd_off(void **state) {
        (void) state;
        return harness_start(&H, "[classes]\nvbd = no\n");
}

static void test_class_switched_off(void **state) {
        char *v;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 1, "novbd"), 0);
        assert_int_equal(ts_device_add(&H, "vbd", 1, 51712, NULL), 0);
        guest_with_device(1, 1, NULL);
        wait_be(&H, "vtest", 1, 1, "state", "2");
        usleep(200 * 1000);
        v = ts_read(&H, "/local/domain/0/backend/vbd/1/51712/state");
        assert_non_null(v);
        assert_string_equal(v, "1");
        free(v);
        assert_null(strstr(H.status, "vbd"));
}

static void test_bad_config_refuses_to_start(void **state) {
        FILE *c;
        (void) state;

        assert_int_equal(harness_stop_pvbackd(&H), 0);
        c = fopen(H.config_path, "we");
        assert_non_null(c);
        fputs("[limits]\n# comment\nmax-ring-page-order = 9\n", c);
        fclose(c);
        assert_int_equal(harness_start_pvbackd(&H, NULL), -ECHILD);
        assert_true(harness_log_contains(&H, "pvbackd.conf:3"));
        assert_true(harness_log_contains(&H, "max-ring-page-order"));
}

static const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
        T(test_initwait_with_features),
        T(test_initwait_despite_tx_conflicts),
        T(test_windows_close_cycle_fresh),
        T(test_windows_driver_reload),
        T(test_straight_to_connected),
        T(test_connect_waits_for_hotplug_status),
        T(test_setup_waits_for_script_node),
        T(test_hot_unplug_keeps_serving),
        T(test_unplug_unconnected_is_immediate),
        T(test_closed_online_waits_for_reinit),
        T(test_frontend_removed),
        T(test_domain_destroyed),
        T(test_suspend_quiesces_and_keeps_rings),
        T(test_domid_reuse),
        T(test_soft_reset),
        T(test_bad_frontend_path_refused),
        T(test_hostile_toolstack_values),
        T(test_setup_failure_reported),
        T(test_invalid_frontend_state),
        T(test_broken_ring_closes_only_that_device),
        T(test_invalid_request_gets_error),
        T(test_map_failure_closes_device),
        T(test_per_guest_device_cap),
        cmocka_unit_test_setup_teardown(test_event_storm_is_throttled, setup_ratelimited, teardown),
        T(test_sigterm_leaves_frontend_view),
        T(test_notify_status_and_watchdog),
        T(test_watches_only_frontend_state),
        T(test_frontend_node_followed),
        T(test_sighup_reload),
        cmocka_unit_test_setup_teardown(test_class_switched_off, setup_vbd_off, teardown),
        T(test_bad_config_refuses_to_start),
};

DEFINE_SIM_TEST_MAIN("xenbus-core", tests);
