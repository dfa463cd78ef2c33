/* SPDX-License-Identifier: GPL-2.0-or-later */

/* consback serving the primary console /local/domain/<id>/console in place of
 * xenconsoled ([console] primary = yes). The toolstack side writes what
 * libxl 4.17 writes for a PV console: the console directory read-only
 * to the guest with ring-ref (a frame number), port (a guest port unbound for
 * dom0), limit, type=xenconsoled, output=pty, tty="", the backend directory
 * console/<id>/0, and grant entry 0 seeded with the ring's frame, as the
 * domain builder does for PV, PVH and HVM guests alike. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <xen/sched.h>

#include "cons-front.h"
#include "harness.h"
#include "xensim.h"

#define T_WAIT HARNESS_WAIT_MS
/* How long `xl create` waits for console/tty (libxl's console wait). */
#define LIBXL_TTY_TIMEOUT_MS 10000

static Harness H;
static char log_dir[128];

static int setup_primary(void **state) {
        char text[512];
        (void) state;
        snprintf(log_dir, sizeof log_dir, "/tmp/consback-primary-%d", (int) getpid());
        if (mkdir(log_dir, 0700) < 0 && errno != EEXIST)
                return -1;
        snprintf(text, sizeof text,
                 "[console]\nprimary = yes\nlog = yes\nlog-dir = %s/logs\n"
                 "[guest \"win\"]\nconsole.xencons = pty\n",
                 log_dir);
        return harness_start(&H, text);
}

/* The default: the primary console stays with xenconsoled. */
static int setup_default(void **state) {
        (void) state;
        log_dir[0] = 0;
        return harness_start(&H, "[guest \"win\"]\nconsole.xencons = pty\n");
}

static int teardown(void **state) {
        int r;

        (void) state;
        r = harness_finish_checked(&H);
        if (log_dir[0]) {
                char cmd[256];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", log_dir);
                if (system(cmd) != 0)
                        r = -1;
        }
        return r;
}

/* ---- the domain builder and libxl ------------------------------------------------ */

/* The guest's side as the builder leaves it: a zeroed ring page, grant entry
 * 0 for dom0 on it, and a guest port allocated unbound for dom0. ConsFront's
 * ring helpers then act as the guest's console driver. */
static void guest_prepare(ConsFront *f, uint32_t domid) {
        int port;

        assert_int_equal(cf_open(f, &H, domid, 0), 0);
        snprintf(f->dev.fe, sizeof f->dev.fe, "/local/domain/%u/console", domid);
        snprintf(f->dev.be, sizeof f->dev.be, "/local/domain/0/backend/console/%u/0", domid);
        assert_int_equal(xsim_page_alloc(domid, &f->gfn), 0);
        f->intf = xsim_guest_page(domid, f->gfn);
        assert_non_null(f->intf);
        memset(f->intf, 0, sizeof *f->intf);
        assert_int_equal(xsim_grant_seed(domid, 0, 0, f->gfn, false), 0);
        port = xenevtchn_bind_unbound_port(f->dev.xce, 0);
        assert_true(port > 0);
        f->port = (evtchn_port_t) port;
}

static bool tx_put(xs_transaction_t t, const char *dir, const char *key, const char *v,
                   struct xs_permissions *perms) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, key);
        return xs_write(H.xs, t, p, v, strlen(v)) && (!perms || xs_set_permissions(H.xs, t, p, perms, 2));
}

