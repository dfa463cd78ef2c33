/* SPDX-License-Identifier: GPL-2.0-or-later */

/* consback against the simulated Xen: pvbackd creates the consoles declared
 * in pvbackd.conf when a guest appears, and serves them to frontends that
 * behave as Linux hvc_xen and Windows XENCONS, through a pty. */

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <unistd.h>
#include <cmocka.h>

#include "cons-front.h"
#include "harness.h"
#include "service.h"
#include "xensim.h"

#define T_WAIT HARNESS_WAIT_MS

static Harness H;

static const char *const base_config = "[guest \"lin\"]\n"
                                       "console.agent = pty\n"
                                       "[guest \"win\"]\n"
                                       "console.xencons = pty\n"
                                       "console.second = pty\n";

static int setup(void **state) {
        (void) state;
        return harness_start(&H, base_config);
}

static int setup_fast(void **state) {
        (void) state;
        /* No event rate limit to speak of, a small buffer. */
        return harness_start(&H, "[console]\nrate-limit = 1000000\nbuffer-limit = 65536\n"
                                 "[guest \"flood\"]\nconsole.out = pty\n");
}

static int teardown(void **state) {
        int r;

        (void) state;
        r = harness_finish_checked(&H);
        return r;
}

/* Data both ways through the pty the backend wrote into F/tty. */
static void check_both_ways(ConsFront *f) {
        char buf[64], *tty = NULL;
        int fd;

        fd = cf_open_tty(f, &tty);
        assert_true(fd >= 0);
        assert_non_null(strstr(tty, "/dev/pts/"));
        assert_int_equal(cf_write_all(f, "hello from the guest\n", 21, T_WAIT), 0);
        assert_int_equal(fd_read_all(fd, buf, 21, T_WAIT), 0);
        assert_memory_equal(buf, "hello from the guest\n", 21);

        assert_int_equal(write(fd, "keys\r", 5), 5);
        assert_int_equal(cf_read_all(f, buf, 5, T_WAIT), 0);
        assert_memory_equal(buf, "keys\r", 5);
        close(fd);
        free(tty);
}

/* ---- creation ---------------------------------------------------------------- */

static void test_created_atomically_with_libxl_nodes(void **state) {
        struct xs_handle *guest;
        char *v;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 1, "lin"), 0);
        wait_fe(&H, "console", 1, 1, "name", "agent");
        /* Everything is there as soon as the name is (one transaction). */
        assert_node(&H, "pvbackd", "/local/domain/1/device/console/1/type");
        assert_node(&H, "vt100", "/local/domain/1/device/console/1/protocol");
        assert_node(&H, "0", "/local/domain/1/device/console/1/backend-id");
        assert_node(&H, "/local/domain/0/backend/console/1/1", "/local/domain/1/device/console/1/backend");
        assert_node(&H, "1048576", "/local/domain/1/device/console/1/limit");
        assert_node(&H, "pty", "/local/domain/1/device/console/1/output");
        assert_node(&H, "/local/domain/1/device/console/1", "/local/domain/0/backend/console/1/1/frontend");
        assert_node(&H, "1", "/local/domain/0/backend/console/1/1/frontend-id");
        assert_node(&H, "1", "/local/domain/0/backend/console/1/1/online");
        assert_node(&H, "vt100", "/local/domain/0/backend/console/1/1/protocol");
        assert_node(&H, "agent", "/local/domain/0/backend/console/1/1/name");
        wait_node(&H, "/local/domain/0/backend/console/1/1/state", "2");

        /* Permissions: the guest owns its state, but not type, name or tty. */
        guest = xsim_xs_open_as(1);
        assert_non_null(guest);
        assert_true(xs_write(guest, XBT_NULL, "/local/domain/1/device/console/1/state", "1", 1));
        assert_false(xs_write(guest, XBT_NULL, "/local/domain/1/device/console/1/type", "ioemu", 5));
        assert_false(xs_write(guest, XBT_NULL, "/local/domain/1/device/console/1/tty", "/etc/passwd", 11));
        assert_false(xs_write(guest, XBT_NULL, "/local/domain/0/backend/console/1/1/state", "4", 1));
        v = xs_read(guest, XBT_NULL, "/local/domain/0/backend/console/1/1/name", NULL);
        assert_non_null(v);
        free(v);
        xs_close(guest);

        /* A guest with no section gets nothing. */
        assert_int_equal(ts_domain_create(&H, 2, "other"), 0);
        usleep(200 * 1000);
        v = ts_read(&H, "/local/domain/2/device/console");
        assert_null(v);
}

