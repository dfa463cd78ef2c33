/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test-side API (xensim.h): lifecycle, toolstack, guest and fault helpers. */
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "xensim.h"
#include "xsim-internal.h"

static pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t sim_pid;
static char *sim_dir;

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (flag == FTW_DP)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

static int make_dir(char **ret) {
        const char *base = "/dev/shm";
        char *d;

        if (access(base, W_OK) < 0) {
                base = getenv("TMPDIR");
                if (!base || !*base)
                        base = "/tmp";
        }
        if (asprintf(&d, "%s/xensim-XXXXXX", base) < 0)
                return -ENOMEM;
        if (!mkdtemp(d)) {
                int r = -errno;
                free(d);
                return r;
        }
        *ret = d;
        return 0;
}

static void kill_and_reap(pid_t pid) {
        int64_t deadline = now_ms() + 5000;

        kill(pid, SIGTERM);
        while (waitpid(pid, NULL, WNOHANG) == 0) {
                if (now_ms() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return;
                }
                sleep_ms(1);
        }
}

int xsim_start(const char *xensimd_path, char **ret_dir) {
        char ready[PATH_MAX];
        pid_t parent = getpid(), pid;
        int64_t deadline;
        char *dir = NULL;
        int r;

        if (!xensimd_path)
                xensimd_path = getenv("XENSIMD");
        if (!xensimd_path)
                return -EINVAL;

        pthread_mutex_lock(&sim_lock);
        if (sim_pid) {
                pthread_mutex_unlock(&sim_lock);
                return -EBUSY;
        }
        r = make_dir(&dir);
        if (r < 0)
                goto out;
        xsim_caches_reset();
        setenv("XENSIM_DIR", dir, 1);
        snprintf(ready, sizeof(ready), "%s/ready", dir);

        pid = fork();
        if (pid < 0) {
                r = -errno;
                goto fail;
        }
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(1);
                execl(xensimd_path, "xensimd", "--dir", dir, (char *) NULL);
                _exit(127);
        }

        deadline = now_ms() + 10000;
        for (;;) {
                if (access(ready, F_OK) == 0)
                        break;
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                        r = -ECHILD;
                        goto fail;
                }
                if (now_ms() > deadline) {
                        kill_and_reap(pid);
                        r = -ETIMEDOUT;
                        goto fail;
                }
                sleep_ms(2);
        }
        sim_pid = pid;
        sim_dir = dir;
        if (ret_dir && !(*ret_dir = strdup(dir)))
                r = -ENOMEM;
        pthread_mutex_unlock(&sim_lock);
        return r;

fail:
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        unsetenv("XENSIM_DIR");
        free(dir);
out:
        pthread_mutex_unlock(&sim_lock);
        return r;
}

