/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The state table alone (backends/state.c), with the core's XenStore side
 * replaced by a recorder: every combination of inputs must take the path the
 * protocols require, edge by edge. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "xenbus-internal.h"

static char trail[256]; /* e.g. "probe 2|connect 4|" */
static int drain_pending;      /* disconnect returns 1 this many times */
static bool connect_fails;
static bool can_connect = true;

static void record(const char *what, XenbusState s) {
        size_t l = strlen(trail);
        snprintf(trail + l, sizeof trail - l, "%s %d|", what, (int) s);
}

/* ---- stand-ins for xenbus.c -------------------------------------------- */

int log_internal(int level, int error, const LogContext *ctx, const char *func, const char *fmt, ...) {
        (void) level, (void) ctx, (void) func, (void) fmt;
        return error < 0 ? error : -error;
}

LogContext *xenbus_device_log_context(XenbusDevice *d) {
        return &d->log;
}

int xenbus_device_write_state(XenbusDevice *d, XenbusState s, XsBatch *extra) {
        (void) extra;
        record("write", s);
        d->state = s;
        return 0;
}

int xenbus_device_publish_initwait(XenbusDevice *d) {
        record("probe", XenbusStateInitWait);
        d->failed = false;
        d->setup_ready = !d->setup_failed;
        d->state = XenbusStateInitWait;
        return 0;
}

int xenbus_device_do_connect(XenbusDevice *d) {
        if (connect_fails) {
                record("connect-failed", d->state);
                d->failed = true;
                return -EIO;
        }
        record("connect", XenbusStateConnected);
        d->connected = true;
        d->state = XenbusStateConnected;
        return 0;
}

int xenbus_device_do_disconnect(XenbusDevice *d) {
        if (!d->connected)
                return 0;
        if (drain_pending > 0) {
                drain_pending--;
                record("draining", d->state);
                d->draining = true;
                return 1;
        }
        record("disconnect", d->state);
        d->connected = false;
        return 0;
}

void xenbus_device_release(XenbusDevice *d, bool write_closed) {
        (void) write_closed;
        record("release", d->state);
        d->released = true;
}

static bool test_can_connect(XenbusDevice *d) {
        (void) d;
        return can_connect;
}

static const BackendClass test_class = { .kind = "t", .can_connect = test_can_connect };

/* ---- helpers ------------------------------------------------------------ */

static XenbusDevice dev;

static int reset(void **state) {
        (void) state;
        memset(&dev, 0, sizeof dev);
        dev.class = &test_class;
        dev.state = XenbusStateInitialising;
        dev.frontend_state = XenbusStateInitialising;
        dev.online = true;
        dev.setup_ready = true;
        trail[0] = 0;
        drain_pending = 0;
        connect_fails = false;
        can_connect = true;
        return 0;
}

static void fe(XenbusState s) {
        dev.frontend_state = s;
        xenbus_device_update(&dev);
}

static void expect(const char *want) {
        if (strcmp(trail, want) != 0)
                fail_msg("took '%s', expected '%s'", trail, want);
        trail[0] = 0;
}

static void to_connected(void) {
        xenbus_device_update(&dev);
        expect("probe 2|");
        fe(XenbusStateInitialised);
        expect("connect 4|");
        fe(XenbusStateConnected);
        expect("");
}

/* ---- tests --------------------------------------------------------------- */

static void test_initwait_never_skipped(void **state) {
        (void) state;
        /* Whatever the frontend already says, 2 comes first. */
        dev.frontend_state = XenbusStateConnected;
        xenbus_device_update(&dev);
        expect("probe 2|connect 4|");
}

static void test_windows_fresh_close_cycle(void **state) {
        (void) state;
        xenbus_device_update(&dev);
        expect("probe 2|");
        fe(XenbusStateClosing);
        expect("write 5|");
        fe(XenbusStateClosed);
        expect("write 6|");
        assert_false(dev.released); /* online=1: kept */
        fe(XenbusStateInitialising);
        expect("probe 2|");
        fe(XenbusStateInitialised);
        expect("connect 4|");
        fe(XenbusStateConnected);
        expect("");
}

