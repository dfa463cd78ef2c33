/* SPDX-License-Identifier: GPL-2.0-or-later */

/* blkif rings in the two request layouts that exist (blkif-abi.h); "native"
 * is whichever of them this build is.
 *
 * Each request is copied out of shared memory exactly once (the slot, into
 * private memory), converted, and only the copy is validated and used. */

#include <assert.h>
#include <stddef.h>

#include "blkback.h"
#include "blkif-abi.h"
#include "ring.h"

#if defined(__x86_64__)
static_assert(sizeof(blkif_request_t) == sizeof(union blkif_x86_64_request), "native is x86_64");
#define BLK_ABI_NATIVE_LAYOUT BLK_ABI_X86_64
#elif defined(__i386__)
#define BLK_ABI_NATIVE_LAYOUT BLK_ABI_X86_32
#else
#error "blkback: which blkif layout is native here?"
#endif

int blk_ring_attach(BlkQueue *q, BlkAbi abi) {
        size_t size = (size_t) q->ring_map.n_pages * XEN_PAGE_SIZE_BYTES;

        q->abi = abi;
        q->layout = abi == BLK_ABI_NATIVE ? BLK_ABI_NATIVE_LAYOUT : abi;
        if (q->layout == BLK_ABI_X86_32) {
                blkif_x86_32_back_ring_t *r = calloc(1, sizeof *r);
                if (!r)
                        return -ENOMEM;
                BACK_RING_INIT(r, (blkif_x86_32_sring_t *) q->ring_map.addr, size);
                q->ring_size = RING_SIZE(r);
                q->back_ring = r;
        } else {
                blkif_x86_64_back_ring_t *r = calloc(1, sizeof *r);
                if (!r)
                        return -ENOMEM;
                BACK_RING_INIT(r, (blkif_x86_64_sring_t *) q->ring_map.addr, size);
                q->ring_size = RING_SIZE(r);
                q->back_ring = r;
        }
        return 0;
}

void blk_ring_detach(BlkQueue *q) {
        free(q->back_ring);
        q->back_ring = NULL;
        q->ring_size = 0;
}

#define RING_DISPATCH(q, r, body)                                        \
        do {                                                             \
                if ((q)->layout == BLK_ABI_X86_32) {                     \
                        blkif_x86_32_back_ring_t *r = (q)->back_ring;    \
                        body;                                            \
                } else {                                                 \
                        blkif_x86_64_back_ring_t *r = (q)->back_ring;    \
                        body;                                            \
                }                                                        \
        } while (0)

int blk_ring_pending(BlkQueue *q) {
        int n = 0;

        RING_DISPATCH(q, r, {
                RING_IDX rp = r->sring->req_prod;
                xen_rmb(); /* see the requests up to rp */
                if (!ring_req_prod_sane(rp, r->req_cons, r->rsp_prod_pvt, RING_SIZE(r)))
                        return -EPROTO;
                n = (int) (rp - r->req_cons);
        });
        return n;
}

#define CONVERT(src, out)                                                                         \
        do {                                                                                      \
                (out)->operation = (src).operation;                                               \
                (out)->op = (src).operation;                                                      \
                switch ((src).operation) {                                                        \
                case BLKIF_OP_DISCARD:                                                            \
                        (out)->id = (src).discard.id;                                             \
                        (out)->sector = (src).discard.sector_number;                              \
                        (out)->nr_sectors = (src).discard.nr_sectors;                             \
                        (out)->discard_flag = (src).discard.flag;                                 \
                        (out)->nr_segments = 0;                                                   \
                        break;                                                                    \
                case BLKIF_OP_INDIRECT:                                                           \
                        (out)->id = (src).indirect.id;                                            \
                        (out)->op = (src).indirect.indirect_op;                                   \
                        (out)->sector = (src).indirect.sector_number;                             \
                        (out)->nr_segments = (src).indirect.nr_segments;                          \
                        memcpy((out)->indirect_grefs, (src).indirect.indirect_grefs,              \
                               sizeof((out)->indirect_grefs));                                    \
                        break;                                                                    \
                default:                                                                          \
                        (out)->id = (src).rw.id;                                                  \
                        (out)->sector = (src).rw.sector_number;                                   \
                        (out)->nr_segments = (src).rw.nr_segments;                                \
                        for (unsigned i_ = 0;                                                     \
                             i_ < MIN((unsigned) (src).rw.nr_segments, BLKIF_MAX_SEGMENTS_PER_REQUEST); \
                             i_++) {                                                              \
                                (out)->seg[i_].gref = (src).rw.seg[i_].gref;                      \
                                (out)->seg[i_].first_sect = (src).rw.seg[i_].first_sect;          \
                                (out)->seg[i_].last_sect = (src).rw.seg[i_].last_sect;            \
                        }                                                                         \
                        break;                                                                    \
                }                                                                                 \
        } while (0)