void xsim_stop(void) {
        pthread_mutex_lock(&sim_lock);
        if (!sim_pid) {
                pthread_mutex_unlock(&sim_lock);
                return;
        }
        xsim_caches_reset();            /* closes the control connection too */
        kill_and_reap(sim_pid);
        nftw(sim_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        unsetenv("XENSIM_DIR");
        free(sim_dir);
        sim_dir = NULL;
        sim_pid = 0;
        pthread_mutex_unlock(&sim_lock);
}

/* ---- toolstack ---- */

/* Mappings of processes that died go before anyone looks at the counts. */
static void reap_dead_mappers(void) {
        if (xsim_mappers_reap())
                xsim_poke_reaper();
}


static int ctl_dom(const char *cmd, uint32_t domid, const char *arg) {
        char d[16];
        const char *argv[] = { cmd, d, arg, NULL };

        snprintf(d, sizeof(d), "%u", domid);
        return xsim_ctl(argv, NULL);
}

int xsim_domain_create(uint32_t domid, const char *name, const xen_domain_handle_t uuid, unsigned nr_pages) {
        char d[16], pages[16], hex[33] = "";
        const char *argv[] = { "domain-create", d, name, hex, pages, NULL };

        if (!name)
                return -EINVAL;
        snprintf(d, sizeof(d), "%u", domid);
        snprintf(pages, sizeof(pages), "%u", nr_pages);
        if (uuid)
                for (int i = 0; i < 16; i++)
                        snprintf(hex + 2 * i, 3, "%02x", uuid[i]);
        return xsim_ctl(argv, NULL);
}

int xsim_domain_pause(uint32_t domid) {
        return ctl_dom("domain-pause", domid, NULL);
}

int xsim_domain_unpause(uint32_t domid) {
        return ctl_dom("domain-unpause", domid, NULL);
}

int xsim_domain_shutdown(uint32_t domid, unsigned reason) {
        char r[16];
        snprintf(r, sizeof(r), "%u", reason);
        return ctl_dom("domain-shutdown", domid, r);
}

int xsim_domain_soft_reset(uint32_t domid) {
        return ctl_dom("domain-soft-reset", domid, NULL);
}

int xsim_domain_destroy(uint32_t domid) {
        return ctl_dom("domain-destroy", domid, NULL);
}

int xsim_domain_query(uint32_t domid, struct xsim_domain_info *ret) {
        struct xsim_domentry e;
        struct xsim_domtab *t;
        struct xsim_dom *d;
        int r;

        if (ret)
                memset(ret, 0, sizeof(*ret));
        if (domid >= XSIM_MAX_DOMS)
                return -ESRCH;
        reap_dead_mappers();
        r = xsim_domtab(&t);
        if (r < 0)
                return r;
        r = xsim_lock(&t->lock);
        if (r < 0)
                return r;
        e = t->dom[domid];
        xsim_unlock(&t->lock);
        if (e.state == XSIM_DOM_NONE || e.gen == 0)
                return -ESRCH;
        if (!ret)
                return 0;
        ret->dying = e.state == XSIM_DOM_DYING;
        ret->paused = e.flags & XSIM_DF_PAUSED;
        ret->shutdown = e.flags & XSIM_DF_SHUTDOWN;
        ret->shutdown_reason = (e.flags >> XSIM_DF_REASON_SHIFT) & 0xff;
        ret->nr_pages = e.nr_pages;
        if (xsim_dom_get(domid, &d) >= 0 && xsim_lock(&d->hdr->lock) >= 0) {
                ret->foreign_maps = d->hdr->foreign_maps;
                xsim_unlock(&d->hdr->lock);
        }
        ret->zombie = ret->dying && ret->foreign_maps > 0;
        return 0;
}

/* ---- guest side ---- */

struct xs_handle *xsim_xs_open_as(uint32_t domid) {
        return xsim_xs_open(domid);
}

xenevtchn_handle *xsim_evtchn_open_as(uint32_t domid) {
        return xsim_evtchn_open(domid, 0);
}

void *xsim_guest_page(uint32_t domid, uint64_t gfn) {
        struct xsim_dom *d;

        if (xsim_dom_get(domid, &d) < 0 || gfn >= d->hdr->nr_pages)
                return NULL;
        return d->pages + gfn * XSIM_PAGE_SIZE;
}

/* Run fn with the domain locked. */
#define WITH_DOM(domid, d, ...)                                         \
        do {                                                            \
                int _r = xsim_dom_get((domid), &(d));                   \
                if (_r < 0)                                             \
                        return _r;                                      \
                _r = xsim_lock(&(d)->hdr->lock);                        \
                if (_r < 0)                                             \
                        return _r;                                      \
                __VA_ARGS__;                                            \
                xsim_unlock(&(d)->hdr->lock);                           \
        } while (0)

int xsim_page_alloc(uint32_t domid, uint64_t *ret_gfn) {
        struct xsim_dom *d;
        int r = 0;

        WITH_DOM(domid, d, {
                if (d->hdr->next_page >= d->hdr->nr_pages)
                        r = -ENOMEM;
                else
                        *ret_gfn = d->hdr->next_page++;
        });
        return r;
}

int xsim_grant_access(uint32_t domid, uint32_t remote, uint64_t gfn, bool readonly, uint32_t *ret_ref) {
        const uint32_t span = XSIM_NR_GRANTS - XSIM_FIRST_GREF;
        struct xsim_dom *d;
        int r = -ENOSPC;

        if (remote >= XSIM_MAX_DOMS)
                return -EINVAL;
        WITH_DOM(domid, d, {
                struct xsim_dom_hdr *h = d->hdr;
                if (h->dying)
                        r = -ESRCH;
                else if (gfn >= h->nr_pages)
                        r = -EINVAL;
                else
                        for (uint32_t i = 0; i < span; i++) {
                                uint32_t ref = XSIM_FIRST_GREF + (h->next_ref - XSIM_FIRST_GREF + i) % span;
                                if (h->grants[ref].flags != 0 || h->map_count[ref] != 0)
                                        continue;
                                h->grants[ref].domid = (domid_t) remote;
                                h->grants[ref].frame = (uint32_t) gfn;
                                __atomic_store_n(&h->grants[ref].flags,
                                                 (uint16_t) (GTF_permit_access | (readonly ? GTF_readonly : 0)),
                                                 __ATOMIC_RELEASE);
                                h->next_ref = ref + 1 < XSIM_NR_GRANTS ? ref + 1 : XSIM_FIRST_GREF;
                                *ret_ref = ref;
                                r = 0;
                                break;
                        }
        });
        return r;
}

int xsim_grant_end(uint32_t domid, uint32_t ref) {
        struct xsim_dom *d;
        int r = 0;

        if (ref >= XSIM_NR_GRANTS)
                return -EINVAL;
        reap_dead_mappers();
        WITH_DOM(domid, d, {
                grant_entry_v1_t *e = &d->hdr->grants[ref];
                if ((e->flags & (GTF_reading | GTF_writing)) || d->hdr->map_count[ref])
                        r = -EBUSY;
                else
                        memset(e, 0, sizeof(*e));
        });
        return r;
}

int xsim_grant_map_count(uint32_t domid, uint32_t ref) {
        struct xsim_dom *d;
        int r;

        if (ref >= XSIM_NR_GRANTS)
                return -EINVAL;
        reap_dead_mappers();
        WITH_DOM(domid, d, r = (int) d->hdr->map_count[ref]);
        return r;
}

int xsim_grant_flags(uint32_t domid, uint32_t ref) {
        struct xsim_dom *d;
        int r;

        if (ref >= XSIM_NR_GRANTS)
                return -EINVAL;
        reap_dead_mappers();
        WITH_DOM(domid, d, r = d->hdr->grants[ref].flags);
        return r;
}

int xsim_foreign_maps(uint32_t domid) {
        struct xsim_dom *d;
        int r;

        reap_dead_mappers();
        WITH_DOM(domid, d, r = (int) d->hdr->foreign_maps);
        return r;
}

/* ---- faults ---- */

int xsim_drop_xs_connections(pid_t pid) {
        char v[16];
        const char *argv[] = { "drop-pid", v, NULL };

        snprintf(v, sizeof(v), "%d", (int) pid);
        return xsim_ctl(argv, NULL);
}

int xsim_fault_tx_conflicts(unsigned n) {
        char v[16];
        const char *argv[] = { "fault-tx", v, NULL };

        snprintf(v, sizeof(v), "%u", n);
        return xsim_ctl(argv, NULL);
}

int xsim_fault_map(uint32_t domid, unsigned n) {
        struct xsim_dom *d;

        WITH_DOM(domid, d, d->hdr->fault_map = n);
        return 0;
}

int xsim_fault_copy(uint32_t domid, unsigned n) {
        struct xsim_dom *d;

        WITH_DOM(domid, d, d->hdr->fault_copy = n);
        return 0;
}

/* ---- helpers ---- */

static bool value_matches(struct xs_handle *h, const char *path, const char *want) {
        unsigned len;
        char *v = xs_read(h, XBT_NULL, path, &len);
        bool ok;

        if (!v)
                return !want && errno == ENOENT;
        ok = want && strlen(want) == len && memcmp(v, want, len) == 0;
        free(v);
        return ok;
}

int xsim_wait_value(struct xs_handle *h, const char *path, const char *want, int timeout_ms) {
        int64_t deadline = now_ms() + timeout_ms;
        struct xs_handle *w;
        int domid, r = -ETIMEDOUT;

        domid = xsim_xs_domid(h);
        if (domid < 0 || !path)
                return -EINVAL;
        /* A private connection, so the caller's watch events stay untouched. */
        w = xsim_xs_open((uint32_t) domid);
        if (!w)
                return -xsim_errno_or(EIO);
        if (!xs_watch(w, path, "xsim-wait")) {
                r = -xsim_errno_or(EIO);
                xs_close(w);
                return r;
        }
        for (;;) {
                struct pollfd p = { .fd = xs_fileno(w), .events = POLLIN };
                int64_t left;
                char **ev;

                if (value_matches(w, path, want)) {
                        r = 0;
                        break;
                }
                left = timeout_ms < 0 ? -1 : deadline - now_ms();
                if (timeout_ms >= 0 && left <= 0)
                        break;
                if (poll(&p, 1, (int) left) < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                while ((ev = xs_check_watch(w)))
                        free(ev);
        }
        xs_close(w);
        return r;
}

int xsim_watches(const char *prefix, char **ret) {
        const char *argv[] = { "watches", prefix, NULL };
        return xsim_ctl(argv, ret);
}
