/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libxengnttab replacement.  Mapping a grant validates the granter's v1
 * grant entry like Xen does and then mmap()s the granted page straight from
 * the granter's domain file: real zero-copy sharing between processes.
 * Mappings are counted per process too (mappers.c), so they die with it.
 */
#include <string.h>
#include <sys/mman.h>
#include <xengnttab.h>

#include "xsim-internal.h"

struct gmap_ent {
        struct xsim_dom *dom;
        uint32_t ref;
        bool write;
};

struct gmap {
        struct gmap *next;
        pid_t pid;              /* that mapped it; a fork child's copy is not its own */
        uint8_t *addr;
        uint32_t count;
        struct gmap_ent ent[];
};

struct xengntdev_handle {
        uint32_t domid;
        uint32_t max_grants;
        pthread_mutex_t lock;
        struct gmap **buckets;
        size_t nbuckets, n;
};

/* ---- grant entry validation (caller holds the granter's lock) ---- */

static int16_t grant_check(struct xsim_dom_hdr *h, uint32_t ref, uint32_t grantee, bool write) {
        grant_entry_v1_t *e;

        if (h->dying)
                return GNTST_bad_domain;
        if (ref >= XSIM_NR_GRANTS)
                return GNTST_bad_gntref;
        e = &h->grants[ref];
        if ((e->flags & GTF_type_mask) != GTF_permit_access)
                return GNTST_bad_gntref;
        if (e->domid != grantee)
                return GNTST_permission_denied;
        if (write && (e->flags & GTF_readonly))
                return GNTST_permission_denied;
        if (e->frame >= h->nr_pages)
                return GNTST_bad_page;
        return GNTST_okay;
}

static bool take_fault(uint32_t *counter) {
        if (*counter == 0)
                return false;
        (*counter)--;
        return true;
}

static int16_t grant_acquire(struct xsim_dom *d, uint32_t ref, uint32_t grantee, bool write, uint32_t *frame) {
        struct xsim_dom_hdr *h = d->hdr;
        struct xsim_mapper_slot *s;
        int16_t st;

        if (xsim_mapper_slot(d->domid, &s) < 0 || xsim_lock(&h->lock) < 0)
                return GNTST_general_error;
        st = take_fault(&h->fault_map) ? GNTST_general_error : grant_check(h, ref, grantee, write);
        if (st == GNTST_okay) {
                *frame = h->grants[ref].frame;
                h->map_count[ref]++;
                h->grants[ref].flags |= GTF_reading;
                if (write) {
                        h->wmap_count[ref]++;
                        h->grants[ref].flags |= GTF_writing;
                }
                h->foreign_maps++;
                xsim_mapper_count(s, d->gen, ref, write, 1);
        }
        xsim_unlock(&h->lock);
        return st;
}

/* Returns true when this was the last mapping of a dying domain. */
static bool grant_release(struct xsim_dom *d, uint32_t ref, bool write) {
        struct xsim_dom_hdr *h = d->hdr;
        struct xsim_mapper_slot *s;
        bool zombie_gone;

        if (xsim_mapper_slot(d->domid, &s) < 0 || xsim_lock(&h->lock) < 0)
                return false;
        if (s->gen != d->gen || s->map[ref] == 0 || (write && s->wmap[ref] == 0)) {
                /* Not counted as ours (cannot happen): leave the domain's counts be. */
                xsim_unlock(&h->lock);
                return false;
        }
        xsim_mapper_count(s, d->gen, ref, write, -1);
        if (h->map_count[ref] > 0 && --h->map_count[ref] == 0)
                h->grants[ref].flags &= (uint16_t) ~GTF_reading;
        if (write && h->wmap_count[ref] > 0 && --h->wmap_count[ref] == 0)
                h->grants[ref].flags &= (uint16_t) ~GTF_writing;
        if (h->foreign_maps > 0)
                h->foreign_maps--;
        zombie_gone = h->dying && h->foreign_maps == 0;
        xsim_unlock(&h->lock);
        return zombie_gone;
}

/* ---- mapping registry ---- */

static size_t bucket_of(const struct xengntdev_handle *g, const void *addr) {
        return ((uintptr_t) addr >> 12) & (g->nbuckets - 1);
}