/* libxl__device_console_add for console 0, in one transaction. */
static void ts_primary_console_add(ConsFront *f, const char *type) {
        struct xs_permissions ro[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                        { .id = f->dev.domid, .perms = XS_PERM_READ } };
        const char *fe = f->dev.fe, *be = f->dev.be;
        char ref[32], port[16], domid[16];

        snprintf(ref, sizeof ref, "%llu", (unsigned long long) f->gfn);
        snprintf(port, sizeof port, "%u", f->port);
        snprintf(domid, sizeof domid, "%u", f->dev.domid);
        for (int attempt = 0;; attempt++) {
                xs_transaction_t t = xs_transaction_start(H.xs);
                bool ok = t != XBT_NULL;

                assert_true(attempt < 20);
                ok = ok && xs_mkdir(H.xs, t, fe) && xs_set_permissions(H.xs, t, fe, ro, 2);
                ok = ok && tx_put(t, fe, "backend", be, ro) && tx_put(t, fe, "backend-id", "0", ro) &&
                     tx_put(t, fe, "ring-ref", ref, ro) && tx_put(t, fe, "port", port, ro) &&
                     tx_put(t, fe, "limit", "1048576", ro) && tx_put(t, fe, "output", "pty", ro) &&
                     tx_put(t, fe, "tty", "", ro);
                ok = ok && (!type || tx_put(t, fe, "type", type, ro));
                ok = ok && xs_mkdir(H.xs, t, be) && xs_set_permissions(H.xs, t, be, ro, 2) &&
                     tx_put(t, be, "frontend", fe, ro) && tx_put(t, be, "frontend-id", domid, ro) &&
                     tx_put(t, be, "online", "1", ro) && tx_put(t, be, "protocol", "vt100", ro) &&
                     tx_put(t, be, "state", "1", ro);
                if (!ok) {
                        xs_transaction_end(H.xs, t, true);
                        fail_msg("cannot write the console nodes: %s", strerror(errno));
                }
                if (xs_transaction_end(H.xs, t, false))
                        return;
                assert_int_equal(errno, EAGAIN);
        }
}

static char *console_node(ConsFront *f, const char *key) {
        return ts_read(&H, "%s/%s", f->dev.fe, key);
}

/* Milliseconds until console/tty is non-empty, as libxl's wait sees it; -1 on timeout. */
static long wait_tty(ConsFront *f, long t0, int timeout_ms) {
        for (;;) {
                char *tty = console_node(f, "tty");
                bool set = tty && tty[0];
                free(tty);
                if (set)
                        return cf_now_ms() - t0;
                if (cf_now_ms() - t0 > timeout_ms)
                        return -1;
                usleep(500);
        }
}

static void assert_tty_stays_empty(ConsFront *f, int ms) {
        usleep((useconds_t) ms * 1000);
        char *tty = console_node(f, "tty");
        assert_non_null(tty);
        if (tty[0]) {
                char cmd[300];
                snprintf(cmd, sizeof cmd, "cat %s >&2", H.stderr_path);
                (void) !system(cmd);
        }
        assert_string_equal(tty, "");
        free(tty);
}

/* Data both ways between the ring and the pty named by console/tty, as
 * `xl console` (xenconsole) would use it. */
static void check_both_ways(ConsFront *f, const char *out) {
        char buf[128];
        size_t n = strlen(out);
        int fd;

        fd = cf_open_tty(f, NULL);
        assert_true(fd >= 0);
        assert_int_equal(cf_write_all(f, out, n, T_WAIT), 0);
        assert_int_equal(fd_read_all(fd, buf, n, T_WAIT), 0);
        assert_memory_equal(buf, out, n);
        assert_int_equal(write(fd, "ls\r", 3), 3);
        assert_int_equal(cf_read_all(f, buf, 3, T_WAIT), 0);
        assert_memory_equal(buf, "ls\r", 3);
        close(fd);
}

static long console_up(ConsFront *f, const char *type) {
        long t0 = cf_now_ms(), ms;

        ts_primary_console_add(f, type);
        ms = wait_tty(f, t0, LIBXL_TTY_TIMEOUT_MS);
        if (ms < 0)
                fail_msg("console/tty of domain %u was not written within libxl's %d ms", f->dev.domid,
                         LIBXL_TTY_TIMEOUT_MS);
        return ms;
}

/* ---- tests ----------------------------------------------------------------------- */

/* Linux PV (hvc0 on the primary console): tty written quickly, data both
 * ways, the ring from grant entry 0, a second `xl console` after the first
 * one left, the log file. */
