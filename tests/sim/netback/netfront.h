/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A netif frontend for the simulated Xen, written for the tests: it writes
 * the keys Windows xenvif or Linux netfront write, runs their state
 * sequences, and sends and receives frames over the real netif rings. */

#include <stdbool.h>
#include <stdint.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenstore.h>
#include <xen/io/netif.h>

#include "harness.h"

#define NF_RING 256u
#define NF_MAX_QUEUES 4u

typedef struct NfQueue {
        netif_tx_front_ring_t tx;
        netif_rx_front_ring_t rx;
        uint32_t tx_ring_ref, rx_ring_ref;
        evtchn_port_t port_tx, port_rx;
        uint64_t tx_gfn[NF_RING], rx_gfn[NF_RING];
        uint32_t tx_gref[NF_RING], rx_gref[NF_RING];
        /* What the response to each outstanding TX request slot must be: the
         * request's id, or NF_EXTRA (a NULL response) for an extra slot. */
        uint16_t tx_expect[NF_RING];
        int16_t tx_status[NF_RING];
} NfQueue;

#define NF_EXTRA 0xffffu

typedef struct NfOptions {
        bool windows;       /* xenvif: close cycle first, its keys, control ring */
        unsigned queues;
        bool split;
        bool gso4, gso6, no_csum, csum6;
        bool ctrl;
        bool mcast;         /* request-multicast-control=1 */
        bool set_hotplug;   /* act as the hotplug script: hotplug-status=connected */
} NfOptions;

typedef struct NetFront {
        Harness *h;
        GuestDev dev;
        NfOptions o;
        NfQueue q[NF_MAX_QUEUES];
        xen_netif_ctrl_front_ring_t ctrl;
        evtchn_port_t port_ctrl;
        uint64_t ctrl_data_gfn;
        uint32_t ctrl_data_ref, ctrl_ring_ref;
        uint16_t next_tx_id, next_ctrl_id;
        /* Responses Linux netfront would disable the device for: one whose
         * id is not outstanding (a second response for a request included),
         * or one beyond the requests posted. The first is described. */
        unsigned violations;
        char violation[160];
} NetFront;

typedef struct NfFrame {
        uint8_t data[70000];
        size_t len;
        uint16_t flags;     /* NETRXF_* of the first response */
        netif_extra_info_t gso, hash;
        bool has_gso, has_hash;
        unsigned queue;
        int status;         /* < 0: error response */
} NfFrame;

/* Creates the guest pages, grants and channels, and connects with the
 * options' state sequence. The backend must be at InitWait or will be. */
int nf_connect(NetFront *nf, Harness *h, uint32_t domid, uint32_t devid, const NfOptions *o);
void nf_close(NetFront *nf);
/* The frontend closes (6) and waits for the backend to follow. */
int nf_shutdown(NetFront *nf);

/* Sends one frame split into chunk-byte slots (0: 4096 minus offset);
 * the first slot's data starts at first_offset. Waits for its responses and
 * checks their order (NULL right after the slot with the extras). Returns
 * the status of the first slot, or -errno. */
typedef struct NfTx {
        uint16_t flags;           /* NETTXF_csum_blank, NETTXF_data_validated */
        uint8_t gso_type;         /* XEN_NETIF_GSO_TYPE_*, 0 none */
        uint16_t gso_size;
        bool hash_extra;          /* a HASH extra, as Windows sends */
        uint8_t mcast_type;       /* XEN_NETIF_EXTRA_TYPE_MCAST_ADD/DEL: dummy request */
        uint8_t mcast_addr[6];
        unsigned chunk;
        uint16_t first_offset;
} NfTx;
int nf_xmit(NetFront *nf, unsigned qi, const uint8_t *frame, size_t len, const NfTx *t, int timeout_ms);
/* Raw: put one request (no waiting) and notify. */
void nf_put_raw(NetFront *nf, unsigned qi, const netif_tx_request_t *req);
void nf_push(NetFront *nf, unsigned qi);

/* Receives the next frame on any queue (qi < 0) or on queue qi. -ETIMEDOUT. */
int nf_recv(NetFront *nf, int qi, NfFrame *f, int timeout_ms);
/* Control ring request; returns the response status, data in *ret_data. */
int nf_ctrl(NetFront *nf, uint16_t type, uint32_t d0, uint32_t d1, uint32_t d2, uint32_t *ret_data, int timeout_ms);
/* A page to pass data through the control ring (key, mapping). */
void *nf_ctrl_page(NetFront *nf);
/* Waits for events for up to ms. */
void nf_wait_event(NetFront *nf, int ms);

/* Bulk paths for the benchmark. nf_tx_reap consumes every TX response there
 * is and returns how many (NULLs included), adding error statuses to
 * *ret_errors. nf_rx_reap consumes every whole received packet without
 * copying it, adds its bytes, reposts all buffers with one notify, and returns
 * the number of packets (-EPROTO if the ring indexes are nonsense). nf_arm
 * asks for an event at the next response on every ring; true if one is
 * already there. Nothing here waits. */
unsigned nf_tx_reap(NetFront *nf, unsigned qi, unsigned *ret_errors);
int nf_rx_reap(NetFront *nf, unsigned qi, uint64_t *ret_bytes, unsigned *ret_errors);
bool nf_arm(NetFront *nf);