/* ---- Linux hvc_xen --------------------------------------------------------------- */

static void test_linux_hvc_both_ways(void **state) {
        ConsFront f;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 3, "lin"), 0);
        wait_fe(&H, "console", 3, 1, "name", "agent");
        assert_int_equal(cf_open(&f, &H, 3, 1), 0);
        assert_int_equal(cf_connect_linux(&f, T_WAIT), 0);
        check_both_ways(&f);
        cf_close(&f);
}

/* ---- Windows XENCONS --------------------------------------------------------------- */

static void test_windows_xencons_both_ways(void **state) {
        ConsFront f[2];
        (void) state;

        assert_int_equal(ts_domain_create(&H, 4, "win"), 0);
        wait_fe(&H, "console", 4, 1, "name", "xencons");
        wait_fe(&H, "console", 4, 2, "name", "second");
        for (int i = 0; i < 2; i++) {
                assert_int_equal(cf_open(&f[i], &H, 4, (uint32_t) i + 1), 0);
                assert_int_equal(cf_connect_windows(&f[i], T_WAIT), 0);
        }
        assert_node(&H, "second", "/local/domain/0/backend/console/4/2/name");
        for (int i = 0; i < 2; i++) {
                check_both_ways(&f[i]);
                cf_close(&f[i]);
        }
        /* Never Closed while the guest lives. */
        assert_node(&H, "4", "/local/domain/0/backend/console/4/1/state");
}

/* A frontend that writes garbage indices closes only its own console. */
static void test_broken_ring_closes_only_that_console(void **state) {
        ConsFront f[2];
        (void) state;

        assert_int_equal(ts_domain_create(&H, 5, "win"), 0);
        wait_fe(&H, "console", 5, 2, "name", "second");
        for (int i = 0; i < 2; i++) {
                assert_int_equal(cf_open(&f[i], &H, 5, (uint32_t) i + 1), 0);
                assert_int_equal(cf_connect_linux(&f[i], T_WAIT), 0);
        }
        f[0].intf->out_prod = f[0].intf->out_cons + 100000;
        xenevtchn_notify(f[0].dev.xce, f[0].port);
        wait_node(&H, "/local/domain/0/backend/console/5/1/state", "5");
        check_both_ways(&f[1]);
        for (int i = 0; i < 2; i++)
                cf_close(&f[i]);
}

/* ---- readers ------------------------------------------------------------------------ */

static void test_reader_detach_reattach(void **state) {
        ConsFront f;
        char buf[64];
        int fd;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 6, "lin"), 0);
        wait_fe(&H, "console", 6, 1, "name", "agent");
        assert_int_equal(cf_open(&f, &H, 6, 1), 0);
        assert_int_equal(cf_connect_linux(&f, T_WAIT), 0);

        fd = cf_open_tty(&f, NULL);
        assert_true(fd >= 0);
        assert_int_equal(cf_write_all(&f, "one\n", 4, T_WAIT), 0);
        assert_int_equal(fd_read_all(fd, buf, 4, T_WAIT), 0);
        assert_memory_equal(buf, "one\n", 4);
        close(fd);

        /* Nobody reading: the output waits. */
        assert_int_equal(cf_write_all(&f, "two\n", 4, T_WAIT), 0);
        for (int i = 0; i < 50 && f.intf->out_cons != f.intf->out_prod; i++)
                usleep(10000);
        assert_int_equal(f.intf->out_cons, f.intf->out_prod);

        fd = cf_open_tty(&f, NULL);
        assert_true(fd >= 0);
        assert_int_equal(fd_read_all(fd, buf, 4, T_WAIT), 0);
        assert_memory_equal(buf, "two\n", 4);
        close(fd);
        cf_close(&f);
}

/* ---- flow control ------------------------------------------------------------------- */

/* A guest that notifies as fast as it can gets its ring read at most
 * rate-limit (30) times per 200 ms, plus once at the end of each interval. */