static void test_linux_pv(void **state) {
        char buf[64], *tty, *v, path[256];
        ConsFront f;
        long ms;
        int fd;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 1, "lin"), 0);
        guest_prepare(&f, 1);
        ms = console_up(&f, "xenconsoled");
        fprintf(stderr, "# primary console: console/tty written %ld ms after the console nodes\n", ms);
        tty = console_node(&f, "tty");
        assert_non_null(strstr(tty, "/dev/pts/"));
        /* Through grant entry 0, not a foreign map. */
        assert_int_equal(xsim_grant_map_count(1, 0), 1);
        assert_int_equal(xsim_foreign_maps(1), 1);
        /* libxl's nodes are left as they were. */
        v = console_node(&f, "type");
        assert_string_equal(v, "xenconsoled");
        free(v);
        v = ts_read(&H, "%s/state", f.dev.be);
        assert_string_equal(v, "1");
        free(v);

        check_both_ways(&f, "Linux version 6.1.0 (hvc0)\n");

        /* Nobody attached: output waits, then a second reader gets it. */
        assert_int_equal(cf_write_all(&f, "login: ", 7, T_WAIT), 0);
        for (int i = 0; i < 200 && f.intf->out_cons != f.intf->out_prod; i++)
                usleep(5000);
        fd = cf_open_tty(&f, NULL);
        assert_true(fd >= 0);
        assert_int_equal(fd_read_all(fd, buf, 7, T_WAIT), 0);
        assert_memory_equal(buf, "login: ", 7);
        assert_int_equal(write(fd, "root\r", 5), 5);
        assert_int_equal(cf_read_all(&f, buf, 5, T_WAIT), 0);
        assert_memory_equal(buf, "root\r", 5);
        close(fd);
        /* The same pty all along. */
        v = console_node(&f, "tty");
        assert_string_equal(v, tty);
        free(v);

        /* [console] log = yes: guest-<name>-console.log. */
        snprintf(path, sizeof path, "%s/logs/guest-lin-console.log", log_dir);
        for (int i = 0; i < 200; i++) {
                char text[512] = "";
                FILE *l = fopen(path, "re");
                if (l) {
                        size_t n = fread(text, 1, sizeof text - 1, l);
                        text[n] = 0;
                        fclose(l);
                }
                if (strstr(text, "Linux version 6.1.0 (hvc0)\n") && strstr(text, "login: "))
                        break;
                assert_true(i < 199);
                usleep(10000);
        }
        free(tty);
        cf_close(&f);
}

/* A Windows HVM guest (XENBUS's console interface): it finds the ring
 * through grant entry 0 and writes to it from boot, before libxl wrote the
 * console nodes; that output is not lost. Its secondary console (XENCONS)
 * is served beside it. */
static void test_windows_hvm_with_secondary(void **state) {
        ConsFront f, sec;
        char buf[64];
        int fd;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 2, "win"), 0);
        guest_prepare(&f, 2);
        assert_int_equal(cf_write(&f, "XENBUS: early\r\n", 15), 15);
        console_up(&f, "xenconsoled");
        fd = cf_open_tty(&f, NULL);
        assert_true(fd >= 0);
        assert_int_equal(fd_read_all(fd, buf, 15, T_WAIT), 0);
        assert_memory_equal(buf, "XENBUS: early\r\n", 15);
        close(fd);
        check_both_ways(&f, "XENCONS: default\r\n");

        /* device/console/1 is pvbackd's own secondary console. */
        assert_int_equal(ts_wait(&H, "/local/domain/2/device/console/1/name", "xencons", T_WAIT), 0);
        assert_int_equal(cf_open(&sec, &H, 2, 1), 0);
        assert_int_equal(cf_connect_windows(&sec, T_WAIT), 0);
        check_both_ways(&sec, "secondary\r\n");
        check_both_ways(&f, "primary again\r\n");
        cf_close(&sec);
        cf_close(&f);
}

/* libxl resets tty to "" (after a bootloader, on restore): written again.
 * A restore or soft reset moves the ring and the port: remapped and rebound,
 * on the same pty. */
