/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared-memory "hypervisor" state: the domain table and the per-domain
 * files (grant table, event channel ports, guest pages).  Every process maps
 * these directly; they are protected by robust process-shared mutexes.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "xsim-internal.h"

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xsim_domtab *domtab;
static struct xsim_dom *dom_cache[XSIM_MAX_DOMS];
static struct xsim_dom *retired;        /* old incarnations, kept mapped */

int xsim_dir(const char **ret) {
        const char *d = getenv("XENSIM_DIR");

        if (!d || !*d)
                return -ENOENT;
        *ret = d;
        return 0;
}

int xsim_path(char *buf, size_t size, const char *fmt, ...) {
        const char *dir;
        va_list ap;
        int r, n;

        r = xsim_dir(&dir);
        if (r < 0)
                return r;
        n = snprintf(buf, size, "%s/", dir);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        va_start(ap, fmt);
        r = vsnprintf(buf + n, size - n, fmt, ap);
        va_end(ap);
        if (r < 0 || (size_t) r >= size - n)
                return -ENAMETOOLONG;
        return 0;
}

int xsim_self_domid(uint32_t *ret) {
        const char *s = getenv("XENSIM_DOMID");
        unsigned long v;
        char *end;

        if (!s || !*s) {
                *ret = 0;
                return 0;
        }
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v >= XSIM_MAX_DOMS)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

int xsim_mutex_init_shared(pthread_mutex_t *m) {
        pthread_mutexattr_t a;
        int r;

        pthread_mutexattr_init(&a);
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        r = pthread_mutex_init(m, &a);
        pthread_mutexattr_destroy(&a);
        return -r;
}

int xsim_lock(pthread_mutex_t *m) {
        int r = pthread_mutex_lock(m);

        /* A process died holding the lock: the data is simple enough that we
         * just carry on (worst case a counter is off in a crashed test). */
        if (r == EOWNERDEAD)
                r = pthread_mutex_consistent(m);
        if (r != 0)
                return -r;
        return 0;
}

void xsim_unlock(pthread_mutex_t *m) {
        pthread_mutex_unlock(m);
}

static int map_file(const char *path, int flags, size_t min_size, int *ret_fd, void **ret_map, size_t *ret_size) {
        struct stat st;
        void *p;
        int fd;

        fd = open(path, flags | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || (size_t) st.st_size < min_size) {
                close(fd);
                return -EIO;
        }
        p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                int r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        *ret_map = p;
        *ret_size = st.st_size;
        return 0;
}

