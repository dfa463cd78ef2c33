/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Guest TX: packets the guest sends, written to the tap.
 *
 * Each request is copied out of the shared ring once and only the copy is
 * looked at. A packet is its first slot (whose size is the whole frame),
 * its extras, and the follow-up slots chained with NETTXF_more_data. Its
 * data is grant-copied into a daemon buffer behind a virtio-net header, and
 * written to the tap queue with one write(). Responses: one per slot, in
 * order, with one NETIF_RSP_NULL per extra right after the first slot's. */

#include <netinet/in.h>

#include "crashpoint.h"
#include "netback.h"

/* The header slot plus XEN_NETIF_NR_SLOTS_MIN data slots: what Windows
 * sends at most before linearising. More is a broken or hostile frontend. */
#define TX_SLOTS_MAX (1u + XEN_NETIF_NR_SLOTS_MIN)
#define TX_EXTRAS_MAX (XEN_NETIF_EXTRA_TYPE_MAX - 1)
#define VNET_HDR_LEN sizeof(struct virtio_net_hdr)

typedef struct TxPacket {
        netif_tx_request_t slots[TX_SLOTS_MAX];
        unsigned n_slots, n_extras;
        netif_extra_info_t gso, mcast;
        bool has_gso, has_mcast;
        uint8_t *buf; /* virtio-net header, then the frame */
        size_t len;
        unsigned seg_first, n_segs;
} TxPacket;

struct TxBatch {
        GrantCopyBatch copy;
        TxPacket pkts[VIF_BUDGET];
        unsigned n;
        size_t arena_used;
};

TxBatch *vif_tx_batch_new(void) {
        return calloc(1, sizeof(TxBatch));
}

static void tx_respond(VifQueue *q, uint16_t id, int16_t status) {
        netif_tx_response_t *r = &q->tx_stage[q->tx.rsp_prod_pvt % VIF_RING_SIZE];

        r->id = id;
        r->status = status;
        q->tx.rsp_prod_pvt++;
}

static void tx_respond_packet(VifQueue *q, const TxPacket *p, int16_t status) {
        tx_respond(q, p->slots[0].id, status);
        for (unsigned i = 0; i < p->n_extras; i++)
                tx_respond(q, 0, NETIF_RSP_NULL);
        for (unsigned i = 1; i < p->n_slots; i++)
                tx_respond(q, p->slots[i].id, status);
}

void vif_credit_reset(VifQueue *q) {
        rate_window_restart(&q->credit, now_usec());
}

static int on_credit_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        VifQueue *q = userdata;

        (void) s;
        (void) usec;
        if (q->tx_port)
                evtchn_port_kick(q->tx_port);
        return 0;
}

/* Egress rate limit (rate=bytes,usecs): a packet goes if it fits the
 * window's credit, or if the window is untouched (so that a packet larger
 * than the credit is not stuck for ever). */
static bool tx_credit_allows(VifQueue *q, size_t size) {
        Vif *v = q->vif;
        uint64_t now;

        if (v->credit_bytes == 0)
                return true;
        now = now_usec();
        if (rate_window_take(&q->credit, now, v->credit_usec, v->credit_bytes, size))
                return true;
        if (!q->credit_timer) {
                if (sd_event_add_time(xenbus_device_event(v->dev), &q->credit_timer, CLOCK_MONOTONIC, 0, 0,
                                      on_credit_timer, q) < 0)
                        return true; /* no timer: do not stall the guest */
        }
        (void) sd_event_source_set_time(q->credit_timer, rate_window_end(&q->credit, v->credit_usec));
        (void) sd_event_source_set_enabled(q->credit_timer, SD_EVENT_ONESHOT);
        return false;
}

/* Takes the next whole packet off the ring into p. Returns 1, 0 if it is not
 * all there yet (nothing consumed), or -EPROTO after closing the device. */