static void test_tty_reset_and_ring_moved(void **state) {
        char ref[32], port[16], *tty, *v, buf[16];
        ConsFront f;
        int p, fd;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 3, "lin"), 0);
        guest_prepare(&f, 3);
        console_up(&f, NULL); /* type absent: also xenconsoled's */
        tty = console_node(&f, "tty");
        check_both_ways(&f, "first ring\n");

        assert_int_equal(ts_write(&H, "/local/domain/3/console/tty", ""), 0);
        assert_true(wait_tty(&f, cf_now_ms(), T_WAIT) >= 0);
        v = console_node(&f, "tty");
        assert_string_equal(v, tty);
        free(v);

        /* The guest comes back with a new ring page and a new port; the builder
         * seeds grant 0 again, libxl rewrites ring-ref, port and tty="". */
        fd = cf_open_tty(&f, NULL); /* a client attached across the move */
        assert_true(fd >= 0);
        assert_int_equal(xenevtchn_unbind(f.dev.xce, f.port), 0);
        assert_int_equal(xsim_page_alloc(3, &f.gfn), 0);
        f.intf = xsim_guest_page(3, f.gfn);
        memset(f.intf, 0, sizeof *f.intf);
        assert_int_equal(xsim_grant_seed(3, 0, 0, f.gfn, false), 0);
        p = xenevtchn_bind_unbound_port(f.dev.xce, 0);
        assert_true(p > 0);
        f.port = (evtchn_port_t) p;
        snprintf(ref, sizeof ref, "%llu", (unsigned long long) f.gfn);
        snprintf(port, sizeof port, "%u", f.port);
        {
                xs_transaction_t t = xs_transaction_start(H.xs);
                assert_true(tx_put(t, f.dev.fe, "ring-ref", ref, NULL) && tx_put(t, f.dev.fe, "port", port, NULL) &&
                            tx_put(t, f.dev.fe, "tty", "", NULL));
                assert_true(xs_transaction_end(H.xs, t, false));
        }
        assert_true(wait_tty(&f, cf_now_ms(), T_WAIT) >= 0);
        v = console_node(&f, "tty");
        assert_string_equal(v, tty);
        free(v);
        assert_int_equal(cf_write_all(&f, "new ring\n", 9, T_WAIT), 0);
        assert_int_equal(fd_read_all(fd, buf, 9, T_WAIT), 0);
        assert_memory_equal(buf, "new ring\n", 9);
        assert_int_equal(write(fd, "k", 1), 1);
        assert_int_equal(cf_read_all(&f, buf, 1, T_WAIT), 0);
        assert_int_equal(buf[0], 'k');
        close(fd);
        /* Only the new ring is mapped. */
        assert_int_equal(xsim_grant_map_count(3, 0), 1);
        assert_int_equal(xsim_foreign_maps(3), 1);
        free(tty);
        cf_close(&f);
}

/* Grant entry 0 cannot be mapped: the ring-ref frame is foreign-mapped. If
 * that fails too, nothing is served (no tty), and every later change of the
 * directory retries. */
static void test_foreign_map_fallback(void **state) {
        ConsFront f, g;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 4, "lin"), 0);
        guest_prepare(&f, 4);
        assert_int_equal(xsim_fault_map(4, 1), 0);
        console_up(&f, "xenconsoled");
        assert_int_equal(xsim_grant_map_count(4, 0), 0);
        assert_int_equal(xsim_foreign_maps(4), 1);
        check_both_ways(&f, "via a foreign map\n");

        assert_int_equal(ts_domain_create(&H, 5, "lin"), 0);
        guest_prepare(&g, 5);
        assert_int_equal(xsim_fault_map(5, 1000), 0);
        assert_int_equal(xsim_fault_foreign_map(5, 1000), 0);
        ts_primary_console_add(&g, "xenconsoled");
        assert_tty_stays_empty(&g, 300);
        assert_int_equal(xsim_foreign_maps(5), 0);
        assert_true(harness_log_contains(&H, "Cannot map the console ring"));
        /* The faults end and libxl touches the directory again: served now. */
        assert_int_equal(xsim_fault_map(5, 0), 0);
        assert_int_equal(xsim_fault_foreign_map(5, 0), 0);
        assert_int_equal(ts_write(&H, "/local/domain/5/console/limit", "1048576"), 0);
        assert_true(wait_tty(&g, cf_now_ms(), T_WAIT) >= 0);
        assert_int_equal(xsim_grant_map_count(5, 0), 1);
        check_both_ways(&g, "second try\n");
        cf_close(&g);
        cf_close(&f);
}

/* A shut-down domain (crash with preserve, suspend) keeps its console; a
 * dying one loses it at once: ring unmapped (the domain does not linger as a
 * zombie), pty closed. */
static void test_guest_death_cleans_up(void **state) {
        ConsFront f;
        char *tty;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 6, "lin"), 0);
        guest_prepare(&f, 6);
        console_up(&f, "xenconsoled");
        tty = console_node(&f, "tty");

        assert_int_equal(xsim_domain_shutdown(6, SHUTDOWN_crash), 0);
        usleep(200 * 1000);
        check_both_ways(&f, "still here after shutdown\n");

        assert_int_equal(xsim_domain_destroy(6), 0);
        for (int i = 0; i < 200 && access(tty, F_OK) == 0; i++)
                usleep(10000);
        assert_int_not_equal(access(tty, F_OK), 0);
        for (int i = 0; i < 200 && xsim_domain_query(6, NULL) == 0; i++)
                usleep(10000);
        assert_int_equal(xsim_domain_query(6, NULL), -ESRCH);
        free(tty);
        cf_close(&f);
}

