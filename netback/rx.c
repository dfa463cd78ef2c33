/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Guest RX: packets read from the tap, copied into the buffers the guest
 * posted (rx-copy). Requests are consumed in order and each response goes
 * into the ring slot of the request it consumed, extras included (Windows
 * finds its buffer from the slot index). The virtio-net header maps to the
 * netif flags; GSO and hash extras follow the first data response.
 *
 * A packet that does not fit the posted buffers waits, alone: we stop
 * reading that tap queue, so the kernel's bounded queue is the only buffer.
 * If the guest posts nothing for VIF_RX_STALL_USEC, that packet is dropped
 * and the queue is drained (and counted) until the guest posts again. */

#include <netinet/in.h>

#include "netback.h"

#define VNET_HDR_LEN sizeof(struct virtio_net_hdr)
#define RX_READ_MAX (VNET_HDR_LEN + 65536u + 256u)

typedef struct RxPlaced {
        VifQueue *dest;
        RING_IDX first_rsp;
        unsigned seg_first, n_segs;
} RxPlaced;

struct RxBatch {
        GrantCopyBatch copy;
        RxPlaced placed[GRANT_COPY_BATCH_MAX];
        unsigned n;
        uint32_t dirty; /* netif queues with responses to push */
};

RxBatch *vif_rx_batch_new(void) {
        return calloc(1, sizeof(RxBatch));
}

static void rx_flush(Vif *v, RxBatch *b) {
        int r = grant_copy_flush(&b->copy);

        for (unsigned i = 0; i < b->n; i++) {
                RxPlaced *p = &b->placed[i];
                bool bad = r < 0;
                for (unsigned s = 0; !bad && s < p->n_segs; s++)
                        bad = b->copy.segs[p->seg_first + s].status != GNTST_okay;
                if (bad) {
                        /* A buffer the guest did not grant us: its packet is
                         * marked as an error, the guest drops it. */
                        p->dest->rx_stage[p->first_rsp % VIF_RING_SIZE].status = NETIF_RSP_ERROR;
                        p->dest->stats.rx_errors++;
                }
        }
        b->n = 0;
        grant_copy_init(&b->copy, xenbus_device_gnttab(v->dev));
}

static void rx_push(Vif *v, RxBatch *b) {
        for (unsigned i = 0; i < v->n_queues; i++) {
                VifQueue *q = &v->queues[i];
                int notify;
                if (!(b->dirty & (1u << i)))
                        continue;
                notify = vif_push_rx(q);
                if (notify)
                        (void) evtchn_notify(q->rx_port);
        }
        b->dirty = 0;
}

static unsigned rx_choose_queue(Vif *v, VifQueue *src, const uint8_t *f, size_t len, RxFlowHash *ret_hash) {
        ret_hash->valid = vif_flow_hash(v, f, len, &ret_hash->value, &ret_hash->type);
        if (ret_hash->valid && v->hash_size > 0) {
                uint32_t q = v->hash_mapping[ret_hash->value % v->hash_size];
                if (q < v->n_queues)
                        return q;
        }
        return src->index;
}

/* Places one packet into dest's ring. 1: placed or dropped; 0: no room;
 * -EPROTO: the device was closed. */
