/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The data path. Requests are copied off the ring and validated (ring.c);
 * WRITE payloads are grant-copied into daemon-owned, page-aligned buffers,
 * READ payloads are grant-copied out of them after the read completes, so
 * no guest page is ever referenced by the kernel's I/O and every grant is
 * done with before its response is pushed (Windows revokes at once).
 * Alternatively (pvbackd.conf [disk] grant-map, see want_map()) a request's
 * grants are mapped -- read-only for a WRITE payload, writable for a READ
 * target -- the I/O runs on the mapping, and the mapping is gone before the
 * response is pushed; only where the store is safe for I/O on guest pages.
 * A frontend that agreed on persistent grants (Linux) gets neither: its
 * refs are mapped once and kept (persistent.c), and the I/O runs on them.
 * I/O goes through one libaio context per device, submitted in batches,
 * with completions signalled on an eventfd watched by sd-event. Flushes are
 * IOCB_CMD_FDSYNC, so even they never block the event loop. */

#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>

#include "blkback.h"
#include "crashpoint.h"

#define BLK_BUDGET 32        /* requests per ring handler call, then kick */
#define BLK_EVENTS 64        /* completions per io_getevents() call */
#define BLK_RELEASE_WAIT_MS 500u /* longest release() blocks the loop for in-flight AIO */

/* ---- buffers ---- */

static void *page_get(BlkQueue *q) {
        void *p;

        if (q->n_free > 0)
                return q->free_pages[--q->n_free];
        if (q->n_allocated >= q->max_pages)
                return NULL; /* cannot happen with a sane ring; bounded anyway */
        if (posix_memalign(&p, XEN_PAGE_SIZE_BYTES, XEN_PAGE_SIZE_BYTES) != 0)
                return NULL;
        if (!q->free_pages) {
                q->free_pages = calloc(q->max_pages, sizeof(void *));
                if (!q->free_pages) {
                        free(p);
                        return NULL;
                }
        }
        q->n_allocated++;
        return p;
}

static void page_put(BlkQueue *q, void *p) {
        if (!p)
                return;
        if (q->free_pages && q->n_free < q->max_pages)
                q->free_pages[q->n_free++] = p;
        else {
                free(p);
                q->n_allocated--;
        }
}

void blk_queue_free_pages(BlkQueue *q) {
        for (unsigned i = 0; i < q->n_free; i++)
                free(q->free_pages[i]);
        free(q->free_pages);
        free(q->indirect_buf);
        q->free_pages = NULL;
        q->indirect_buf = NULL;
        q->n_allocated -= MIN(q->n_allocated, q->n_free);
        q->n_free = 0;
}

static BlkRequest *request_new(BlkQueue *q, unsigned nseg) {
        Blkback *bb = q->bb;
        BlkRequest *r = calloc(1, sizeof *r + nseg * (sizeof(BlkSegment) + sizeof(struct iovec)));

        if (!r)
                return NULL;
        r->queue = q;
        r->nr_segments = (uint16_t) nseg;
        r->iov = (struct iovec *) (r->seg + nseg);
        LIST_INSERT_HEAD(&bb->requests, r, link);
        q->inflight++;
        return r;
}

static void request_free(BlkRequest *r) {
        BlkQueue *q = r->queue;

        xenbus_unmap_grants(q->bb->dev, &r->map);
        for (unsigned i = 0; i < r->nr_segments; i++)
                page_put(q, r->seg[i].page);
        LIST_REMOVE(r, link);
        q->inflight--;
        free(r);
}

static uint8_t response_operation(const BlkRequest *r) {
        /* As Linux blkback: an indirect request is answered as its READ/WRITE. */
        return r->operation == BLKIF_OP_INDIRECT ? r->op : r->operation;
}

static void request_complete(BlkRequest *r) {
        BlkQueue *q = r->queue;

        /* The guest may revoke the grants as soon as it sees the response
         * (Windows does): unmap first. */
        xenbus_unmap_grants(q->bb->dev, &r->map);
        if (q->back_ring)
                blk_ring_respond(q, r->shadow, r->id, response_operation(r), r->status);
        if (r == q->barrier) {
                q->barrier = NULL;
                q->barrier_active = false;
        }
        request_free(r);
}

static void bad_request(BlkQueue *q, unsigned slot, uint64_t id, uint8_t operation, const char *why) {
        XenbusDevice *d = q->bb->dev;

        q->bb->stats.bad_req++;
        if (xenbus_device_ratelimit_ok(d))
                log_dev_warning(d, "queue %u: bad request (operation %u, id %" PRIu64 "): %s", q->index, operation,
                                id, why);
        blk_ring_respond(q, slot, id, operation, BLKIF_RSP_ERROR);
}

