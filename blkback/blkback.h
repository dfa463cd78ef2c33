/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The block backend (vbd): blkif rings served from raw files and block
 * devices through libaio. xenbus.c is the control plane (probe, connect,
 * disconnect, published keys); ring.c copies and validates requests in the
 * three ABIs; io.c moves the data (grant copy into daemon buffers, libaio,
 * completions through an eventfd in sd-event); persistent.c keeps the
 * persistently mapped grants of frontends that use them; backing.c opens the store;
 * vpd.c builds the SCSI VPD pages Windows takes its disk serial from. */

#include <assert.h>
#include <libaio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <xen/io/blkif.h>

#include "evtchn.h"
#include "grant.h"
#include "record.h"
#include "xenbus.h"

#define BLK_SECTOR_SIZE 512u
#define BLK_SECTORS_PER_PAGE (XEN_PAGE_SIZE_BYTES / BLK_SECTOR_SIZE)
#define BLK_SEGS_PER_INDIRECT_PAGE (XEN_PAGE_SIZE_BYTES / sizeof(struct blkif_request_segment))
#define BLK_MAX_QUEUES 8u

/* ---- backing store (backing.c) ---- */

typedef struct BlkBacking {
        int fd;
        char *path;
        bool direct;     /* O_DIRECT: buffers and offsets 512-aligned */
        bool block_device;
        bool read_only;
        uint64_t size;   /* bytes */
        uint32_t physical_sector_size;
        bool discard;    /* the store can punch holes / discard */
        bool secure_discard; /* a block device with secure erase (BLKSECDISCARD) */
        uint32_t discard_granularity;
        dev_t st_dev, st_rdev;
        ino_t st_ino;
} BlkBacking;

/* Whether the kernel is done with a user page when an O_DIRECT I/O on this
 * store completes: true for local filesystems and local block devices;
 * false for network storage (NFS, CIFS, Ceph, FUSE, 9p, NBD, RBD, iSCSI,
 * NVMe over fabrics, DRBD), whose retransmits may still read a page after
 * the completion, and for anything not recognised. */
bool blk_backing_is_local(const BlkBacking *b);

/* Opens path (O_DIRECT when possible); a negative errno and a message for
 * the toolstack in *ret_error (caller frees) on failure. */
int blk_backing_open(const char *path, bool read_only, BlkBacking *ret, char **ret_error);
void blk_backing_close(BlkBacking *b);
/* Re-reads the size (online resize). Returns true if it changed. */
bool blk_backing_refresh_size(BlkBacking *b);
/* While a frontend may be using the disk: re-reads the size and applies
 * growth only. 1 if it grew, 0 if unchanged, -ESTALE if it shrank (not
 * applied: *ret_size has the new size), other negative errno on failure. */
int blk_backing_check_growth(BlkBacking *b, uint64_t *ret_size);
/* A stable serial for the disk, from the store's identity (<= 20 chars). */
int blk_backing_serial(const BlkBacking *b, char *buf, size_t size);

/* ---- VPD pages (vpd.c) ---- */

/* base64 of VPD page 0x80 (unit serial number) / 0x83 (device
 * identification) for serial. Caller frees. */
char *blk_vpd_page80_base64(const char *serial);
char *blk_vpd_page83_base64(const char *serial);

/* ---- requests and rings (ring.c) ---- */

typedef enum BlkAbi {
        BLK_ABI_NATIVE,
        BLK_ABI_X86_32,
        BLK_ABI_X86_64,
} BlkAbi;

typedef struct BlkSegment {
        uint32_t gref;
        uint8_t first_sect, last_sect;
        void *page;       /* daemon buffer, while in flight (NULL when mapped, or persistent and zero-copy) */
        void *persistent; /* the persistently mapped guest page (persistent.c), not owned */
} BlkSegment;

/* ---- persistent grants (persistent.c) ---- */

/* Grants mapped persistently per queue, as Linux blkback's default
 * (xen_blkif_max_pgrants); past it, and past the guest's
 * max-grants-per-guest, segments are grant-copied. */
#define BLK_PERSISTENT_MAX_PER_QUEUE 1056u

typedef struct BlkPersistentGrant {
        uint32_t gref;
        GrantMapping map; /* one writable page; addr NULL = free slot */
} BlkPersistentGrant;

typedef struct BlkPersistentTable {
        BlkPersistentGrant *slots; /* NULL: persistent grants not in use on this queue */
        unsigned capacity, n, max;
} BlkPersistentTable;

int blk_persistent_init(BlkPersistentTable *t, unsigned max);
/* The mapped page of gref, mapping it on first use. NULL with *ret_error:
 * -ENOSPC (the table is full) or -EDQUOT (the guest's grant cap): copy
 * instead; anything else: the grant cannot be mapped (a bad request). */
