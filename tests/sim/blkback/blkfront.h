/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A blkif frontend for the simulated-Xen tests and the benchmark: rings in
 * either layout, several queues, direct and indirect requests, with data
 * pages granted the way Windows xenvbd grants them (WRITE payloads and
 * indirect pages read-only, READ buffers writable) -- or, once persistent
 * grants are agreed (Linux blkfront: feature-persistent on both sides), as
 * Linux grants them: one writable grant per page of a fixed pool, reused
 * for every request and never revoked while connected, the data copied in
 * and out of the pool by the frontend (the benchmark does that copy). */

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blkif-abi.h"
#include "harness.h"
#include "xensim.h"

#define BF_MAX_QUEUES 8
#define BF_DATA_PAGES 1024
#define BF_GUEST_PAGES 4096
#define BF_IND_PAGES 40 /* one indirect page for each of up to 40 requests in flight */

typedef struct BfQueue {
        uint64_t ring_gfn;
        uint32_t refs[16];
        evtchn_port_t port;
        void *sring;
        RING_IDX req_prod_pvt, rsp_cons;
        unsigned size;
} BfQueue;

typedef struct BfResult {
        uint64_t id;
        uint8_t operation;
        int16_t status;
} BfResult;

typedef struct BlkFront {
        Harness *h;
        GuestDev dev;
        bool x86_32;
        bool persistent; /* asked for and offered: writable pool grants for everything */
        unsigned nq, order;
        BfQueue q[BF_MAX_QUEUES];
        uint64_t data_gfn0;
        uint32_t ref_rw[BF_DATA_PAGES], ref_ro[BF_DATA_PAGES];
        uint64_t ind_gfn0;
        uint32_t ind_ref[BF_IND_PAGES];    /* read-only (Windows) */
        uint32_t ind_ref_rw[BF_IND_PAGES]; /* writable: persistent grants, from the one pool (Linux) */
        uint64_t next_id;
} BlkFront;

static inline long bf_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline uint8_t *bf_page(BlkFront *f, unsigned i) {
        return xsim_guest_page(f->dev.domid, f->data_gfn0 + i);
}

/* Opens the frontend side of an existing guest: n_pages data pages (each
 * granted writable and read-only) and the indirect pages. */
static inline int bf_open_pages(BlkFront *f, Harness *h, uint32_t domid, uint32_t devid, unsigned n_pages) {
        uint64_t gfn;
        int r;

        memset(f, 0, sizeof *f);
        f->h = h;
        r = guest_dev_open(&f->dev, "vbd", domid, devid);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < n_pages && i < BF_DATA_PAGES; i++) {
                if (xsim_page_alloc(domid, &gfn) < 0)
                        return -ENOMEM;
                if (i == 0)
                        f->data_gfn0 = gfn;
                else if (gfn != f->data_gfn0 + i)
                        return -EFAULT;
                if (xsim_grant_access(domid, 0, gfn, false, &f->ref_rw[i]) < 0 ||
                    xsim_grant_access(domid, 0, gfn, true, &f->ref_ro[i]) < 0)
                        return -ENOSPC;
        }
        for (unsigned i = 0; i < BF_IND_PAGES; i++) {
                if (xsim_page_alloc(domid, &gfn) < 0)
                        return -ENOMEM;
                if (i == 0)
                        f->ind_gfn0 = gfn;
                else if (gfn != f->ind_gfn0 + i)
                        return -EFAULT;
                if (xsim_grant_access(domid, 0, gfn, true, &f->ind_ref[i]) < 0 ||
                    xsim_grant_access(domid, 0, gfn, false, &f->ind_ref_rw[i]) < 0)
                        return -ENOSPC;
        }
        return 0;
}

static inline int bf_open(BlkFront *f, Harness *h, uint32_t domid, uint32_t devid) {
        return bf_open_pages(f, h, domid, devid, BF_DATA_PAGES);
}

static inline void bf_close(BlkFront *f) {
        guest_dev_close(&f->dev);
}

static inline int bf_set_state(BlkFront *f, XenbusState s) {
        return guest_dev_set_state(&f->dev, s);
}

static inline int bf_wait_backend(BlkFront *f, XenbusState s, int timeout_ms) {
        return guest_dev_wait_backend_state(&f->dev, s, timeout_ms);
}