static void io_error(Blkback *bb, BlkRequest *r, long res) {
        XenbusDevice *d = bb->dev;

        bb->stats.io_errors++;
        r->status = BLKIF_RSP_ERROR;
        if (xenbus_device_ratelimit_ok(d))
                log_dev_warning_errno(d, res < 0 ? (int) res : -EIO,
                                      "I/O error on %s (operation %u, sector %" PRIu64 ", %" PRIu64
                                      " errors so far): %s",
                                      bb->backing.path, r->op, r->sector, bb->stats.io_errors,
                                      res < 0 ? "%m" : "short transfer");
}

/* ---- grant copies with their owners, so a failed segment fails its request ---- */

typedef struct CopyBatch {
        GrantCopyBatch b;
        BlkRequest *owner[GRANT_COPY_BATCH_MAX];
} CopyBatch;

static void copy_flush(CopyBatch *c) {
        unsigned n = c->b.n;
        int r = grant_copy_flush(&c->b);

        for (unsigned i = 0; i < n; i++)
                if (r < 0 || c->b.segs[i].status != GNTST_okay)
                        c->owner[i]->status = BLKIF_RSP_ERROR;
}

static void copy_segments(CopyBatch *c, BlkRequest *r, bool to_guest) {
        uint16_t domid = (uint16_t) xenbus_device_domid(r->queue->bb->dev);

        for (unsigned i = 0; i < r->nr_segments; i++) {
                BlkSegment *s = &r->seg[i];
                uint16_t off = (uint16_t) (s->first_sect * BLK_SECTOR_SIZE);
                uint16_t len = (uint16_t) ((s->last_sect - s->first_sect + 1) * BLK_SECTOR_SIZE);
                int q;

                if (s->persistent) {
                        /* Mapped for good: zero copy, or a bounce buffer
                         * where the store is not safe for I/O on guest pages. */
                        if (s->page && to_guest)
                                memcpy((uint8_t *) s->persistent + off, (uint8_t *) s->page + off, len);
                        else if (s->page)
                                memcpy((uint8_t *) s->page + off, (uint8_t *) s->persistent + off, len);
                        continue;
                }
                if (c->b.n == GRANT_COPY_BATCH_MAX)
                        copy_flush(c);
                c->owner[c->b.n] = r;
                q = to_guest ? grant_copy_to_guest(&c->b, domid, s->gref, off, (uint8_t *) s->page + off, len)
                             : grant_copy_from_guest(&c->b, domid, s->gref, off, (uint8_t *) s->page + off, len);
                if (q < 0)
                        r->status = BLKIF_RSP_ERROR;
        }
}

/* ---- preparing requests ---- */

/* The segment descriptors of an indirect request, copied once into the
 * queue's buffer (the guest may change its pages meanwhile). On a
 * persistent-grants connection the descriptor pages are persistent grants
 * too (Linux blkfront takes them from the same pool): read through the
 * table, grant-copied only past its bound. */
static int fetch_indirect(BlkQueue *q, BlkRequest *r) {
        unsigned pages = (r->nr_segments + BLK_SEGS_PER_INDIRECT_PAGE - 1) / BLK_SEGS_PER_INDIRECT_PAGE;
        Blkback *bb = q->bb;
        GrantCopyBatch b;
        const struct blkif_request_segment *segs;

        if (!q->indirect_buf &&
            posix_memalign(&q->indirect_buf, XEN_PAGE_SIZE_BYTES,
                           (size_t) BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * XEN_PAGE_SIZE_BYTES) != 0) {
                q->indirect_buf = NULL;
                return -ENOMEM;
        }
        grant_copy_init(&b, xenbus_device_gnttab(bb->dev));
        for (unsigned i = 0; i < pages; i++) {
                unsigned n = MIN(r->nr_segments - i * (unsigned) BLK_SEGS_PER_INDIRECT_PAGE,
                                 (unsigned) BLK_SEGS_PER_INDIRECT_PAGE);
                uint8_t *dst = (uint8_t *) q->indirect_buf + (size_t) i * XEN_PAGE_SIZE_BYTES;
                size_t len = n * sizeof(struct blkif_request_segment);
                int k = 0;

                if (bb->persistent) {
                        const void *page = blk_persistent_get(&q->persistent, bb->dev, r->indirect_grefs[i], &k);
                        if (page) {
                                memcpy(dst, page, len);
                                bb->stats.persistent_indirect++;
                                continue;
                        }
                        if (k != -ENOSPC && k != -EDQUOT)
                                return k;
                }
                k = grant_copy_from_guest(&b, (uint16_t) xenbus_device_domid(bb->dev), r->indirect_grefs[i], 0, dst,
                                          (uint16_t) len);
                if (k < 0)
                        return k;
        }
        if (grant_copy_flush(&b) != 0)
                return -EFAULT;
        segs = q->indirect_buf;
        for (unsigned i = 0; i < r->nr_segments; i++) {
                r->seg[i].gref = segs[i].gref;
                r->seg[i].first_sect = segs[i].first_sect;
                r->seg[i].last_sect = segs[i].last_sect;
        }
        return 0;
}

