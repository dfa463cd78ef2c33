/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The shadow of requests in flight, kept in the device's record so that a
 * restarted pvbackd answers every request exactly once.
 *
 * The order of stores is what makes it crash-safe (the record is shared
 * memory: a store done before the process dies is there for the next one):
 *   take:    entry TAKEN (the copied request, its ring index), then
 *            rec->req_cons past it;
 *   answer:  entry ANSWERED with its response index, then the response;
 *   publish: rsp_prod (the ring macros' barrier), then rec->rsp_pushed and
 *            the entries freed.
 * So after a crash the live rsp_prod L is rec->rsp_pushed or, if the crash
 * came between the push and the bookkeeping, exactly one more batch; every
 * response below L has an ANSWERED entry below L (published: dropped), and
 * everything else the earlier process took is TAKEN or ANSWERED at or above
 * L (not seen by the frontend: run again, answered from L on). L is written
 * by the guest too, so it is checked against the record, not trusted. */

#include <inttypes.h>
#include <stdlib.h>

#include "blkback.h"
#include "crashpoint.h"

static size_t record_size(unsigned n_queues, unsigned ring_size) {
        return sizeof(BlkRecord) + (size_t) n_queues * ring_size * sizeof(BlkShadow);
}

static void queue_shadow_free(BlkQueue *q) {
        free(q->shadow_free);
        free(q->answered);
        free(q->replay);
        q->shadow_free = q->answered = q->replay = NULL;
        q->n_shadow_free = q->n_answered = q->n_replay = q->replay_next = 0;
        q->rec = NULL;
        q->shadow = NULL;
}

void blk_shadow_stop(Blkback *bb) {
        for (unsigned i = 0; i < BLK_MAX_QUEUES; i++)
                queue_shadow_free(&bb->queues[i]);
}

/* Oldest first. Responses are out of order, so a request can stay in flight
 * while any number of later ones pass it: its age is counted back from
 * req_cons (modulo 2^32, as the ring's indices), not bounded by the ring. */
static int cmp_req_idx(const void *a, const void *b, void *userdata) {
        const BlkQueue *q = userdata;
        uint32_t age_a = q->rec->req_cons - 1 - q->shadow[*(const uint16_t *) a].req_idx;
        uint32_t age_b = q->rec->req_cons - 1 - q->shadow[*(const uint16_t *) b].req_idx;

        return age_a > age_b ? -1 : age_a < age_b;
}

/* What an entry is, seen from the live ring after a restart. */
typedef enum Fate {
        FATE_NONE,      /* free */
        FATE_PUBLISHED, /* the frontend has seen its response: free it */
        FATE_UNCOUNTED, /* taken just before the crash, req_cons not yet past it: still on the ring */
        FATE_REPLAY,    /* taken, not answered where the frontend sees it: run again */
        FATE_BAD,
} Fate;

static Fate entry_fate(const BlkQueue *q, const BlkShadow *s, uint32_t saved, uint32_t live) {
        switch (s->state) {
        case BLK_SHADOW_FREE:
                return FATE_NONE;
        case BLK_SHADOW_ANSWERED:
                if (s->rsp_idx - saved < live - saved)
                        return FATE_PUBLISHED;
                _fallthrough_;
        case BLK_SHADOW_TAKEN:
                /* req_cons is stored right after the entry (see the top). */
                return s->req_idx == q->rec->req_cons ? FATE_UNCOUNTED : FATE_REPLAY;
        default:
                return FATE_BAD;
        }
}

/* Makes the queue's shadow consistent with the live ring after a restart,
 * or says why it cannot be. Everything is checked before anything changes,
 * and the changes can be made again: a crash in the middle of a recovery
 * leaves a record the next one recovers from. */
static const char *queue_recover(BlkQueue *q) {
        BlkQueueRecord *rec = q->rec;
        uint32_t req_prod, live, saved = rec->rsp_pushed, n = q->ring_size, published = 0, replay = 0;

        blk_ring_shared_indices(q, &req_prod, &live);
        if (live - saved > n)
                return "the response index is not where the earlier process left it";
        if (rec->req_cons - live > n)
                return "the saved request index is more than a ring ahead of the responses";
        for (unsigned i = 0; i < n; i++)
                switch (entry_fate(q, &q->shadow[i], saved, live)) {
                case FATE_PUBLISHED:
                        published++;
                        break;
                case FATE_REPLAY:
                        replay++;
                        break;
                case FATE_BAD:
                        return "a shadow entry is corrupt";
                default:
                        break;
                }
        /* An entry's index alone cannot say much (see cmp_req_idx()): the
         * counts check the shadow as a whole. Fewer published entries than
         * responses: an interrupted recovery freed some already. More
         * requests taken than recorded: the response index was moved by
         * someone else. */
        if (published > live - saved)
                return "the frontend sees more responses than the earlier process recorded";
        if (replay != rec->req_cons - live)
                return "the shadow does not account for every request taken";

        for (unsigned i = 0; i < n; i++) {
                BlkShadow *s = &q->shadow[i];
                switch (entry_fate(q, s, saved, live)) {
                case FATE_PUBLISHED:
                case FATE_UNCOUNTED:
                        s->state = BLK_SHADOW_FREE;
                        break;
                case FATE_REPLAY:
                        s->state = BLK_SHADOW_TAKEN;
                        q->replay[q->n_replay++] = (uint16_t) i;
                        break;
                default:
                        break;
                }
                crash_point("blk-recovery");
        }
        qsort_r(q->replay, q->n_replay, sizeof *q->replay, cmp_req_idx, q);
        blk_ring_resume(q, rec->req_cons, live);
        rec->rsp_pushed = live;
        return NULL;
}

int blk_shadow_start(Blkback *bb, const BlkRecord *expected) {
        XenbusDevice *d = bb->dev;
        unsigned n = bb->queues[0].ring_size;
        BlkRecord *rec;
        int restored;

        restored = xenbus_device_record(d, record_size(bb->n_queues, n), (void **) &rec);
        if (restored < 0)
                return restored;
        if (restored &&
            (rec->n_queues != expected->n_queues || rec->order != expected->order || rec->abi != expected->abi ||
             rec->persistent != expected->persistent || rec->ring_size != n))
                return xenbus_device_set_error(d, -ESTALE, "the frontend's rings changed while pvbackd was away");
        if (!restored) {
                memcpy(rec, expected, sizeof *rec);
                rec->ring_size = n;
        }

        for (unsigned i = 0; i < bb->n_queues; i++) {
                BlkQueue *q = &bb->queues[i];
                const char *why;

                if (q->ring_size != n)
                        return xenbus_device_set_error(d, -EINVAL, "queues of different sizes");
                if (restored && (memcmp(rec->queues[i].ring_refs, expected->queues[i].ring_refs,
                                        sizeof rec->queues[i].ring_refs) != 0 ||
                                 rec->queues[i].remote_port != expected->queues[i].remote_port))
                        return xenbus_device_set_error(d, -ESTALE, "queue %u: the frontend's ring changed while "
                                                       "pvbackd was away", i);
                if (!restored)
                        rec->queues[i] = expected->queues[i];
                q->rec = &rec->queues[i];
                q->shadow = &rec->shadow[(size_t) i * n];
                q->shadow_free = calloc(n, sizeof *q->shadow_free);
                q->answered = calloc(n, sizeof *q->answered);
                q->replay = calloc(n, sizeof *q->replay);
                if (!q->shadow_free || !q->answered || !q->replay)
                        return xenbus_device_set_error(d, -ENOMEM, "out of memory");
                if (restored) {
                        why = queue_recover(q);
                        if (why)
                                return xenbus_device_set_error(d, -EPROTO, "queue %u: cannot re-attach: %s", i,
                                                               why);
                        if (q->n_replay > 0)
                                log_dev_info(d, "queue %u: %u requests taken by the earlier process run again",
                                             i, q->n_replay);
                }
                /* Free entries, lowest on top. */
                for (unsigned k = n; k-- > 0;)
                        if (q->shadow[k].state == BLK_SHADOW_FREE)
                                q->shadow_free[q->n_shadow_free++] = (uint16_t) k;
        }
        return 0;
}

int blk_shadow_take(BlkQueue *q, const BlkRequest *r, uint32_t idx) {
        BlkShadow *s;
        unsigned slot;

        if (q->n_shadow_free == 0)
                return -ENOSPC;
        slot = q->shadow_free[--q->n_shadow_free];
        s = &q->shadow[slot];
        *s = (BlkShadow) {
                .operation = r->operation, .op = r->op, .discard_flag = r->discard_flag,
                .nr_segments = r->nr_segments, .req_idx = idx,
                .id = r->id, .sector = r->sector, .nr_sectors = r->nr_sectors,
        };
        if (r->operation == BLKIF_OP_INDIRECT)
                memcpy(s->indirect_grefs, r->indirect_grefs, sizeof s->indirect_grefs);
        else
                for (unsigned i = 0; i < MIN((unsigned) r->nr_segments, BLKIF_MAX_SEGMENTS_PER_REQUEST); i++) {
                        s->seg[i].gref = r->seg[i].gref;
                        s->seg[i].first_sect = r->seg[i].first_sect;
                        s->seg[i].last_sect = r->seg[i].last_sect;
                }
        /* The entry before the index that counts it (see the top). */
        __atomic_store_n(&s->state, BLK_SHADOW_TAKEN, __ATOMIC_RELEASE);
        crash_point("blk-taken");
        __atomic_store_n(&q->rec->req_cons, idx + 1, __ATOMIC_RELEASE);
        return (int) slot;
}

bool blk_shadow_replay(BlkQueue *q, BlkRequest *out, unsigned *ret_slot) {
        const BlkShadow *s;
        unsigned slot;

        if (q->replay_next >= q->n_replay)
                return false;
        slot = q->replay[q->replay_next++];
        s = &q->shadow[slot];
        out->operation = s->operation;
        out->op = s->op;
        out->discard_flag = s->discard_flag;
        out->nr_segments = s->nr_segments;
        out->id = s->id;
        out->sector = s->sector;
        out->nr_sectors = s->nr_sectors;
        if (s->operation == BLKIF_OP_INDIRECT)
                memcpy(out->indirect_grefs, s->indirect_grefs, sizeof out->indirect_grefs);
        else
                for (unsigned i = 0; i < MIN((unsigned) s->nr_segments, BLKIF_MAX_SEGMENTS_PER_REQUEST); i++) {
                        out->seg[i].gref = s->seg[i].gref;
                        out->seg[i].first_sect = s->seg[i].first_sect;
                        out->seg[i].last_sect = s->seg[i].last_sect;
                }
        if (q->replay_next == q->n_replay)
                q->n_replay = q->replay_next = 0;
        *ret_slot = slot;
        return true;
}

void blk_shadow_answer(BlkQueue *q, unsigned slot, uint32_t rsp_idx) {
        BlkShadow *s = &q->shadow[slot];

        s->rsp_idx = rsp_idx;
        /* Before the response is written (see the top). */
        __atomic_store_n(&s->state, BLK_SHADOW_ANSWERED, __ATOMIC_RELEASE);
        q->answered[q->n_answered++] = (uint16_t) slot;
}

void blk_shadow_published(BlkQueue *q, uint32_t rsp_prod) {
        __atomic_store_n(&q->rec->rsp_pushed, rsp_prod, __ATOMIC_RELEASE);
        for (unsigned i = 0; i < q->n_answered; i++) {
                q->shadow[q->answered[i]].state = BLK_SHADOW_FREE;
                q->shadow_free[q->n_shadow_free++] = q->answered[i];
        }
        q->n_answered = 0;
}
