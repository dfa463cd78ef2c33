/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libxenforeignmemory replacement: a privileged domain maps frames of another
 * domain's memory by frame number (privcmd's mmapbatch), straight from the
 * domain's file as gnttab.c does.  Validation as Xen does it: only dom0 maps,
 * never its own or a dying domain's memory, frame < the domain's page count;
 * a handle restricted with xenforeignmemory_restrict() maps that domain only.
 * Every mapped frame counts in the domain's foreign_maps, so a destroyed
 * domain stays a zombie until it is unmapped, as with grant maps; like those,
 * mapped frames are counted per process too (mappers.c) and are released
 * when the process dies.
 *
 * Also the domain builder's side of the grant table, which it writes through
 * a foreign map of the table: seeding the reserved entries (console, xenstore)
 * that xsim_grant_access() never hands out.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <xenforeignmemory.h>

#include "xensim.h"
#include "xsim-internal.h"

struct fmap {
        struct fmap *next;
        pid_t pid;              /* that mapped it; a fork child's copy is not its own */
        uint8_t *addr;
        size_t pages;
        struct xsim_dom *dom;
        size_t mapped;          /* frames that count in dom's foreign_maps */
};

struct xenforeignmemory_handle {
        uint32_t domid;         /* the caller's */
        int restricted;         /* -1, or the only domain this handle maps */
        pthread_mutex_t lock;
        struct fmap *maps;
};

/* ---- fault injection: DIR/fault-fmem.<domid> holds how many frames still fail ---- */

static bool take_fmem_fault(uint32_t domid) {
        char path[4096], buf[32] = "";
        bool fault = false;
        ssize_t n;
        int fd;

        if (xsim_path(path, sizeof(path), "fault-fmem.%u", domid) < 0)
                return false;
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (flock(fd, LOCK_EX) == 0) {
                n = pread(fd, buf, sizeof(buf) - 1, 0);
                unsigned long left = n > 0 ? strtoul(buf, NULL, 10) : 0;
                if (left > 0) {
                        fault = true;
                        n = snprintf(buf, sizeof(buf), "%lu\n", left - 1);
                        /* A failed update only makes more frames fail. */
                        if (ftruncate(fd, 0) == 0)
                                (void) !pwrite(fd, buf, (size_t) n, 0);
                }
        }
        close(fd);
        return fault;
}

int xsim_fault_foreign_map(uint32_t domid, unsigned n) {
        char path[4096], buf[32];
        int fd, len, r = 0;

        if (domid >= XSIM_MAX_DOMS)
                return -EINVAL;
        r = xsim_path(path, sizeof(path), "fault-fmem.%u", domid);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        len = snprintf(buf, sizeof(buf), "%u\n", n);
        if (flock(fd, LOCK_EX) < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t) len, 0) != len)
                r = -xsim_errno_or(EIO);
        close(fd);
        return r;
}

/* ---- the domain builder's grant seeding ---- */

int xsim_grant_seed(uint32_t domid, uint32_t ref, uint32_t remote, uint64_t gfn, bool readonly) {
        struct xsim_dom *d;
        int r;

        if (ref >= XSIM_NR_GRANTS || remote >= XSIM_MAX_DOMS)
                return -EINVAL;
        r = xsim_dom_get(domid, &d);
        if (r < 0)
                return r;
        r = xsim_lock(&d->hdr->lock);
        if (r < 0)
                return r;
        if (d->hdr->dying)
                r = -ESRCH;
        else if (gfn >= d->hdr->nr_pages)
                r = -EINVAL;
        else {
                /* The builder rewrites the entry whether or not it is mapped
                 * (restore, soft reset); Xen's in-use bits stay as they are. */
                grant_entry_v1_t *e = &d->hdr->grants[ref];
                uint16_t busy = e->flags & (GTF_reading | GTF_writing);
                __atomic_store_n(&e->flags, busy, __ATOMIC_RELEASE);
                e->domid = (domid_t) remote;
                e->frame = (uint32_t) gfn;
                __atomic_store_n(&e->flags, (uint16_t) (GTF_permit_access | (readonly ? GTF_readonly : 0) | busy),
                                 __ATOMIC_RELEASE);
        }
        xsim_unlock(&d->hdr->lock);
        return r;
}

/* ---- accounting ---- */

static int frame_acquire(struct xsim_dom *d, uint64_t gfn) {
        struct xsim_dom_hdr *h = d->hdr;
        struct xsim_mapper_slot *s;
        int r;

        if (take_fmem_fault(d->domid))
                return -EFAULT;
        r = xsim_mapper_slot(d->domid, &s);
        if (r >= 0)
                r = xsim_lock(&h->lock);
        if (r < 0)
                return r;
        if (h->dying)
                r = -ESRCH;
        else if (gfn >= h->nr_pages)
                r = -EINVAL;
        else {
                h->foreign_maps++;
                xsim_mapper_count(s, d->gen, XSIM_MAPPER_FOREIGN, false, 1);
        }
        xsim_unlock(&h->lock);
        return r;
}

