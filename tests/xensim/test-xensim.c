/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the simulated Xen (xensimd + libxensim). */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "xensim.h"

static const char *xensimd_path;
static char *dir;

static int setup(void **state) {
        (void) state;
        unsetenv("XENSIM_DOMID");
        return xsim_start(xensimd_path, &dir) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        struct stat st;

        (void) state;
        xsim_stop();
        /* Everything (socket, FIFOs, domain files) is gone. */
        assert_int_equal(stat(dir, &st), -1);
        free(dir);
        dir = NULL;
        return 0;
}

/* ---- helpers ---- */

static void assert_value(struct xs_handle *h, xs_transaction_t t, const char *path, const char *want) {
        unsigned len = 0;
        char *v = xs_read(h, t, path, &len);

        if (!want) {
                assert_null(v);
                assert_int_equal(errno, ENOENT);
                return;
        }
        assert_non_null(v);
        assert_int_equal(len, strlen(want));
        assert_string_equal(v, want);
        free(v);
}

static void assert_errno(bool ok, int err) {
        assert_false(ok);
        assert_int_equal(errno, err);
}

static void expect_event(struct xs_handle *h, const char *path, const char *token) {
        struct pollfd p = { .fd = xs_fileno(h), .events = POLLIN };
        char **ev;

        assert_int_equal(poll(&p, 1, 2000), 1);
        ev = xs_check_watch(h);
        assert_non_null(ev);
        assert_string_equal(ev[XS_WATCH_PATH], path);
        assert_string_equal(ev[XS_WATCH_TOKEN], token);
        free(ev);
}

static void expect_no_event(struct xs_handle *h) {
        struct pollfd p = { .fd = xs_fileno(h), .events = POLLIN };
        char **ev;

        assert_int_equal(poll(&p, 1, 0), 0);
        ev = xs_check_watch(h);
        assert_null(ev);
        assert_int_equal(errno, EAGAIN);
}

static void drain(struct xs_handle *h) {
        char **ev;
        while ((ev = xs_check_watch(h)))
                free(ev);
}

static void write_str(struct xs_handle *h, xs_transaction_t t, const char *path, const char *v) {
        assert_true(xs_write(h, t, path, v, strlen(v)));
}

static void set_perms2(struct xs_handle *h, const char *path, unsigned owner, unsigned operm,
                       unsigned other, unsigned perm) {
        struct xs_permissions p[2] = { { owner, operm }, { other, perm } };
        assert_true(xs_set_permissions(h, XBT_NULL, path, p, 2));
}

/* ---- xenstore basics ---- */

static void test_store_basic(void **state) {
        struct xs_handle *h = xs_open(0);
        char big[5000], longpath[3200];
        unsigned n;
        char **d, *p;

        (void) state;
        assert_non_null(h);
        write_str(h, XBT_NULL, "/test/a", "hello");
        assert_value(h, XBT_NULL, "/test/a", "hello");
        assert_value(h, XBT_NULL, "/test", "");        /* implicit parent */
        assert_true(xs_mkdir(h, XBT_NULL, "/test/d"));
        assert_true(xs_mkdir(h, XBT_NULL, "/test/d"));  /* exists: fine */
        d = xs_directory(h, XBT_NULL, "/test", &n);
        assert_non_null(d);
        assert_int_equal(n, 2);
        assert_string_equal(d[0], "a");
        assert_string_equal(d[1], "d");
        free(d);
        d = xs_directory(h, XBT_NULL, "/test/d", &n);
        assert_non_null(d);
        assert_int_equal(n, 0);
        free(d);
        assert_null(xs_directory(h, XBT_NULL, "/nope", &n));
        assert_int_equal(errno, ENOENT);

        /* binary values */
        assert_true(xs_write(h, XBT_NULL, "/test/bin", "a\0b", 3));
        p = xs_read(h, XBT_NULL, "/test/bin", &n);
        assert_int_equal(n, 3);
        assert_memory_equal(p, "a\0b", 3);
        free(p);

        assert_true(xs_rm(h, XBT_NULL, "/test/a"));
        assert_value(h, XBT_NULL, "/test/a", NULL);
        assert_true(xs_rm(h, XBT_NULL, "/test/zz"));    /* parent exists */
        assert_errno(xs_rm(h, XBT_NULL, "/nope/zz"), ENOENT);
        assert_errno(xs_rm(h, XBT_NULL, "/"), EINVAL);

        assert_errno(xs_write(h, XBT_NULL, "/bad//x", "1", 1), EINVAL);
        assert_errno(xs_write(h, XBT_NULL, "/trailing/", "1", 1), EINVAL);
        assert_errno(xs_write(h, XBT_NULL, "/sp ace", "1", 1), EINVAL);
        assert_errno(xs_write(h, XBT_NULL, "", "1", 1), EINVAL);
        assert_errno(xs_write(h, XBT_NULL, "@introduceDomain", "1", 1), EINVAL);
        memset(longpath, 'x', sizeof(longpath));
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = 0;
        assert_errno(xs_write(h, XBT_NULL, longpath, "1", 1), EINVAL);

        memset(big, 'v', sizeof(big));
        assert_errno(xs_write(h, XBT_NULL, "/test/big", big, 4097), E2BIG);
        assert_true(xs_write(h, XBT_NULL, "/test/big", big, 4096));
        p = xs_read(h, XBT_NULL, "/test/big", &n);
        assert_int_equal(n, 4096);
        free(p);

        /* relative paths live under the caller's domain path */
        write_str(h, XBT_NULL, "rel/x", "1");
        assert_value(h, XBT_NULL, "/local/domain/0/rel/x", "1");
        assert_value(h, XBT_NULL, "/local/domain/0/name", "Domain-0");

        p = xs_get_domain_path(h, 7);
        assert_string_equal(p, "/local/domain/7");
        free(p);
        assert_true(xs_is_domain_introduced(h, 0));
        assert_false(xs_is_domain_introduced(h, 9));

        /* garbage on the socket must not hurt the server */
        {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/xenstore.sock", dir);
                assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
                assert_int_equal(send(fd, "garbage!garbage!garbage!", 24, MSG_NOSIGNAL), 24);
                char c;
                assert_true(recv(fd, &c, 1, 0) <= 0);  /* server hung up */
                close(fd);
        }
        assert_value(h, XBT_NULL, "/test/d", "");
        xs_close(h);
        xs_close(NULL);
}