static void test_flood_rate_limited(void **state) {
        static char chunk[2048];
        uint64_t consumed = 0;
        long t0, elapsed;
        ConsFront f;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 7, "lin"), 0);
        wait_fe(&H, "console", 7, 1, "name", "agent");
        assert_int_equal(cf_open(&f, &H, 7, 1), 0);
        assert_int_equal(cf_connect_linux(&f, T_WAIT), 0);
        memset(chunk, 'x', sizeof chunk);

        t0 = cf_now_ms();
        XENCONS_RING_IDX start = f.intf->out_cons;
        while (cf_now_ms() - t0 < 1000) {
                cf_write(&f, chunk, sizeof chunk);
                usleep(50);
        }
        elapsed = cf_now_ms() - t0;
        consumed = f.intf->out_cons - start;
        /* Reads per interval: 30 events + the timer's one; a full ring each. */
        uint64_t bound = (uint64_t) (elapsed / 200 + 2) * 31 * 2048;
        if (consumed > bound)
                fail_msg("the backend consumed %llu bytes in %ld ms, more than the rate limit allows (%llu)",
                         (unsigned long long) consumed, elapsed, (unsigned long long) bound);
        assert_true(consumed > 0);
        assert_true(harness_log_contains(&H, "console event rate limit reached"));
        cf_close(&f);
}

/* With nobody reading, memory stays bounded by buffer-limit (64 KiB here)
 * however much the guest writes; a reader that comes back gets the newest
 * output. */
static void test_flood_memory_bounded(void **state) {
        static char chunk[2048];
        long rss0, rss1;
        uint64_t written = 0;
        uint8_t buf[4096];
        ConsFront f;
        size_t got = 0;
        int fd;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 8, "flood"), 0);
        wait_fe(&H, "console", 8, 1, "name", "out");
        assert_int_equal(cf_open(&f, &H, 8, 1), 0);
        assert_int_equal(cf_connect_linux(&f, T_WAIT), 0);
        rss0 = harness_rss_kib(&H);
        assert_true(rss0 > 0);

        while (written < 64u * 1024 * 1024) {
                for (size_t i = 0; i < sizeof chunk; i++)
                        chunk[i] = (char) ('a' + (written + i) % 26);
                size_t k = 0;
                long end = cf_now_ms() + T_WAIT;
                while (k < sizeof chunk) {
                        size_t w = cf_write(&f, chunk + k, sizeof chunk - k);
                        k += w;
                        if (!w) {
                                assert_true(cf_now_ms() < end);
                                usleep(20);
                        }
                }
                written += sizeof chunk;
        }
        for (int i = 0; i < 200 && f.intf->out_cons != f.intf->out_prod; i++)
                usleep(10000);
        rss1 = harness_rss_kib(&H);
        if (rss1 - rss0 > 16 * 1024)
                fail_msg("pvbackd grew from %ld to %ld KiB while the guest wrote 64 MiB", rss0, rss1);

        /* The reader comes back: what it gets is bounded, and ends with the
         * last byte written. */
        fd = cf_open_tty(&f, NULL);
        assert_true(fd >= 0);
        uint8_t last = 0;
        for (;;) {
                ssize_t k;
                if (fd_read_all(fd, buf, 1, 500) < 0)
                        break;
                got++;
                last = buf[0];
                k = read(fd, buf, sizeof buf);
                if (k > 0) {
                        got += (size_t) k;
                        last = buf[k - 1];
                }
        }
        assert_int_equal(last, 'a' + (written - 1) % 26);
        close(fd);
        assert_true(got > 0);
        if (got > 65536 + 256 * 1024)
                fail_msg("the reader got %zu bytes, more than the buffer and the pty hold", got);
        cf_close(&f);
}

/* ---- lifetime -------------------------------------------------------------------- */

static void test_guest_death_cleans_up(void **state) {
        ConsFront f;
        char *tty = NULL;
        int fd;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 9, "lin"), 0);
        wait_fe(&H, "console", 9, 1, "name", "agent");
        assert_int_equal(cf_open(&f, &H, 9, 1), 0);
        assert_int_equal(cf_connect_linux(&f, T_WAIT), 0);
        fd = cf_open_tty(&f, &tty);
        assert_true(fd >= 0);
        close(fd);
        cf_close(&f);

        assert_int_equal(xsim_domain_destroy(9), 0);
        wait_node(&H, "/local/domain/0/backend/console/9/1", NULL);
        wait_node(&H, "/local/domain/9/device/console/1", NULL);
        /* The pty went with it, and the grant mapping. */
        for (int i = 0; i < 200 && access(tty, F_OK) == 0; i++)
                usleep(10000);
        assert_int_not_equal(access(tty, F_OK), 0);
        for (int i = 0; i < 200 && xsim_domain_query(9, NULL) == 0; i++)
                usleep(10000);
        assert_int_equal(xsim_domain_query(9, NULL), -ESRCH);
        free(tty);
}

