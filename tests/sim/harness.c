/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "service.h"
#include "xensim.h"

static long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static const char *env_or_die(const char *name) {
        const char *v = getenv(name);
        if (!v) {
                fprintf(stderr, "harness: %s is not set (run through meson test)\n", name);
                exit(77);
        }
        return v;
}

bool harness_wait_notify(Harness *h, const char *want, int timeout_ms) {
        bool found = service_wait_notify(h->sm, want, timeout_ms);

        service_status(h->sm, h->status, sizeof h->status);
        h->ready = service_ready(h->sm);
        return found;
}

bool harness_log_contains(Harness *h, const char *s) {
        FILE *f = fopen(h->stderr_path, "re");
        char line[4096];
        bool found = false;

        if (!f)
                return false;
        while (!found && fgets(line, sizeof line, f))
                found = strstr(line, s) != NULL;
        fclose(f);
        return found;
}

int harness_sh(const char *fmt, ...) {
        char cmd[1024];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        r = system(cmd);
        if (r != 0)
                fprintf(stderr, "command failed (%d): %s\n", r, cmd);
        return r;
}

double process_cpu_seconds(pid_t pid) {
        char p[64], buf[1024], *s;
        unsigned long utime, stime;
        FILE *f;
        size_t n;

        snprintf(p, sizeof p, "/proc/%d/stat", (int) pid);
        f = fopen(p, "re");
        if (!f)
                return -1;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        /* Fields after the command name, which may contain spaces. */
        s = strrchr(buf, ')');
        if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
                return -1;
        return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}

double harness_cpu_seconds(Harness *h) {
        return process_cpu_seconds(h->pvbackd);
}

int harness_start_pvbackd(Harness *h, const char *const *extra_args) {
        const char *bin = env_or_die("PVBACKD_SIM");
        const char *argv[16] = { bin, "--config", h->config_path, "--log-level", "debug" };
        size_t n = 5;
        pid_t pid;

        for (; extra_args && *extra_args && n < (sizeof argv / sizeof argv[0] - 1); extra_args++)
                argv[n++] = *extra_args;
        argv[n] = NULL;
        h->ready = false;
        service_reset_ready(h->sm);
        service_prepare_fds(h->sm);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                setenv("NOTIFY_SOCKET", h->notify_path, 1);
                setenv("RUNTIME_DIRECTORY", h->dir, 1); /* device records, as systemd's RuntimeDirectory= */
                if (getenv("HARNESS_WATCHDOG_USEC"))
                        setenv("WATCHDOG_USEC", getenv("HARNESS_WATCHDOG_USEC"), 1);
                unsetenv("JOURNAL_STREAM");
                dup2(h->stderr_fd, STDERR_FILENO);
                service_pass_fds_in_child(h->sm, getpid()); /* fd 3 on: after stderr is in place */
                execv(bin, (char *const *) argv);
                _exit(127);
        }
        h->pvbackd = pid;
        /* READY=1, or the daemon gave up (bad config): -ECHILD. */
        for (int i = 0; i < 200 && !h->ready; i++) {
                int status;
                if (harness_wait_notify(h, "READY=1", 50))
                        break;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        h->pvbackd = -1;
                        return -ECHILD;
                }
        }
        return h->ready ? 0 : -ETIMEDOUT;
}