void *blk_persistent_get(BlkPersistentTable *t, XenbusDevice *d, uint32_t gref, int *ret_error);
/* Unmaps everything (no I/O may use the pages any more). */
void blk_persistent_free(BlkPersistentTable *t, XenbusDevice *d);
/* Unmaps a table taken from a device that is gone (abandoned I/O, io.c),
 * on the grant handle alone: the per-guest count is not touched. */
void blk_persistent_release(BlkPersistentTable *t, xengnttab_handle *xgt);

/* How a request's data reaches the guest: grant copy through daemon
 * buffers (one more copy of every byte, but no guest page is ever under
 * the kernel's I/O), or grant mapping (the I/O goes straight to the guest's
 * pages, at the cost of a map and an unmap per request). */
typedef enum BlkGrantMap {
        BLK_GRANT_MAP_AUTO,   /* map requests of BLK_MAP_MIN_SEGMENTS or more, where safe */
        BLK_GRANT_MAP_NEVER,  /* always copy */
        BLK_GRANT_MAP_ALWAYS, /* map every READ/WRITE, where safe */
} BlkGrantMap;

/* `auto` maps requests of at least this many segments. Measured with
 * tests/bench/bench-blk.c (README): a map and an unmap per request cost more
 * than copying the data at every size from 1 to 256 segments (4 KiB to
 * 1 MiB), on tmpfs and on a loop device -- as QEMU qdisk found when it
 * moved to grant copy -- so auto copies everything: the threshold is past
 * the largest request. `grant-map = always` in pvbackd.conf maps where a
 * host measures otherwise. */
#define BLK_MAP_MIN_SEGMENTS (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLK_SEGS_PER_INDIRECT_PAGE + 1u)

typedef enum BlkStage {
        BLK_STAGE_IO,    /* read/write submitted */
        BLK_STAGE_FLUSH, /* fdatasync submitted (flush, or after a barrier write) */
} BlkStage;

typedef struct BlkQueue BlkQueue;

/* ---- surviving a restart (shadow.c) ----
 *
 * Responses on a blkif ring are out of order and overwrite request slots, so
 * the ring alone cannot tell a restarted daemon which requests were taken
 * and not answered. Each queue keeps a shadow of them in the device's record
 * (a shared file that outlives the process): an entry is written when a
 * request is taken, marked ANSWERED with its response index before the
 * response is written, and freed once that response is published. */

enum {
        BLK_SHADOW_FREE,
        BLK_SHADOW_TAKEN,    /* taken off the ring, not answered */
        BLK_SHADOW_ANSWERED, /* response written at rsp_idx, maybe not published */
};

typedef struct BlkShadow {
        uint8_t state;
        uint8_t operation, op, discard_flag;
        uint16_t nr_segments;
        uint16_t reserved;
        uint32_t req_idx; /* the ring index it was taken from */
        uint32_t rsp_idx; /* ANSWERED: where its response went */
        uint64_t id, sector, nr_sectors;
        union {
                struct {
                        uint32_t gref;
                        uint8_t first_sect, last_sect;
                } seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
                uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
        };
} BlkShadow;

typedef struct BlkQueueRecord {
        uint32_t ring_refs[1u << RING_PAGE_ORDER_MAX];
        uint32_t remote_port;
        uint32_t req_cons;   /* every request before it is in the shadow or answered */
        uint32_t rsp_pushed; /* rsp_prod as last published */
        uint32_t reserved;
} BlkQueueRecord;

/* The class's area of the device record. */
typedef struct BlkRecord {
        uint32_t n_queues, order, abi, persistent, ring_size;
        uint32_t reserved[3];
        BlkQueueRecord queues[BLK_MAX_QUEUES];
        BlkShadow shadow[]; /* ring_size per queue */
} BlkRecord;

typedef struct BlkRequest {
        BlkQueue *queue;
        struct iocb iocb;
        uint64_t id;
        uint8_t operation;   /* as on the ring, echoed in the response */
        uint8_t op;          /* effective: READ/WRITE for INDIRECT */
        uint8_t discard_flag;
        bool barrier;
        bool in_aio;         /* submitted to the kernel, not yet reaped */
        BlkStage stage;
        int16_t status;      /* BLKIF_RSP_* decided so far */
        uint64_t sector;     /* in 512-byte units */
        uint64_t nr_sectors;
        uint16_t nr_segments;
        uint16_t shadow;     /* its entry in the queue's shadow */
        GrantMapping map;    /* the data pages, when mapped (unmapped before the response) */
        uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
        LIST_ENTRY(BlkRequest) link; /* in flight, per device */
        struct iovec *iov;
        BlkSegment seg[];    /* nr_segments */
} BlkRequest;