static int tx_take(VifQueue *q, RING_IDX rp, TxPacket *p) {
        XenbusDevice *d = q->vif->dev;
        RING_IDX idx = q->tx.req_cons;
        netif_tx_request_t *first = &p->slots[0];
        uint32_t rest = 0;

        if (idx == rp)
                return 0;
        p->n_extras = 0;
        p->has_gso = p->has_mcast = false;
        RING_COPY_REQUEST(&q->tx, idx, first);
        idx++;
        p->n_slots = 1;

        if (first->flags & NETTXF_extra_info) {
                netif_extra_info_t e;
                do {
                        if (idx == rp)
                                return 0;
                        if (p->n_extras >= TX_EXTRAS_MAX) {
                                xenbus_device_fatal(d, -EPROTO, "queue %u: more than %u extras in one packet",
                                                    q->index, TX_EXTRAS_MAX);
                                return -EPROTO;
                        }
                        RING_COPY_REQUEST(&q->tx, idx, &e);
                        idx++;
                        p->n_extras++;
                        switch (e.type) {
                        case XEN_NETIF_EXTRA_TYPE_GSO:
                                if ((e.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
                                     e.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6) ||
                                    e.u.gso.size == 0) {
                                        xenbus_device_fatal(d, -EPROTO, "queue %u: bad GSO extra (type %u, size %u)",
                                                            q->index, e.u.gso.type, e.u.gso.size);
                                        return -EPROTO;
                                }
                                p->gso = e;
                                p->has_gso = true;
                                break;
                        case XEN_NETIF_EXTRA_TYPE_MCAST_ADD:
                        case XEN_NETIF_EXTRA_TYPE_MCAST_DEL:
                                p->mcast = e;
                                p->has_mcast = true;
                                break;
                        case XEN_NETIF_EXTRA_TYPE_HASH:
                                break; /* the guest's own hash: nothing for us to do */
                        default:
                                xenbus_device_fatal(d, -EPROTO, "queue %u: invalid extra type %u", q->index,
                                                    e.type);
                                return -EPROTO;
                        }
                } while (e.flags & XEN_NETIF_EXTRA_FLAG_MORE);
        }

        for (uint16_t flags = first->flags; flags & NETTXF_more_data;) {
                netif_tx_request_t *s;
                if (idx == rp)
                        return 0;
                if (p->n_slots >= TX_SLOTS_MAX) {
                        xenbus_device_fatal(d, -EPROTO, "queue %u: packet uses more than %u slots", q->index,
                                            TX_SLOTS_MAX);
                        return -EPROTO;
                }
                s = &p->slots[p->n_slots++];
                RING_COPY_REQUEST(&q->tx, idx, s);
                idx++;
                flags = s->flags;
                if ((unsigned) s->offset + s->size > XEN_PAGE_SIZE_BYTES) {
                        xenbus_device_fatal(d, -EPROTO, "queue %u: slot crosses its page (offset %u, size %u)",
                                            q->index, s->offset, s->size);
                        return -EPROTO;
                }
                rest += s->size;
        }

        if (p->has_mcast && p->n_slots > 1) {
                xenbus_device_fatal(d, -EPROTO, "queue %u: multicast control request with data slots", q->index);
                return -EPROTO;
        }
        if (!p->has_mcast) {
                if (rest > first->size) {
                        xenbus_device_fatal(d, -EPROTO, "queue %u: slots hold %u bytes, more than the frame's %u",
                                            q->index, rest, first->size);
                        return -EPROTO;
                }
                if ((unsigned) first->offset + (first->size - rest) > XEN_PAGE_SIZE_BYTES) {
                        xenbus_device_fatal(d, -EPROTO, "queue %u: first slot crosses its page (offset %u, size %u)",
                                            q->index, first->offset, first->size - rest);
                        return -EPROTO;
                }
        }
        p->len = first->size;
        q->tx.req_cons = idx;
        return 1;
}