static int rx_place(Vif *v, RxBatch *b, VifQueue *src, const struct virtio_net_hdr *h, const RxFlowHash *hash,
                    uint8_t *f, size_t len, unsigned dest_index) {
        VifQueue *q = &v->queues[dest_index];
        XenbusDevice *d = v->dev;
        netif_extra_info_t extras[2];
        unsigned n_extras = 0, n_data, need;
        uint16_t flags = 0;
        RING_IDX rp;
        size_t off = 0;
        RxPlaced *pl;

        (void) src;
        if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
                PacketInfo pi;
                bool v6 = packet_parse(f, len, &pi) == 0 && pi.ipv6;
                if (v6 ? v->fe_csum6 : v->fe_csum4)
                        flags |= NETRXF_csum_blank | NETRXF_data_validated;
                else if (packet_complete_csum(f, len, h->csum_start, h->csum_offset) == 0)
                        flags |= NETRXF_data_validated;
                else {
                        q->stats.rx_errors++;
                        return 1;
                }
        } else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
                flags |= NETRXF_data_validated;

        if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
                unsigned t = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
                bool ok = (t == VIRTIO_NET_HDR_GSO_TCPV4 && v->fe_gso4) || (t == VIRTIO_NET_HDR_GSO_TCPV6 && v->fe_gso6);
                /* The tap only offers what the frontend accepts (TUNSETOFFLOAD). */
                if (!ok || !(flags & NETRXF_csum_blank) || h->gso_size == 0) {
                        q->stats.rx_dropped++;
                        return 1;
                }
                extras[n_extras++] = (netif_extra_info_t) {
                        .type = XEN_NETIF_EXTRA_TYPE_GSO,
                        .u.gso = { .size = h->gso_size,
                                   .type = t == VIRTIO_NET_HDR_GSO_TCPV4 ? XEN_NETIF_GSO_TYPE_TCPV4
                                                                         : XEN_NETIF_GSO_TYPE_TCPV6 },
                };
        }
        if (hash->valid) {
                netif_extra_info_t e = { .type = XEN_NETIF_EXTRA_TYPE_HASH };
                e.u.hash.type = hash->type;
                e.u.hash.algorithm = XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ;
                memcpy(e.u.hash.value, &hash->value, sizeof hash->value);
                extras[n_extras++] = e;
        }
        for (unsigned i = 0; i + 1 < n_extras; i++)
                extras[i].flags = XEN_NETIF_EXTRA_FLAG_MORE;

        n_data = (unsigned) ((len + XEN_PAGE_SIZE_BYTES - 1) / XEN_PAGE_SIZE_BYTES);
        need = n_data + n_extras;
        if (need > RING_SIZE(&q->rx)) {
                q->stats.rx_dropped++;
                return 1;
        }
        rp = q->rx.sring->req_prod;
        xen_rmb();
        if (!ring_req_prod_sane(rp, q->rx.req_cons, q->rx.rsp_prod_pvt, RING_SIZE(&q->rx)))
                goto broken;
        if (rp - q->rx.req_cons < need) {
                /* Ask to be told when enough buffers are there, then look again. */
                q->rx.sring->req_event = q->rx.req_cons + need;
                xen_mb();
                rp = q->rx.sring->req_prod;
                xen_rmb();
                if (!ring_req_prod_sane(rp, q->rx.req_cons, q->rx.rsp_prod_pvt, RING_SIZE(&q->rx)))
                        goto broken;
                if (rp - q->rx.req_cons < need)
                        return 0;
        }

        pl = &b->placed[b->n++];
        *pl = (RxPlaced) { .dest = q, .first_rsp = q->rx.rsp_prod_pvt, .seg_first = b->copy.n };
        for (unsigned i = 0, extra = 0; i < need; i++) {
                netif_rx_request_t req;
                netif_rx_response_t *rsp;

                RING_COPY_REQUEST(&q->rx, q->rx.req_cons, &req);
                q->rx.req_cons++;
                rsp = &q->rx_stage[q->rx.rsp_prod_pvt % VIF_RING_SIZE];
                q->rx.rsp_prod_pvt++;
                if (i >= 1 && extra < n_extras) {
                        memcpy(rsp, &extras[extra++], sizeof extras[0]);
                        continue;
                }
                uint16_t chunk = (uint16_t) MIN(len - off, (size_t) XEN_PAGE_SIZE_BYTES);
                uint16_t rflags = 0;
                if (i == 0)
                        rflags = flags | (n_extras ? NETRXF_extra_info : 0);
                if (off + chunk < len)
                        rflags |= NETRXF_more_data;
                *rsp = (netif_rx_response_t) { .id = req.id, .offset = 0, .flags = rflags, .status = (int16_t) chunk };
                if (grant_copy_to_guest(&b->copy, (uint16_t) xenbus_device_domid(d), req.gref, 0, f + off, chunk) == 0)
                        pl->n_segs++;
                off += chunk;
        }
        q->stats.rx_packets++;
        q->stats.rx_bytes += len;
        b->dirty |= 1u << q->index;
        return 1;

broken:
        xenbus_device_fatal(d, -EPROTO, "queue %u: RX producer index %u is beyond the ring (consumer %u, responses %u)",
                            q->index, rp, q->rx.req_cons, q->rx.rsp_prod_pvt);
        return -EPROTO;
}

static int on_stall_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void rx_set_reading(VifQueue *q, bool on) {
        if (q->tap_source)
                (void) sd_event_source_set_enabled(q->tap_source, on ? SD_EVENT_ON : SD_EVENT_OFF);
}

static void rx_hold(VifQueue *src, const struct virtio_net_hdr *h, const RxFlowHash *hash, uint8_t *f, size_t len,
                    unsigned dest) {
        Vif *v = src->vif;

        /* Keep it at the start of the arena; nothing else is in flight. */
        memmove(src->rx_arena, f, len);
        src->pending = (RxPending) { .valid = true, .dest = dest, .hash = *hash, .hdr = *h, .data = src->rx_arena,
                                     .len = len, .since = now_usec() };
        rx_set_reading(src, false);
        if (!src->stall_timer &&
            sd_event_add_time(xenbus_device_event(v->dev), &src->stall_timer, CLOCK_MONOTONIC, 0, 0, on_stall_timer,
                              src) < 0)
                return;
        (void) sd_event_source_set_time(src->stall_timer, src->pending.since + VIF_RX_STALL_USEC);
        (void) sd_event_source_set_enabled(src->stall_timer, SD_EVENT_ONESHOT);
}

