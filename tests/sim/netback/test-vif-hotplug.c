/* SPDX-License-Identifier: GPL-2.0-or-later */

/* netback/pvbackd-vif, the vif hotplug wrapper, run as libxl runs it
 * ("online type_if=vif", XENBUS_PATH relative to dom0's home) against the
 * simulated XenStore, with stand-in xenstore tools and a stand-in vif-bridge
 * that records how it was called.
 *
 * First the script's contract, with the test writing what pvbackd writes
 * (under a path no backend class serves): ready -> vif-bridge exec'd with the
 * same arguments; error -> hotplug-error printed, exit 1, no vif-bridge; no
 * answer -> the timeout message (PVBACKD_WAIT_SECONDS=1), hotplug-error and
 * hotplug-status=error written; offline and emulated taps straight to
 * vif-bridge. Then with pvbackd-sim itself deciding: a vif with a bad mac
 * (its own error message), and, as root, a vif whose tap it created.
 *
 * Arguments: the xs-tool binary, the pvbackd-vif script. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "hotplug-run.h"
#include "xensim.h"

#define T_SCRIPT 10000

static const char *XS_TOOL, *SCRIPT;
static Harness H;
static HpDir D;

static int setup(void **state) {
        (void) state;
        if (harness_start(&H, NULL) < 0)
                return -1;
        return hp_dir_new(XS_TOOL, SCRIPT, &D) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        int status = harness_stop_pvbackd(&H);
        (void) state;
        hp_dir_free(&D);
        if (status != 0)
                setenv("HARNESS_SHOW_LOG", "1", 1);
        harness_finish(&H);
        unsetenv("HARNESS_SHOW_LOG");
        return status == 0 ? 0 : -1;
}

static void set(const char *rel, const char *value) {
        char p[256];
        snprintf(p, sizeof p, "/local/domain/0/%s", rel);
        assert_int_equal(ts_write(&H, p, value), 0);
}

static char *get(const char *rel) {
        return ts_read(&H, "/local/domain/0/%s", rel);
}

static void run_online(const char *xenbus_path, const char *const *env, HpRun *r) {
        char xp[256];
        const char *args[] = { "online", "type_if=vif", NULL };
        const char *envs[8] = { xp };
        size_t n = 1;

        snprintf(xp, sizeof xp, "XENBUS_PATH=%s", xenbus_path);
        for (; env && *env && n < 7; env++)
                envs[n++] = *env;
        envs[n] = NULL;
        assert_int_equal(hp_start(&D, "pvbackd-vif", args, envs, r), 0);
}

static void assert_stub_ran(const char *want_args, const char *xenbus_path) {
        char want[512];
        char *log = hp_stub_log(&D);
        snprintf(want, sizeof want, "%sXENBUS_PATH=%s\n", want_args, xenbus_path);
        if (!log)
                fail_msg("vif-bridge did not run");
        if (strcmp(log, want) != 0)
                fail_msg("vif-bridge ran as:\n%s\nwanted:\n%s", log, want);
        free(log);
}

static void assert_stub_not_run(void) {
        char *log = hp_stub_log(&D);
        if (log)
                fail_msg("vif-bridge ran, it should not have:\n%s", log);
}

/* ---- the contract, the test playing pvbackd ------------------------------ */

static void test_ready_execs_stock_script(void **state) {
        HpRun r;
        (void) state;

        /* Not there yet when the script starts: it must wait for it. */
        run_online("hptest/vif/3/0", NULL, &r);
        assert_false(hp_wait(&r, 400));
        set("hptest/vif/3/0/pvbackd-status", "ready");
        assert_true(hp_wait(&r, T_SCRIPT));
        assert_int_equal(r.status, 0);
        assert_stub_ran("2\nonline\ntype_if=vif\n", "hptest/vif/3/0");
        hp_finish(&r);
}

static void test_error_prints_hotplug_error(void **state) {
        HpRun r;
        const char *msg = "pvbackd: cannot create tap vif4.0: Device or resource busy";
        (void) state;

        set("hptest/vif/4/0/hotplug-error", msg);
        set("hptest/vif/4/0/pvbackd-status", "error");
        run_online("hptest/vif/4/0", NULL, &r);
        assert_true(hp_wait(&r, T_SCRIPT));
        assert_int_equal(r.status, 1);
        if (!strstr(r.out, msg))
                fail_msg("output is '%s'", r.out);
        assert_stub_not_run();
        hp_finish(&r);
}

