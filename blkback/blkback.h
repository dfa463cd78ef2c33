/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The block backend (vbd): blkif rings served from raw files and block
 * devices through libaio. xenbus.c is the control plane (probe, connect,
 * disconnect, published keys); ring.c copies and validates requests in the
 * three ABIs; io.c moves the data (grant copy into daemon buffers, libaio,
 * completions through an eventfd in sd-event); backing.c opens the store;
 * vpd.c builds the SCSI VPD pages Windows takes its disk serial from. */

#include <libaio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <xen/io/blkif.h>

#include "evtchn.h"
#include "grant.h"
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
        uint32_t discard_granularity;
        dev_t st_dev, st_rdev;
        ino_t st_ino;
} BlkBacking;

/* Opens path (O_DIRECT when possible); a negative errno and a message for
 * the toolstack in *ret_error (caller frees) on failure. */
int blk_backing_open(const char *path, bool read_only, BlkBacking *ret, char **ret_error);
void blk_backing_close(BlkBacking *b);
/* Re-reads the size (online resize). Returns true if it changed. */
bool blk_backing_refresh_size(BlkBacking *b);
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
        void *page; /* daemon buffer, while in flight */
} BlkSegment;

typedef enum BlkStage {
        BLK_STAGE_IO,    /* read/write submitted */
        BLK_STAGE_FLUSH, /* fdatasync submitted (flush, or after a barrier write) */
} BlkStage;

typedef struct BlkQueue BlkQueue;

typedef struct BlkRequest {
        BlkQueue *queue;
        struct iocb iocb;
        uint64_t id;
        uint8_t operation;   /* as on the ring, echoed in the response */
        uint8_t op;          /* effective: READ/WRITE for INDIRECT */
        uint8_t discard_flag;
        bool barrier;
        BlkStage stage;
        int16_t status;      /* BLKIF_RSP_* decided so far */
        uint64_t sector;     /* in 512-byte units */
        uint64_t nr_sectors;
        uint16_t nr_segments;
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
};

/* Maps and initialises the back ring of q for its ABI. */
int blk_ring_attach(BlkQueue *q, BlkAbi abi);
void blk_ring_detach(BlkQueue *q);
/* Number of unconsumed requests, or -EPROTO when the producer index is
 * beyond the ring. */
int blk_ring_pending(BlkQueue *q);
/* Copies the next request out of the shared ring once, into out (which
 * holds BLKIF_MAX_SEGMENTS_PER_REQUEST segments) and advances req_cons. */
void blk_ring_take(BlkQueue *q, BlkRequest *out, uint32_t *indirect_nr);
void blk_ring_respond(BlkQueue *q, uint64_t id, uint8_t operation, int16_t status);
/* Pushes responses; true if the frontend must be notified. */
bool blk_ring_push(BlkQueue *q);
/* True if requests arrived since (RING_FINAL_CHECK_FOR_REQUESTS). */
bool blk_ring_final_check(BlkQueue *q);

/* Checks a copied request against the disk; NULL or why it is bad. */
const char *blk_request_check(const BlkRequest *r, uint64_t disk_sectors, unsigned max_indirect, bool read_only);
const char *blk_segments_check(const BlkRequest *r, uint64_t disk_sectors);

/* ---- the device (xenbus.c, io.c) ---- */

typedef struct BlkStats {
        uint64_t rd_req, wr_req, flush_req, discard_req, bad_req, io_errors;
} BlkStats;

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

        io_context_t aio;
        unsigned aio_slots;
        int efd;
        sd_event_source *efd_source;
        unsigned inflight;
        LIST_HEAD(, BlkRequest) requests;
        bool draining;
        bool logged_buffered;
        BlkStats stats;
} Blkback;

/* io.c */
int blk_io_start(Blkback *bb);
/* Waits (bounded) for in-flight AIO and frees the engine. */
void blk_io_stop(Blkback *bb);
void blk_queue_handler(EvtchnPort *p, void *userdata);
void blk_queue_free_pages(BlkQueue *q);
/* Stops taking requests (disconnect); a barrier not yet started fails. */
void blk_queue_stop(BlkQueue *q);
/* Disconnect finished draining: unmap, unbind, tell the core. */
void blk_finish_disconnect(Blkback *bb);
void blk_unmap_queues(Blkback *bb);