/* A console of another type is never touched. */
static void test_other_type_left_alone(void **state) {
        ConsFront f;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 7, "lin"), 0);
        guest_prepare(&f, 7);
        ts_primary_console_add(&f, "ioemu");
        assert_tty_stays_empty(&f, 300);
        assert_int_equal(xsim_foreign_maps(7), 0);
        cf_close(&f);
}

/* A guest that breaks its ring stops its console only; pvbackd lives on,
 * and a restore with a fresh ring brings the console back. */
static void test_broken_ring(void **state) {
        ConsFront f;
        char ref[32];
        (void) state;

        assert_int_equal(ts_domain_create(&H, 8, "lin"), 0);
        guest_prepare(&f, 8);
        console_up(&f, "xenconsoled");
        f.intf->out_prod = f.intf->out_cons + 100000;
        assert_int_equal(xenevtchn_notify(f.dev.xce, f.port), 0);
        for (int i = 0; i < 200 && xsim_foreign_maps(8) != 0; i++)
                usleep(10000);
        assert_int_equal(xsim_foreign_maps(8), 0);
        assert_true(harness_log_contains(&H, "console output ring"));

        assert_int_equal(xsim_page_alloc(8, &f.gfn), 0);
        f.intf = xsim_guest_page(8, f.gfn);
        memset(f.intf, 0, sizeof *f.intf);
        assert_int_equal(xsim_grant_seed(8, 0, 0, f.gfn, false), 0);
        snprintf(ref, sizeof ref, "%llu", (unsigned long long) f.gfn);
        assert_int_equal(ts_write(&H, "/local/domain/8/console/ring-ref", ref), 0);
        for (int i = 0; i < 200 && xsim_foreign_maps(8) != 1; i++)
                usleep(10000);
        check_both_ways(&f, "fresh ring\n");
        cf_close(&f);
}

/* A restarted pvbackd takes the console over again: a new pty in tty, the
 * same ring and port. */
static void test_restart_takes_over_again(void **state) {
        ConsFront f;
        char *tty;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 10, "lin"), 0);
        guest_prepare(&f, 10);
        console_up(&f, "xenconsoled");
        check_both_ways(&f, "before\n");
        assert_int_equal(harness_stop_pvbackd(&H), 0);
        assert_int_equal(xsim_foreign_maps(10), 0);
        tty = console_node(&f, "tty");
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        /* Mapped again, and tty names a live pty (perhaps the same number). */
        for (int i = 0; i < 500; i++) {
                free(tty);
                tty = console_node(&f, "tty");
                if (xsim_foreign_maps(10) == 1 && tty && access(tty, F_OK) == 0)
                        break;
                usleep(10000);
        }
        assert_int_equal(access(tty, F_OK), 0);
        assert_int_equal(xsim_foreign_maps(10), 1);
        check_both_ways(&f, "after\n");
        free(tty);
        cf_close(&f);
}

/* primary = no (the default): the primary console is xenconsoled's. */
static void test_default_leaves_primary_alone(void **state) {
        ConsFront f;
        char *v;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 9, "win"), 0);
        guest_prepare(&f, 9);
        ts_primary_console_add(&f, "xenconsoled");
        assert_int_equal(ts_wait(&H, "/local/domain/9/device/console/1/name", "xencons", T_WAIT), 0);
        assert_tty_stays_empty(&f, 500);
        assert_int_equal(xsim_foreign_maps(9), 0);
        assert_int_equal(xsim_grant_map_count(9, 0), 0);
        v = ts_read(&H, "%s/state", f.dev.be);
        assert_string_equal(v, "1");
        free(v);
        assert_false(harness_log_contains(&H, "primary console"));
        cf_close(&f);
}

static const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup_primary, teardown)
        T(test_linux_pv),
        T(test_windows_hvm_with_secondary),
        T(test_tty_reset_and_ring_moved),
        T(test_foreign_map_fallback),
        T(test_guest_death_cleans_up),
        T(test_other_type_left_alone),
        T(test_broken_ring),
        T(test_restart_takes_over_again),
        cmocka_unit_test_setup_teardown(test_default_leaves_primary_alone, setup_default, teardown),
};

DEFINE_SIM_TEST_MAIN("consback-primary", tests);