static inline char *bf_read_be(BlkFront *f, const char *key) {
        char p[256];
        unsigned len;
        snprintf(p, sizeof p, "%s/%s", f->dev.be, key);
        return xs_read(f->dev.xs, XBT_NULL, p, &len);
}

/* Grants the rings, binds event channels and writes the ring keys in one
 * transaction. windows_style: multi-queue-num-queues always written, and
 * protocol=x86_64-abi; otherwise (Linux) the layout given by x86_32. */
static inline int bf_setup_rings(BlkFront *f, unsigned nq, unsigned order, bool x86_32, bool windows_style,
                                 bool persistent) {
        unsigned pages = 1u << order;
        xs_transaction_t t;
        char dir[200];

        f->nq = nq;
        f->order = order;
        f->x86_32 = x86_32;
        for (unsigned qi = 0; qi < nq; qi++) {
                BfQueue *q = &f->q[qi];
                uint64_t gfn;
                int port;

                for (unsigned i = 0; i < pages; i++) {
                        if (xsim_page_alloc(f->dev.domid, &gfn) < 0)
                                return -ENOMEM;
                        if (i == 0)
                                q->ring_gfn = gfn;
                        else if (gfn != q->ring_gfn + i)
                                return -EFAULT;
                        if (xsim_grant_access(f->dev.domid, 0, gfn, false, &q->refs[i]) < 0)
                                return -ENOSPC;
                }
                q->sring = xsim_guest_page(f->dev.domid, q->ring_gfn);
                if (x86_32) {
                        blkif_x86_32_sring_t *s = q->sring;
                        SHARED_RING_INIT(s);
                        q->size = __RING_SIZE(s, (size_t) pages * 4096);
                } else {
                        blkif_x86_64_sring_t *s = q->sring;
                        SHARED_RING_INIT(s);
                        q->size = __RING_SIZE(s, (size_t) pages * 4096);
                }
                q->req_prod_pvt = q->rsp_cons = 0;
                port = xenevtchn_bind_unbound_port(f->dev.xce, 0);
                if (port < 0)
                        return -errno;
                q->port = (evtchn_port_t) port;
        }
        for (int attempt = 0; attempt < 10; attempt++) {
                t = xs_transaction_start(f->dev.xs);
                for (unsigned qi = 0; qi < nq; qi++) {
                        if (nq == 1)
                                snprintf(dir, sizeof dir, "%s", f->dev.fe);
                        else
                                snprintf(dir, sizeof dir, "%s/queue-%u", f->dev.fe, qi);
                        if (order == 0)
                                guest_dev_write(&f->dev, t, dir, "ring-ref", "%u", f->q[qi].refs[0]);
                        else
                                for (unsigned i = 0; i < pages; i++) {
                                        char key[32];
                                        snprintf(key, sizeof key, "ring-ref%u", i);
                                        guest_dev_write(&f->dev, t, dir, key, "%u", f->q[qi].refs[i]);
                                }
                        guest_dev_write(&f->dev, t, dir, "event-channel", "%u", f->q[qi].port);
                }
                if (order > 0)
                        guest_dev_write(&f->dev, t, f->dev.fe, "ring-page-order", "%u", order);
                if (nq > 1 || windows_style)
                        guest_dev_write(&f->dev, t, f->dev.fe, "multi-queue-num-queues", "%u", nq);
                if (windows_style) {
                        guest_dev_write(&f->dev, t, f->dev.fe, "protocol", "x86_64-abi");
                        guest_dev_write(&f->dev, t, f->dev.fe, "target-id", "0");
                        guest_dev_write(&f->dev, t, f->dev.fe, "feature-surprise-remove", "1");
                        guest_dev_write(&f->dev, t, f->dev.fe, "feature-online-resize", "1");
                        guest_dev_write(&f->dev, t, f->dev.fe, "feature-large-sector-size", "1");
                } else {
                        guest_dev_write(&f->dev, t, f->dev.fe, "protocol", x86_32 ? "x86_32-abi" : "x86_64-abi");
                        guest_dev_write(&f->dev, t, f->dev.fe, "feature-persistent", "%d", persistent ? 1 : 0);
                }
                if (xs_transaction_end(f->dev.xs, t, false)) {
                        /* Linux: persistent grants only if the backend offers them too. */
                        char *v = windows_style ? NULL : bf_read_be(f, "feature-persistent");
                        f->persistent = persistent && v && strcmp(v, "1") == 0;
                        free(v);
                        return 0;
                }
                if (errno != EAGAIN)
                        return -errno;
        }
        return -EAGAIN;
}