/* SIGHUP with a console added to a running guest's section: it appears at
 * once, at the first free number (a libxl channel holds 1), and connects. */
static void test_reload_adds_console(void **state) {
        static const char *const extra[] = { "protocol", "vt100", NULL };
        ConsFront f;
        FILE *c;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 10, "late"), 0);
        /* A libxl channel (QEMU's): console 1, type=ioemu. */
        assert_int_equal(ts_device_add(&H, "console", 10, 1, extra), 0);
        assert_int_equal(ts_write(&H, "/local/domain/10/device/console/1/type", "ioemu"), 0);
        usleep(200 * 1000);

        c = fopen(H.config_path, "we");
        assert_non_null(c);
        fprintf(c, "%s[guest \"late\"]\nconsole.added = pty\n", base_config);
        fclose(c);
        kill(H.pvbackd, SIGHUP);

        wait_fe(&H, "console", 10, 2, "name", "added");
        assert_int_equal(cf_open(&f, &H, 10, 2), 0);
        assert_int_equal(cf_connect_linux(&f, T_WAIT), 0);
        check_both_ways(&f);
        cf_close(&f);
        /* QEMU's channel is not ours. */
        assert_node(&H, "1", "/local/domain/0/backend/console/10/1/state");
        assert_node(&H, "ioemu", "/local/domain/10/device/console/1/type");

        /* And dropping it from the config removes it. */
        c = fopen(H.config_path, "we");
        assert_non_null(c);
        fputs(base_config, c);
        fclose(c);
        kill(H.pvbackd, SIGHUP);
        wait_node(&H, "/local/domain/10/device/console/2", NULL);
        wait_node(&H, "/local/domain/0/backend/console/10/2", NULL);
        assert_node(&H, "ioemu", "/local/domain/10/device/console/1/type");
}

/* A restarted pvbackd adopts its consoles instead of creating them twice. */
static void test_restart_adopts(void **state) {
        char *v;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 11, "lin"), 0);
        wait_fe(&H, "console", 11, 1, "name", "agent");
        wait_node(&H, "/local/domain/0/backend/console/11/1/state", "2");
        assert_int_equal(harness_stop_pvbackd(&H), 0);
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        usleep(300 * 1000);
        v = ts_read(&H, "/local/domain/11/device/console/2");
        assert_null(v);
}

/* ---- log file and unix socket ------------------------------------------------------ */

static char sink_dir[128];

static int setup_sinks(void **state) {
        char text[1024];
        (void) state;
        snprintf(sink_dir, sizeof sink_dir, "/tmp/consback-test-%d", (int) getpid());
        if (mkdir(sink_dir, 0700) < 0 && errno != EEXIST)
                return -1;
        snprintf(text, sizeof text,
                 "[console]\nlog-dir = %s/logs\nlog-max-size = 1024\nlog-rotate = 2\n"
                 "[guest \"sinks\"]\nconsole.boot = log\nconsole.boot.journal = yes\n"
                 "console.sock = socket:%s/sock\nconsole.sock.log = yes\n",
                 sink_dir, sink_dir);
        return harness_start(&H, text);
}

static int teardown_sinks(void **state) {
        char cmd[256];
        int r = teardown(state);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", sink_dir);
        if (system(cmd) != 0)
                r = -1;
        return r;
}

static char *slurp(const char *path) {
        static char buf[8192];
        FILE *f = fopen(path, "re");
        size_t n;
        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        return buf;
}