static int registry_add(struct xengntdev_handle *g, struct gmap *m) {
        if (g->n >= g->nbuckets) {
                size_t nb = g->nbuckets ? g->nbuckets * 2 : 64;
                struct gmap **b = calloc(nb, sizeof(*b));

                if (!b)
                        return -ENOMEM;
                for (size_t i = 0; i < g->nbuckets; i++)
                        for (struct gmap *x = g->buckets[i], *next; x; x = next) {
                                next = x->next;
                                size_t k = ((uintptr_t) x->addr >> 12) & (nb - 1);
                                x->next = b[k];
                                b[k] = x;
                        }
                free(g->buckets);
                g->buckets = b;
                g->nbuckets = nb;
        }
        size_t k = bucket_of(g, m->addr);
        m->next = g->buckets[k];
        g->buckets[k] = m;
        g->n++;
        return 0;
}

static struct gmap *registry_take(struct xengntdev_handle *g, const void *addr) {
        if (!g->nbuckets)
                return NULL;
        for (struct gmap **p = &g->buckets[bucket_of(g, addr)]; *p; p = &(*p)->next)
                if ((*p)->addr == addr) {
                        struct gmap *m = *p;
                        *p = m->next;
                        g->n--;
                        return m;
                }
        return NULL;
}

/* Undo mapping m (entries [0, n)); returns true if a zombie domain lost its last mapping. */
static bool release_entries(struct gmap *m, uint32_t n) {
        bool zombie = false;

        if (m->pid != getpid())
                return false;   /* the parent's, inherited over fork */
        for (uint32_t i = 0; i < n; i++)
                zombie |= grant_release(m->ent[i].dom, m->ent[i].ref, m->ent[i].write);
        return zombie;
}

/* ---- API ---- */

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned open_flags) {
        struct xengntdev_handle *g;
        uint32_t domid;

        (void) logger;
        (void) open_flags;
        g = xsim_handle_new(sizeof(*g), &domid);
        if (!g)
                return NULL;
        g->domid = domid;
        pthread_mutex_init(&g->lock, NULL);
        return g;
}

int xengnttab_close(xengnttab_handle *xgt) {
        bool zombie = false;

        if (!xgt)
                return 0;
        /* The simulator tears mappings down with the handle. */
        for (size_t i = 0; i < xgt->nbuckets; i++)
                for (struct gmap *m = xgt->buckets[i], *next; m; m = next) {
                        next = m->next;
                        munmap(m->addr, (size_t) m->count * XSIM_PAGE_SIZE);
                        zombie |= release_entries(m, m->count);
                        free(m);
                }
        free(xgt->buckets);
        pthread_mutex_destroy(&xgt->lock);
        free(xgt);
        if (zombie)
                xsim_poke_reaper();
        return 0;
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants) {
        if (!xgt) {
                errno = EINVAL;
                return -1;
        }
        xgt->max_grants = nr_grants;    /* recorded only, like modern gntdev */
        return 0;
}

