/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Grant and foreign mappings die with the process that made them, as when
 * Linux tears down a dead process's gntdev/privcmd mappings: the granter's
 * map counts, GTF_reading/GTF_writing and foreign_maps drop, so the guest
 * can end access and a zombie domain can go.
 *
 * Each mapping process keeps a ledger, DIR/mapper-<pid>-<nonce>: a sparse
 * file with one slot per domid counting what it maps there, updated under
 * the granter's domain lock together with the domain's own counts.  The
 * process holds a POSIX (fcntl) write lock on the ledger; such a lock belongs
 * to the process (a fork child does not inherit it) and is gone when the
 * process dies.  xsim_mappers_reap() takes the lock of every other ledger it
 * can: that process is dead, and its counts are subtracted from the domains
 * (of the same incarnation) and the ledger removed.  Reapers serialize on
 * flock(DIR/mapper.lock).  A process never tests its own ledger (its own
 * POSIX lock would not conflict), nor closes another fd of it (that would
 * drop the lock).
 *
 * It runs in xensimd's reap() (domain destruction and its zombie polling)
 * and before the test API reads or needs those counts (xsim_grant_end,
 * xsim_grant_map_count, xsim_grant_flags, xsim_foreign_maps,
 * xsim_domain_query).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>

#include "xsim-internal.h"

#define LEDGER_SIZE ((size_t) XSIM_MAX_DOMS * sizeof(struct xsim_mapper_slot))

static pthread_mutex_t ledger_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xsim_mapper_slot *ledger;   /* this process's, or NULL */
static pid_t ledger_pid;
static int ledger_fd = -1;
static char ledger_name[64];

static int ledger_open(void) {
        char path[PATH_MAX];
        struct xsim_domtab *t;
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        void *p;
        int fd, r;

        r = xsim_domtab(&t);
        if (r < 0)
                return r;
        snprintf(ledger_name, sizeof(ledger_name), "mapper-%d-%llu", (int) getpid(),
                 (unsigned long long) __atomic_add_fetch(&t->next_handle_id, 1, __ATOMIC_SEQ_CST));
        r = xsim_path(path, sizeof(path), "%s", ledger_name);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (fcntl(fd, F_SETLK, &fl) < 0 || ftruncate(fd, (off_t) LEDGER_SIZE) < 0)
                goto fail;
        p = mmap(NULL, LEDGER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
        if (p == MAP_FAILED)
                goto fail;
        ledger = p;
        ledger_fd = fd;
        ledger_pid = getpid();
        return 0;

fail:
        r = -errno;
        unlink(path);
        close(fd);
        return r;
}

int xsim_mapper_slot(uint32_t domid, struct xsim_mapper_slot **ret) {
        int r = 0;

        if (domid >= XSIM_MAX_DOMS)
                return -EINVAL;
        pthread_mutex_lock(&ledger_lock);
        if (ledger && ledger_pid != getpid()) {
                /* A fork child: the parent's ledger and lock are not ours. */
                munmap(ledger, LEDGER_SIZE);
                close(ledger_fd);
                ledger = NULL;
                ledger_fd = -1;
        }
        if (!ledger)
                r = ledger_open();
        if (r >= 0)
                *ret = &ledger[domid];
        pthread_mutex_unlock(&ledger_lock);
        return r;
}

void xsim_mapper_count(struct xsim_mapper_slot *s, uint64_t gen, uint32_t ref, bool write, int delta) {
        if (s->gen != gen) {
                /* Counts of an older incarnation died with it. */
                memset(s, 0, sizeof(*s));
                s->gen = gen;
        }
        if (ref == XSIM_MAPPER_FOREIGN) {
                s->foreign += (uint32_t) delta;
                return;
        }
        s->map[ref] += (uint32_t) delta;
        if (write)
                s->wmap[ref] += (uint32_t) delta;
}

static uint32_t sub_sat(uint32_t *v, uint32_t n) {
        *v -= n < *v ? n : *v;
        return *v;
}

/* Subtract a dead process's counts from domid's current incarnation.
 * Returns true if a dying domain lost its last mapping. */
static bool slot_release(uint32_t domid, struct xsim_mapper_slot *s) {
        struct xsim_dom *d;
        bool zombie_gone = false;

        if (!s->gen || xsim_dom_get(domid, &d) < 0 || d->gen != s->gen || xsim_lock(&d->hdr->lock) < 0)
                return false;
        for (uint32_t ref = 0; ref < XSIM_NR_GRANTS; ref++) {
                if (s->map[ref]) {
                        sub_sat(&d->hdr->foreign_maps, s->map[ref]);
                        if (sub_sat(&d->hdr->map_count[ref], s->map[ref]) == 0)
                                d->hdr->grants[ref].flags &= (uint16_t) ~GTF_reading;
                }
                if (s->wmap[ref] && sub_sat(&d->hdr->wmap_count[ref], s->wmap[ref]) == 0)
                        d->hdr->grants[ref].flags &= (uint16_t) ~GTF_writing;
        }
        sub_sat(&d->hdr->foreign_maps, s->foreign);
        zombie_gone = d->hdr->dying && d->hdr->foreign_maps == 0;
        xsim_unlock(&d->hdr->lock);
        return zombie_gone;
}

/* If the ledger's process is dead, release its mappings and remove it. */
static bool ledger_reap(const char *dir, const char *name) {
        char path[PATH_MAX];
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        struct xsim_mapper_slot *l;
        bool zombie_gone = false;
        int fd;

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
                return false;
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (fcntl(fd, F_SETLK, &fl) < 0) {
                close(fd);
                return false;   /* its process lives */
        }
        l = mmap(NULL, LEDGER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
        if (l != MAP_FAILED) {
                struct xsim_domtab *t;
                uint32_t max = XSIM_MAX_DOMS - 1;

                if (xsim_domtab(&t) >= 0)
                        max = __atomic_load_n(&t->max_domid, __ATOMIC_RELAXED);
                for (uint32_t domid = 0; domid <= max && domid < XSIM_MAX_DOMS; domid++)
                        zombie_gone |= slot_release(domid, &l[domid]);
                munmap(l, LEDGER_SIZE);
                unlink(path);
        }
        close(fd);
        return zombie_gone;
}

bool xsim_mappers_reap(void) {
        char path[PATH_MAX], own[64] = "";
        bool zombie_gone = false;
        const char *dir;
        struct dirent *de;
        DIR *dp;
        int lfd;

        if (xsim_dir(&dir) < 0 || xsim_path(path, sizeof(path), "mapper.lock") < 0)
                return false;
        pthread_mutex_lock(&ledger_lock);
        if (ledger && ledger_pid == getpid())
                memcpy(own, ledger_name, sizeof(own));
        pthread_mutex_unlock(&ledger_lock);
        lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0)
                return false;
        while (flock(lfd, LOCK_EX) < 0)
                if (errno != EINTR) {
                        close(lfd);
                        return false;
                }
        dp = opendir(dir);
        if (dp) {
                while ((de = readdir(dp)))
                        if (strncmp(de->d_name, "mapper-", 7) == 0 && strcmp(de->d_name, own) != 0)
                                zombie_gone |= ledger_reap(dir, de->d_name);
                closedir(dp);
        }
        close(lfd);
        return zombie_gone;
}

void xsim_mappers_reset(void) {
        pthread_mutex_lock(&ledger_lock);
        if (ledger) {
                munmap(ledger, LEDGER_SIZE);
                close(ledger_fd);
        }
        ledger = NULL;
        ledger_fd = -1;
        ledger_name[0] = 0;
        pthread_mutex_unlock(&ledger_lock);
}