static void prep_rw(Blkback *bb, BlkRequest *r) {
        size_t total = 0;

        for (unsigned i = 0; i < r->nr_segments; i++) {
                BlkSegment *s = &r->seg[i];
                uint8_t *page = r->map.addr   ? (uint8_t *) r->map.addr + (size_t) i * XEN_PAGE_SIZE_BYTES
                                : s->page     ? s->page
                                              : s->persistent;
                r->iov[i].iov_base = page + s->first_sect * BLK_SECTOR_SIZE;
                r->iov[i].iov_len = (size_t) (s->last_sect - s->first_sect + 1) * BLK_SECTOR_SIZE;
                total += r->iov[i].iov_len;
        }
        r->nr_sectors = total / BLK_SECTOR_SIZE;
        r->stage = BLK_STAGE_IO;
        if (r->op == BLKIF_OP_READ)
                io_prep_preadv(&r->iocb, bb->backing.fd, r->iov, r->nr_segments, (long long) (r->sector * 512));
        else
                io_prep_pwritev(&r->iocb, bb->backing.fd, r->iov, r->nr_segments, (long long) (r->sector * 512));
        io_set_eventfd(&r->iocb, bb->efd);
        r->iocb.data = r;
}

static void prep_flush(Blkback *bb, BlkRequest *r) {
        r->stage = BLK_STAGE_FLUSH;
        io_prep_fdsync(&r->iocb, bb->backing.fd);
        io_set_eventfd(&r->iocb, bb->efd);
        r->iocb.data = r;
}

/* Grant mapping instead of copy for this request? Only plain READ/WRITE
 * (barriers are small and rare), only where the store is safe for I/O on
 * guest pages, and by default only for large requests, where one copy of
 * every byte costs more than a map and an unmap (BLK_MAP_MIN_SEGMENTS). */
static bool want_map(const Blkback *bb, const BlkRequest *r) {
        if (!bb->map_safe || r->operation == BLKIF_OP_WRITE_BARRIER)
                return false;
        switch (bb->grant_map) {
        case BLK_GRANT_MAP_ALWAYS:
                return true;
        case BLK_GRANT_MAP_AUTO:
                return r->nr_segments >= BLK_MAP_MIN_SEGMENTS;
        default:
                return false;
        }
}

/* Maps the request's data grants, read-only for a WRITE payload, writable
 * for a READ target. Over the guest's grant cap (-EDQUOT) or on any other
 * failure the caller falls back to grant copy, which reports bad grants
 * per segment. */
static int map_request(Blkback *bb, BlkRequest *r) {
        uint32_t refs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLK_SEGS_PER_INDIRECT_PAGE];
        int k;

        if (r->nr_segments > ELEMENTSOF(refs))
                return -EINVAL;
        for (unsigned i = 0; i < r->nr_segments; i++)
                refs[i] = r->seg[i].gref;
        k = xenbus_map_grants(bb->dev, refs, r->nr_segments, r->op == BLKIF_OP_READ, &r->map);
        if (k < 0) {
                bb->stats.map_fallbacks++;
                if (k == -EDQUOT && !bb->logged_map_quota) {
                        bb->logged_map_quota = true;
                        log_dev_info(bb->dev, "Guest at max-grants-per-guest: copying instead of mapping");
                }
                return k;
        }
        bb->stats.mapped_req++;
        return 0;
}

/* A persistent-grants connection: each segment's page from the queue's
 * table (mapped on first use). The I/O runs on it where the store is safe
 * for I/O on guest pages, else through a daemon buffer copied with memcpy;
 * past the table's bound or the guest's grant cap the segment is
 * grant-copied; a ref that cannot be mapped fails the request. */