static void test_store_permissions(void **state) {
        struct xs_handle *h = xs_open(0), *g1, *g2;
        struct xs_permissions *p;
        unsigned n;
        int i;

        (void) state;
        assert_int_equal(xsim_domain_create(1, "guest1", NULL, 64), 0);
        assert_int_equal(xsim_domain_create(2, "guest2", NULL, 64), 0);
        assert_int_equal(xsim_domain_create(2, "again", NULL, 64), -EEXIST);
        g1 = xsim_xs_open_as(1);
        g2 = xsim_xs_open_as(2);
        assert_non_null(g1);
        assert_non_null(g2);

        assert_true(xs_is_domain_introduced(h, 1));
        assert_value(g1, XBT_NULL, "/local/domain/1/name", "guest1");
        assert_value(g1, XBT_NULL, "name", "guest1");
        assert_value(g1, XBT_NULL, "domid", "1");
        assert_errno(xs_write(g1, XBT_NULL, "/local/domain/1/name", "x", 1), EACCES);
        assert_null(xs_read(g1, XBT_NULL, "/local/domain/2/name", NULL));
        assert_int_equal(errno, EACCES);
        assert_errno(xs_write(g1, XBT_NULL, "/local/domain/0/backend/x", "1", 1), EACCES);
        assert_errno(xs_mkdir(g1, XBT_NULL, "device/vif"), EACCES);
        assert_null(xs_directory(g1, XBT_NULL, "/local/domain/0", &n));
        assert_int_equal(errno, EACCES);

        /* guest-writable data; new nodes are owned by the creating guest */
        write_str(g1, XBT_NULL, "data/foo", "bar");
        p = xs_get_permissions(h, XBT_NULL, "/local/domain/1/data/foo", &n);
        assert_non_null(p);
        assert_int_equal(n, 1);
        assert_int_equal(p[0].id, 1);
        free(p);
        /* dom0 creating under a guest dir keeps the inherited owner */
        write_str(h, XBT_NULL, "/local/domain/1/data/byd0", "x");
        p = xs_get_permissions(h, XBT_NULL, "/local/domain/1/data/byd0", &n);
        assert_int_equal(p[0].id, 1);
        free(p);

        /* backend dir readable by the guest, not writable */
        write_str(h, XBT_NULL, "/local/domain/0/backend/vif/1/0/state", "1");
        set_perms2(h, "/local/domain/0/backend/vif/1/0", 0, XS_PERM_NONE, 1, XS_PERM_READ);
        set_perms2(h, "/local/domain/0/backend/vif/1/0/state", 0, XS_PERM_NONE, 1, XS_PERM_READ);
        assert_value(g1, XBT_NULL, "/local/domain/0/backend/vif/1/0/state", "1");
        assert_errno(xs_write(g1, XBT_NULL, "/local/domain/0/backend/vif/1/0/state", "2", 1), EACCES);
        assert_null(xs_read(g2, XBT_NULL, "/local/domain/0/backend/vif/1/0/state", NULL));
        assert_int_equal(errno, EACCES);

        /* frontend dir as libxl makes it: guest-owned, backend may read */
        assert_true(xs_mkdir(h, XBT_NULL, "/local/domain/1/device/vif/0"));
        set_perms2(h, "/local/domain/1/device/vif/0", 1, XS_PERM_NONE, 0, XS_PERM_READ);
        write_str(g1, XBT_NULL, "device/vif/0/state", "4");
        p = xs_get_permissions(g1, XBT_NULL, "device/vif/0/state", &n);
        assert_int_equal(n, 2);
        assert_int_equal(p[0].id, 1);
        assert_int_equal(p[1].id, 0);
        assert_int_equal(p[1].perms, XS_PERM_READ);
        free(p);

        /* set_permissions rules for unprivileged domains */
        {
                struct xs_permissions give[1] = { { 2, XS_PERM_NONE } };
                struct xs_permissions share[2] = { { 1, XS_PERM_NONE }, { 2, XS_PERM_READ } };
                struct xs_permissions bad[1] = { { 1, 0x40 } };
                assert_errno(xs_set_permissions(g1, XBT_NULL, "data/foo", give, 1), EPERM);
                assert_errno(xs_set_permissions(g1, XBT_NULL, "name", share, 2), EACCES);
                assert_errno(xs_set_permissions(g1, XBT_NULL, "data/foo", bad, 1), EINVAL);
                assert_null(xs_read(g2, XBT_NULL, "/local/domain/1/data/foo", NULL));
                assert_true(xs_set_permissions(g1, XBT_NULL, "data/foo", share, 2));
                assert_value(g2, XBT_NULL, "/local/domain/1/data/foo", "bar");
                assert_errno(xs_write(g2, XBT_NULL, "/local/domain/1/data/foo", "x", 1), EACCES);
        }

        /* node quota for unprivileged domains */
        for (i = 0; i < 9000; i++) {
                char path[64];
                snprintf(path, sizeof(path), "data/q/%d", i);
                if (!xs_write(g2, XBT_NULL, path, "", 0)) {
                        assert_int_equal(errno, ENOSPC);
                        break;
                }
        }
        assert_true(i > 8000 && i < 8192);
        assert_true(xs_rm(g2, XBT_NULL, "data/q"));
        write_str(g2, XBT_NULL, "data/after", "ok");

        xs_close(g1);
        xs_close(g2);
        xs_close(h);
}

/* ---- watches ---- */

struct delayed_write {
        const char *path;
};

static void *delayed_writer(void *arg) {
        struct delayed_write *dw = arg;
        struct xs_handle *h = xs_open(0);
        usleep(50 * 1000);
        xs_write(h, XBT_NULL, dw->path, "x", 1);
        xs_close(h);
        return NULL;
}

static void test_watches(void **state) {
        struct xs_handle *h = xs_open(0), *w2 = xs_open(0), *g1;
        char **ev;
        unsigned n;
        int seen;

        (void) state;
        assert_non_null(h);
        assert_true(xs_watch(h, "/w", "tok"));
        expect_event(h, "/w", "tok");                   /* fires on registration */
        expect_no_event(h);
        assert_errno(xs_watch(h, "/w", "tok"), EEXIST);

        write_str(w2, XBT_NULL, "/w/a", "1");
        expect_event(h, "/w/a", "tok");
        write_str(w2, XBT_NULL, "/wx", "1");            /* not a descendant */
        write_str(w2, XBT_NULL, "/other", "1");
        expect_no_event(h);
        assert_true(xs_mkdir(w2, XBT_NULL, "/w/b"));
        expect_event(h, "/w/b", "tok");
        set_perms2(w2, "/w/a", 0, XS_PERM_NONE, 1, XS_PERM_READ);
        expect_event(h, "/w/a", "tok");

        /* recursive removal fires watches below the removed node */
        assert_true(xs_watch(h, "/w/b/deep/x", "deep"));
        expect_event(h, "/w/b/deep/x", "deep");
        assert_true(xs_rm(w2, XBT_NULL, "/w"));
        seen = 0;
        for (int i = 0; i < 2; i++) {
                struct pollfd p = { .fd = xs_fileno(h), .events = POLLIN };
                assert_int_equal(poll(&p, 1, 2000), 1);
                ev = xs_check_watch(h);
                assert_non_null(ev);
                if (strcmp(ev[XS_WATCH_TOKEN], "tok") == 0) {
                        assert_string_equal(ev[XS_WATCH_PATH], "/w");
                        seen |= 1;
                } else {
                        assert_string_equal(ev[XS_WATCH_TOKEN], "deep");
                        assert_string_equal(ev[XS_WATCH_PATH], "/w/b/deep/x");
                        seen |= 2;
                }
                free(ev);
        }
        assert_int_equal(seen, 3);
        expect_no_event(h);

        assert_true(xs_unwatch(h, "/w", "tok"));
        assert_errno(xs_unwatch(h, "/w", "tok"), ENOENT);
        write_str(w2, XBT_NULL, "/w/z", "1");
        expect_no_event(h);

        /* blocking read */
        {
                struct delayed_write dw = { "/blk/x" };
                pthread_t th;
                assert_true(xs_watch(h, "/blk", "blk"));
                expect_event(h, "/blk", "blk");
                pthread_create(&th, NULL, delayed_writer, &dw);
                ev = xs_read_watch(h, &n);
                assert_non_null(ev);
                assert_int_equal(n, 2);
                assert_string_equal(ev[XS_WATCH_PATH], "/blk/x");
                free(ev);
                pthread_join(th, NULL);
        }

        /* xsim_wait_value() uses its own connection: h's events stay queued */
        {
                struct delayed_write dw = { "/wait/x" };
                pthread_t th;
                write_str(w2, XBT_NULL, "/blk/y", "1");
                pthread_create(&th, NULL, delayed_writer, &dw);
                assert_int_equal(xsim_wait_value(h, "/wait/x", "x", 2000), 0);
                pthread_join(th, NULL);
                assert_int_equal(xsim_wait_value(h, "/wait/none", "y", 50), -ETIMEDOUT);
                assert_int_equal(xsim_wait_value(h, "/wait/none", NULL, 50), 0);
                assert_int_equal(xsim_wait_value(h, "/wait/x", "x", 0), 0);
                expect_event(h, "/blk/y", "blk");
                expect_no_event(h);
        }

        /* relative watches of a guest; visibility filtering */
        assert_int_equal(xsim_domain_create(1, "guest1", NULL, 16), 0);
        g1 = xsim_xs_open_as(1);
        assert_true(xs_watch(g1, "data", "d"));
        expect_event(g1, "data", "d");
        write_str(h, XBT_NULL, "/local/domain/1/data/x", "1");
        expect_event(g1, "data/x", "d");
        assert_true(xs_watch(g1, "/local/domain/0", "d0"));
        expect_event(g1, "/local/domain/0", "d0");
        write_str(h, XBT_NULL, "/local/domain/0/secret", "s");  /* dom0-only */
        expect_no_event(g1);
        set_perms2(h, "/local/domain/0/secret", 0, XS_PERM_NONE, 1, XS_PERM_READ);
        expect_event(g1, "/local/domain/0/secret", "d0");       /* now readable */
        write_str(h, XBT_NULL, "/local/domain/0/secret", "t");
        expect_event(g1, "/local/domain/0/secret", "d0");

        /* special watches */
        assert_true(xs_watch(h, "@introduceDomain", "intro"));
        expect_event(h, "@introduceDomain", "intro");
        assert_true(xs_watch(h, "@releaseDomain", "rel"));
        expect_event(h, "@releaseDomain", "rel");
        assert_true(xs_watch(g1, "@releaseDomain", "grel"));
        expect_event(g1, "@releaseDomain", "grel");
        drain(g1);
        assert_int_equal(xsim_domain_create(3, "guest3", NULL, 16), 0);
        expect_event(h, "@introduceDomain", "intro");
        expect_no_event(h);
        assert_int_equal(xsim_domain_shutdown(3, SHUTDOWN_poweroff), 0);
        expect_event(h, "@releaseDomain", "rel");
        assert_int_equal(xsim_domain_destroy(3), 0);
        expect_event(h, "@releaseDomain", "rel");
        drain(h);
        expect_no_event(g1);

        xs_close(g1);
        xs_close(w2);
        xs_close(h);
}

