/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* netback: the vif class. A guest's netif queues are served on the queues of
 * a multi-queue tap device vif<domid>.<handle>, with the virtio-net header
 * carrying checksum offload and GSO between the two.
 *
 *   xenbus.c  XenStore side: probe, keys, connect/disconnect, rate
 *   tap.c     the tap device (creation, queues, offloads)
 *   tx.c      guest -> tap
 *   rx.c      tap -> guest
 *   ctrl.c    the control ring (hash/RSS settings)
 *   hash.c    Toeplitz and flow-hash input extraction
 *   packet.c  header parsing and Internet checksums */

#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <xenctrl.h>
#include <xen/io/netif.h>

#include "evtchn.h"
#include "grant.h"
#include "ring.h"
#include "xenbus.h"

#define VIF_MAX_QUEUES 8u
#define VIF_MAX_SLOTS XEN_NETIF_NR_SLOTS_MIN /* data slots per packet, with or without feature-sg */
#define VIF_MAX_FRAME 65535u                /* netif sizes are 16 bits */
#define VIF_HASH_KEY_MAX 40u
#define VIF_HASH_MAPPING_MAX 128u
#define VIF_MCAST_MAX 64u
#define VIF_BUDGET 64u             /* packets per handler call, then kick */
#define VIF_RX_STALL_USEC 2000000u /* a frontend posting no RX buffers this long gets its packets dropped */
#define VIF_ARENA_SIZE (4u * (sizeof(struct virtio_net_hdr) + VIF_MAX_FRAME + 64u))

typedef struct Vif Vif;
/* A queue's TX and RX work in progress (tx.c, rx.c), allocated with the queue. */
typedef struct TxBatch TxBatch;
typedef struct RxBatch RxBatch;

typedef struct VifStats {
        uint64_t tx_packets, tx_bytes, tx_dropped, tx_errors;
        uint64_t rx_packets, rx_bytes, rx_dropped, rx_errors, rx_filtered;
} VifStats;

/* A received frame's Toeplitz hash, computed once: it picks the queue and
 * goes to the guest in the hash extra. */
typedef struct RxFlowHash {
        bool valid;
        uint8_t type;         /* _XEN_NETIF_CTRL_HASH_TYPE_* */
        uint32_t value;
} RxFlowHash;

/* A packet read from the tap that is waiting for RX buffers. */
typedef struct RxPending {
        bool valid;
        unsigned dest;        /* netif queue it goes to */
        RxFlowHash hash;
        struct virtio_net_hdr hdr;
        uint8_t *data;        /* in the source queue's arena */
        size_t len;
        uint64_t since;
} RxPending;

/* The record of a connected vif (record.c), in the device's record: what a
 * restarted pvbackd needs to go on serving the rings where the earlier
 * process stopped. Responses are pushed in order at packet boundaries, so
 * every request not answered is still in its ring from the shared rsp_prod
 * on: the rsp_prod pushed last on each ring is all the ring state kept. */
#define VIF_RING_SIZE 256u /* netif TX and RX rings: one page */
#define VIF_CTRL_BATCH VIF_BUDGET

/* Responses are written where their requests are: written into the ring
 * before the push, they would destroy requests that a process dying before
 * the push leaves unanswered. So they are staged privately, copied into the
 * record (the journal) and only then into the ring and pushed; a restarted
 * process finishes a push that the journal says was under way. */
typedef struct VifQueueRecord {
        uint32_t tx_ref, rx_ref, port_tx, port_rx; /* as connected */
        uint32_t tx_rsp, rx_rsp;                   /* rsp_prod last pushed */
        uint32_t tx_journal_n, rx_journal_n;       /* responses from *_rsp on being pushed */
        netif_tx_response_t tx_journal[VIF_RING_SIZE];
        netif_rx_response_t rx_journal[VIF_RING_SIZE];
} VifQueueRecord;

typedef struct VifRecord {
        uint32_t n_queues, split;
        uint32_t has_ctrl, ctrl_ref, ctrl_port, ctrl_rsp, ctrl_journal_n;
        struct xen_netif_ctrl_response ctrl_journal[VIF_CTRL_BATCH];
        char ifname[IFNAMSIZ];                     /* the tap's name at connect (after the vif script) */
        /* What the frontend set through the control ring and multicast
         * extras, saved before the response that acknowledges it is pushed. */
        uint32_t hash_alg, hash_flags, hash_size;
        uint8_t hash_key[VIF_HASH_KEY_MAX];
        uint32_t hash_mapping[VIF_HASH_MAPPING_MAX];
        uint32_t n_mcast;
        uint8_t mcast[VIF_MCAST_MAX][6];
        VifQueueRecord q[VIF_MAX_QUEUES];
} VifRecord;