static void persistent_segments(Blkback *bb, BlkQueue *q, BlkRequest *r) {
        for (unsigned i = 0; i < r->nr_segments && r->status == BLKIF_RSP_OKAY; i++) {
                BlkSegment *s = &r->seg[i];
                int k;

                s->persistent = blk_persistent_get(&q->persistent, bb->dev, s->gref, &k);
                if (s->persistent) {
                        bb->stats.persistent_segs++;
                        if (bb->map_safe)
                                continue;
                        bb->stats.persistent_bounced++;
                } else if (k == -ENOSPC || k == -EDQUOT)
                        bb->stats.persistent_copied++;
                else {
                        XenbusDevice *d = bb->dev;

                        bb->stats.bad_req++;
                        if (xenbus_device_ratelimit_ok(d))
                                log_dev_warning_errno(d, k, "queue %u: bad request (id %" PRIu64
                                                      "): cannot map grant %" PRIu32 " persistently: %m",
                                                      q->index, r->id, s->gref);
                        r->status = BLKIF_RSP_ERROR;
                        break;
                }
                if (!(s->page = page_get(q)))
                        r->status = BLKIF_RSP_ERROR;
        }
}

/* Submits n iocbs; the ones the kernel refused complete with an error. */
static void submit(Blkback *bb, BlkRequest **reqs, unsigned n) {
        struct iocb *cbs[BLK_BUDGET + 1];
        unsigned done = 0;

        for (unsigned i = 0; i < n; i++)
                cbs[i] = &reqs[i]->iocb;
        while (done < n) {
                int k = io_submit(bb->aio, (long) (n - done), cbs + done);
                if (k <= 0) {
                        /* Not in flight: fail this one and try the rest. */
                        io_error(bb, reqs[done], k < 0 ? k : -EIO);
                        request_complete(reqs[done]);
                        done++;
                        continue;
                }
                for (int i = 0; i < k; i++)
                        reqs[done + (unsigned) i]->in_aio = true;
                bb->inflight += (unsigned) k;
                done += (unsigned) k;
        }
}

/* Answers at once what needs no I/O (discard switched off, empty range);
 * hands the rest to the discard worker. True if r is answered. */
static bool do_discard(Blkback *bb, BlkRequest *r) {
        int k;

        if (!bb->discard_enable || !bb->backing.discard ||
            ((r->discard_flag & BLKIF_DISCARD_SECURE) && !bb->backing.secure_discard)) {
                /* Secure discard only where discard-secure=1 was offered. */
                r->status = BLKIF_RSP_EOPNOTSUPP;
                return true;
        }
        if (r->nr_sectors == 0)
                return true;
        k = blk_discard_submit(bb, r);
        if (k < 0) {
                io_error(bb, r, k);
                return true;
        }
        return false;
}

void blk_discard_done(Blkback *bb, BlkRequest *r, int result) {
        if (result == -EOPNOTSUPP)
                r->status = BLKIF_RSP_EOPNOTSUPP; /* the guest switches discard off */
        else if (result < 0)
                io_error(bb, r, result);
        request_complete(r);
}

static void start_barrier(Blkback *bb, BlkQueue *q) {
        BlkRequest *r = q->barrier;

        q->barrier_waiting = false;
        q->barrier_active = true;
        if (r->nr_segments > 0)
                prep_rw(bb, r); /* the write first, then the flush (on completion) */
        else
                prep_flush(bb, r);
        submit(bb, &r, 1);
}

static int queue_fail(BlkQueue *q, const char *why) {
        xenbus_device_fatal(q->bb->dev, -EPROTO, "queue %u: %s", q->index, why);
        return -EPROTO;
}

/* Data taken from a ring per handler run, and answered per pass over the
 * completions. Where io_submit() does the I/O itself (tmpfs, buffered
 * files) a run's requests complete before it returns: without this bound
 * the frontend waited for a whole batch of 1 MiB requests before it could
 * use the first, and the daemon then idled while the frontend caught up.
 * The completions' event source has the higher priority, so the next loop
 * iteration answers what the run submitted before the ring is taken from
 * again. */
#define BLK_PUSH_BYTES (256u << 10)

