/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Grant helpers for the device classes: ring mappings read from the
 * frontend's keys, and batched grant copies. Every mapping counts against the
 * guest's cap (max-grants-per-guest), so one guest cannot exhaust the
 * daemon's maptrack or address space. */

#include <stdbool.h>
#include <stdint.h>
#include <xengnttab.h>

#include "xenbus.h"

#define XEN_PAGE_SIZE_BYTES 4096u
#define RING_PAGE_ORDER_MAX 4u
/* Most grants one xenbus_map_grants() call maps (an indirect blkif request
 * with 256 segments needs 256 + 32). */
#define GRANT_MAP_MAX 1024u

typedef struct GrantMapping {
        void *addr;
        unsigned n_pages;
        Domain *domain;
} GrantMapping;

/* Maps n grant refs of the device's frontend domain as one contiguous area;
 * read-only unless writable (map guest data that will only be read -- WRITE
 * payloads, indirect pages -- read-only). -EDQUOT past the guest's cap. */
int xenbus_map_grants(XenbusDevice *d, const uint32_t *refs, unsigned n, bool writable, GrantMapping *ret);
void xenbus_unmap_grants(XenbusDevice *d, GrantMapping *m);

/* Maps a shared ring described under dir (the frontend directory, or its
 * queue-N/): order_key (e.g. "ring-page-order") decides between ref_key
 * ("ring-ref") for one page and ref_key0..N-1 for 2^order pages. A missing
 * order_key, or NULL, means one page. Orders above max_order are refused. */
int xenbus_map_ring(XenbusDevice *d, const char *dir, const char *ref_key, const char *order_key,
                    unsigned max_order, GrantMapping *ret);
/* The same with the order already known (blkback reads one ring-page-order
 * for all its queue-N/ directories): ref_key for order 0, else
 * ref_key0..2^order-1, read from dir; the refs also in ret_refs (if not NULL,
 * 2^order of them). */
int xenbus_map_ring_order(XenbusDevice *d, const char *dir, const char *ref_key, unsigned order,
                          uint32_t *ret_refs, GrantMapping *ret);

/* Batched grant copy: queue segments, then one hypercall per batch. */
#define GRANT_COPY_BATCH_MAX 64

typedef struct GrantCopyBatch {
        xengnttab_handle *xgt;
        unsigned n;
        xengnttab_grant_copy_segment_t segs[GRANT_COPY_BATCH_MAX];
} GrantCopyBatch;

void grant_copy_init(GrantCopyBatch *b, xengnttab_handle *xgt);
/* Queue a copy; -EINVAL if offset+len crosses the page, -ENOBUFS when the
 * batch is full (flush first). */
int grant_copy_from_guest(GrantCopyBatch *b, uint16_t domid, uint32_t ref, uint16_t offset, void *dst,
                          uint16_t len);
int grant_copy_to_guest(GrantCopyBatch *b, uint16_t domid, uint32_t ref, uint16_t offset, const void *src,
                        uint16_t len);
/* Performs the queued copies. Returns the number of segments that failed
 * (their status is in segs[i].status), or a negative errno if the whole
 * operation failed; either way the batch is empty afterwards. */
int grant_copy_flush(GrantCopyBatch *b);