static void tx_build_hdr(VifQueue *q, TxPacket *p, struct virtio_net_hdr *h, bool *ret_ok) {
        uint8_t *f = p->buf + VNET_HDR_LEN;
        uint16_t flags = p->slots[0].flags;
        PacketInfo pi;

        *h = (struct virtio_net_hdr) {};
        *ret_ok = true;
        if (!(flags & NETTXF_csum_blank) && !p->has_gso) {
                if (flags & NETTXF_data_validated)
                        h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
                return;
        }
        if (packet_parse(f, p->len, &pi) < 0 ||
            (pi.l4_proto != IPPROTO_TCP && pi.l4_proto != IPPROTO_UDP) || pi.fragment) {
                *ret_ok = false; /* a partial checksum we cannot place */
                return;
        }
        if (!(flags & NETTXF_csum_blank)) {
                /* GSO without a partial checksum: put the pseudo-header sum
                 * in, as the kernel's segmentation expects. */
                uint16_t s = (uint16_t) packet_pseudo_sum(f, &pi, p->len - pi.l4_off);
                unsigned at = pi.l4_off + (pi.l4_proto == IPPROTO_TCP ? 16 : 6);
                f[at] = (uint8_t) (s >> 8);
                f[at + 1] = (uint8_t) s;
        }
        h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h->csum_start = (uint16_t) pi.l4_off;
        h->csum_offset = pi.l4_proto == IPPROTO_TCP ? 16 : 6;
        if (p->has_gso) {
                bool v6 = p->gso.u.gso.type == XEN_NETIF_GSO_TYPE_TCPV6;
                if (pi.l4_proto != IPPROTO_TCP || pi.ipv6 != v6) {
                        *ret_ok = false;
                        return;
                }
                h->gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
                h->gso_size = p->gso.u.gso.size;
                h->hdr_len = (uint16_t) (pi.l4_off + pi.l4_hdr_len);
        }
        (void) q;
}

/* Finishes the batch: the copies, the tap writes, the responses. Returns
 * -EPROTO if the device was closed. */
static int tx_complete(VifQueue *q, TxBatch *b) {
        Vif *v = q->vif;
        XenbusDevice *d = v->dev;
        int failed;

        failed = grant_copy_flush(&b->copy);
        if (failed < 0) {
                xenbus_device_fatal(d, failed, "queue %u: grant copy failed: %s", q->index, strerror(-failed));
                return -EPROTO;
        }
        crash_point("net-tx-taken"); /* taken off the ring, not yet written */
        for (unsigned i = 0; i < b->n; i++) {
                TxPacket *p = &b->pkts[i];
                struct virtio_net_hdr h;
                int16_t status = NETIF_RSP_OKAY;
                bool ok;

                for (unsigned s = 0; s < p->n_segs; s++)
                        if (b->copy.segs[p->seg_first + s].status != GNTST_okay) {
                                xenbus_device_fatal(d, -EFAULT,
                                                    "queue %u: cannot copy TX data from grant %u (status %d)",
                                                    q->index, b->copy.segs[p->seg_first + s].source.foreign.ref,
                                                    b->copy.segs[p->seg_first + s].status);
                                return -EPROTO;
                        }
                if (p->has_mcast) {
                        if (p->mcast.type == XEN_NETIF_EXTRA_TYPE_MCAST_ADD)
                                status = vif_mcast_add(v, p->mcast.u.mcast.addr) < 0 ? NETIF_RSP_ERROR
                                                                                     : NETIF_RSP_OKAY;
                        else
                                vif_mcast_del(v, p->mcast.u.mcast.addr);
                } else if (p->len < 14) {
                        status = NETIF_RSP_ERROR; /* not even an Ethernet header */
                        q->stats.tx_errors++;
                } else {
                        tx_build_hdr(q, p, &h, &ok);
                        if (!ok) {
                                q->stats.tx_errors++;
                        } else {
                                memcpy(p->buf, &h, VNET_HDR_LEN);
                                if (write(q->tap_fd, p->buf, VNET_HDR_LEN + p->len) < 0) {
                                        if (errno == EINVAL)
                                                q->stats.tx_errors++;
                                        else
                                                q->stats.tx_dropped++; /* full queue, tap down */
                                } else {
                                        q->stats.tx_packets++;
                                        q->stats.tx_bytes += p->len;
                                }
                        }
                }
                tx_respond_packet(q, p, status);
        }
        crash_point("net-tx-written"); /* written to the tap, the responses not pushed */
        b->n = 0;
        b->arena_used = 0;
        grant_copy_init(&b->copy, xenbus_device_gnttab(d));
        return 0;
}