/* A request as the test builds it, written in the queue's layout. */
typedef struct BfReq {
        uint8_t operation, indirect_op, flag;
        uint16_t nr_segments;
        uint64_t id, sector, nr_sectors;
        struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
        uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
} BfReq;

#define BF_FILL(slot, r)                                                                        \
        do {                                                                                    \
                memset((slot), 0, sizeof(*(slot)));                                             \
                (slot)->operation = (r)->operation;                                             \
                if ((r)->operation == BLKIF_OP_DISCARD) {                                       \
                        (slot)->discard.flag = (r)->flag;                                       \
                        (slot)->discard.handle = 0;                                             \
                        (slot)->discard.id = (r)->id;                                           \
                        (slot)->discard.sector_number = (r)->sector;                            \
                        (slot)->discard.nr_sectors = (r)->nr_sectors;                           \
                } else if ((r)->operation == BLKIF_OP_INDIRECT) {                               \
                        (slot)->indirect.indirect_op = (r)->indirect_op;                        \
                        (slot)->indirect.nr_segments = (r)->nr_segments;                        \
                        (slot)->indirect.id = (r)->id;                                          \
                        (slot)->indirect.sector_number = (r)->sector;                           \
                        memcpy((slot)->indirect.indirect_grefs, (r)->indirect_grefs,            \
                               sizeof((r)->indirect_grefs));                                    \
                } else {                                                                        \
                        (slot)->rw.nr_segments = (uint8_t) (r)->nr_segments;                    \
                        (slot)->rw.id = (r)->id;                                                \
                        (slot)->rw.sector_number = (r)->sector;                                 \
                        memcpy((slot)->rw.seg, (r)->seg, sizeof((r)->seg));                     \
                }                                                                               \
        } while (0)

/* Queues a request (not pushed). */
static inline void bf_put(BlkFront *f, unsigned qi, const BfReq *r) {
        BfQueue *q = &f->q[qi];
        if (f->x86_32) {
                blkif_x86_32_sring_t *s = q->sring;
                union blkif_x86_32_request *slot = &s->ring[q->req_prod_pvt & (q->size - 1)].req;
                BF_FILL(slot, r);
        } else {
                blkif_x86_64_sring_t *s = q->sring;
                union blkif_x86_64_request *slot = &s->ring[q->req_prod_pvt & (q->size - 1)].req;
                BF_FILL(slot, r);
        }
        q->req_prod_pvt++;
}

static inline void bf_push(BlkFront *f, unsigned qi) {
        BfQueue *q = &f->q[qi];
        /* The same for both layouts: the indexes head the shared page. */
        blkif_x86_64_sring_t *s = q->sring;
        RING_IDX old = s->req_prod;
        xen_wmb();
        s->req_prod = q->req_prod_pvt;
        xen_mb();
        if ((RING_IDX) (q->req_prod_pvt - s->req_event) < (RING_IDX) (q->req_prod_pvt - old))
                xenevtchn_notify(f->dev.xce, q->port);
}

/* Collects up to max responses from queue qi, waiting up to timeout_ms for
 * at least want of them. Returns how many were collected. */