struct BlkQueue {
        struct Blkback *bb;
        unsigned index;
        BlkAbi abi;
        GrantMapping ring_map;
        BlkAbi layout;  /* the ring layout: native resolved to x86_32/x86_64 */
        void *back_ring; /* the back ring of that layout, allocated by ring.c */
        unsigned ring_size;
        EvtchnPort *port;
        unsigned inflight;
        bool stopped;          /* disconnecting: no new requests */
        bool barrier_waiting;  /* a barrier waits for the queue to drain */
        bool barrier_active;   /* barrier in progress: ring paused */
        BlkRequest *barrier;
        /* Data page pool: bounded by ring size x segments per request. */
        void **free_pages;
        unsigned n_free, n_allocated, max_pages;
        void *indirect_buf;    /* BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST pages */
        BlkPersistentTable persistent; /* when the frontend uses persistent grants */
        /* the shadow (shadow.c) */
        BlkQueueRecord *rec;
        BlkShadow *shadow;        /* ring_size entries, in the record */
        uint16_t *shadow_free;    /* free entries, a stack */
        unsigned n_shadow_free;
        uint16_t *answered;       /* ANSWERED since the last push */
        unsigned n_answered;
        uint16_t *replay;         /* taken by an earlier process, to run again in ring order */
        unsigned n_replay, replay_next;
};

/* Maps and initialises the back ring of q for its ABI. */
int blk_ring_attach(BlkQueue *q, BlkAbi abi);
void blk_ring_detach(BlkQueue *q);
/* Number of unconsumed requests, or -EPROTO when the producer index is
 * beyond the ring. */
int blk_ring_pending(BlkQueue *q);
/* Copies the next request out of the shared ring once, into out (which
 * holds BLKIF_MAX_SEGMENTS_PER_REQUEST segments) and advances req_cons;
 * *ret_idx is the ring index it came from. */
void blk_ring_take(BlkQueue *q, BlkRequest *out, uint32_t *ret_idx);
/* Answers the request of shadow entry slot. */
void blk_ring_respond(BlkQueue *q, unsigned slot, uint64_t id, uint8_t operation, int16_t status);
/* Pushes responses; true if the frontend must be notified. */
bool blk_ring_push(BlkQueue *q);
/* The shared indices, read once (guest-written), and the private ones set
 * to what a restarted daemon recovered. */
void blk_ring_shared_indices(BlkQueue *q, uint32_t *ret_req_prod, uint32_t *ret_rsp_prod);
void blk_ring_resume(BlkQueue *q, uint32_t req_cons, uint32_t rsp_prod_pvt);
/* True if requests arrived since (RING_FINAL_CHECK_FOR_REQUESTS). */
bool blk_ring_final_check(BlkQueue *q);

/* Checks a copied request against the disk; NULL or why it is bad. */
const char *blk_request_check(const BlkRequest *r, uint64_t disk_sectors, unsigned max_indirect, bool read_only);
const char *blk_segments_check(const BlkRequest *r, uint64_t disk_sectors);

/* ---- the device (xenbus.c, io.c) ---- */

typedef struct BlkStats {
        uint64_t rd_req, wr_req, flush_req, discard_req, bad_req, io_errors;
        uint64_t mapped_req, map_fallbacks;
        uint64_t persistent_segs, persistent_copied; /* segments on persistent maps, and past the bound */
        uint64_t persistent_bounced;                 /* of those, through a daemon buffer (store unsafe for I/O on guest pages) */
        uint64_t persistent_indirect;                /* indirect descriptor pages read on persistent maps */
} BlkStats;

typedef struct BlkDiscardWorker BlkDiscardWorker;

typedef struct Blkback {
        XenbusDevice *dev;
        /* toolstack configuration, re-read at every probe */
        char *params;
        bool read_only, cdrom, removable, discard_enable, script_ours;
        char *opened_path; /* what backing was opened from */
        BlkBacking backing;
        bool backing_open;

        unsigned n_queues;
        BlkQueue queues[BLK_MAX_QUEUES];
        unsigned max_indirect;
        BlkGrantMap grant_map;   /* policy, from pvbackd.conf [disk] */
        bool map_safe;           /* mapping is allowed for this store (direct-io-safe or local) */
        bool logged_map_quota;
        bool direct_io_safe;     /* backend node direct-io-safe=1 (the toolstack vouches for O_DIRECT) */
        bool offer_persistent;   /* feature-persistent as published (pvbackd.conf [disk] persistent-grants) */
        bool persistent;         /* both sides offered feature-persistent (this connection) */

        /* online resize (resize.c) */
        int inotify_fd;
        sd_event_source *inotify_source, *resize_timer;
        uint64_t shrink_logged;  /* size whose shrink was logged, so it is logged once */

        io_context_t aio;
        unsigned aio_slots;
        int efd;
        sd_event_source *efd_source;
        unsigned inflight;         /* AIO submitted and not reaped */
        BlkDiscardWorker *discard; /* discard.c, from the first discard on */
        sd_event_source *discard_source;
        unsigned discard_inflight;
        LIST_HEAD(, BlkRequest) requests;
        bool draining;
        bool logged_buffered;
        BlkStats stats;
} Blkback;