int xsim_domtab_create(const char *dir) {
        char path[PATH_MAX];
        struct xsim_domtab *t;
        int fd, r;

        if ((size_t) snprintf(path, sizeof(path), "%s/domains", dir) >= sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, sizeof(struct xsim_domtab)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (t == MAP_FAILED)
                return -errno;
        r = xsim_mutex_init_shared(&t->lock);
        t->version = 1;
        t->next_gen = 1;
        t->next_handle_id = 1;
        __atomic_store_n(&t->magic, XSIM_DOMTAB_MAGIC, __ATOMIC_RELEASE);
        munmap(t, sizeof(*t));
        return r;
}

int xsim_domtab(struct xsim_domtab **ret) {
        char path[PATH_MAX];
        size_t size;
        void *p;
        int fd, r;

        pthread_mutex_lock(&cache_lock);
        if (domtab) {
                *ret = domtab;
                pthread_mutex_unlock(&cache_lock);
                return 0;
        }
        r = xsim_path(path, sizeof(path), "domains");
        if (r >= 0)
                r = map_file(path, O_RDWR, sizeof(struct xsim_domtab), &fd, &p, &size);
        if (r >= 0) {
                close(fd);
                if (__atomic_load_n(&((struct xsim_domtab *) p)->magic, __ATOMIC_ACQUIRE) != XSIM_DOMTAB_MAGIC) {
                        munmap(p, size);
                        r = -EIO;
                } else
                        *ret = domtab = p;
        }
        pthread_mutex_unlock(&cache_lock);
        return r;
}

int xsim_dom_file_create(uint32_t domid, uint64_t gen, uint32_t nr_pages) {
        char path[PATH_MAX];
        struct xsim_dom_hdr *h;
        int fd, r;

        r = xsim_path(path, sizeof(path), "dom%u.mem", domid);
        if (r < 0)
                return r;
        (void) unlink(path);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        /* Sparse: only touched pages consume tmpfs memory. */
        if (ftruncate(fd, xsim_page_offset(nr_pages)) < 0) {
                r = -errno;
                close(fd);
                unlink(path);
                return r;
        }
        h = mmap(NULL, XSIM_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (h == MAP_FAILED) {
                r = -errno;
                unlink(path);
                return r;
        }
        r = xsim_mutex_init_shared(&h->lock);
        h->version = 1;
        h->domid = domid;
        h->nr_pages = nr_pages;
        h->gen = gen;
        h->next_ref = XSIM_FIRST_GREF;
        h->next_port = 1;
        __atomic_store_n(&h->magic, XSIM_DOM_MAGIC, __ATOMIC_RELEASE);
        munmap(h, XSIM_HDR_SIZE);
        return r;
}

static int dom_state(uint32_t domid, uint64_t *ret_gen) {
        struct xsim_domtab *t;
        uint32_t state;
        int r;

        r = xsim_domtab(&t);
        if (r < 0)
                return r;
        r = xsim_lock(&t->lock);
        if (r < 0)
                return r;
        state = t->dom[domid].state;
        *ret_gen = t->dom[domid].gen;
        xsim_unlock(&t->lock);
        return (int) state;
}

/* Returns the current incarnation of a live or dying domain. */
int xsim_dom_get(uint32_t domid, struct xsim_dom **ret) {
        char path[PATH_MAX];
        struct xsim_dom *d;
        uint64_t gen;
        int r;

        if (domid >= XSIM_MAX_DOMS)
                return -ESRCH;

        for (int attempt = 0; attempt < 3; attempt++) {
                size_t size;
                void *p;
                int fd;

                r = dom_state(domid, &gen);
                if (r < 0)
                        return r;
                if (r == XSIM_DOM_NONE)
                        return -ESRCH;

                pthread_mutex_lock(&cache_lock);
                d = dom_cache[domid];
                if (d && d->gen == gen) {
                        pthread_mutex_unlock(&cache_lock);
                        *ret = d;
                        return 0;
                }
                pthread_mutex_unlock(&cache_lock);

                r = xsim_path(path, sizeof(path), "dom%u.mem", domid);
                if (r < 0)
                        return r;
                r = map_file(path, O_RDWR, XSIM_HDR_SIZE, &fd, &p, &size);
                if (r == -ENOENT)
                        continue;       /* raced with the domain vanishing */
                if (r < 0)
                        return r;
                if (((struct xsim_dom_hdr *) p)->gen != gen ||
                    __atomic_load_n(&((struct xsim_dom_hdr *) p)->magic, __ATOMIC_ACQUIRE) != XSIM_DOM_MAGIC) {
                        munmap(p, size);
                        close(fd);
                        continue;
                }
                d = calloc(1, sizeof(*d));
                if (!d) {
                        munmap(p, size);
                        close(fd);
                        return -ENOMEM;
                }
                d->domid = domid;
                d->gen = gen;
                d->fd = fd;
                d->size = size;
                d->hdr = p;
                d->pages = (uint8_t *) p + XSIM_HDR_SIZE;

                pthread_mutex_lock(&cache_lock);
                if (dom_cache[domid] && dom_cache[domid]->gen == gen) {
                        /* Another thread won the race; keep its copy. */
                        struct xsim_dom *other = dom_cache[domid];
                        pthread_mutex_unlock(&cache_lock);
                        munmap(p, size);
                        close(fd);
                        free(d);
                        *ret = other;
                        return 0;
                }
                if (dom_cache[domid]) {
                        dom_cache[domid]->retired_next = retired;
                        retired = dom_cache[domid];
                }
                dom_cache[domid] = d;
                pthread_mutex_unlock(&cache_lock);
                *ret = d;
                return 0;
        }
        return -ESRCH;
}

/* Lock two domains in a global order so concurrent pairwise operations
 * (bind, unbind, destroy) cannot deadlock. */
int xsim_lock_pair(struct xsim_dom *a, struct xsim_dom *b) {
        int r;

        if (a == b || a->hdr == b->hdr)
                return xsim_lock(&a->hdr->lock);
        if (a->domid > b->domid || (a->domid == b->domid && a->gen > b->gen)) {
                struct xsim_dom *t = a;
                a = b;
                b = t;
        }
        r = xsim_lock(&a->hdr->lock);
        if (r < 0)
                return r;
        r = xsim_lock(&b->hdr->lock);
        if (r < 0)
                xsim_unlock(&a->hdr->lock);
        return r;
}

void xsim_unlock_pair(struct xsim_dom *a, struct xsim_dom *b) {
        xsim_unlock(&a->hdr->lock);
        if (a != b && a->hdr != b->hdr)
                xsim_unlock(&b->hdr->lock);
}

static void dom_free(struct xsim_dom *d) {
        munmap(d->hdr, d->size);
        close(d->fd);
        free(d);
}

/* Forget all mappings; used when a test stops/restarts the simulator. */
void xsim_caches_reset(void) {
        pthread_mutex_lock(&cache_lock);
        for (uint32_t i = 0; i < XSIM_MAX_DOMS; i++)
                if (dom_cache[i]) {
                        dom_free(dom_cache[i]);
                        dom_cache[i] = NULL;
                }
        while (retired) {
                struct xsim_dom *n = retired->retired_next;
                dom_free(retired);
                retired = n;
        }
        if (domtab) {
                munmap(domtab, sizeof(*domtab));
                domtab = NULL;
        }
        pthread_mutex_unlock(&cache_lock);
        xsim_evtchn_reset();
        xsim_mappers_reset();
        xsim_ctl_reset();
}

int xsim_caller_domid(uint32_t *ret) {
        const char *dir;
        int r = xsim_dir(&dir);

        return r < 0 ? r : xsim_self_domid(ret);
}

void *xsim_handle_new(size_t size, uint32_t *ret_domid) {
        void *handle;
        int r;

        r = xsim_caller_domid(ret_domid);
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        handle = calloc(1, size);
        if (!handle)
                errno = ENOMEM;
        return handle;
}