typedef struct VifQueue {
        Vif *vif;
        unsigned index;
        int tap_fd;           /* tap queue; opened at probe */
        bool tap_attached;

        GrantMapping tx_map, rx_map;
        netif_tx_back_ring_t tx;
        netif_rx_back_ring_t rx;
        EvtchnPort *tx_port, *rx_port; /* the same port unless split */
        sd_event_source *tap_source;
        sd_event_source *credit_timer;
        sd_event_source *stall_timer;

        uint8_t *tx_arena, *rx_arena;
        TxBatch *tx_batch;
        RxBatch *rx_batch;
        RxPending pending;
        bool rx_stalled;      /* dropping until the frontend posts buffers again */

        /* Egress credit (rate=bytes,usecs). */
        RateWindow credit;   /* bytes sent in the current window */

        VifStats stats;
        VifQueueRecord *rec;  /* in v->rec, while connected */
        /* Responses from the last push (tx_pushed, rx_pushed) to rsp_prod_pvt, by ring index. */
        uint32_t tx_pushed, rx_pushed;
        netif_tx_response_t tx_stage[VIF_RING_SIZE];
        netif_rx_response_t rx_stage[VIF_RING_SIZE];
} VifQueue;

struct Vif {
        XenbusDevice *dev;
        char ifname[IFNAMSIZ];
        int ifindex;
        uint8_t mac[6];
        bool have_mac;
        unsigned mtu;
        unsigned n_taps;      /* tap queues opened (max queues offered) */
        int tap_fds[VIF_MAX_QUEUES];

        uint64_t credit_bytes, credit_usec; /* 0: unlimited */

        /* What the frontend wrote at connect. */
        bool fe_sg, fe_gso4, fe_gso6, fe_csum4, fe_csum6, fe_mcast_ctrl;
        unsigned n_queues;
        VifQueue *queues;

        /* Control ring. */
        GrantMapping ctrl_map;
        xen_netif_ctrl_back_ring_t ctrl;
        EvtchnPort *ctrl_port;
        uint32_t hash_alg, hash_flags, hash_size;
        uint8_t hash_key[VIF_HASH_KEY_MAX];
        uint32_t hash_mapping[VIF_HASH_MAPPING_MAX];

        uint8_t mcast[VIF_MCAST_MAX][6];
        unsigned n_mcast;

        VifStats closed_stats; /* totals of earlier connections */

        VifRecord *rec;       /* while connected */
        VifRecord expected;   /* what connect found, checked against a restored record */
        uint32_t ctrl_pushed;
        bool tap_recreated;   /* re-attaching, and the tap had gone with the FD store */
};

/* tap.c */
int tap_open_queues(Vif *v, const char *name, unsigned n, char **ret_error);
/* Takes the queues an earlier process stored back; their number, 0 if none. */
int tap_take_stored(Vif *v);
int tap_get_name(int fd, char ret[static IFNAMSIZ]);
int tap_rename(Vif *v, const char *name);
bool tap_still_ours(Vif *v);
void tap_close_all(Vif *v);
int tap_set_queue_attached(int fd, bool attached);
int tap_set_offload(int fd, unsigned flags);
int tap_set_mtu(Vif *v, unsigned mtu);
int tap_set_mac(Vif *v, const uint8_t mac[6]);

/* tx.c */
void vif_tx_event(VifQueue *q);
void vif_credit_reset(VifQueue *q);
TxBatch *vif_tx_batch_new(void); /* free() it */

/* rx.c */
int vif_rx_start(VifQueue *q);
void vif_rx_stop(VifQueue *q);
RxBatch *vif_rx_batch_new(void); /* free() it */
void vif_rx_buffers_posted(Vif *v, VifQueue *q);

/* record.c */
int vif_record_start(Vif *v);
void vif_record_stop(Vif *v);
/* Journal, write and push the staged responses; true if the frontend wants an event. */
bool vif_push_tx(VifQueue *q);
bool vif_push_rx(VifQueue *q);
bool vif_push_ctrl(Vif *v, const struct xen_netif_ctrl_response *rsp, unsigned n);
void vif_record_save_filters(Vif *v);

/* ctrl.c */
void vif_ctrl_event(Vif *v);

/* mcast (xenbus.c) */
int vif_mcast_add(Vif *v, const uint8_t addr[6]);
void vif_mcast_del(Vif *v, const uint8_t addr[6]);
bool vif_mcast_allows(Vif *v, const uint8_t *dst);
void vif_mcast_reread(Vif *v);

/* hash.c */
uint32_t toeplitz_hash(const uint8_t *key, size_t key_len, const uint8_t *buf, size_t len);
/* Computes the frontend-configured hash of an Ethernet frame; false if no
 * hash type applies. */
bool vif_flow_hash(const Vif *v, const uint8_t *frame, size_t len, uint32_t *ret_hash, uint8_t *ret_type);

/* packet.c */
typedef struct PacketInfo {
        unsigned l3_off, l4_off, l4_hdr_len;
        uint16_t ethertype;   /* after VLAN tags */
        uint8_t l4_proto;     /* IPPROTO_TCP, IPPROTO_UDP, ... */
        bool ipv6;
        bool fragment;
} PacketInfo;

int packet_parse(const uint8_t *frame, size_t len, PacketInfo *ret);
/* The one's-complement sum of the IP pseudo header for an L4 length. */
uint32_t packet_pseudo_sum(const uint8_t *frame, const PacketInfo *pi, size_t l4_len);
uint16_t csum_fold(uint32_t sum);
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum);
/* Completes a partial checksum (virtio NEEDS_CSUM semantics). */
int packet_complete_csum(uint8_t *frame, size_t len, unsigned start, unsigned offset);