static void *map_refs(xengnttab_handle *xgt, uint32_t count, const uint32_t *domids, uint32_t one_domid,
                      const uint32_t *refs, int prot) {
        struct gmap *m;
        uint8_t *area;
        bool write = prot & PROT_WRITE;
        bool zombie;
        int err = EINVAL;
        uint32_t i;

        if (!xgt || !refs || count == 0 || count > XSIM_MAX_PAGES || (prot & ~(PROT_READ | PROT_WRITE))) {
                errno = EINVAL;
                return NULL;
        }
        m = malloc(sizeof(*m) + count * sizeof(m->ent[0]));
        if (!m) {
                errno = ENOMEM;
                return NULL;
        }
        /* Reserve a contiguous range, then map each granted page over it
         * (a single page is mapped directly: one syscall less per I/O). */
        area = NULL;
        if (count > 1) {
                area = mmap(NULL, (size_t) count * XSIM_PAGE_SIZE, PROT_NONE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
                if (area == MAP_FAILED) {
                        free(m);
                        errno = ENOMEM;
                        return NULL;
                }
        }
        m->count = count;
        m->pid = getpid();

        for (i = 0; i < count; i++) {
                uint32_t domid = domids ? domids[i] : one_domid, frame = 0;
                struct xsim_dom *d;
                void *p;

                if (xsim_dom_get(domid, &d) < 0)
                        goto fail;
                if (grant_acquire(d, refs[i], xgt->domid, write, &frame) != GNTST_okay)
                        goto fail;
                m->ent[i] = (struct gmap_ent) { d, refs[i], write };
                p = mmap(area ? area + (size_t) i * XSIM_PAGE_SIZE : NULL, XSIM_PAGE_SIZE, prot,
                         MAP_SHARED | (area ? MAP_FIXED : 0), d->fd, xsim_page_offset(frame));
                if (p == MAP_FAILED) {
                        err = errno;
                        i++;    /* release this one too */
                        goto fail;
                }
                if (!area)
                        area = p;
        }
        m->addr = area;
        pthread_mutex_lock(&xgt->lock);
        if (registry_add(xgt, m) < 0) {
                pthread_mutex_unlock(&xgt->lock);
                err = ENOMEM;
                goto fail;
        }
        pthread_mutex_unlock(&xgt->lock);
        return area;

fail:
        zombie = release_entries(m, i);
        if (area)
                munmap(area, (size_t) count * XSIM_PAGE_SIZE);
        free(m);
        if (zombie)
                xsim_poke_reaper();
        errno = err;
        return NULL;
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid, uint32_t ref, int prot) {
        return map_refs(xgt, 1, NULL, domid, &ref, prot);
}

void *xengnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count, uint32_t *domids, uint32_t *refs, int prot) {
        if (!domids) {
                errno = EINVAL;
                return NULL;
        }
        return map_refs(xgt, count, domids, 0, refs, prot);
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count, uint32_t domid, uint32_t *refs, int prot) {
        return map_refs(xgt, count, NULL, domid, refs, prot);
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count) {
        struct gmap *m;
        bool zombie;

        if (!xgt || !start_address) {
                errno = EINVAL;
                return -1;
        }
        pthread_mutex_lock(&xgt->lock);
        m = registry_take(xgt, start_address);
        if (m && m->count != count) {
                registry_add(xgt, m);   /* cannot fail: the slot was just freed */
                m = NULL;
        }
        pthread_mutex_unlock(&xgt->lock);
        if (!m) {
                errno = EINVAL;
                return -1;
        }
        munmap(m->addr, (size_t) count * XSIM_PAGE_SIZE);
        zombie = release_entries(m, count);
        free(m);
        if (zombie)
                xsim_poke_reaper();
        return 0;
}

/* Resolve one side of a copy to a pointer into the granter's memory. */
static int16_t copy_side(const xengnttab_handle *xgt, const struct xengnttab_grant_copy_segment *seg,
                         bool is_gref, const union xengnttab_copy_ptr *cp, bool write, uint8_t **ret) {
        struct xsim_dom *d;
        uint32_t frame = 0;
        int16_t st;

        if (!is_gref) {
                if (!cp->virt)
                        return GNTST_general_error;
                *ret = cp->virt;
                return GNTST_okay;
        }
        if ((uint32_t) cp->foreign.offset + seg->len > XSIM_PAGE_SIZE)
                return GNTST_bad_copy_arg;
        if (xsim_dom_get(cp->foreign.domid, &d) < 0)
                return GNTST_bad_domain;
        if (xsim_lock(&d->hdr->lock) < 0)
                return GNTST_general_error;
        st = take_fault(&d->hdr->fault_copy) ? GNTST_general_error
                                              : grant_check(d->hdr, cp->foreign.ref, xgt->domid, write);
        if (st == GNTST_okay)
                frame = d->hdr->grants[cp->foreign.ref].frame;
        xsim_unlock(&d->hdr->lock);
        if (st == GNTST_okay)
                *ret = d->pages + (size_t) frame * XSIM_PAGE_SIZE + cp->foreign.offset;
        return st;
}

int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count, xengnttab_grant_copy_segment_t *segs) {
        if (!xgt || (count && !segs)) {
                errno = EINVAL;
                return -1;
        }
        for (uint32_t i = 0; i < count; i++) {
                xengnttab_grant_copy_segment_t *s = &segs[i];
                uint8_t *src = NULL, *dst = NULL;

                if (s->len > XSIM_PAGE_SIZE) {
                        s->status = GNTST_bad_copy_arg;
                        continue;
                }
                s->status = copy_side(xgt, s, s->flags & GNTCOPY_source_gref, &s->source, false, &src);
                if (s->status == GNTST_okay)
                        s->status = copy_side(xgt, s, s->flags & GNTCOPY_dest_gref, &s->dest, true, &dst);
                if (s->status == GNTST_okay)
                        memmove(dst, src, s->len);
        }
        return 0;
}