/* ---- transactions ---- */

static void test_transactions(void **state) {
        struct xs_handle *h = xs_open(0), *o = xs_open(0), *g1;
        xs_transaction_t t;
        unsigned n;
        char **d;

        (void) state;
        assert_true(xs_watch(h, "/tx", "tx"));
        expect_event(h, "/tx", "tx");

        /* sees its own writes, others do not until commit; events at commit */
        t = xs_transaction_start(h);
        assert_int_not_equal(t, XBT_NULL);
        write_str(h, t, "/tx/a", "1");
        assert_value(h, t, "/tx/a", "1");
        assert_value(o, XBT_NULL, "/tx/a", NULL);
        d = xs_directory(h, t, "/tx", &n);
        assert_non_null(d);
        assert_int_equal(n, 1);
        assert_string_equal(d[0], "a");
        free(d);
        expect_no_event(h);
        assert_true(xs_transaction_end(h, t, false));
        expect_event(h, "/tx/a", "tx");
        assert_value(o, XBT_NULL, "/tx/a", "1");

        /* conflict on a node read */
        t = xs_transaction_start(h);
        assert_value(h, t, "/tx/a", "1");
        write_str(o, XBT_NULL, "/tx/a", "2");
        expect_event(h, "/tx/a", "tx");
        write_str(h, t, "/tx/b", "x");
        assert_errno(xs_transaction_end(h, t, false), EAGAIN);
        assert_value(o, XBT_NULL, "/tx/b", NULL);
        expect_no_event(h);

        /* conflict on a directory listed */
        t = xs_transaction_start(h);
        d = xs_directory(h, t, "/tx", &n);
        free(d);
        write_str(o, XBT_NULL, "/tx/c", "1");
        expect_event(h, "/tx/c", "tx");
        write_str(h, t, "/elsewhere", "1");
        assert_errno(xs_transaction_end(h, t, false), EAGAIN);
        assert_value(o, XBT_NULL, "/elsewhere", NULL);

        /* unrelated change: no conflict */
        t = xs_transaction_start(h);
        assert_value(h, t, "/tx/a", "2");
        write_str(o, XBT_NULL, "/unrelated", "1");
        write_str(h, t, "/tx/a", "3");
        assert_true(xs_transaction_end(h, t, false));
        expect_event(h, "/tx/a", "tx");
        assert_value(o, XBT_NULL, "/tx/a", "3");

        /* abort discards */
        t = xs_transaction_start(h);
        write_str(h, t, "/tx/e", "1");
        assert_true(xs_transaction_end(h, t, true));
        assert_value(o, XBT_NULL, "/tx/e", NULL);
        expect_no_event(h);
        assert_null(xs_read(h, t, "/tx/a", NULL));     /* gone */
        assert_int_equal(errno, ENOENT);

        /* remove a subtree and rebuild it inside one transaction */
        t = xs_transaction_start(h);
        assert_true(xs_rm(h, t, "/tx"));
        assert_value(h, t, "/tx/a", NULL);
        assert_value(o, XBT_NULL, "/tx/a", "3");
        write_str(h, t, "/tx/new", "n");
        d = xs_directory(h, t, "/tx", &n);
        assert_int_equal(n, 1);
        assert_string_equal(d[0], "new");
        free(d);
        assert_value(h, t, "/tx/c", NULL);
        assert_true(xs_transaction_end(h, t, false));
        expect_event(h, "/tx", "tx");
        expect_event(h, "/tx/new", "tx");
        assert_value(o, XBT_NULL, "/tx/a", NULL);
        assert_value(o, XBT_NULL, "/tx/c", NULL);
        assert_value(o, XBT_NULL, "/tx/new", "n");
        d = xs_directory(o, XBT_NULL, "/tx", &n);
        assert_int_equal(n, 1);
        free(d);

        /* injected conflicts */
        assert_int_equal(xsim_fault_tx_conflicts(2), 0);
        for (int i = 0; i < 3; i++) {
                t = xs_transaction_start(h);
                write_str(h, t, "/tx/f", "1");
                if (i < 2)
                        assert_errno(xs_transaction_end(h, t, false), EAGAIN);
                else
                        assert_true(xs_transaction_end(h, t, false));
        }
        assert_value(o, XBT_NULL, "/tx/f", "1");

        /* unknown transaction; permission checks apply inside transactions */
        assert_null(xs_read(h, 12345, "/tx/f", NULL));
        assert_int_equal(errno, ENOENT);
        assert_int_equal(xsim_domain_create(1, "guest1", NULL, 16), 0);
        g1 = xsim_xs_open_as(1);
        t = xs_transaction_start(g1);
        assert_errno(xs_write(g1, t, "name", "x", 1), EACCES);
        write_str(g1, t, "data/t", "1");
        assert_true(xs_transaction_end(g1, t, false));
        assert_value(o, XBT_NULL, "/local/domain/1/data/t", "1");
        xs_close(g1);

        xs_close(o);
        xs_close(h);
}

/* ---- grants ---- */