void blk_queue_handler(EvtchnPort *p, void *userdata) {
        BlkQueue *q = userdata;
        Blkback *bb = q->bb;
        uint64_t disk_sectors = bb->backing.size / BLK_SECTOR_SIZE, taken_bytes = 0;
        BlkRequest *pending[BLK_BUDGET + 1];
        unsigned n_pending = 0;
        CopyBatch copy;
        int n;

        if (q->stopped || !q->back_ring || q->barrier_waiting || q->barrier_active)
                return; /* a barrier holds the ring until it completes */

        n = blk_ring_pending(q);
        if (n < 0) {
                (void) queue_fail(q, "request producer index is beyond the ring");
                return;
        }
        n += (int) (q->n_replay - q->replay_next); /* an earlier process's, first */
        grant_copy_init(&copy.b, xenbus_device_gnttab(bb->dev));
        for (int i = 0; i < MIN(n, BLK_BUDGET) && !q->barrier_waiting && taken_bytes < BLK_PUSH_BYTES; i++) {
                struct {
                        BlkRequest r;
                        BlkSegment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
                } c = {};
                const char *why;
                BlkRequest *r;
                unsigned nseg, slot;

                if (!blk_shadow_replay(q, &c.r, &slot)) {
                        uint32_t idx;
                        int k;

                        blk_ring_take(q, &c.r, &idx);
                        k = blk_shadow_take(q, &c.r, idx);
                        if (k < 0) {
                                (void) queue_fail(q, "more requests unanswered than the ring holds");
                                return;
                        }
                        slot = (unsigned) k;
                }
                why = blk_request_check(&c.r, disk_sectors, bb->max_indirect, bb->read_only);
                if (why) {
                        bad_request(q, slot, c.r.id, c.r.operation, why);
                        continue;
                }
                nseg = c.r.operation == BLKIF_OP_FLUSH_DISKCACHE || c.r.operation == BLKIF_OP_DISCARD
                               ? 0
                               : c.r.nr_segments;
                r = request_new(q, nseg);
                if (!r) {
                        bad_request(q, slot, c.r.id, c.r.operation, "out of memory");
                        continue;
                }
                r->shadow = (uint16_t) slot;
                r->id = c.r.id;
                r->operation = c.r.operation;
                r->op = c.r.op;
                r->sector = c.r.sector;
                r->nr_sectors = c.r.nr_sectors;
                r->discard_flag = c.r.discard_flag;
                r->status = BLKIF_RSP_OKAY;

                switch (r->operation) {
                case BLKIF_OP_FLUSH_DISKCACHE:
                        bb->stats.flush_req++;
                        prep_flush(bb, r);
                        pending[n_pending++] = r;
                        continue;
                case BLKIF_OP_DISCARD:
                        bb->stats.discard_req++;
                        if (do_discard(bb, r))
                                request_complete(r);
                        continue;
                case BLKIF_OP_INDIRECT:
                        memcpy(r->indirect_grefs, c.r.indirect_grefs, sizeof r->indirect_grefs);
                        if (fetch_indirect(q, r) < 0) {
                                bad_request(q, slot, r->id, r->operation, "cannot read the indirect pages");
                                request_free(r);
                                continue;
                        }
                        break;
                default:
                        memcpy(r->seg, c.r.seg, nseg * sizeof(BlkSegment));
                        break;
                }
                why = blk_segments_check(r, disk_sectors);
                if (why) {
                        bad_request(q, slot, r->id, response_operation(r), why);
                        request_free(r);
                        continue;
                }
                if (bb->persistent)
                        persistent_segments(bb, q, r);
                else if (!want_map(bb, r) || map_request(bb, r) < 0)
                        for (unsigned k = 0; k < nseg; k++)
                                if (!(r->seg[k].page = page_get(q)))
                                        r->status = BLKIF_RSP_ERROR;
                if (r->status != BLKIF_RSP_OKAY) {
                        request_complete(r);
                        continue;
                }
                if (r->op == BLKIF_OP_READ)
                        bb->stats.rd_req++;
                else
                        bb->stats.wr_req++;
                if (r->op != BLKIF_OP_READ && !r->map.addr)
                        copy_segments(&copy, r, false); /* WRITE and barrier payloads */
                if (r->operation == BLKIF_OP_WRITE_BARRIER) {
                        /* Ordered: everything before it completes first. */
                        r->barrier = true;
                        q->barrier = r;
                        q->barrier_waiting = true;
                        continue;
                }
                prep_rw(bb, r);
                pending[n_pending++] = r;
                taken_bytes += (uint64_t) r->nr_sectors * BLK_SECTOR_SIZE;
        }

        copy_flush(&copy);
        {
                BlkRequest *go[BLK_BUDGET + 1];
                unsigned n_go = 0;

                for (unsigned i = 0; i < n_pending; i++) {
                        if (pending[i]->status != BLKIF_RSP_OKAY)
                                request_complete(pending[i]);
                        else
                                go[n_go++] = pending[i];
                }
                submit(bb, go, n_go);
                crash_point("blk-submitted");
        }
        if (q->barrier_waiting) {
                if (q->barrier->status != BLKIF_RSP_OKAY)
                        request_complete(q->barrier), q->barrier_waiting = false;
                else if (q->inflight == 1)
                        start_barrier(bb, q);
        }
        if (blk_ring_push(q))
                (void) evtchn_notify(p);
        if (q->barrier_waiting || q->barrier_active)
                return; /* resumed when the barrier completes */
        if (n > BLK_BUDGET || taken_bytes >= BLK_PUSH_BYTES || blk_ring_final_check(q))
                evtchn_port_kick(p);
}

