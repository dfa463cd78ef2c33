/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <sys/mman.h>

#include "grant.h"
#include "xenbus-internal.h"
#include <xen/grant_table.h>

int xenbus_map_grants(XenbusDevice *d, const uint32_t *refs, unsigned n, bool writable, GrantMapping *ret) {
        Backend *b = d->backend;
        Domain *dom = d->domain;
        _cleanup_free_ uint32_t *copy = NULL;
        void *addr;

        if (!dom || n == 0 || n > GRANT_MAP_MAX)
                return -EINVAL;
        if (dom->n_grants_mapped + n > b->config.max_grants_per_guest)
                return -EDQUOT;
        /* libxengnttab takes a non-const array. */
        copy = malloc(n * sizeof *copy);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, refs, n * sizeof *refs);
        addr = xengnttab_map_domain_grant_refs(b->xgt, n, d->domid, copy,
                                               PROT_READ | (writable ? PROT_WRITE : 0));
        if (!addr)
                return negative_errno();
        dom->n_grants_mapped += n;
        *ret = (GrantMapping) { .addr = addr, .n_pages = n, .domain = dom };
        return 0;
}

void xenbus_unmap_grants(XenbusDevice *d, GrantMapping *m) {
        if (!m->addr)
                return;
        if (xengnttab_unmap(d->backend->xgt, m->addr, m->n_pages) < 0)
                log_dev_error_errno(d, negative_errno(), "Failed to unmap %u grants: %m", m->n_pages);
        else if (m->domain)
                m->domain->n_grants_mapped -= MIN(m->domain->n_grants_mapped, m->n_pages);
        *m = (GrantMapping) {};
}

int xenbus_map_ring(XenbusDevice *d, const char *dir, const char *ref_key, const char *order_key,
                    unsigned max_order, GrantMapping *ret) {
        uint64_t order = 0;
        int r;

        max_order = MIN(max_order, RING_PAGE_ORDER_MAX);
        if (order_key) {
                r = xenbus_read_uint(d, dir, order_key, max_order, &order);
                if (r == -ENOENT)
                        order = 0;
                else if (r < 0)
                        return xenbus_device_set_error(d, r, "%s/%s is not a ring order in 0..%u", dir, order_key,
                                                       max_order);
        }
        return xenbus_map_ring_order(d, dir, ref_key, (unsigned) order, NULL, ret);
}

int xenbus_map_ring_order(XenbusDevice *d, const char *dir, const char *ref_key, unsigned order,
                          uint32_t *ret_refs, GrantMapping *ret) {
        uint32_t refs[1u << RING_PAGE_ORDER_MAX];
        uint64_t v;
        unsigned n;
        int r;

        if (order > RING_PAGE_ORDER_MAX)
                return xenbus_device_set_error(d, -EINVAL, "ring order %u of %s is above %u", order, dir,
                                               RING_PAGE_ORDER_MAX);
        n = 1u << order;
        for (unsigned i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;

                /* Decide by the order, never by which keys happen to exist:
                 * stale ring-ref<i> nodes survive reconnects (Windows). */
                if (order == 0 ? !(p = path_join(dir, ref_key)) : asprintf(&p, "%s/%s%u", dir, ref_key, i) < 0)
                        return -ENOMEM;
                r = xenbus_read_uint(d, p, NULL, UINT32_MAX, &v);
                if (r < 0)
                        return xenbus_device_set_error(d, r, "%s is %s", p,
                                                       r == -ENOENT ? "missing" : "not a grant reference");
                refs[i] = (uint32_t) v;
        }
        if (ret_refs)
                memcpy(ret_refs, refs, n * sizeof *refs);
        r = xenbus_map_grants(d, refs, n, true, ret);
        if (r < 0)
                return xenbus_device_set_error(d, r, "cannot map the %u-page ring of %s: %s", n, dir,
                                               r == -EDQUOT ? "guest would exceed max-grants-per-guest"
                                                            : strerror(-r));
        return 0;
}

void grant_copy_init(GrantCopyBatch *b, xengnttab_handle *xgt) {
        b->xgt = xgt;
        b->n = 0;
}

static xengnttab_grant_copy_segment_t *seg_new(GrantCopyBatch *b, uint16_t offset, uint16_t len) {
        if ((unsigned) offset + len > XEN_PAGE_SIZE_BYTES || len == 0) {
                errno = EINVAL;
                return NULL;
        }
        if (b->n >= GRANT_COPY_BATCH_MAX) {
                errno = ENOBUFS;
                return NULL;
        }
        return &b->segs[b->n++];
}

int grant_copy_from_guest(GrantCopyBatch *b, uint16_t domid, uint32_t ref, uint16_t offset, void *dst,
                          uint16_t len) {
        xengnttab_grant_copy_segment_t *s = seg_new(b, offset, len);

        if (!s)
                return -errno;
        *s = (xengnttab_grant_copy_segment_t) {
                .source.foreign = { .ref = ref, .offset = offset, .domid = domid },
                .dest.virt = dst,
                .len = len,
                .flags = GNTCOPY_source_gref,
        };
        return 0;
}

int grant_copy_to_guest(GrantCopyBatch *b, uint16_t domid, uint32_t ref, uint16_t offset, const void *src,
                        uint16_t len) {
        xengnttab_grant_copy_segment_t *s = seg_new(b, offset, len);

        if (!s)
                return -errno;
        *s = (xengnttab_grant_copy_segment_t) {
                .source.virt = (void *) src,
                .dest.foreign = { .ref = ref, .offset = offset, .domid = domid },
                .len = len,
                .flags = GNTCOPY_dest_gref,
        };
        return 0;
}

int grant_copy_flush(GrantCopyBatch *b) {
        unsigned n = b->n, failed = 0;

        if (n == 0)
                return 0;
        b->n = 0;
        if (xengnttab_grant_copy(b->xgt, n, b->segs) < 0)
                return negative_errno();
        for (unsigned i = 0; i < n; i++)
                if (b->segs[i].status != GNTST_okay)
                        failed++;
        return (int) failed;
}