static void test_log_file_with_rotation(void **state) {
        char path[256], line[256], *text;
        struct stat st;
        ConsFront f;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 12, "sinks"), 0);
        wait_fe(&H, "console", 12, 1, "name", "boot");
        assert_int_equal(cf_open(&f, &H, 12, 1), 0);
        assert_int_equal(cf_connect_windows(&f, T_WAIT), 0);
        /* Log only: no pty. */
        assert_node(&H, "", "/local/domain/12/device/console/1/tty");

        assert_int_equal(cf_write_all(&f, "first line\n", 11, T_WAIT), 0);
        snprintf(path, sizeof path, "%s/logs/guest-sinks-boot.log", sink_dir);
        for (int i = 0; i < 200 && !((text = slurp(path)) && strstr(text, "first line\n")); i++)
                usleep(10000);
        assert_non_null(text);
        /* "[YYYY-mm-dd HH:MM:SS] first line" */
        assert_int_equal(text[0], '[');
        assert_int_equal(text[20], ']');
        assert_string_equal(text + 22, "first line\n");

        /* 128 lines of 31 bytes with a 1 KiB cap: 3 rotations, 2 old files kept. */
        for (int i = 0; i < 128; i++) {
                int n = snprintf(line, sizeof line, "line %03d\n", i);
                assert_int_equal(cf_write_all(&f, line, (size_t) n, T_WAIT), 0);
        }
        for (int i = 0; i < 200 && !((text = slurp(path)) && strstr(text, "line 127\n")); i++)
                usleep(10000);
        assert_non_null(strstr(text, "line 127\n"));
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size <= 1024);
        snprintf(path, sizeof path, "%s/logs/guest-sinks-boot.log.1", sink_dir);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size >= 1024 && st.st_size < 1024 + 64);
        snprintf(path, sizeof path, "%s/logs/guest-sinks-boot.log.2", sink_dir);
        assert_int_equal(stat(path, &st), 0);
        snprintf(path, sizeof path, "%s/logs/guest-sinks-boot.log.3", sink_dir);
        assert_int_not_equal(stat(path, &st), 0);

        /* An external logrotate moves the file away; SIGHUP reopens it. */
        snprintf(path, sizeof path, "%s/logs/guest-sinks-boot.log", sink_dir);
        snprintf(line, sizeof line, "%s/logs/moved", sink_dir);
        assert_int_equal(rename(path, line), 0);
        kill(H.pvbackd, SIGHUP);
        assert_true(harness_wait_notify(&H, "READY=1", T_WAIT));
        assert_int_equal(cf_write_all(&f, "after hup\n", 10, T_WAIT), 0);
        for (int i = 0; i < 200 && !((text = slurp(path)) && strstr(text, "after hup\n")); i++)
                usleep(10000);
        assert_non_null(text);
        assert_non_null(strstr(text, "after hup\n"));
        assert_null(strstr(slurp(line), "after hup"));
        cf_close(&f);
}

static int socket_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}

static void test_unix_socket(void **state) {
        char path[256], buf[64];
        ConsFront f;
        int fd;
        (void) state;

        assert_int_equal(ts_domain_create(&H, 13, "sinks"), 0);
        wait_fe(&H, "console", 13, 2, "name", "sock");
        assert_int_equal(cf_open(&f, &H, 13, 2), 0);
        assert_int_equal(cf_connect_linux(&f, T_WAIT), 0);
        snprintf(path, sizeof path, "%s/sock", sink_dir);

        /* Output before anyone connects waits in the buffer. */
        assert_int_equal(cf_write_all(&f, "early\n", 6, T_WAIT), 0);
        usleep(100 * 1000);
        fd = socket_connect(path);
        assert_true(fd >= 0);
        assert_int_equal(fd_read_all(fd, buf, 6, T_WAIT), 0);
        assert_memory_equal(buf, "early\n", 6);
        assert_int_equal(write(fd, "cmd\n", 4), 4);
        assert_int_equal(cf_read_all(&f, buf, 4, T_WAIT), 0);
        assert_memory_equal(buf, "cmd\n", 4);
        close(fd);

        /* The next client gets what came while nobody was connected. */
        usleep(100 * 1000);
        assert_int_equal(cf_write_all(&f, "later\n", 6, T_WAIT), 0);
        usleep(100 * 1000);
        fd = socket_connect(path);
        assert_true(fd >= 0);
        assert_int_equal(fd_read_all(fd, buf, 6, T_WAIT), 0);
        assert_memory_equal(buf, "later\n", 6);
        close(fd);
        cf_close(&f);
}

/* A connected console across pvbackd restarts (SIGTERM) and crashes
 * (SIGKILL): numbered lines both ways, written before and during each
 * outage, arrive once and in order, and the pty is the same one throughout
 * (kept in the FD store: an `xl console` client stays attached). After a
 * stop (the store closed) the console gets a new pty, published in tty. */