/* ---- completions ---- */


static void respond_now(Blkback *bb, CopyBatch *copy, BlkRequest **done, unsigned *n_done, unsigned touched) {
        copy_flush(copy);
        for (unsigned i = 0; i < *n_done; i++)
                request_complete(done[i]);
        *n_done = 0;
        for (unsigned i = 0; i < bb->n_queues; i++) {
                BlkQueue *q = &bb->queues[i];
                if ((touched & (1u << i)) && q->back_ring && blk_ring_push(q))
                        (void) evtchn_notify(q->port);
        }
}

static int efd_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Blkback *bb = userdata;
        struct io_event ev[BLK_EVENTS];
        struct timespec zero = {};
        uint64_t cnt;
        unsigned touched = 0, barrier_was_active = 0;
        int n;

        (void) s;
        (void) revents;
        (void) !read(fd, &cnt, sizeof cnt);
        for (unsigned i = 0; i < bb->n_queues; i++)
                if (bb->queues[i].barrier_active)
                        barrier_was_active |= 1u << i;
        do {
                BlkRequest *done[BLK_EVENTS];
                unsigned n_done = 0;
                CopyBatch copy;

                n = io_getevents(bb->aio, 0, BLK_EVENTS, ev, &zero);
                if (n <= 0)
                        break;
                uint64_t bytes = 0;

                grant_copy_init(&copy.b, xenbus_device_gnttab(bb->dev));
                for (int i = 0; i < n; i++) {
                        BlkRequest *r = ev[i].data;
                        long res = (long) ev[i].res;

                        if (bytes >= BLK_PUSH_BYTES) {
                                /* Large requests: answer what is copied so far,
                                 * so the frontend refills the ring while we copy
                                 * the rest (measured: the daemon idled between
                                 * batches of 1 MiB requests). */
                                respond_now(bb, &copy, done, &n_done, touched);
                                bytes = 0;
                        }
                        bytes += r->nr_sectors * BLK_SECTOR_SIZE;

                        bb->inflight--;
                        r->in_aio = false;
                        touched |= 1u << r->queue->index;
                        if (r->stage == BLK_STAGE_IO) {
                                if (res < 0 || (uint64_t) res != r->nr_sectors * BLK_SECTOR_SIZE)
                                        io_error(bb, r, res);
                                else if (r->op == BLKIF_OP_READ && r->queue->back_ring && !r->map.addr)
                                        copy_segments(&copy, r, true);
                                else if (r->barrier) {
                                        prep_flush(bb, r);
                                        submit(bb, &r, 1);
                                        continue;
                                }
                        } else if (res != 0)
                                io_error(bb, r, res);
                        done[n_done++] = r;
                }
                copy_flush(&copy);
                crash_point("blk-completed"); /* done, not answered */
                for (unsigned i = 0; i < n_done; i++)
                        request_complete(done[i]);
        } while (n == BLK_EVENTS);

        blk_after_completions(bb, touched, barrier_was_active); /* may free bb: last */
        return 0;
}

void blk_after_completions(Blkback *bb, unsigned touched, unsigned barrier_was_active) {
        for (unsigned i = 0; i < bb->n_queues; i++) {
                BlkQueue *q = &bb->queues[i];
                if (!(touched & (1u << i)) || !q->back_ring)
                        continue;
                bool notify = blk_ring_push(q);
                crash_point("blk-pushed"); /* answered, not notified */
                if (notify)
                        (void) evtchn_notify(q->port);
                if (q->barrier_waiting && q->inflight == 1 && !q->stopped)
                        start_barrier(bb, q);
                else if ((barrier_was_active & (1u << i)) && !q->barrier_active && !q->stopped)
                        evtchn_port_kick(q->port); /* the barrier is done: resume the ring */
        }
        if (bb->draining && !blk_busy(bb))
                blk_finish_disconnect(bb); /* may free bb: last */
}

/* ---- I/O the kernel kept after its device went away ---- */

/* One device's abandoned I/O: requests the kernel still held when the device
 * went away, with their buffers (daemon pages or guest mappings), the AIO
 * context, and the persistent-grant tables the I/O may use. None of it is
 * freed or unmapped under a DMA: it is released when the kernel has
 * completed every request of the context (blk_abandoned_reap()). Kept in
 * the vbd class's data (BlkClass), reachable, so leak checkers do not count
 * it. */