static void test_no_answer_times_out(void **state) {
        const char *env[] = { "PVBACKD_WAIT_SECONDS=1", NULL };
        HpRun r;
        char *v;
        (void) state;

        run_online("hptest/vif/5/0", env, &r);
        assert_true(hp_wait(&r, T_SCRIPT));
        assert_int_equal(r.status, 1);
        if (!strstr(r.out, "pvbackd did not answer for hptest/vif/5/0 within 1s"))
                fail_msg("output is '%s'", r.out);
        assert_stub_not_run();
        v = get("hptest/vif/5/0/hotplug-status");
        assert_non_null(v);
        assert_string_equal(v, "error");
        free(v);
        v = get("hptest/vif/5/0/hotplug-error");
        assert_non_null(v);
        assert_non_null(strstr(v, "pvbackd did not answer"));
        free(v);
        hp_finish(&r);
}

static void test_offline_and_emulated_go_straight_through(void **state) {
        const char *env[] = { "XENBUS_PATH=hptest/vif/6/0", "PVBACKD_WAIT_SECONDS=1", NULL };
        const char *offline[] = { "offline", "type_if=vif", NULL }, *emu[] = { "online", "type_if=tap", NULL };
        HpRun r;
        (void) state;

        /* No pvbackd-status at all: neither may wait for it. */
        assert_int_equal(hp_start(&D, "pvbackd-vif", offline, env, &r), 0);
        assert_true(hp_wait(&r, 900));
        assert_int_equal(r.status, 0);
        assert_stub_ran("2\noffline\ntype_if=vif\n", "hptest/vif/6/0");
        hp_finish(&r);

        assert_int_equal(hp_start(&D, "pvbackd-vif", emu, env, &r), 0);
        assert_true(hp_wait(&r, 900));
        assert_int_equal(r.status, 0);
        assert_stub_ran("2\nonline\ntype_if=tap\n", "hptest/vif/6/0");
        hp_finish(&r);
}

/* ---- pvbackd-sim deciding ------------------------------------------------ */

static void add_vif(uint32_t domid, const char *mac) {
        const char *kv[] = { "mac", mac, "bridge", "xenbr0", "handle", "0", "script", "pvbackd-vif", "type", "vif",
                             "hotplug-status", "", NULL };
        char name[32];
        snprintf(name, sizeof name, "hp%u", domid);
        assert_int_equal(xsim_domain_create(domid, name, NULL, 64), 0);
        assert_int_equal(ts_device_add(&H, "vif", domid, 0, kv), 0);
}

static void test_pvbackd_error_reaches_xl(void **state) {
        char xp[64], *want;
        HpRun r;
        (void) state;

        add_vif(7, "not-a-mac");
        snprintf(xp, sizeof xp, "backend/vif/7/0");
        run_online(xp, NULL, &r);
        assert_true(hp_wait(&r, T_SCRIPT));
        assert_int_equal(r.status, 1);
        want = get("backend/vif/7/0/hotplug-error");
        assert_non_null(want);
        assert_non_null(strstr(want, "mac"));
        if (!strstr(r.out, want))
                fail_msg("output is '%s', pvbackd's hotplug-error is '%s'", r.out, want);
        assert_stub_not_run();
        free(want);
        hp_finish(&r);
        assert_int_equal(ts_device_remove(&H, "vif", 7, 0, true), 0);
}

static void test_pvbackd_ready_runs_stock_script(void **state) {
        char p[128];
        HpRun r;
        (void) state;

        if (geteuid() != 0)
                skip(); /* pvbackd needs CAP_NET_ADMIN for the tap */
        add_vif(8, "00:16:3e:00:08:00");
        run_online("backend/vif/8/0", NULL, &r);
        assert_true(hp_wait(&r, T_SCRIPT));
        if (r.status != 0)
                fail_msg("exit %d, output '%s'", r.status, r.out);
        assert_stub_ran("2\nonline\ntype_if=vif\n", "backend/vif/8/0");
        hp_finish(&r);
        snprintf(p, sizeof p, "/local/domain/0/backend/vif/8/0/pvbackd-status");
        char *v = ts_read(&H, "%s", p);
        assert_non_null(v);
        assert_string_equal(v, "ready");
        free(v);
        assert_int_equal(ts_device_remove(&H, "vif", 8, 0, true), 0);
}

#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)

static const struct CMUnitTest tests[] = {
        T(test_ready_execs_stock_script),       T(test_error_prints_hotplug_error),
        T(test_no_answer_times_out),            T(test_offline_and_emulated_go_straight_through),
        T(test_pvbackd_error_reaches_xl),       T(test_pvbackd_ready_runs_stock_script),
};

DEFINE_SIM_TEST_MAIN_WITH("vif-hotplug", tests, .usage = "XS-TOOL PVBACKD-VIF", .paths = { &XS_TOOL, &SCRIPT });