/* Returns true when this was the last mapping of a dying domain. */
static bool frames_release(struct xsim_dom *d, size_t n) {
        struct xsim_dom_hdr *h = d->hdr;
        struct xsim_mapper_slot *s;
        bool zombie_gone;

        if (n == 0 || xsim_mapper_slot(d->domid, &s) < 0 || xsim_lock(&h->lock) < 0)
                return false;
        if (s->gen != d->gen || s->foreign < n) {
                /* Not counted as ours (cannot happen): leave the domain's counts be. */
                xsim_unlock(&h->lock);
                return false;
        }
        xsim_mapper_count(s, d->gen, XSIM_MAPPER_FOREIGN, false, -(int) n);
        h->foreign_maps -= (uint32_t) (n < h->foreign_maps ? n : h->foreign_maps);
        zombie_gone = h->dying && h->foreign_maps == 0;
        xsim_unlock(&h->lock);
        return zombie_gone;
}

/* ---- API ---- */

xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *logger, unsigned open_flags) {
        struct xenforeignmemory_handle *f;
        uint32_t domid;

        (void) logger;
        (void) open_flags;
        f = xsim_handle_new(sizeof(*f), &domid);
        if (!f)
                return NULL;
        f->domid = domid;
        f->restricted = -1;
        pthread_mutex_init(&f->lock, NULL);
        return f;
}

int xenforeignmemory_close(xenforeignmemory_handle *fmem) {
        bool zombie = false;

        if (!fmem)
                return 0;
        for (struct fmap *m = fmem->maps, *next; m; m = next) {
                next = m->next;
                munmap(m->addr, m->pages * XSIM_PAGE_SIZE);
                if (m->pid == getpid())
                        zombie |= frames_release(m->dom, m->mapped);
                free(m);
        }
        pthread_mutex_destroy(&fmem->lock);
        free(fmem);
        if (zombie)
                xsim_poke_reaper();
        return 0;
}

int xenforeignmemory_restrict(xenforeignmemory_handle *fmem, domid_t domid) {
        if (!fmem || domid >= XSIM_MAX_DOMS) {
                errno = EINVAL;
                return -1;
        }
        if (fmem->restricted >= 0 && (uint32_t) fmem->restricted != domid) {
                errno = EPERM;
                return -1;
        }
        fmem->restricted = domid;
        return 0;
}

void *xenforeignmemory_map2(xenforeignmemory_handle *fmem, uint32_t dom, void *addr, int prot, int flags,
                            size_t pages, const xen_pfn_t arr[], int err[]) {
        struct xsim_dom *d;
        struct fmap *m;
        uint8_t *area;
        int first_err = 0, r;
        bool zombie;

        if (!fmem || !arr || pages == 0 || pages > XSIM_MAX_PAGES || (prot & ~(PROT_READ | PROT_WRITE)) ||
            (flags & ~MAP_FIXED)) {
                errno = EINVAL;
                return NULL;
        }
        /* privcmd: only the privileged domain, never itself, within its restriction. */
        if (fmem->domid != 0 || dom == fmem->domid || (fmem->restricted >= 0 && (uint32_t) fmem->restricted != dom)) {
                errno = EPERM;
                return NULL;
        }
        r = xsim_dom_get(dom, &d);
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        m = calloc(1, sizeof(*m));
        if (!m) {
                errno = ENOMEM;
                return NULL;
        }
        /* Reserve the range; frames that fail stay PROT_NONE, as privcmd leaves them. */
        area = mmap(addr, pages * XSIM_PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | flags,
                    -1, 0);
        if (area == MAP_FAILED) {
                free(m);
                errno = ENOMEM;
                return NULL;
        }
        *m = (struct fmap) { .pid = getpid(), .addr = area, .pages = pages, .dom = d };

        for (size_t i = 0; i < pages; i++) {
                int e = frame_acquire(d, arr[i]);

                if (e == 0) {
                        void *p = mmap(area + i * XSIM_PAGE_SIZE, XSIM_PAGE_SIZE, prot, MAP_SHARED | MAP_FIXED, d->fd,
                                       xsim_page_offset(arr[i]));
                        if (p == MAP_FAILED) {
                                e = -xsim_errno_or(ENOMEM);
                                (void) frames_release(d, 1);
                        } else
                                m->mapped++;
                }
                if (err)
                        err[i] = -e;
                if (e < 0 && !first_err)
                        first_err = -e;
                if (e < 0 && !err)
                        goto fail;
        }
        pthread_mutex_lock(&fmem->lock);
        m->next = fmem->maps;
        fmem->maps = m;
        pthread_mutex_unlock(&fmem->lock);
        return area;

fail:
        munmap(area, pages * XSIM_PAGE_SIZE);
        zombie = frames_release(d, m->mapped);
        free(m);
        if (zombie)
                xsim_poke_reaper();
        errno = first_err;
        return NULL;
}

void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot, size_t pages,
                           const xen_pfn_t arr[], int err[]) {
        return xenforeignmemory_map2(fmem, dom, NULL, prot, 0, pages, arr, err);
}

int xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr, size_t pages) {
        struct fmap *m = NULL;

        if (!fmem || !addr) {
                errno = EINVAL;
                return -1;
        }
        pthread_mutex_lock(&fmem->lock);
        for (struct fmap **p = &fmem->maps; *p; p = &(*p)->next)
                if ((*p)->addr == addr && (*p)->pages == pages) {
                        m = *p;
                        *p = m->next;
                        break;
                }
        pthread_mutex_unlock(&fmem->lock);
        if (!m) {
                errno = EINVAL;
                return -1;
        }
        munmap(m->addr, m->pages * XSIM_PAGE_SIZE);
        if (m->pid == getpid() && frames_release(m->dom, m->mapped))
                xsim_poke_reaper();
        free(m);
        return 0;
}