static void rx_unhold(VifQueue *src) {
        src->pending.valid = false;
        if (src->stall_timer)
                (void) sd_event_source_set_enabled(src->stall_timer, SD_EVENT_OFF);
        rx_set_reading(src, true);
}

/* Reads and delivers what src's tap queue has, within the budget. */
static void rx_run(VifQueue *src) {
        Vif *v = src->vif;
        XenbusDevice *d = v->dev;
        RxBatch *b = src->rx_batch; /* the source queue's own */
        size_t used = 0;
        int r;

        b->n = 0;
        b->dirty = 0;
        grant_copy_init(&b->copy, xenbus_device_gnttab(d));

        if (src->pending.valid) {
                RxPending *p = &src->pending;
                r = rx_place(v, b, src, &p->hdr, &p->hash, p->data, p->len, p->dest);
                if (r < 0)
                        return;
                if (r == 0)
                        return; /* still no room */
                rx_flush(v, b);
                rx_push(v, b);
                rx_unhold(src);
        }

        for (unsigned budget = 0; budget < VIF_BUDGET; budget++) {
                uint8_t *buf;
                struct virtio_net_hdr h;
                ssize_t n;
                size_t len;
                unsigned dest;
                RxFlowHash hash;

                if (used + RX_READ_MAX > VIF_ARENA_SIZE || b->copy.n + 17 > GRANT_COPY_BATCH_MAX) {
                        rx_flush(v, b);
                        used = 0;
                }
                buf = src->rx_arena + used;
                n = read(src->tap_fd, buf, RX_READ_MAX);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR) {
                                /* The tap was deleted under us (its namespace
                                 * went): stop polling an fd that stays in error. */
                                log_dev_warning_errno(d, negative_errno(), "queue %u: cannot read the tap, no longer receiving: %m",
                                                      src->index);
                                rx_set_reading(src, false);
                        }
                        break;
                }
                if ((size_t) n < VNET_HDR_LEN + 14) {
                        src->stats.rx_errors++;
                        continue;
                }
                memcpy(&h, buf, VNET_HDR_LEN);
                len = (size_t) n - VNET_HDR_LEN;
                buf += VNET_HDR_LEN;

                if (v->fe_mcast_ctrl && (buf[0] & 1) && !vif_mcast_allows(v, buf)) {
                        src->stats.rx_filtered++;
                        continue;
                }
                dest = rx_choose_queue(v, src, buf, len, &hash);
                r = rx_place(v, b, src, &h, &hash, buf, len, dest);
                if (r < 0)
                        return;
                if (r == 0) {
                        if (src->rx_stalled) {
                                v->queues[dest].stats.rx_dropped++;
                                continue;
                        }
                        rx_flush(v, b);
                        rx_push(v, b);
                        rx_hold(src, &h, &hash, buf, len, dest);
                        return;
                }
                used += (VNET_HDR_LEN + len + 7) & ~(size_t) 7;
        }
        rx_flush(v, b);
        rx_push(v, b);
}

static int on_tap_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) s;
        (void) fd;
        (void) revents;
        rx_run(userdata);
        return 0;
}

static int on_stall_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        VifQueue *src = userdata;
        Vif *v = src->vif;

        (void) s;
        (void) usec;
        if (!src->pending.valid)
                return 0;
        if (xenbus_device_ratelimit_ok(v->dev))
                log_dev_warning(v->dev, "queue %u: the guest has posted no receive buffers for %u ms, dropping",
                                src->pending.dest, VIF_RX_STALL_USEC / 1000);
        v->queues[src->pending.dest].stats.rx_dropped++;
        src->rx_stalled = true;
        rx_unhold(src);
        return 0;
}

void vif_rx_buffers_posted(Vif *v, VifQueue *q) {
        XenbusDevice *d = v->dev;

        (void) q;
        for (unsigned i = 0; i < v->n_queues && !xenbus_device_failed(d); i++) {
                VifQueue *src = &v->queues[i];
                src->rx_stalled = false;
                if (src->pending.valid)
                        rx_run(src);
        }
}

int vif_rx_start(VifQueue *q) {
        int r = sd_event_add_io(xenbus_device_event(q->vif->dev), &q->tap_source, q->tap_fd, EPOLLIN,
                                on_tap_readable, q);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(q->tap_source, "vif-tap");
        return 0;
}

void vif_rx_stop(VifQueue *q) {
        q->tap_source = sd_event_source_disable_unref(q->tap_source);
        q->stall_timer = sd_event_source_disable_unref(q->stall_timer);
        q->pending.valid = false;
}