static void test_restart_keeps_console(void **state) {
        const char *tty_node = "/local/domain/12/device/console/1/tty";
        ConsFront f;
        char *tty = NULL, *now;
        unsigned g = 0, k = 0, dups = 0;
        int fd;

        (void) state;
        assert_int_equal(ts_domain_create(&H, 12, "lin"), 0);
        wait_fe(&H, "console", 12, 1, "name", "agent");
        assert_int_equal(cf_open(&f, &H, 12, 1), 0);
        assert_int_equal(cf_connect_linux(&f, T_WAIT), 0);
        fd = cf_open_tty(&f, &tty);
        assert_true(fd >= 0);
        for (int cycle = 0; cycle < 6; cycle++) {
                char out[256], in[256], buf[256];
                int no = 0, ni = 0, n;

                char before[64];
                int nb;

                /* Delivered before the stop. A crash right after pvbackd
                 * wrote it to the pty and before it gave the ring space back
                 * shows it twice (it cannot know whether the write
                 * happened): at least once, never lost. */
                nb = snprintf(before, sizeof before, "guest line %u\n", g++);
                assert_int_equal(cf_write_all(&f, before, (size_t) nb, T_WAIT), 0);
                assert_int_equal(fd_read_all(fd, buf, (size_t) nb, T_WAIT), 0);
                assert_memory_equal(buf, before, (size_t) nb);
                if (cycle % 2)
                        assert_int_equal(harness_kill_pvbackd(&H, SIGKILL), SIGKILL);
                else
                        assert_int_equal(harness_stop_pvbackd(&H), 0);
                /* During the outage: the guest writes on, a person types. */
                n = snprintf(out + no, sizeof out - (size_t) no, "guest line %u\n", g++);
                assert_int_equal(cf_write_all(&f, out + no, (size_t) n, T_WAIT), 0);
                no += n;
                n = snprintf(in + ni, sizeof in - (size_t) ni, "key line %u\r", k++);
                assert_int_equal(write(fd, in + ni, (size_t) n), n);
                ni += n;
                assert_int_equal(harness_start_pvbackd(&H, NULL), 0);

                assert_int_equal(fd_read_all(fd, buf, (size_t) no, T_WAIT), 0);
                if (cycle % 2 && memcmp(buf, before, (size_t) nb) == 0) {
                        /* The crash's one repeat: the lines follow it. */
                        memmove(buf, buf + nb, (size_t) (no - nb));
                        assert_int_equal(fd_read_all(fd, buf + no - nb, (size_t) nb, T_WAIT), 0);
                        dups++;
                }
                assert_memory_equal(buf, out, (size_t) no);
                assert_int_equal(cf_read_all(&f, buf, (size_t) ni, T_WAIT), 0);
                assert_memory_equal(buf, in, (size_t) ni);
                assert_node(&H, tty, tty_node);
        }

        assert_int_equal(harness_stop_pvbackd(&H), 0);
        service_close_fds(H.sm);
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        for (int i = 0; i < T_WAIT / 10; i++) {
                now = ts_read(&H, "%s", tty_node);
                if (now && now[0] && strcmp(now, tty) != 0)
                        break;
                free(now);
                now = NULL;
                usleep(10 * 1000);
        }
        if (!now)
                fail_msg("no new pty in %s after a stop", tty_node);
        free(now);
        close(fd);
        check_both_ways(&f);
        print_message("console across 3 restarts and 3 crashes: %u line(s) shown twice by a crash\n", dups);
        free(tty);
        cf_close(&f);
}

static const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
        T(test_created_atomically_with_libxl_nodes),
        T(test_linux_hvc_both_ways),
        T(test_windows_xencons_both_ways),
        T(test_broken_ring_closes_only_that_console),
        T(test_reader_detach_reattach),
        T(test_flood_rate_limited),
        cmocka_unit_test_setup_teardown(test_flood_memory_bounded, setup_fast, teardown),
        T(test_guest_death_cleans_up),
        T(test_reload_adds_console),
        T(test_restart_adopts),
        T(test_restart_keeps_console),
        cmocka_unit_test_setup_teardown(test_log_file_with_rotation, setup_sinks, teardown_sinks),
        cmocka_unit_test_setup_teardown(test_unix_socket, setup_sinks, teardown_sinks),
};

DEFINE_SIM_TEST_MAIN("consback", tests);