static void test_grant_map(void **state) {
        xengnttab_handle *xgt;
        uint64_t gfn[4];
        uint32_t ref, refs[4], doms[2];
        uint8_t *page, *m;

        (void) state;
        assert_int_equal(xsim_domain_create(5, "g5", NULL, 16), 0);
        assert_int_equal(xsim_domain_create(6, "g6", NULL, 16), 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(xsim_page_alloc(5, &gfn[i]), 0);
        page = xsim_guest_page(5, gfn[0]);
        assert_non_null(page);
        memset(page, 'A', 4096);
        xgt = xengnttab_open(NULL, 0);
        assert_non_null(xgt);
        assert_int_equal(xengnttab_set_max_grants(xgt, 128), 0);

        /* writable grant: zero-copy both ways, counted, flags like Xen */
        assert_int_equal(xsim_grant_access(5, 0, gfn[0], false, &ref), 0);
        m = xengnttab_map_grant_ref(xgt, 5, ref, PROT_READ | PROT_WRITE);
        assert_non_null(m);
        assert_int_equal(m[0], 'A');
        m[1] = 'Z';
        assert_int_equal(page[1], 'Z');
        page[2] = 'Y';
        assert_int_equal(m[2], 'Y');
        assert_int_equal(xsim_grant_map_count(5, ref), 1);
        assert_int_equal(xsim_grant_flags(5, ref) & (GTF_reading | GTF_writing), GTF_reading | GTF_writing);
        assert_int_equal(xsim_foreign_maps(5), 1);
        assert_int_equal(xsim_grant_end(5, ref), -EBUSY);
        assert_int_equal(xengnttab_unmap(xgt, m, 2), -1);       /* wrong count */
        assert_int_equal(errno, EINVAL);
        assert_int_equal(xengnttab_unmap(xgt, m, 1), 0);
        assert_int_equal(xsim_grant_map_count(5, ref), 0);
        assert_int_equal(xsim_grant_flags(5, ref) & (GTF_reading | GTF_writing), 0);
        assert_int_equal(xsim_foreign_maps(5), 0);
        assert_int_equal(xsim_grant_end(5, ref), 0);
        assert_null(xengnttab_map_grant_ref(xgt, 5, ref, PROT_READ));   /* ended */
        assert_int_equal(errno, EINVAL);

        /* wrong grantee */
        assert_int_equal(xsim_grant_access(5, 7, gfn[0], false, &ref), 0);
        assert_null(xengnttab_map_grant_ref(xgt, 5, ref, PROT_READ));
        assert_int_equal(xsim_grant_map_count(5, ref), 0);

        /* read-only grant */
        assert_int_equal(xsim_grant_access(5, 0, gfn[0], true, &ref), 0);
        assert_null(xengnttab_map_grant_ref(xgt, 5, ref, PROT_READ | PROT_WRITE));
        m = xengnttab_map_grant_ref(xgt, 5, ref, PROT_READ);
        assert_non_null(m);
        assert_int_equal(m[0], 'A');
        assert_int_equal(xsim_grant_flags(5, ref) & (GTF_reading | GTF_writing), GTF_reading);
        assert_int_equal(xengnttab_unmap(xgt, m, 1), 0);

        /* bad refs, bad domains, bad gfn */
        assert_null(xengnttab_map_grant_ref(xgt, 5, 5000, PROT_READ));
        assert_null(xengnttab_map_grant_ref(xgt, 5, 100, PROT_READ));
        assert_null(xengnttab_map_grant_ref(xgt, 99, 8, PROT_READ));
        assert_int_equal(xsim_grant_access(5, 0, 16, false, &ref), -EINVAL);
        assert_int_equal(xengnttab_unmap(xgt, (void *) 0x1000, 1), -1);

        /* multi-page maps are contiguous */
        for (int i = 0; i < 3; i++) {
                assert_int_equal(xsim_grant_access(5, 0, gfn[i + 1], false, &refs[i]), 0);
                memset(xsim_guest_page(5, gfn[i + 1]), '0' + i, 4096);
        }
        m = xengnttab_map_domain_grant_refs(xgt, 3, 5, refs, PROT_READ | PROT_WRITE);
        assert_non_null(m);
        for (int i = 0; i < 3; i++)
                assert_int_equal(m[i * 4096 + 17], '0' + i);
        m[2 * 4096] = 'q';
        assert_int_equal(((uint8_t *) xsim_guest_page(5, gfn[3]))[0], 'q');
        assert_int_equal(xsim_foreign_maps(5), 3);
        assert_int_equal(xengnttab_unmap(xgt, m, 3), 0);

        /* partial failure is rolled back */
        refs[1] = 4095;
        assert_null(xengnttab_map_domain_grant_refs(xgt, 3, 5, refs, PROT_READ));
        assert_int_equal(xsim_grant_map_count(5, refs[0]), 0);
        assert_int_equal(xsim_foreign_maps(5), 0);

        /* mixed domains */
        {
                uint64_t g6;
                uint32_t r2[2];
                assert_int_equal(xsim_page_alloc(6, &g6), 0);
                memset(xsim_guest_page(6, g6), 'S', 4096);
                assert_int_equal(xsim_grant_access(6, 0, g6, false, &r2[1]), 0);
                r2[0] = refs[0];
                doms[0] = 5;
                doms[1] = 6;
                m = xengnttab_map_grant_refs(xgt, 2, doms, r2, PROT_READ);
                assert_non_null(m);
                assert_int_equal(m[0], '0');
                assert_int_equal(m[4096], 'S');
                assert_int_equal(xsim_foreign_maps(6), 1);
                assert_int_equal(xengnttab_unmap(xgt, m, 2), 0);
        }

        /* injected map faults */
        assert_int_equal(xsim_fault_map(5, 1), 0);
        assert_null(xengnttab_map_grant_ref(xgt, 5, refs[0], PROT_READ));
        m = xengnttab_map_grant_ref(xgt, 5, refs[0], PROT_READ);
        assert_non_null(m);

        /* an unprivileged mapper maps grants made to it; close unmaps */
        {
                xengnttab_handle *x6;
                uint32_t r6;
                assert_int_equal(xsim_grant_access(5, 6, gfn[0], false, &r6), 0);
                setenv("XENSIM_DOMID", "6", 1);
                x6 = xengnttab_open(NULL, 0);
                unsetenv("XENSIM_DOMID");
                assert_non_null(x6);
                assert_null(xengnttab_map_grant_ref(x6, 5, refs[0], PROT_READ));  /* granted to 0 */
                assert_non_null(xengnttab_map_grant_ref(x6, 5, r6, PROT_READ | PROT_WRITE));
                assert_int_equal(xsim_grant_map_count(5, r6), 1);
                xengnttab_close(x6);
                assert_int_equal(xsim_grant_map_count(5, r6), 0);
        }
        xengnttab_close(xgt);
        assert_int_equal(xsim_foreign_maps(5), 0);
}

static void test_grant_copy(void **state) {
        xengnttab_handle *xgt = xengnttab_open(NULL, 0);
        uint32_t rw, ro, wg;
        uint64_t gfn;
        uint8_t *page, buf[4096];
        xengnttab_grant_copy_segment_t s[8];

        (void) state;
        assert_int_equal(xsim_domain_create(5, "g5", NULL, 8), 0);
        assert_int_equal(xsim_page_alloc(5, &gfn), 0);
        page = xsim_guest_page(5, gfn);
        for (int i = 0; i < 4096; i++)
                page[i] = (uint8_t) i;
        assert_int_equal(xsim_grant_access(5, 0, gfn, false, &rw), 0);
        assert_int_equal(xsim_grant_access(5, 0, gfn, true, &ro), 0);
        assert_int_equal(xsim_grant_access(5, 9, gfn, false, &wg), 0);

        memset(s, 0, sizeof(s));
        memset(buf, 0, sizeof(buf));
#define FROM(i, ref_, dom_, off_, len_) \
        s[i] = (xengnttab_grant_copy_segment_t) { .source.foreign = { ref_, off_, dom_ }, .dest.virt = buf, \
                                                  .len = len_, .flags = GNTCOPY_source_gref }
#define TO(i, ref_, dom_, off_, len_) \
        s[i] = (xengnttab_grant_copy_segment_t) { .dest.foreign = { ref_, off_, dom_ }, .source.virt = buf, \
                                                  .len = len_, .flags = GNTCOPY_dest_gref }
        FROM(0, rw, 5, 100, 50);
        TO(1, ro, 5, 0, 10);
        FROM(2, ro, 5, 0, 10);
        FROM(3, 9999, 5, 0, 10);
        FROM(4, rw, 77, 0, 10);
        FROM(5, rw, 5, 4000, 200);
        FROM(6, wg, 5, 0, 10);
        s[7] = (xengnttab_grant_copy_segment_t) { .source.virt = NULL, .dest.virt = buf, .len = 1 };
        assert_int_equal(xengnttab_grant_copy(xgt, 8, s), 0);
        assert_int_equal(s[0].status, GNTST_okay);
        assert_int_equal(s[1].status, GNTST_permission_denied);
        assert_int_equal(s[2].status, GNTST_okay);
        assert_int_equal(s[3].status, GNTST_bad_gntref);
        assert_int_equal(s[4].status, GNTST_bad_domain);
        assert_int_equal(s[5].status, GNTST_bad_copy_arg);
        assert_int_equal(s[6].status, GNTST_permission_denied);
        assert_int_equal(s[7].status, GNTST_general_error);
        assert_memory_equal(buf, page, 10);     /* last successful copy: seg 2 */

        /* write into guest memory */
        memset(buf, 0xee, 64);
        TO(0, rw, 5, 4032, 64);
        assert_int_equal(xengnttab_grant_copy(xgt, 1, s), 0);
        assert_int_equal(s[0].status, GNTST_okay);
        assert_int_equal(page[4095], 0xee);
        assert_int_equal(page[4031], (uint8_t) 4031);

        /* injected copy faults */
        assert_int_equal(xsim_fault_copy(5, 1), 0);
        FROM(0, rw, 5, 0, 8);
        FROM(1, rw, 5, 0, 8);
        assert_int_equal(xengnttab_grant_copy(xgt, 2, s), 0);
        assert_int_equal(s[0].status, GNTST_general_error);
        assert_int_equal(s[1].status, GNTST_okay);
        assert_int_equal(xsim_grant_map_count(5, rw), 0);
        xengnttab_close(xgt);
#undef FROM
#undef TO
}

static void test_zombie(void **state) {
        struct xs_handle *h = xs_open(0);
        xengnttab_handle *xgt = xengnttab_open(NULL, 0);
        xc_interface *xc = xc_interface_open(NULL, NULL, 0);
        struct xsim_domain_info info;
        xc_domaininfo_t di[8];
        uint32_t ref, ref2;
        uint64_t gfn;
        uint8_t *m;
        int n;

        (void) state;
        assert_non_null(xc);
        assert_int_equal(xsim_domain_create(8, "g8", NULL, 8), 0);
        assert_int_equal(xsim_page_alloc(8, &gfn), 0);
        strcpy(xsim_guest_page(8, gfn), "still here");
        assert_int_equal(xsim_grant_access(8, 0, gfn, false, &ref), 0);
        assert_int_equal(xsim_grant_access(8, 0, gfn, false, &ref2), 0);
        m = xengnttab_map_grant_ref(xgt, 8, ref, PROT_READ | PROT_WRITE);
        assert_non_null(m);
        assert_true(xs_watch(h, "@releaseDomain", "rel"));
        expect_event(h, "@releaseDomain", "rel");

        assert_int_equal(xsim_domain_destroy(8), 0);
        expect_event(h, "@releaseDomain", "rel");
        expect_no_event(h);
        assert_int_equal(xsim_domain_query(8, &info), 0);
        assert_true(info.dying);
        assert_true(info.zombie);
        assert_int_equal(info.foreign_maps, 1);
        n = xc_domain_getinfolist(xc, 8, 8, di);
        assert_int_equal(n, 1);
        assert_int_equal(di[0].domain, 8);
        assert_true(di[0].flags & XEN_DOMINF_dying);
        assert_false(xs_is_domain_introduced(h, 8));
        assert_null(xengnttab_map_grant_ref(xgt, 8, ref2, PROT_READ));   /* dying */
        assert_int_equal(xsim_domain_create(8, "again", NULL, 8), -EEXIST);
        assert_string_equal((char *) m, "still here");
        assert_int_equal(xsim_domain_destroy(8), -ESRCH);

        assert_int_equal(xengnttab_unmap(xgt, m, 1), 0);
        expect_event(h, "@releaseDomain", "rel");
        assert_int_equal(xsim_domain_query(8, &info), -ESRCH);
        assert_int_equal(xc_domain_getinfolist(xc, 8, 8, di), 0);

        /* a new incarnation with the same domid is independent */
        assert_int_equal(xsim_domain_create(8, "g8b", NULL, 8), 0);
        assert_int_equal(xsim_grant_map_count(8, ref), 0);
        assert_null(xengnttab_map_grant_ref(xgt, 8, ref, PROT_READ));
        assert_int_equal(xsim_page_alloc(8, &gfn), 0);
        assert_int_equal(((char *) xsim_guest_page(8, gfn))[0], 0);

        /* without mappings destruction is immediate */
        assert_int_equal(xsim_domain_destroy(8), 0);
        assert_int_equal(xsim_domain_query(8, NULL), -ESRCH);

        xc_interface_close(xc);
        xengnttab_close(xgt);
        xs_close(h);
}

static void test_xc(void **state) {
        xen_domain_handle_t uuid = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
        xc_interface *xc = xc_interface_open(NULL, NULL, 0);
        xc_domaininfo_t di[16];
        const char *saved;
        int n, found = 0;

        (void) state;
        assert_int_equal(xsim_domain_create(10, "g10", uuid, 32), 0);
        assert_int_equal(xsim_domain_create(12, "g12", NULL, 4), 0);
        assert_int_equal(xsim_domain_pause(10), 0);
        n = xc_domain_getinfolist(xc, 0, 16, di);
        assert_int_equal(n, 3);
        assert_int_equal(di[0].domain, 0);
        for (int i = 0; i < n; i++)
                if (di[i].domain == 10) {
                        found = 1;
                        assert_true(di[i].flags & XEN_DOMINF_paused);
                        assert_false(di[i].flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown));
                        assert_memory_equal(di[i].handle, uuid, 16);
                        assert_int_equal(di[i].tot_pages, 32);
                }
        assert_true(found);
        assert_int_equal(xsim_domain_unpause(10), 0);
        assert_int_equal(xsim_domain_shutdown(10, SHUTDOWN_reboot), 0);
        n = xc_domain_getinfolist(xc, 10, 1, di);
        assert_int_equal(n, 1);
        assert_int_equal(di[0].domain, 10);
        assert_false(di[0].flags & XEN_DOMINF_paused);
        assert_true(di[0].flags & XEN_DOMINF_shutdown);
        assert_int_equal((di[0].flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask, SHUTDOWN_reboot);
        n = xc_domain_getinfolist(xc, 11, 16, di);
        assert_int_equal(n, 1);
        assert_int_equal(di[0].domain, 12);
        assert_int_equal(xsim_domain_pause(55), -ESRCH);
        xc_interface_close(xc);

        /* the domctl is privileged */
        setenv("XENSIM_DOMID", "12", 1);
        xc = xc_interface_open(NULL, NULL, 0);
        unsetenv("XENSIM_DOMID");
        assert_non_null(xc);
        assert_int_equal(xc_domain_getinfolist(xc, 0, 16, di), -1);
        assert_int_equal(errno, EPERM);
        xc_interface_close(xc);

        /* no XENSIM_DIR: everything fails with ENOENT */
        saved = strdup(getenv("XENSIM_DIR"));
        unsetenv("XENSIM_DIR");
        assert_null(xs_open(0));
        assert_int_equal(errno, ENOENT);
        assert_null(xenevtchn_open(NULL, 0));
        assert_int_equal(errno, ENOENT);
        assert_null(xengnttab_open(NULL, 0));
        assert_int_equal(errno, ENOENT);
        setenv("XENSIM_DIR", saved, 1);
        free((void *) saved);
}

/* ---- event channels ---- */

static int child_failures;
#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "child check failed %s:%d: %s\n", __FILE__, __LINE__, #cond); child_failures++; } } while (0)

static int readable(int fd, int ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return poll(&p, 1, ms);
}

static void xread(int fd, void *buf, size_t n) {
        assert_true(read(fd, buf, n) == (ssize_t) n);
}

static void xwrite(int fd, const void *buf, size_t n) {
        if (write(fd, buf, n) != (ssize_t) n)
                abort();
}

/* Guest side, in a child process: p2c/c2p are pipes to/from the parent. */
static int guest_child(int rfd, int wfd) {
        xenevtchn_handle *g = xsim_evtchn_open_as(12);
        int port, fd, step;

        CHECK(g);
        if (!g)
                return 1;
        fd = xenevtchn_fd(g);
        CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
        port = xenevtchn_bind_unbound_port(g, 0);
        CHECK(port > 0);
        xwrite(wfd, &port, sizeof(port));

        /* step 1: parent notified once */
        if (read(rfd, &step, sizeof(step)) != sizeof(step))
                return 1;
        CHECK(readable(fd, 2000) == 1);
        CHECK(xenevtchn_pending(g) == port);
        errno = 0;
        CHECK(xenevtchn_pending(g) == -1 && errno == EAGAIN);
        xwrite(wfd, &step, sizeof(step));

        /* step 2: parent notified twice while we are masked */
        if (read(rfd, &step, sizeof(step)) != sizeof(step))
                return 1;
        CHECK(readable(fd, 100) == 0);
        CHECK(xenevtchn_unmask(g, (evtchn_port_t) port) == 0);
        CHECK(readable(fd, 2000) == 1);
        CHECK(xenevtchn_pending(g) == port);
        CHECK(xenevtchn_pending(g) == -1);
        CHECK(xenevtchn_unmask(g, (evtchn_port_t) port) == 0);
        CHECK(readable(fd, 100) == 0);  /* pending was consumed */

        /* step 3: notify the parent */
        CHECK(xenevtchn_notify(g, (evtchn_port_t) port) == 0);
        xwrite(wfd, &step, sizeof(step));
        if (read(rfd, &step, sizeof(step)) != sizeof(step))
                return 1;
        xenevtchn_close(g);
        return child_failures;
}

static void test_evtchn(void **state) {
        int p2c[2], c2p[2], rport, lport, step = 0, status;
        xenevtchn_handle *xce, *g2;
        pid_t pid;

        (void) state;
        assert_int_equal(xsim_domain_create(12, "g12", NULL, 4), 0);
        assert_int_equal(pipe(p2c), 0);
        assert_int_equal(pipe(c2p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p2c[1]);
                close(c2p[0]);
                _exit(guest_child(p2c[0], c2p[1]));
        }
        close(p2c[0]);
        close(c2p[1]);

        xce = xenevtchn_open(NULL, 0);
        assert_non_null(xce);
        xread(c2p[0], &rport, sizeof(rport));
        assert_int_equal(xenevtchn_bind_interdomain(xce, 12, 4000), -1);   /* not unbound */
        assert_int_equal(errno, EINVAL);
        lport = xenevtchn_bind_interdomain(xce, 12, (evtchn_port_t) rport);
        assert_true(lport > 0);
        assert_int_equal(xenevtchn_bind_interdomain(xce, 12, (evtchn_port_t) rport), -1); /* now bound */

        assert_int_equal(xenevtchn_notify(xce, (evtchn_port_t) lport), 0);
        xwrite(p2c[1], &step, sizeof(step));
        xread(c2p[0], &step, sizeof(step));

        assert_int_equal(xenevtchn_notify(xce, (evtchn_port_t) lport), 0);
        assert_int_equal(xenevtchn_notify(xce, (evtchn_port_t) lport), 0);
        xwrite(p2c[1], &step, sizeof(step));

        xread(c2p[0], &step, sizeof(step));
        assert_int_equal(readable(xenevtchn_fd(xce), 2000), 1);
        assert_int_equal(xenevtchn_pending(xce), lport);
        assert_int_equal(xenevtchn_unmask(xce, (evtchn_port_t) lport), 0);
        xwrite(p2c[1], &step, sizeof(step));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        /* the child's close unbound its end: our port is unbound, notify is dropped */
        assert_int_equal(xenevtchn_notify(xce, (evtchn_port_t) lport), 0);
        assert_int_equal(xenevtchn_unbind(xce, (evtchn_port_t) lport), 0);
        assert_int_equal(xenevtchn_notify(xce, (evtchn_port_t) lport), -1);
        assert_int_equal(errno, ENOTCONN);
        assert_int_equal(xenevtchn_unbind(xce, (evtchn_port_t) lport), -1);

        /* unbinding returns the peer to unbound, so it can be re-bound */
        g2 = xsim_evtchn_open_as(12);
        assert_non_null(g2);
        rport = xenevtchn_bind_unbound_port(g2, 0);
        lport = xenevtchn_bind_interdomain(xce, 12, (evtchn_port_t) rport);
        assert_true(lport > 0);
        assert_int_equal(xenevtchn_unbind(xce, (evtchn_port_t) lport), 0);
        lport = xenevtchn_bind_interdomain(xce, 12, (evtchn_port_t) rport);
        assert_true(lport > 0);
        assert_int_equal(xenevtchn_notify(g2, (evtchn_port_t) rport), 0);
        assert_int_equal(readable(xenevtchn_fd(xce), 2000), 1);
        assert_int_equal(xenevtchn_pending(xce), lport);
        /* a port unbound for another domain cannot be bound by us */
        rport = xenevtchn_bind_unbound_port(g2, 5);
        assert_int_equal(xenevtchn_bind_interdomain(xce, 12, (evtchn_port_t) rport), -1);
        /* ports we did not bind are not ours */
        assert_int_equal(xenevtchn_notify(g2, 4000), -1);
        assert_int_equal(errno, ENOTCONN);
        assert_int_equal(xenevtchn_notify(g2, 0), -1);
        assert_int_equal(xenevtchn_notify(g2, 99999), -1);

        /* destroying the guest closes its channels; notifications get dropped */
        assert_int_equal(xsim_domain_destroy(12), 0);
        assert_int_equal(xenevtchn_unmask(xce, (evtchn_port_t) lport), 0);
        assert_int_equal(xenevtchn_notify(xce, (evtchn_port_t) lport), 0);
        assert_int_equal(xenevtchn_bind_interdomain(xce, 12, 1), -1);
        assert_int_equal(errno, ESRCH);
        xenevtchn_close(g2);
        xenevtchn_close(xce);
        close(p2c[1]);
        close(c2p[0]);
}

/* ---- event channels owned by the open file (fd store, restart) ---- */

static void send_fd(int sock, int fd) {
        char c = 'f';
        struct iovec iov = { &c, 1 };
        union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

        memset(&u, 0, sizeof(u));
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        assert_int_equal(sendmsg(sock, &mh, 0), 1);
}

static int recv_fd(int sock) {
        char c;
        struct iovec iov = { &c, 1 };
        union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        struct cmsghdr *cm;
        int fd = -1;

        if (recvmsg(sock, &mh, 0) != 1)
                return -1;
        cm = CMSG_FIRSTHDR(&mh);
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        return fd;
}

static void assert_status(xc_interface *xc, uint32_t dom, evtchn_port_t port, uint32_t status,
                          uint32_t rdom, evtchn_port_t rport) {
        xc_evtchn_status_t st = { .dom = (domid_t) dom, .port = port };

        assert_int_equal(xc_evtchn_status(xc, &st), 0);
        assert_int_equal(st.status, status);
        if (status == EVTCHNSTAT_unbound)
                assert_int_equal(st.u.unbound.dom, rdom);
        if (status == EVTCHNSTAT_interdomain) {
                assert_int_equal(st.u.interdomain.dom, rdom);
                assert_int_equal(st.u.interdomain.port, rport);
        }
}

/* The restarted daemon, in a child: takes the fd over from the "FD store"
 * (the socket), reads what was queued meanwhile, talks to the guest, then
 * waits to be killed without closing anything. */
static int fdstore_child(int sock) {
        xenevtchn_handle *h, *h2;
        int fd, lport;

        fd = recv_fd(sock);
        CHECK(fd >= 0);
        /* our port's number (pvbackd would have it in its saved state);
         * by then the guest has notified twice */
        if (read(sock, &lport, sizeof(lport)) != sizeof(lport))
                return 1;
        h = xenevtchn_fdopen(NULL, fd, 0);
        CHECK(h);
        if (!h)
                return 1;
        CHECK(xenevtchn_fd(h) == fd);
        CHECK(readable(fd, 2000) == 1);
        CHECK(xenevtchn_pending(h) == lport);
        errno = 0;
        CHECK(xenevtchn_pending(h) == -1 && errno == EAGAIN);  /* one per port, masked */
        CHECK(xenevtchn_unmask(h, (evtchn_port_t) lport) == 0);
        CHECK(readable(fd, 2000) == 1);                          /* the second one was pending */
        CHECK(xenevtchn_pending(h) == lport);
        CHECK(xenevtchn_unmask(h, (evtchn_port_t) lport) == 0);
        CHECK(readable(fd, 100) == 0);

        /* a second handle over a dup: closing it leaves the binding alone */
        h2 = xenevtchn_fdopen(NULL, dup(fd), 0);
        CHECK(h2);
        CHECK(xenevtchn_close(h2) == 0);
        CHECK(xenevtchn_notify(h, (evtchn_port_t) lport) == 0);
        xwrite(sock, &child_failures, sizeof(child_failures));
        for (;;)
                pause();
}

static void test_evtchn_fd_survives(void **state) {
        xc_interface *xc = xc_interface_open(NULL, NULL, 0);
        xenevtchn_handle *g, *xce, *xce2, *h;
        int sv[2], rport, lport, lport2, failures = -1, status, d;
        pid_t pid;

        (void) state;
        assert_non_null(xc);
        assert_int_equal(xsim_domain_create(12, "g12", NULL, 4), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(sv[0]);
                _exit(fdstore_child(sv[1]) ? 1 : 0);
        }
        close(sv[1]);

        g = xsim_evtchn_open_as(12);
        assert_non_null(g);
        rport = xenevtchn_bind_unbound_port(g, 0);
        assert_true(rport > 0);
        assert_status(xc, 12, (evtchn_port_t) rport, EVTCHNSTAT_unbound, 0, 0);
        xce = xenevtchn_open(NULL, 0);
        assert_non_null(xce);
        lport = xenevtchn_bind_interdomain(xce, 12, (evtchn_port_t) rport);
        assert_true(lport > 0);
        assert_status(xc, 12, (evtchn_port_t) rport, EVTCHNSTAT_interdomain, 0, (evtchn_port_t) lport);
        assert_status(xc, 0, (evtchn_port_t) lport, EVTCHNSTAT_interdomain, 12, (evtchn_port_t) rport);

        /* the fd goes to the "FD store"; our own copy closes: the binding stays */
        send_fd(sv[0], xenevtchn_fd(xce));
        assert_int_equal(xenevtchn_close(xce), 0);
        assert_status(xc, 12, (evtchn_port_t) rport, EVTCHNSTAT_interdomain, 0, (evtchn_port_t) lport);
        assert_status(xc, 0, (evtchn_port_t) lport, EVTCHNSTAT_interdomain, 12, (evtchn_port_t) rport);
        xce2 = xenevtchn_open(NULL, 0);
        assert_non_null(xce2);
        assert_int_equal(xenevtchn_bind_interdomain(xce2, 12, (evtchn_port_t) rport), -1);
        assert_int_equal(errno, EINVAL);

        /* the guest's events queue up while nobody reads */
        assert_int_equal(xenevtchn_notify(g, (evtchn_port_t) rport), 0);
        assert_int_equal(xenevtchn_notify(g, (evtchn_port_t) rport), 0);
        xwrite(sv[0], &lport, sizeof(lport));
        xread(sv[0], &failures, sizeof(failures));
        assert_int_equal(failures, 0);
        assert_int_equal(readable(xenevtchn_fd(g), 2000), 1);
        assert_int_equal(xenevtchn_pending(g), rport);
        assert_int_equal(xenevtchn_unmask(g, (evtchn_port_t) rport), 0);

        /* the last copy dies with the child: closed like evtchn_close() */
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_status(xc, 12, (evtchn_port_t) rport, EVTCHNSTAT_unbound, 0, 0);
        assert_status(xc, 0, (evtchn_port_t) lport, EVTCHNSTAT_closed, 0, 0);
        assert_int_equal(xenevtchn_notify(g, (evtchn_port_t) rport), 0);      /* dropped */
        lport2 = xenevtchn_bind_interdomain(xce2, 12, (evtchn_port_t) rport);
        assert_true(lport2 > 0);
        assert_status(xc, 12, (evtchn_port_t) rport, EVTCHNSTAT_interdomain, 0, (evtchn_port_t) lport2);
        assert_int_equal(xenevtchn_notify(g, (evtchn_port_t) rport), 0);
        assert_int_equal(readable(xenevtchn_fd(xce2), 2000), 1);
        assert_int_equal(xenevtchn_pending(xce2), lport2);
        assert_int_equal(xenevtchn_unmask(xce2, (evtchn_port_t) lport2), 0);

        /* a dup in the same process: closing one handle keeps the binding,
         * closing the last copy releases it at once */
        d = dup(xenevtchn_fd(xce2));
        assert_true(d >= 0);
        h = xenevtchn_fdopen(NULL, d, 0);
        assert_non_null(h);
        assert_int_equal(xenevtchn_close(xce2), 0);
        assert_status(xc, 12, (evtchn_port_t) rport, EVTCHNSTAT_interdomain, 0, (evtchn_port_t) lport2);
        assert_int_equal(xenevtchn_notify(h, (evtchn_port_t) lport2), 0);
        assert_int_equal(readable(xenevtchn_fd(g), 2000), 1);
        assert_int_equal(xenevtchn_pending(g), rport);
        assert_int_equal(xenevtchn_close(h), 0);
        assert_status(xc, 12, (evtchn_port_t) rport, EVTCHNSTAT_unbound, 0, 0);
        assert_status(xc, 0, (evtchn_port_t) lport2, EVTCHNSTAT_closed, 0, 0);

        xenevtchn_close(g);
        /* the guest's handle is gone: its port is closed, nothing to bind */
        assert_status(xc, 12, (evtchn_port_t) rport, EVTCHNSTAT_closed, 0, 0);
        close(sv[0]);
        xc_interface_close(xc);
}

static void test_evtchn_fdopen_errors(void **state) {
        char path[PATH_MAX];
        xc_interface *xc;
        xc_evtchn_status_t st;
        xenevtchn_handle *xce;
        int p[2], fd;

        (void) state;
        assert_int_equal(pipe(p), 0);
        assert_null(xenevtchn_fdopen(NULL, p[0], 0));           /* a FIFO, not ours */
        assert_int_equal(errno, ENOTTY);
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_null(xenevtchn_fdopen(NULL, fd, 0));
        assert_int_equal(errno, ENOTTY);
        close(fd);
        assert_null(xenevtchn_fdopen(NULL, fd, 0));             /* closed */
        assert_int_equal(errno, EBADF);
        assert_null(xenevtchn_fdopen(NULL, -1, 0));
        assert_int_equal(errno, EBADF);
        /* a FIFO in the state directory that is no handle's */
        snprintf(path, sizeof(path), "%s/evtchn-0-1", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_null(xenevtchn_fdopen(NULL, fd, 0));
        assert_int_equal(errno, ENOTTY);
        close(fd);
        /* a real one, but with flags */
        xce = xenevtchn_open(NULL, 0);
        assert_non_null(xce);
        assert_null(xenevtchn_fdopen(NULL, xenevtchn_fd(xce), XENEVTCHN_NO_CLOEXEC));
        assert_int_equal(errno, EINVAL);
        xenevtchn_close(xce);
        close(p[0]);
        close(p[1]);

        /* xc_evtchn_status: bad port, no such domain, other domains for domUs */
        xc = xc_interface_open(NULL, NULL, 0);
        assert_non_null(xc);
        st = (xc_evtchn_status_t) { .dom = 0, .port = 99999 };
        assert_int_equal(xc_evtchn_status(xc, &st), -1);
        assert_int_equal(errno, EINVAL);
        st = (xc_evtchn_status_t) { .dom = 44, .port = 1 };
        assert_int_equal(xc_evtchn_status(xc, &st), -1);
        assert_int_equal(errno, ESRCH);
        st = (xc_evtchn_status_t) { .dom = DOMID_SELF, .port = 0 };
        assert_int_equal(xc_evtchn_status(xc, &st), 0);
        assert_int_equal(st.status, EVTCHNSTAT_closed);
        xc_interface_close(xc);
        assert_int_equal(xsim_domain_create(12, "g12", NULL, 4), 0);
        setenv("XENSIM_DOMID", "12", 1);
        xc = xc_interface_open(NULL, NULL, 0);
        unsetenv("XENSIM_DOMID");
        assert_non_null(xc);
        st = (xc_evtchn_status_t) { .dom = 0, .port = 1 };
        assert_int_equal(xc_evtchn_status(xc, &st), -1);
        assert_int_equal(errno, EPERM);
        st = (xc_evtchn_status_t) { .dom = DOMID_SELF, .port = 1 };
        assert_int_equal(xc_evtchn_status(xc, &st), 0);
        assert_int_equal(st.status, EVTCHNSTAT_closed);
        xc_interface_close(xc);
}

/* ---- mappings die with their process ---- */

/* Maps ref (and frame gfn if foreign) of domain 8, reports, waits for SIGKILL. */
static void mapper_child(int wfd, uint32_t ref, bool foreign, uint64_t gfn) {
        xengnttab_handle *xgt = xengnttab_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xen_pfn_t pfn = gfn;

        CHECK(xgt && fm);
        if (xgt)
                CHECK(xengnttab_map_grant_ref(xgt, 8, ref, PROT_READ | PROT_WRITE));
        if (foreign && fm)
                CHECK(xenforeignmemory_map(fm, 8, PROT_READ, 1, &pfn, NULL));
        xwrite(wfd, &child_failures, sizeof(child_failures));
        for (;;)
                pause();
}

static pid_t start_mapper(uint32_t ref, bool foreign, uint64_t gfn) {
        int p[2], failures = -1;
        pid_t pid;

        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                mapper_child(p[1], ref, foreign, gfn);
        }
        close(p[1]);
        xread(p[0], &failures, sizeof(failures));
        close(p[0]);
        assert_int_equal(failures, 0);
        return pid;
}

static void kill_wait(pid_t pid) {
        int status;

        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
}

static void test_mappings_die_with_process(void **state) {
        xengnttab_handle *xgt = xengnttab_open(NULL, 0);
        struct xsim_domain_info info;
        uint32_t ref, ref2;
        uint64_t gfn;
        uint8_t *m;
        pid_t pid;
        int i;

        (void) state;
        assert_non_null(xgt);
        assert_int_equal(xsim_domain_create(8, "g8", NULL, 8), 0);
        assert_int_equal(xsim_page_alloc(8, &gfn), 0);
        assert_int_equal(xsim_grant_access(8, 0, gfn, false, &ref), 0);
        assert_int_equal(xsim_grant_access(8, 0, gfn, false, &ref2), 0);
        m = xengnttab_map_grant_ref(xgt, 8, ref2, PROT_READ | PROT_WRITE);
        assert_non_null(m);

        /* a child maps a grant and a frame, then is killed */
        pid = start_mapper(ref, true, gfn);
        assert_int_equal(xsim_grant_map_count(8, ref), 1);
        assert_int_equal(xsim_grant_flags(8, ref), GTF_permit_access | GTF_reading | GTF_writing);
        assert_int_equal(xsim_foreign_maps(8), 3);
        assert_int_equal(xsim_grant_end(8, ref), -EBUSY);
        kill_wait(pid);
        assert_int_equal(xsim_grant_map_count(8, ref), 0);
        assert_int_equal(xsim_grant_flags(8, ref), GTF_permit_access);
        assert_int_equal(xsim_grant_end(8, ref), 0);
        /* ours stays: the child's inherited copy of it was never its own */
        assert_int_equal(xsim_foreign_maps(8), 1);
        assert_int_equal(xsim_grant_map_count(8, ref2), 1);
        assert_int_equal(xsim_grant_end(8, ref2), -EBUSY);
        assert_int_equal(xengnttab_unmap(xgt, m, 1), 0);
        assert_int_equal(xsim_grant_map_count(8, ref2), 0);

        /* a dead mapper does not keep a destroyed domain a zombie */
        pid = start_mapper(ref2, false, 0);
        assert_int_equal(xsim_domain_destroy(8), 0);
        assert_int_equal(xsim_domain_query(8, &info), 0);
        assert_true(info.zombie);
        kill_wait(pid);
        for (i = 0; i < 200 && xsim_domain_query(8, NULL) == 0; i++)
                usleep(10000);
        assert_int_equal(xsim_domain_query(8, NULL), -ESRCH);
        xengnttab_close(xgt);
}

/* ---- lifecycle ---- */

static void test_parent_death(void **state) {
        int pfd[2], status;
        char buf[512] = "", path[600];
        pid_t pid, daemon = 0;
        FILE *f;

        (void) state;
        /* Become the orphaned daemon's reaper so we can watch it die. */
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        assert_int_equal(pipe(pfd), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char *d = NULL;
                close(pfd[0]);
                if (xsim_start(xensimd_path, &d) < 0)
                        _exit(1);
                snprintf(path, sizeof(path), "%s/xensimd.pid", d);
                f = fopen(path, "re");
                if (!f || fscanf(f, "%d", &daemon) != 1)
                        _exit(1);
                xwrite(pfd[1], &daemon, sizeof(daemon));
                xwrite(pfd[1], d, strlen(d) + 1);
                _exit(0);       /* without xsim_stop() */
        }
        close(pfd[1]);
        xread(pfd[0], &daemon, sizeof(daemon));
        assert_true(read(pfd[0], buf, sizeof(buf) - 1) > 0);
        close(pfd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(daemon > 0);
        /* xensimd gets SIGTERM via PR_SET_PDEATHSIG and exits cleanly */
        for (int i = 0; i < 400 && waitpid(daemon, &status, WNOHANG) == 0; i++)
                usleep(5000);
        assert_int_equal(kill(daemon, 0), -1);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        snprintf(path, sizeof(path), "%s/xensimd.pid", buf);
        assert_int_not_equal(access(path, F_OK), 0);
        prctl(PR_SET_CHILD_SUBREAPER, 0);
        snprintf(path, sizeof(path), "rm -rf '%s'", buf);
        assert_int_equal(system(path), 0);
}

int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_store_basic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_permissions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watches, setup, teardown),
                cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_grant_map, setup, teardown),
                cmocka_unit_test_setup_teardown(test_grant_copy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_zombie, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mappings_die_with_process, setup, teardown),
                cmocka_unit_test_setup_teardown(test_xc, setup, teardown),
                cmocka_unit_test_setup_teardown(test_evtchn, setup, teardown),
                cmocka_unit_test_setup_teardown(test_evtchn_fd_survives, setup, teardown),
                cmocka_unit_test_setup_teardown(test_evtchn_fdopen_errors, setup, teardown),
                cmocka_unit_test(test_parent_death),
        };

        xensimd_path = argc > 1 ? argv[1] : getenv("XENSIMD");
        if (!xensimd_path) {
                fprintf(stderr, "usage: %s XENSIMD-PATH (or set $XENSIMD)\n", argv[0]);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests_name("xensim", tests, NULL, NULL);
}
