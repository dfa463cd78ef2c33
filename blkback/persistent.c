/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Persistent grants (blkif.h "feature-persistent"): a frontend that asked
 * for them keeps a pool of granted pages and reuses the same grant refs for
 * the life of the connection (Linux blkfront copies its data in and out of
 * them). Each new ref is mapped once, writable -- the same page serves as a
 * READ target and a WRITE source --, kept in a per-queue table until the
 * queue is torn down, and the I/O runs on it. The table is bounded per
 * queue (BLK_PERSISTENT_MAX_PER_QUEUE, as Linux blkback) and every mapping
 * counts against the guest's max-grants-per-guest: past either, the segment
 * is grant-copied as for any frontend.
 *
 * Open addressing with linear probing, keyed by the ref; entries are never
 * removed while connected, so no tombstones. */

#include "blkback.h"
#include "crashpoint.h"

static unsigned slot_of(const BlkPersistentTable *t, uint32_t gref) {
        return (gref * 2654435761u) & (t->capacity - 1); /* Fibonacci hash */
}

int blk_persistent_init(BlkPersistentTable *t, unsigned max) {
        unsigned cap = 1;

        assert(!t->slots);
        while (cap < max + max / 2) /* load factor <= 2/3 */
                cap <<= 1;
        t->slots = calloc(cap, sizeof *t->slots);
        if (!t->slots)
                return -ENOMEM;
        t->capacity = cap;
        t->max = max;
        t->n = 0;
        return 0;
}

void *blk_persistent_get(BlkPersistentTable *t, XenbusDevice *d, uint32_t gref, int *ret_error) {
        unsigned i;
        int k;

        *ret_error = 0;
        if (!t->slots) {
                *ret_error = -ENOSPC;
                return NULL;
        }
        for (i = slot_of(t, gref);; i = (i + 1) & (t->capacity - 1)) {
                BlkPersistentGrant *g = &t->slots[i];
                if (!g->map.addr)
                        break;
                if (g->gref == gref)
                        return g->map.addr;
        }
        if (t->n >= t->max) {
                *ret_error = -ENOSPC;
                return NULL;
        }
        k = xenbus_map_grants(d, &gref, 1, true, &t->slots[i].map);
        crash_point("blk-persistent-map");
        if (k < 0) {
                *ret_error = k;
                return NULL;
        }
        t->slots[i].gref = gref;
        t->n++;
        return t->slots[i].map.addr;
}

void blk_persistent_free(BlkPersistentTable *t, XenbusDevice *d) {
        if (!t->slots)
                return;
        for (unsigned i = 0; i < t->capacity; i++)
                xenbus_unmap_grants(d, &t->slots[i].map);
        free(t->slots);
        *t = (BlkPersistentTable) {};
}

void blk_persistent_release(BlkPersistentTable *t, xengnttab_handle *xgt) {
        if (!t->slots)
                return;
        for (unsigned i = 0; i < t->capacity; i++)
                if (t->slots[i].map.addr)
                        (void) xengnttab_unmap(xgt, t->slots[i].map.addr, t->slots[i].map.n_pages);
        free(t->slots);
        *t = (BlkPersistentTable) {};
}
