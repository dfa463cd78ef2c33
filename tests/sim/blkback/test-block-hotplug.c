/* SPDX-License-Identifier: GPL-2.0-or-later */

/* blkback/pvbackd-block, the disk hotplug script, run as libxl runs it
 * ("add"/"remove", XENBUS_PATH=backend/vbd/D/N relative to dom0's home)
 * against the simulated XenStore, with the stand-in xenstore tools of
 * tests/sim (xs-tool). The test writes what pvbackd writes. Checks:
 * add writes physical-device-path, waits for pvbackd-status, exits 0 with
 * hotplug-status=connected on ready; on error it prints pvbackd's
 * hotplug-error and exits 1 with hotplug-status=error; with no answer it
 * gives up after PVBACKD_WAIT_SECONDS with its message.
 *
 * Arguments: the xs-tool binary, the pvbackd-block script. */

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xenstore.h>
#include <cmocka.h>

#include "harness.h"
#include "hotplug-run.h"
#include "xensim.h"

#define T_SCRIPT 10000

static const char *XS_TOOL, *SCRIPT;
static struct xs_handle *XS;
static HpDir D;

static int setup(void **state) {
        (void) state;
        if (xsim_start(NULL, NULL) < 0 || !(XS = xs_open(0)))
                return -1;
        return hp_dir_new(XS_TOOL, SCRIPT, &D) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        (void) state;
        hp_dir_free(&D);
        xs_close(XS);
        XS = NULL;
        xsim_stop();
        return 0;
}

static void set(const char *rel, const char *value) {
        char p[256];
        snprintf(p, sizeof p, "/local/domain/0/%s", rel);
        assert_true(xs_write(XS, XBT_NULL, p, value, strlen(value)));
}

static char *get(const char *rel) {
        char p[256];
        unsigned len;
        snprintf(p, sizeof p, "/local/domain/0/%s", rel);
        return xs_read(XS, XBT_NULL, p, &len);
}

static void assert_dom0_node(const char *rel, const char *want) {
        char *v = get(rel);
        if (!v || strcmp(v, want) != 0)
                fail_msg("%s is '%s', wanted '%s'", rel, v ?: "(absent)", want);
        free(v);
}

static void run(const char *action, const char *xenbus_path, const char *wait_seconds, HpRun *r) {
        static char xp[256], ws[64];
        const char *args[] = { action, NULL };
        const char *env[] = { xp, wait_seconds ? ws : NULL, NULL };

        snprintf(xp, sizeof xp, "XENBUS_PATH=%s", xenbus_path);
        snprintf(ws, sizeof ws, "PVBACKD_WAIT_SECONDS=%s", wait_seconds ?: "");
        assert_int_equal(hp_start(&D, "pvbackd-block", args, env, r), 0);
}

/* A disk image for params, behind a symlink (the script resolves it). */
static void make_params(const char *be, char *ret_real, size_t size) {
        char img[512], link[512], key[256];
        snprintf(img, sizeof img, "%s/disk.img", D.dir);
        snprintf(link, sizeof link, "%s/disk-link.img", D.dir);
        int fd = open(img, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);
        unlink(link);
        assert_int_equal(symlink(img, link), 0);
        assert_non_null(realpath(img, ret_real));
        (void) size;
        snprintf(key, sizeof key, "%s/params", be);
        set(key, link);
}

static void test_add_ready(void **state) {
        char real[PATH_MAX], key[256];
        const char *be = "backend/vbd/3/51712";
        HpRun r;
        (void) state;

        make_params(be, real, sizeof real);
        run("add", be, NULL, &r);
        /* It publishes the device path, then waits for pvbackd. */
        assert_false(hp_wait(&r, 400));
        snprintf(key, sizeof key, "%s/physical-device-path", be);
        assert_dom0_node(key, real);
        snprintf(key, sizeof key, "%s/pvbackd-status", be);
        set(key, "ready");
        assert_true(hp_wait(&r, T_SCRIPT));
        if (r.status != 0)
                fail_msg("exit %d, output '%s'", r.status, r.out);
        snprintf(key, sizeof key, "%s/hotplug-status", be);
        assert_dom0_node(key, "connected");
        hp_finish(&r);
}

static void test_add_error(void **state) {
        char real[PATH_MAX], key[256];
        const char *be = "backend/vbd/4/51712", *msg = "pvbackd: cannot open /srv/missing.img: No such file or directory";
        HpRun r;
        (void) state;

        make_params(be, real, sizeof real);
        snprintf(key, sizeof key, "%s/hotplug-error", be);
        set(key, msg);
        snprintf(key, sizeof key, "%s/pvbackd-status", be);
        set(key, "error");
        run("add", be, NULL, &r);
        assert_true(hp_wait(&r, T_SCRIPT));
        assert_int_equal(r.status, 1);
        if (!strstr(r.out, msg))
                fail_msg("output is '%s'", r.out);
        snprintf(key, sizeof key, "%s/hotplug-status", be);
        assert_dom0_node(key, "error");
        snprintf(key, sizeof key, "%s/physical-device-path", be);
        assert_dom0_node(key, real);
        hp_finish(&r);
}

static void test_add_no_answer(void **state) {
        char real[PATH_MAX], key[256];
        const char *be = "backend/vbd/5/51712";
        HpRun r;
        (void) state;

        make_params(be, real, sizeof real);
        run("add", be, "1", &r);
        assert_true(hp_wait(&r, T_SCRIPT));
        assert_int_equal(r.status, 1);
        if (!strstr(r.out, "pvbackd did not answer for backend/vbd/5/51712 within 1s"))
                fail_msg("output is '%s'", r.out);
        snprintf(key, sizeof key, "%s/hotplug-status", be);
        assert_dom0_node(key, "error");
        hp_finish(&r);
}

static void test_add_without_params_and_remove(void **state) {
        HpRun r;
        (void) state;

        run("add", "backend/vbd/6/51712", "1", &r);
        assert_true(hp_wait(&r, T_SCRIPT));
        assert_int_equal(r.status, 1);
        if (!strstr(r.out, "params is missing"))
                fail_msg("output is '%s'", r.out);
        hp_finish(&r);

        run("remove", "backend/vbd/6/51712", NULL, &r);
        assert_true(hp_wait(&r, T_SCRIPT));
        assert_int_equal(r.status, 0);
        hp_finish(&r);
}

#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)

static const struct CMUnitTest tests[] = {
        T(test_add_ready),
        T(test_add_error),
        T(test_add_no_answer),
        T(test_add_without_params_and_remove),
};

DEFINE_SIM_TEST_MAIN_WITH("block-hotplug", tests, .usage = "XS-TOOL PVBACKD-BLOCK", .paths = { &XS_TOOL, &SCRIPT });