void blk_ring_take(BlkQueue *q, BlkRequest *out, uint32_t *ret_idx) {
        RING_DISPATCH(q, r, {
                __typeof__(*RING_GET_REQUEST(r, 0)) copy;
                *ret_idx = r->req_cons;
                RING_COPY_REQUEST(r, r->req_cons, &copy);
                r->req_cons++;
                CONVERT(copy, out);
        });
}

void blk_ring_respond(BlkQueue *q, unsigned slot, uint64_t id, uint8_t operation, int16_t status) {
        RING_DISPATCH(q, r, {
                __typeof__(*RING_GET_RESPONSE(r, 0)) *rsp = RING_GET_RESPONSE(r, r->rsp_prod_pvt);
                blk_shadow_answer(q, slot, r->rsp_prod_pvt);
                rsp->id = id;
                rsp->operation = operation;
                rsp->status = status;
                r->rsp_prod_pvt++;
        });
}

bool blk_ring_push(BlkQueue *q) {
        int notify = 0;

        RING_DISPATCH(q, r, {
                RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(r, notify);
                blk_shadow_published(q, r->rsp_prod_pvt);
        });
        return notify;
}

void blk_ring_shared_indices(BlkQueue *q, uint32_t *ret_req_prod, uint32_t *ret_rsp_prod) {
        RING_DISPATCH(q, r, {
                *ret_req_prod = __atomic_load_n(&r->sring->req_prod, __ATOMIC_ACQUIRE);
                *ret_rsp_prod = __atomic_load_n(&r->sring->rsp_prod, __ATOMIC_ACQUIRE);
        });
}

void blk_ring_resume(BlkQueue *q, uint32_t req_cons, uint32_t rsp_prod_pvt) {
        RING_DISPATCH(q, r, {
                r->req_cons = req_cons;
                r->rsp_prod_pvt = rsp_prod_pvt;
        });
}

bool blk_ring_final_check(BlkQueue *q) {
        int more = 0;

        RING_DISPATCH(q, r, { RING_FINAL_CHECK_FOR_REQUESTS(r, more); });
        return more;
}

/* ---- validation of the private copy ---- */

const char *blk_request_check(const BlkRequest *r, uint64_t disk_sectors, unsigned max_indirect, bool read_only) {
        switch (r->operation) {
        case BLKIF_OP_READ:
        case BLKIF_OP_WRITE:
                if (r->nr_segments == 0 || r->nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
                        return "bad segment count";
                break;
        case BLKIF_OP_INDIRECT:
                if (max_indirect == 0)
                        return "indirect requests were not offered";
                if (r->op != BLKIF_OP_READ && r->op != BLKIF_OP_WRITE)
                        return "bad indirect operation";
                if (r->nr_segments == 0 || r->nr_segments > max_indirect)
                        return "bad indirect segment count";
                break;
        case BLKIF_OP_WRITE_BARRIER:
                if (r->nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
                        return "bad segment count";
                break;
        case BLKIF_OP_FLUSH_DISKCACHE:
                return NULL; /* nr_segments and sector_number are ignored */
        case BLKIF_OP_DISCARD:
                if (read_only)
                        return "discard on a read-only disk";
                if (r->sector > disk_sectors || r->nr_sectors > disk_sectors - r->sector)
                        return "discard beyond the end of the disk";
                return NULL;
        default:
                return "unknown operation";
        }
        if (read_only && r->op != BLKIF_OP_READ)
                return "write to a read-only disk";
        return NULL;
}

const char *blk_segments_check(const BlkRequest *r, uint64_t disk_sectors) {
        uint64_t total = 0;

        for (unsigned i = 0; i < r->nr_segments; i++) {
                if (r->seg[i].first_sect > r->seg[i].last_sect)
                        return "first_sect > last_sect";
                if (r->seg[i].last_sect >= BLK_SECTORS_PER_PAGE)
                        return "segment beyond its page";
                total += (uint64_t) r->seg[i].last_sect - r->seg[i].first_sect + 1;
        }
        if (r->sector > disk_sectors || total > disk_sectors - r->sector)
                return "sector range beyond the end of the disk";
        return NULL;
}