static void test_driver_reload(void **state) {
        (void) state;
        to_connected();
        fe(XenbusStateClosing);
        expect("write 5|"); /* still serving */
        assert_true(dev.connected);
        fe(XenbusStateClosed);
        expect("disconnect 5|write 6|");
        fe(XenbusStateInitialising);
        expect("probe 2|");
        fe(XenbusStateConnected); /* xenvif: 1 -> 4 */
        expect("connect 4|");
}

static void test_frontend_restart_without_close(void **state) {
        (void) state;
        to_connected();
        fe(XenbusStateInitialising); /* guest rebooted under us */
        expect("disconnect 4|write 6|probe 2|");
}

static void test_hot_unplug_serves_until_closed(void **state) {
        (void) state;
        to_connected();
        dev.online = false; /* libxl: online=0, state=5 */
        xenbus_device_update(&dev);
        expect("write 5|");
        assert_true(dev.connected);
        fe(XenbusStateClosing);
        expect("");
        fe(XenbusStateClosed);
        expect("disconnect 5|write 6|release 6|");
}

static void test_unplug_unconnected(void **state) {
        (void) state;
        xenbus_device_update(&dev);
        expect("probe 2|");
        dev.online = false;
        xenbus_device_update(&dev);
        expect("write 6|release 6|");
}

static void test_frontend_gone(void **state) {
        (void) state;
        to_connected();
        fe(XenbusStateUnknown);
        expect("disconnect 4|write 6|release 6|");
}

static void test_drain_defers_closed(void **state) {
        (void) state;
        to_connected();
        drain_pending = 1;
        fe(XenbusStateClosed);
        expect("draining 4|");
        assert_int_equal(dev.state, XenbusStateConnected);
        fe(XenbusStateClosed); /* nothing moves while draining */
        expect("");
        dev.draining = false; /* what xenbus_device_drained() does */
        dev.connected = false;
        xenbus_device_update(&dev);
        expect("write 6|");
}

static void test_not_ready_waits_in_initwait(void **state) {
        (void) state;
        can_connect = false;
        xenbus_device_update(&dev);
        expect("probe 2|");
        fe(XenbusStateInitialised);
        expect("");
        can_connect = true; /* hotplug-status=connected */
        xenbus_device_update(&dev);
        expect("connect 4|");
}

static void test_setup_failed_parks(void **state) {
        (void) state;
        dev.setup_failed = true;
        xenbus_device_update(&dev);
        expect("probe 2|");
        fe(XenbusStateInitialised);
        expect("");
        dev.online = false;
        xenbus_device_update(&dev);
        expect("write 6|release 6|");
}

static void test_connect_failure_closes(void **state) {
        (void) state;
        xenbus_device_update(&dev);
        expect("probe 2|");
        connect_fails = true;
        fe(XenbusStateInitialised);
        expect("connect-failed 2|write 5|");
        connect_fails = false;
        fe(XenbusStateClosed);
        expect("write 6|");
        fe(XenbusStateInitialising);
        expect("probe 2|"); /* and may try again */
}

static void test_runtime_failure_waits_for_frontend(void **state) {
        (void) state;
        to_connected();
        dev.failed = true; /* what xenbus_device_fatal() sets after disconnecting */
        dev.connected = false;
        xenbus_device_update(&dev);
        expect("write 5|");
        fe(XenbusStateConnected);
        expect("");
        fe(XenbusStateClosed);
        expect("write 6|");
        fe(XenbusStateInitialising);
        expect("probe 2|");
}

static void test_closed_frontend_closing_again(void **state) {
        (void) state;
        xenbus_device_update(&dev);
        fe(XenbusStateClosed);
        expect("probe 2|write 6|");
        fe(XenbusStateClosing); /* Windows: BE 6 already satisfies "5 or 6" */
        expect("");
}

int main(void) {
        const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup(x, reset)
                T(test_initwait_never_skipped),
                T(test_windows_fresh_close_cycle),
                T(test_driver_reload),
                T(test_frontend_restart_without_close),
                T(test_hot_unplug_serves_until_closed),
                T(test_unplug_unconnected),
                T(test_frontend_gone),
                T(test_drain_defers_closed),
                T(test_not_ready_waits_in_initwait),
                T(test_setup_failed_parks),
                T(test_connect_failure_closes),
                T(test_runtime_failure_waits_for_frontend),
                T(test_closed_frontend_closing_again),
        };
        return cmocka_run_group_tests_name("state-machine", tests, NULL, NULL);
}