static void tx_queue_copies(VifQueue *q, TxBatch *b, TxPacket *p) {
        Vif *v = q->vif;
        uint16_t domid = (uint16_t) xenbus_device_domid(v->dev);
        uint32_t rest = 0;
        uint8_t *dst;

        p->buf = q->tx_arena + b->arena_used;
        b->arena_used += (VNET_HDR_LEN + p->len + 7) & ~(size_t) 7;
        p->seg_first = b->copy.n;
        p->n_segs = 0;
        if (p->has_mcast)
                return; /* gref 0, size 0: nothing to map or copy */
        for (unsigned i = 1; i < p->n_slots; i++)
                rest += p->slots[i].size;
        dst = p->buf + VNET_HDR_LEN;
        for (unsigned i = 0; i < p->n_slots; i++) {
                const netif_tx_request_t *s = &p->slots[i];
                uint16_t len = i == 0 ? (uint16_t) (p->len - rest) : s->size;
                if (len == 0)
                        continue;
                /* Bounds were checked in tx_take; this cannot fail. */
                if (grant_copy_from_guest(&b->copy, domid, s->gref, s->offset, dst, len) == 0)
                        p->n_segs++;
                dst += len;
        }
}

void vif_tx_event(VifQueue *q) {
        Vif *v = q->vif;
        XenbusDevice *d = v->dev;
        TxBatch *b = q->tx_batch; /* the queue's own: whoever runs the queue owns it */
        RING_IDX rp;
        bool limited = false;
        int more, r;

        if (!q->tx.sring)
                return;
        rp = q->tx.sring->req_prod;
        xen_rmb();
        if (!ring_req_prod_sane(rp, q->tx.req_cons, q->tx.rsp_prod_pvt, RING_SIZE(&q->tx))) {
                xenbus_device_fatal(d, -EPROTO, "queue %u: TX producer index %u is beyond the ring (consumer %u, responses %u)",
                                    q->index, rp, q->tx.req_cons, q->tx.rsp_prod_pvt);
                return;
        }
        b->n = 0;
        b->arena_used = 0;
        grant_copy_init(&b->copy, xenbus_device_gnttab(d));
        for (unsigned budget = 0; budget < VIF_BUDGET; budget++) {
                TxPacket *p = &b->pkts[b->n];
                netif_tx_request_t peek;

                if (q->tx.req_cons == rp)
                        break;
                RING_COPY_REQUEST(&q->tx, q->tx.req_cons, &peek);
                if (!tx_credit_allows(q, peek.size)) {
                        limited = true;
                        break;
                }
                r = tx_take(q, rp, p);
                if (r < 0)
                        return;
                if (r == 0)
                        break;
                if (b->copy.n + p->n_slots > GRANT_COPY_BATCH_MAX ||
                    b->arena_used + VNET_HDR_LEN + p->len + 8 > VIF_ARENA_SIZE) {
                        TxPacket keep = *p;
                        if (tx_complete(q, b) < 0)
                                return;
                        b->pkts[0] = keep;
                        p = &b->pkts[0];
                }
                tx_queue_copies(q, b, p);
                b->n++;
        }
        if (b->n > 0 && tx_complete(q, b) < 0)
                return;

        more = vif_push_tx(q);
        if (more)
                (void) evtchn_notify(q->tx_port);
        if (limited)
                return; /* the credit timer comes back */
        RING_FINAL_CHECK_FOR_REQUESTS(&q->tx, more);
        if (more)
                evtchn_port_kick(q->tx_port);
}