int harness_start(Harness *h, const char *config_text) {
        FILE *f;
        int r;

        *h = (Harness) { .stderr_fd = -1, .pvbackd = -1, .wait_ms = HARNESS_WAIT_MS };
        r = xsim_start(env_or_die("XENSIMD"), &h->dir);
        if (r < 0)
                return r;
        if (asprintf(&h->config_path, "%s/pvbackd.conf", h->dir) < 0 ||
            asprintf(&h->notify_path, "%s/notify.sock", h->dir) < 0 ||
            asprintf(&h->stderr_path, "%s/pvbackd.log", h->dir) < 0)
                return -ENOMEM;
        f = fopen(h->config_path, "we");
        if (!f)
                return -errno;
        fputs(config_text ?: "", f);
        fclose(f);

        h->stderr_fd = open(h->stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (h->stderr_fd < 0)
                return -errno;
        r = service_new(h->notify_path, &h->sm);
        if (r < 0)
                return r;

        h->xs = xs_open(0);
        if (!h->xs)
                return -errno;
        /* What xenstored and libxl set up before any backend runs. */
        ts_write(h, "/local/domain/0/name", "Domain-0");
        ts_write(h, "/local/domain/0/backend", "");
        return harness_start_pvbackd(h, NULL);
}

int harness_kill_pvbackd(Harness *h, int sig) {
        int status;

        if (h->pvbackd <= 0)
                return -ESRCH;
        kill(h->pvbackd, sig);
        if (waitpid(h->pvbackd, &status, 0) != h->pvbackd)
                return -errno;
        h->pvbackd = -1;
        return WIFSIGNALED(status) ? WTERMSIG(status) : -EINVAL;
}

int harness_wait_pvbackd_death(Harness *h, int timeout_ms) {
        int status;

        for (int waited = 0; h->pvbackd > 0 && waited <= timeout_ms; waited += 10) {
                if (waitpid(h->pvbackd, &status, WNOHANG) == h->pvbackd) {
                        h->pvbackd = -1;
                        return status;
                }
                usleep(10 * 1000);
        }
        return -ETIMEDOUT;
}

int harness_stop_pvbackd(Harness *h) {
        int status;

        if (h->pvbackd <= 0)
                return -ESRCH;
        kill(h->pvbackd, SIGTERM);
        for (int i = 0; i < 1000; i++) {
                pid_t p = waitpid(h->pvbackd, &status, WNOHANG);
                if (p == h->pvbackd) {
                        h->pvbackd = -1;
                        if (WIFEXITED(status))
                                return WEXITSTATUS(status);
                        return 128 + WTERMSIG(status);
                }
                usleep(10000);
        }
        kill(h->pvbackd, SIGKILL);
        waitpid(h->pvbackd, &status, 0);
        h->pvbackd = -1;
        return -ETIMEDOUT;
}

void harness_finish(Harness *h) {
        if (h->pvbackd > 0)
                harness_stop_pvbackd(h);
        if (getenv("HARNESS_SHOW_LOG")) {
                char cmd[512];
                snprintf(cmd, sizeof cmd, "cat '%s' >&2", h->stderr_path);
                if (system(cmd) < 0)
                        perror("system");
        }
        if (h->xs)
                xs_close(h->xs);
        h->sm = service_free(h->sm);
        if (h->stderr_fd >= 0)
                close(h->stderr_fd);
        xsim_stop();
        free(h->dir);
        free(h->config_path);
        free(h->notify_path);
        free(h->stderr_path);
        *h = (Harness) { .stderr_fd = -1 };
}

int harness_finish_checked(Harness *h) {
        int status = h->pvbackd > 0 ? harness_stop_pvbackd(h) : 0;
        bool sanitizer = harness_log_contains(h, "Sanitizer") || harness_log_contains(h, "runtime error:");
        bool bad = status != 0 || sanitizer;

        if (bad) {
                fprintf(stderr, "pvbackd exited with %d%s; its log:\n", status,
                        sanitizer ? " and a sanitizer report" : "");
                setenv("HARNESS_SHOW_LOG", "1", 1);
        }
        harness_finish(h);
        if (bad)
                unsetenv("HARNESS_SHOW_LOG");
        return bad ? -1 : 0;
}

long harness_rss_kib(Harness *h) {
        char p[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(p, sizeof p, "/proc/%d/status", (int) h->pvbackd);
        f = fopen(p, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

/* ---- toolstack ---------------------------------------------------------- */

int ts_write(Harness *h, const char *path, const char *value) {
        return xs_write(h->xs, XBT_NULL, path, value, strlen(value)) ? 0 : -errno;
}

char *ts_read(Harness *h, const char *fmt, ...) {
        char path[512];
        unsigned len;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(path, sizeof path, fmt, ap);
        va_end(ap);
        return xs_read(h->xs, XBT_NULL, path, &len);
}

int ts_wait(Harness *h, const char *path, const char *want, int timeout_ms) {
        return xsim_wait_value(h->xs, path, want, timeout_ms);
}

long ts_time_until(Harness *h, const char *path, const char *want, int timeout_ms) {
        long t0 = now_ms();
        if (ts_wait(h, path, want, timeout_ms) < 0)
                return -1;
        return now_ms() - t0;
}

/* ---- checks on nodes (cmocka) ---- */

char *be_read(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key) {
        return ts_read(h, "/local/domain/0/backend/%s/%u/%u/%s", kind, domid, devid, key);
}

void assert_node(Harness *h, const char *want, const char *fmt, ...) {
        char path[512];
        va_list ap;
        char *v;

        va_start(ap, fmt);
        vsnprintf(path, sizeof path, fmt, ap);
        va_end(ap);
        v = ts_read(h, "%s", path);
        if (!v || strcmp(v, want) != 0)
                fail_msg("%s is '%s', wanted '%s'", path, v ?: "(absent)", want);
        free(v);
}

void assert_be(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key, const char *want) {
        assert_node(h, want, "/local/domain/0/backend/%s/%u/%u/%s", kind, domid, devid, key);
}

void assert_be_absent(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key) {
        char *v = be_read(h, kind, domid, devid, key);
        if (v)
                fail_msg("backend/%s/%u/%u/%s is '%s', wanted absent", kind, domid, devid, key, v);
}

void wait_node(Harness *h, const char *path, const char *want) {
        if (ts_wait(h, path, want, h->wait_ms) < 0) {
                char *v = ts_read(h, "%s", path);
                fail_msg("%s: timed out waiting for '%s' (is '%s')", path, want ?: "(absent)", v ?: "(absent)");
        }
}

void wait_be(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key, const char *want) {
        char p[512];
        snprintf(p, sizeof p, "/local/domain/0/backend/%s/%u/%u/%s", kind, domid, devid, key);
        wait_node(h, p, want);
}

void wait_fe(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key, const char *want) {
        char p[512];
        snprintf(p, sizeof p, "/local/domain/%u/device/%s/%u/%s", domid, kind, devid, key);
        wait_node(h, p, want);
}

/* ---- the suites' main ---- */

int sim_test_main(int argc, char **argv, const char *name, const struct CMUnitTest *tests, size_t n,
                  const SimTestMain *m) {
        int np = 0;

        while (np < (int) (sizeof m->paths / sizeof m->paths[0]) && m->paths[np])
                np++;
        if (argc != np + 1) {
                fprintf(stderr, "usage: %s%s%s\n", argv[0], m->usage ? " " : "", m->usage ?: "");
                return 2;
        }
        for (int i = 0; i < np; i++) {
                *m->paths[i] = realpath(argv[i + 1], NULL); /* linked to from another directory */
                if (!*m->paths[i]) {
                        perror(argv[i + 1]);
                        return 2;
                }
        }
        if (m->needs_root && geteuid() != 0) {
                fprintf(stderr, "needs root (%s)\n", m->needs_root);
                return 77;
        }
        if (getenv("SIM_TEST_FILTER"))
                cmocka_set_test_filter(getenv("SIM_TEST_FILTER"));
        return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}

int ts_domain_create(Harness *h, uint32_t domid, const char *name) {
        xen_domain_handle_t uuid;
        static unsigned counter;

        counter++;
        for (unsigned i = 0; i < sizeof uuid; i++)
                uuid[i] = (uint8_t) (domid * 31u + i * 7u + counter * 131u);
        (void) h;
        return xsim_domain_create(domid, name, uuid, 256);
}

static bool tx_write(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *key, const char *v) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, key);
        return xs_write(xs, t, p, v, strlen(v));
}

int ts_device_add(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *const *extra) {
        char be[256], fe[256], num[32];
        struct xs_permissions be_perms[2] = { { .id = 0, .perms = XS_PERM_NONE }, { .id = domid, .perms = XS_PERM_READ } };
        struct xs_permissions fe_perms[2] = { { .id = domid, .perms = XS_PERM_NONE }, { .id = 0, .perms = XS_PERM_READ } };

        snprintf(be, sizeof be, "/local/domain/0/backend/%s/%u/%u", kind, domid, devid);
        snprintf(fe, sizeof fe, "/local/domain/%u/device/%s/%u", domid, kind, devid);
        for (int attempt = 0; attempt < 20; attempt++) {
                xs_transaction_t t = xs_transaction_start(h->xs);
                bool ok = t != XBT_NULL;

                ok = ok && xs_rm(h->xs, t, fe) | 1;
                ok = ok && xs_mkdir(h->xs, t, fe) && xs_set_permissions(h->xs, t, fe, fe_perms, 2);
                ok = ok && xs_mkdir(h->xs, t, be) && xs_set_permissions(h->xs, t, be, be_perms, 2);
                ok = ok && tx_write(h->xs, t, fe, "backend", be) && tx_write(h->xs, t, fe, "backend-id", "0") &&
                     tx_write(h->xs, t, fe, "state", "1");
                snprintf(num, sizeof num, "%u", domid);
                ok = ok && tx_write(h->xs, t, be, "frontend", fe) && tx_write(h->xs, t, be, "frontend-id", num) &&
                     tx_write(h->xs, t, be, "online", "1");
                for (const char *const *kv = extra; ok && kv && kv[0] && kv[1]; kv += 2)
                        ok = tx_write(h->xs, t, be, kv[0], kv[1]);
                /* state last, as libxl's generic_add does */
                ok = ok && tx_write(h->xs, t, be, "state", "1");
                if (!ok) {
                        int e = errno;
                        if (t != XBT_NULL)
                                xs_transaction_end(h->xs, t, true);
                        return -e;
                }
                if (xs_transaction_end(h->xs, t, false))
                        return 0;
                if (errno != EAGAIN)
                        return -errno;
        }
        return -EAGAIN;
}

int ts_device_remove(Harness *h, const char *kind, uint32_t domid, uint32_t devid, bool force) {
        char be[256], fe[256], p[300];
        int r;

        snprintf(be, sizeof be, "/local/domain/0/backend/%s/%u/%u", kind, domid, devid);
        snprintf(fe, sizeof fe, "/local/domain/%u/device/%s/%u", domid, kind, devid);
        for (int attempt = 0; attempt < 20; attempt++) {
                xs_transaction_t t = xs_transaction_start(h->xs);
                unsigned len;
                char *state;

                if (force)
                        xs_rm(h->xs, t, fe);
                snprintf(p, sizeof p, "%s/state", be);
                state = xs_read(h->xs, t, p, &len);
                tx_write(h->xs, t, be, "online", "0");
                if (!state || strcmp(state, "6") != 0)
                        tx_write(h->xs, t, be, "state", "5");
                free(state);
                if (xs_transaction_end(h->xs, t, false))
                        break;
        }
        snprintf(p, sizeof p, "%s/state", be);
        r = ts_wait(h, p, "6", 10000);
        xs_rm(h->xs, XBT_NULL, fe);
        xs_rm(h->xs, XBT_NULL, be);
        return r;
}

/* ---- frontend ----------------------------------------------------------- */

int guest_dev_open(GuestDev *g, const char *kind, uint32_t domid, uint32_t devid) {
        *g = (GuestDev) { .domid = domid, .devid = devid };
        snprintf(g->fe, sizeof g->fe, "/local/domain/%u/device/%s/%u", domid, kind, devid);
        snprintf(g->be, sizeof g->be, "/local/domain/0/backend/%s/%u/%u", kind, domid, devid);
        g->xs = xsim_xs_open_as(domid);
        g->xce = xsim_evtchn_open_as(domid);
        return g->xs && g->xce ? 0 : -errno;
}

void guest_dev_close(GuestDev *g) {
        if (g->xs)
                xs_close(g->xs);
        if (g->xce)
                xenevtchn_close(g->xce);
        g->xs = NULL;
        g->xce = NULL;
}

bool guest_dev_write(GuestDev *g, xs_transaction_t t, const char *dir, const char *key, const char *fmt, ...) {
        char p[256], v[128];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(v, sizeof v, fmt, ap);
        va_end(ap);
        snprintf(p, sizeof p, "%s/%s", dir, key);
        return xs_write(g->xs, t, p, v, strlen(v));
}

int guest_dev_set_state(GuestDev *g, XenbusState s) {
        return guest_dev_write(g, XBT_NULL, g->fe, "state", "%d", (int) s) ? 0 : -errno;
}

int guest_dev_backend_state(GuestDev *g) {
        char p[200], *v;
        unsigned len;
        int s;

        snprintf(p, sizeof p, "%s/state", g->be);
        v = xs_read(g->xs, XBT_NULL, p, &len);
        if (!v)
                return -errno;
        s = atoi(v);
        free(v);
        return s;
}

int guest_dev_wait_backend_state(GuestDev *g, XenbusState s, int timeout_ms) {
        char p[200], v[8];
        snprintf(p, sizeof p, "%s/state", g->be);
        snprintf(v, sizeof v, "%d", (int) s);
        return xsim_wait_value(g->xs, p, v, timeout_ms);
}

int fe_open(Frontend *f, Harness *h, const char *kind, uint32_t domid, uint32_t devid) {
        *f = (Frontend) { .h = h };
        snprintf(f->kind, sizeof f->kind, "%s", kind);
        return guest_dev_open(&f->dev, kind, domid, devid);
}

void fe_close(Frontend *f) {
        guest_dev_close(&f->dev);
}

int fe_set_state(Frontend *f, XenbusState s) {
        return guest_dev_set_state(&f->dev, s);
}

int fe_backend_state(Frontend *f) {
        return guest_dev_backend_state(&f->dev);
}

int fe_wait_backend(Frontend *f, XenbusState s, int timeout_ms) {
        return guest_dev_wait_backend_state(&f->dev, s, timeout_ms);
}

int fe_setup_ring(Frontend *f, unsigned order) {
        unsigned n = 1u << order;
        uint64_t gfn;
        char key[64], val[32];
        xs_transaction_t t;
        int r, port;

        f->order = order;
        for (unsigned i = 0; i < n; i++) {
                r = xsim_page_alloc(f->dev.domid, &gfn);
                if (r < 0)
                        return r;
                if (i == 0)
                        f->ring_gfn = gfn;
                else if (gfn != f->ring_gfn + i)
                        return -EFAULT; /* the ring must be contiguous for us to use it */
                r = xsim_grant_access(f->dev.domid, 0, gfn, false, &f->ring_refs[i]);
                if (r < 0)
                        return r;
        }
        r = xsim_page_alloc(f->dev.domid, &f->data_gfn);
        if (r < 0)
                return r;
        r = xsim_grant_access(f->dev.domid, 0, f->data_gfn, true, &f->data_ref);
        if (r < 0)
                return r;

        vtest_sring_t *s = xsim_guest_page(f->dev.domid, f->ring_gfn);
        SHARED_RING_INIT(s);
        FRONT_RING_INIT(&f->ring, s, (size_t) n * 4096);

        port = xenevtchn_bind_unbound_port(f->dev.xce, 0);
        if (port < 0)
                return -errno;
        f->port = (evtchn_port_t) port;

        t = xs_transaction_start(f->dev.xs);
        if (order == 0)
                tx_write(f->dev.xs, t, f->dev.fe, "ring-ref", (snprintf(val, sizeof val, "%u", f->ring_refs[0]), val));
        else {
                tx_write(f->dev.xs, t, f->dev.fe, "ring-page-order", (snprintf(val, sizeof val, "%u", order), val));
                for (unsigned i = 0; i < n; i++) {
                        snprintf(key, sizeof key, "ring-ref%u", i);
                        snprintf(val, sizeof val, "%u", f->ring_refs[i]);
                        tx_write(f->dev.xs, t, f->dev.fe, key, val);
                }
        }
        snprintf(val, sizeof val, "%u", f->port);
        tx_write(f->dev.xs, t, f->dev.fe, "event-channel", val);
        return xs_transaction_end(f->dev.xs, t, false) ? 0 : -errno;
}

int fe_end_grants(Frontend *f) {
        int r = 0;
        for (unsigned i = 0; i < (1u << f->order); i++)
                if (xsim_grant_end(f->dev.domid, f->ring_refs[i]) < 0)
                        r = -EBUSY;
        if (xsim_grant_end(f->dev.domid, f->data_ref) < 0)
                r = -EBUSY;
        return r;
}

void *fe_sring(Frontend *f) {
        return f->ring.sring;
}

int fe_roundtrip(Frontend *f, uint16_t offset, uint16_t len, int timeout_ms) {
        uint8_t *data = xsim_guest_page(f->dev.domid, f->data_gfn);
        struct vtest_request *req;
        uint64_t id = ++f->next_id;
        long end = now_ms() + timeout_ms;
        int notify;

        for (unsigned i = 0; i < len && offset + i < 4096; i++)
                data[offset + i] = (uint8_t) (id * 13 + i * 7);
        req = RING_GET_REQUEST(&f->ring, f->ring.req_prod_pvt);
        *req = (struct vtest_request) { .id = id, .gref = f->data_ref, .offset = offset, .len = len };
        f->ring.req_prod_pvt++;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f->ring, notify);
        if (notify)
                xenevtchn_notify(f->dev.xce, f->port);

        for (;;) {
                while (RING_HAS_UNCONSUMED_RESPONSES(&f->ring)) {
                        struct vtest_response *rsp = RING_GET_RESPONSE(&f->ring, f->ring.rsp_cons);
                        struct vtest_response copy = *rsp;
                        f->ring.rsp_cons++;
                        if (copy.id != id)
                                continue;
                        if (copy.status != 0)
                                return -EIO;
                        if (offset + len > 4096)
                                return -EPROTO; /* the backend accepted an invalid request */
                        return copy.sum == vtest_checksum(data + offset, len) ? 0 : -EBADMSG;
                }
                int more;
                RING_FINAL_CHECK_FOR_RESPONSES(&f->ring, more);
                if (more)
                        continue;
                struct pollfd p = { .fd = xenevtchn_fd(f->dev.xce), .events = POLLIN };
                long left = end - now_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int) (left < 50 ? left : 50)) > 0) {
                        int port = xenevtchn_pending(f->dev.xce);
                        if (port >= 0)
                                xenevtchn_unmask(f->dev.xce, (evtchn_port_t) port);
                }
        }
}