struct BlkAbandoned {
        BlkAbandoned *next;
        io_context_t aio;
        xengnttab_handle *xgt;
        unsigned n_requests;   /* held here; n_inflight of them not yet completed */
        unsigned n_inflight;
        LIST_HEAD(, BlkRequest) requests;
        BlkPersistentTable persistent[BLK_MAX_QUEUES];
};

static BlkClass *blk_class(Blkback *bb) {
        return backend_class_data(xenbus_device_get_backend(bb->dev), &vbd_class);
}

static void abandoned_free(BlkClass *bc, BlkAbandoned *a) {
        BlkRequest *r;

        while ((r = LIST_FIRST(&a->requests))) {
                LIST_REMOVE(r, link);
                /* The device (and maybe its domain) is gone: unmap on the
                 * handle, without the per-guest count. */
                if (r->map.addr)
                        (void) xengnttab_unmap(a->xgt, r->map.addr, r->map.n_pages);
                for (unsigned i = 0; i < r->nr_segments; i++)
                        free(r->seg[i].page);
                free(r);
        }
        for (unsigned i = 0; i < BLK_MAX_QUEUES; i++)
                blk_persistent_release(&a->persistent[i], a->xgt);
        io_destroy(a->aio); /* nothing in flight: returns at once */
        bc->n_abandoned -= MIN(bc->n_abandoned, a->n_requests);
        log_info("The kernel completed %u abandoned I/Os: their buffers are released (%u abandoned left)",
                 a->n_requests, bc->n_abandoned);
        free(a);
}

/* Takes the completions of abandoned I/O without blocking, and frees each
 * context whose I/O the kernel has all given back. */
void blk_abandoned_reap(BlkClass *bc) {
        for (BlkAbandoned **p = &bc->abandoned; *p;) {
                BlkAbandoned *a = *p;
                struct io_event ev[BLK_EVENTS];
                struct timespec zero = {};
                int n;

                do {
                        n = io_getevents(a->aio, 0, BLK_EVENTS, ev, &zero);
                        for (int i = 0; i < n; i++) {
                                BlkRequest *r = ev[i].data;
                                if (r && r->in_aio) {
                                        r->in_aio = false;
                                        a->n_inflight--;
                                }
                        }
                } while (n == BLK_EVENTS);
                if (a->n_inflight > 0) {
                        p = &a->next;
                        continue;
                }
                *p = a->next;
                abandoned_free(bc, a);
        }
}

void blk_abandoned_done(BlkClass *bc) {
        if (!bc)
                return;
        blk_abandoned_reap(bc);
        /* What is left the kernel still holds: leave it to the exit. */
}

int blk_io_start(Blkback *bb) {
        BlkClass *bc = blk_class(bb);
        unsigned slots = 8;
        int r;

        if (bc) {
                blk_abandoned_reap(bc);
                if (bc->n_abandoned >= BLK_ABANDONED_MAX)
                        return -EBUSY;
        }
        for (unsigned i = 0; i < bb->n_queues; i++)
                slots += bb->queues[i].ring_size;
        bb->aio = 0;
        r = io_setup((int) slots, &bb->aio);
        if (r < 0)
                return r;
        bb->aio_slots = slots;
        bb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (bb->efd < 0) {
                r = negative_errno();
                io_destroy(bb->aio);
                bb->aio = 0;
                return r;
        }
        r = sd_event_add_io(xenbus_device_event(bb->dev), &bb->efd_source, bb->efd, EPOLLIN, efd_handler, bb);
        if (r < 0) {
                blk_io_stop(bb);
                return r;
        }
        /* Answer what is done before taking more from the rings (BLK_PUSH_BYTES). */
        (void) sd_event_source_set_priority(bb->efd_source, SD_EVENT_PRIORITY_IMPORTANT);
        return 0;
}

/* io_destroy() would block until the kernel lets go: keep what it holds
 * (see BlkAbandoned) and go on. */