/* shadow.c. start(): the record of a connect (expected: what the frontend
 * wrote this time), made anew, or -- while the core re-attaches the device --
 * checked against the earlier process's and recovered: the rings resume at
 * its indices and what it had taken and not answered runs again. */
int blk_shadow_start(Blkback *bb, const BlkRecord *expected);
void blk_shadow_stop(Blkback *bb);
/* A request just taken from ring index idx: its entry, or -ENOSPC when more
 * requests are unanswered than the ring holds (a broken frontend). */
int blk_shadow_take(BlkQueue *q, const BlkRequest *r, uint32_t idx);
/* The next request an earlier process took and did not answer, if any. */
bool blk_shadow_replay(BlkQueue *q, BlkRequest *out, unsigned *ret_slot);
void blk_shadow_answer(BlkQueue *q, unsigned slot, uint32_t rsp_idx);
/* The responses up to rsp_prod are published: their entries are free. */
void blk_shadow_published(BlkQueue *q, uint32_t rsp_prod);

/* resize.c: growth of the backing store published as `sectors`. Regular
 * files are watched with inotify (coalesced); block devices are re-checked
 * on SIGHUP (the class's reload op). */
int blk_resize_watch_start(Blkback *bb);
void blk_resize_watch_stop(Blkback *bb);
/* Re-reads the size and publishes growth; logs (once per size) a shrink,
 * which is refused. */
void blk_resize_check(Blkback *bb);

extern const BackendClass vbd_class;

/* discard.c: DISCARD on a worker thread. submit() queues r (which stays
 * in flight until blk_discard_done()); stop() forgets every queued job and
 * never waits for the running one. */
int blk_discard_submit(Blkback *bb, BlkRequest *r);
void blk_discard_stop(Blkback *bb);

/* The vbd class's own state (backend_class_data()): what outlives the
 * devices. */
typedef struct BlkAbandoned BlkAbandoned;
typedef struct BlkClass {
        BlkAbandoned *abandoned; /* io.c */
        unsigned n_abandoned;    /* requests in all of them */
} BlkClass;

/* Most abandoned requests (I/O the kernel still held when its device went
 * away, see io.c) kept at once, over all devices. Each holds up to a
 * request's worth of daemon pages or guest mappings, and its device's
 * persistent-grant tables stay mapped with it, so a guest that connected
 * and went away again and again while its store hung would grow the
 * daemon without end. At the bound, no vbd connects (blk_io_start() says
 * -EBUSY) until the kernel has completed enough of them: no new I/O, so no
 * more to abandon. Devices connected at the time may still add what they
 * have in flight (at most their rings' slots) when they go. 1024 requests
 * are two 16-page rings' worth, and at most 1 GiB of buffers with
 * 256-segment requests. No pvbackd.conf key: the kernel releases them in
 * its own time, and there is nothing for an administrator to weigh. */
#define BLK_ABANDONED_MAX 1024u

/* io.c */
/* -EBUSY while BLK_ABANDONED_MAX abandoned requests are held. */
int blk_io_start(Blkback *bb);
/* Stops the engine without blocking for long: cancels in-flight AIO, waits
 * briefly, and abandons (never frees) buffers the kernel may still use. */
void blk_io_stop(Blkback *bb);
/* Frees what the kernel has given back of the abandoned I/O; never blocks. */
void blk_abandoned_reap(BlkClass *bc);
/* At the class's end: reaps what it can, leaves the rest to the exit. */
void blk_abandoned_done(BlkClass *bc);
static inline bool blk_busy(const Blkback *bb) {
        return bb->inflight > 0 || bb->discard_inflight > 0;
}
/* A discard finished with result (0 or negative errno): answer it. */
void blk_discard_done(Blkback *bb, BlkRequest *r, int result);
/* After completions on the queues in touched: push responses, start
 * waiting barriers, resume rings whose barrier finished, finish a drain.
 * May free bb (the drain): call last. */
void blk_after_completions(Blkback *bb, unsigned touched, unsigned barrier_was_active);
void blk_queue_handler(EvtchnPort *p, void *userdata);
void blk_queue_free_pages(BlkQueue *q);
/* Stops taking requests (disconnect); a barrier not yet started fails. */
void blk_queue_stop(BlkQueue *q);
/* Disconnect finished draining: unmap, unbind, tell the core. */
void blk_finish_disconnect(Blkback *bb);
void blk_unmap_queues(Blkback *bb);