static inline int bf_collect(BlkFront *f, unsigned qi, BfResult *out, int want, int max, int timeout_ms) {
        BfQueue *q = &f->q[qi];
        blkif_x86_64_sring_t *s = q->sring;
        long end = bf_now_ms() + timeout_ms;
        int n = 0;

        for (;;) {
                RING_IDX rp = s->rsp_prod;
                xen_rmb();
                while (q->rsp_cons != rp && n < max) {
                        if (f->x86_32) {
                                blkif_x86_32_sring_t *s32 = q->sring;
                                struct blkif_x86_32_response *r = &s32->ring[q->rsp_cons & (q->size - 1)].rsp;
                                out[n] = (BfResult) { r->id, r->operation, r->status };
                        } else {
                                struct blkif_x86_64_response *r = &s->ring[q->rsp_cons & (q->size - 1)].rsp;
                                out[n] = (BfResult) { r->id, r->operation, r->status };
                        }
                        n++;
                        q->rsp_cons++;
                }
                s->rsp_event = q->rsp_cons + 1;
                xen_mb();
                if (n >= want || n >= max)
                        return n;
                if (s->rsp_prod != q->rsp_cons)
                        continue;
                long left = end - bf_now_ms();
                if (left <= 0)
                        return n;
                struct pollfd p = { .fd = xenevtchn_fd(f->dev.xce), .events = POLLIN };
                if (poll(&p, 1, (int) (left < 20 ? left : 20)) > 0) {
                        int port = xenevtchn_pending(f->dev.xce);
                        if (port >= 0)
                                xenevtchn_unmask(f->dev.xce, (evtchn_port_t) port);
                }
        }
}

/* Describes nsect sectors starting in data page page0 at sector offset
 * first (0..7) as segments: direct when they fit in 11, else indirect
 * (the indirect pages are filled here). write picks read-only grants. */
static inline void bf_build_rw(BlkFront *f, BfReq *r, bool write, uint64_t sector, unsigned page0, unsigned first,
                               unsigned nsect, bool force_indirect, unsigned ind0) {
        struct blkif_request_segment segs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * 512];
        unsigned n = 0, left = nsect, fs = first;

        while (left > 0) {
                unsigned cnt = 8 - fs < left ? 8 - fs : left;
                unsigned pg = page0 + n;
                segs[n] = (struct blkif_request_segment) {
                        .gref = write && !f->persistent ? f->ref_ro[pg] : f->ref_rw[pg],
                        .first_sect = (uint8_t) fs,
                        .last_sect = (uint8_t) (fs + cnt - 1),
                };
                n++;
                left -= cnt;
                fs = 0;
        }
        memset(r, 0, sizeof *r);
        r->id = ++f->next_id;
        r->sector = sector;
        r->nr_segments = (uint16_t) n;
        if (n <= BLKIF_MAX_SEGMENTS_PER_REQUEST && !force_indirect) {
                r->operation = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
                memcpy(r->seg, segs, n * sizeof segs[0]);
        } else {
                r->operation = BLKIF_OP_INDIRECT;
                r->indirect_op = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
                for (unsigned i = 0; i < (n + 511) / 512; i++) {
                        r->indirect_grefs[i] = f->persistent ? f->ind_ref_rw[ind0 + i] : f->ind_ref[ind0 + i];
                        memcpy(xsim_guest_page(f->dev.domid, f->ind_gfn0 + ind0 + i), segs + i * 512,
                               (n - i * 512 < 512 ? n - i * 512 : 512) * sizeof segs[0]);
                }
        }
}

/* A new set of writable grants for the data pages (a reconnect of a
 * persistent-grants frontend): the new ones first, so the refs differ, then
 * the old ones revoked. Fails if an old one is still mapped. */
static inline int bf_regrant_rw(BlkFront *f, unsigned n_pages) {
        for (unsigned i = 0; i < n_pages && i < BF_DATA_PAGES; i++) {
                uint32_t old = f->ref_rw[i];
                if (xsim_grant_access(f->dev.domid, 0, f->data_gfn0 + i, false, &f->ref_rw[i]) < 0)
                        return -ENOSPC;
                if (xsim_grant_end(f->dev.domid, old) < 0)
                        return -EBUSY;
        }
        return 0;
}

/* One request, waited for: the response status, or -ETIMEDOUT. */
static inline int bf_roundtrip(BlkFront *f, unsigned qi, BfReq *r, int timeout_ms) {
        BfResult res;
        uint64_t id = r->id ? r->id : (r->id = ++f->next_id);
        long end = bf_now_ms() + timeout_ms;

        bf_put(f, qi, r);
        bf_push(f, qi);
        for (;;) {
                long left = end - bf_now_ms();
                if (left <= 0 || bf_collect(f, qi, &res, 1, 1, (int) left) < 1)
                        return -ETIMEDOUT;
                if (res.id == id)
                        return res.status;
        }
}