static void abandon(Blkback *bb) {
        BlkClass *bc = blk_class(bb);
        BlkAbandoned *a = bc ? calloc(1, sizeof *a) : NULL;
        BlkRequest *r, *next;

        if (backend_exiting(xenbus_device_get_backend(bb->dev)))
                log_dev_debug(bb->dev, "%u I/Os in flight at exit: the next process answers them", bb->inflight);
        else
                log_dev_warning(bb->dev,
                                "%u I/Os on %s still in flight after %u ms: abandoning them with their buffers "
                                "(kept until the kernel completes them) and their AIO context",
                                bb->inflight, bb->backing.path, BLK_RELEASE_WAIT_MS);
        if (a) {
                *a = (BlkAbandoned) { .aio = bb->aio, .xgt = xenbus_device_gnttab(bb->dev) };
                LIST_INIT(&a->requests);
        }
        for (r = LIST_FIRST(&bb->requests); r; r = next) {
                next = LIST_NEXT(r, link);
                if (!r->in_aio)
                        continue;
                LIST_REMOVE(r, link);
                r->queue->inflight--;
                r->queue = NULL; /* the device is going away */
                if (a) {
                        LIST_INSERT_HEAD(&a->requests, r, link);
                        a->n_requests++;
                        a->n_inflight++;
                } /* else: lost, but never freed under the kernel */
        }
        /* The persistent maps may be under the I/O too: never unmapped
         * before it completes (lost, still mapped, without a record). */
        for (unsigned i = 0; i < BLK_MAX_QUEUES; i++) {
                if (a)
                        a->persistent[i] = bb->queues[i].persistent;
                bb->queues[i].persistent = (BlkPersistentTable) {};
        }
        if (a) {
                blk_abandoned_reap(bc); /* the older ones, while we are at it */
                a->next = bc->abandoned;
                bc->abandoned = a;
                bc->n_abandoned += a->n_requests;
                if (bc->n_abandoned >= BLK_ABANDONED_MAX)
                        log_dev_warning(bb->dev,
                                        "%u abandoned I/Os in all (at most %u): no vbd connects until the kernel "
                                        "completes some",
                                        bc->n_abandoned, BLK_ABANDONED_MAX);
        }
        bb->aio = 0;
        bb->inflight = 0;
}

static void reap(Blkback *bb, struct io_event *ev, int n) {
        for (int i = 0; i < n; i++) {
                BlkRequest *r = ev[i].data;
                if (r && r->in_aio) {
                        r->in_aio = false;
                        bb->inflight--;
                }
        }
}

void blk_io_stop(Blkback *bb) {
        bool exiting = backend_exiting(xenbus_device_get_backend(bb->dev));
        BlkRequest *r;

        blk_discard_stop(bb); /* never waits for a running discard */
        /* Exiting, no wait: the kernel completes the I/O before the process
         * is gone, and the next one runs again what was not answered. */
        if (bb->aio && bb->inflight > 0 && !exiting) {
                struct io_event ev[BLK_EVENTS];
                uint64_t deadline = now_usec() + BLK_RELEASE_WAIT_MS * 1000ull;

                /* The event loop is blocked while we wait: cancel what the
                 * kernel lets us cancel (little, for files and block
                 * devices), then give the rest a short time. */
                LIST_FOREACH(r, &bb->requests, link)
                        if (r->in_aio && io_cancel(bb->aio, &r->iocb, &ev[0]) == 0)
                                reap(bb, ev, 1), r->in_aio = false;
                while (bb->inflight > 0) {
                        uint64_t now = now_usec();
                        struct timespec ts;
                        int n;

                        if (now >= deadline)
                                break;
                        ts = (struct timespec) { .tv_sec = (time_t) ((deadline - now) / 1000000),
                                                 .tv_nsec = (long) ((deadline - now) % 1000000 * 1000) };
                        n = io_getevents(bb->aio, 1, BLK_EVENTS, ev, &ts);
                        if (n < 0 && n != -EINTR)
                                break;
                        if (n > 0)
                                reap(bb, ev, n);
                }
        }
        if (bb->aio && bb->inflight > 0)
                abandon(bb);
        else if (bb->aio) {
                /* Nothing in flight, but io_destroy() waits for an RCU grace
                 * period (tens of ms): exiting, the process's end does it
                 * for every device at once. */
                if (!exiting)
                        io_destroy(bb->aio);
                bb->aio = 0;
        }
        bb->efd_source = sd_event_source_disable_unref(bb->efd_source);
        if (bb->efd >= 0)
                close(bb->efd);
        bb->efd = -1;
        while ((r = LIST_FIRST(&bb->requests))) {
                if (r->queue->barrier == r)
                        r->queue->barrier = NULL;
                request_free(r);
        }
}

void blk_queue_stop(BlkQueue *q) {
        q->stopped = true;
        if (q->barrier_waiting) {
                /* Never started, and the frontend is going away. */
                q->barrier_waiting = false;
                q->barrier->status = BLKIF_RSP_ERROR;
                request_complete(q->barrier);
                if (q->back_ring)
                        (void) blk_ring_push(q);
        }
}
