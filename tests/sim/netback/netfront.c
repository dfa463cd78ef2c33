/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netfront.h"
#include "xensim.h"

static long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int grant_page(NetFront *nf, bool ro, uint64_t *gfn, uint32_t *ref) {
        int r = xsim_page_alloc(nf->dev.domid, gfn);
        if (r < 0)
                return r;
        return xsim_grant_access(nf->dev.domid, 0, *gfn, ro, ref);
}

static int set_state(NetFront *nf, XenbusState s) {
        return guest_dev_set_state(&nf->dev, s);
}

static int wait_backend(NetFront *nf, XenbusState s, int ms) {
        return guest_dev_wait_backend_state(&nf->dev, s, ms);
}

void nf_push(NetFront *nf, unsigned qi) {
        NfQueue *q = &nf->q[qi];
        int notify;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->tx, notify);
        if (notify)
                xenevtchn_notify(nf->dev.xce, q->port_tx);
}

static void rx_post_all(NetFront *nf, NfQueue *q) {
        int notify;
        while (q->rx.req_prod_pvt - q->rx.rsp_cons < NF_RING) {
                RING_IDX i = q->rx.req_prod_pvt;
                netif_rx_request_t *r = RING_GET_REQUEST(&q->rx, i);
                r->id = (uint16_t) (i & (NF_RING - 1));
                r->gref = q->rx_gref[i & (NF_RING - 1)];
                q->rx.req_prod_pvt++;
        }
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->rx, notify);
        if (notify)
                xenevtchn_notify(nf->dev.xce, q->port_rx);
}

static int setup_queue(NetFront *nf, NfQueue *q) {
        uint64_t gfn;
        int r, port;

        for (unsigned i = 0; i < NF_RING; i++) {
                if ((r = grant_page(nf, true, &q->tx_gfn[i], &q->tx_gref[i])) < 0 ||
                    (r = grant_page(nf, false, &q->rx_gfn[i], &q->rx_gref[i])) < 0)
                        return r;
        }
        if ((r = grant_page(nf, false, &gfn, &q->tx_ring_ref)) < 0)
                return r;
        netif_tx_sring_t *ts = xsim_guest_page(nf->dev.domid, gfn);
        SHARED_RING_INIT(ts);
        FRONT_RING_INIT(&q->tx, ts, 4096);
        if ((r = grant_page(nf, false, &gfn, &q->rx_ring_ref)) < 0)
                return r;
        netif_rx_sring_t *rs = xsim_guest_page(nf->dev.domid, gfn);
        SHARED_RING_INIT(rs);
        FRONT_RING_INIT(&q->rx, rs, 4096);
        port = xenevtchn_bind_unbound_port(nf->dev.xce, 0);
        if (port < 0)
                return -errno;
        q->port_tx = q->port_rx = (evtchn_port_t) port;
        if (nf->o.split) {
                port = xenevtchn_bind_unbound_port(nf->dev.xce, 0);
                if (port < 0)
                        return -errno;
                q->port_rx = (evtchn_port_t) port;
        }
        return 0;
}

static int write_keys(NetFront *nf) {
        GuestDev *g = &nf->dev;
        const char *fe = g->fe;

        for (int attempt = 0; attempt < 20; attempt++) {
                xs_transaction_t t = xs_transaction_start(g->xs);
                const NfOptions *o = &nf->o;
                bool ok = t != XBT_NULL;

                ok = ok && guest_dev_write(g, t, fe, "request-rx-copy", "1") &&
                     guest_dev_write(g, t, fe, "feature-rx-notify", "1") &&
                     guest_dev_write(g, t, fe, "feature-sg", "1") &&
                     guest_dev_write(g, t, fe, "feature-gso-tcpv4", "%d", o->gso4) &&
                     guest_dev_write(g, t, fe, "feature-gso-tcpv6", "%d", o->gso6) &&
                     guest_dev_write(g, t, fe, "feature-no-csum-offload", "%d", o->no_csum) &&
                     guest_dev_write(g, t, fe, "feature-ipv6-csum-offload", "%d", o->csum6);
                if (o->windows || o->queues > 1)
                        ok = ok && guest_dev_write(g, t, fe, "multi-queue-num-queues", "%u", o->queues);
                for (unsigned i = 0; ok && i < o->queues; i++) {
                        char dir[160];
                        NfQueue *q = &nf->q[i];
                        if (o->queues == 1)
                                snprintf(dir, sizeof dir, "%s", fe);
                        else
                                snprintf(dir, sizeof dir, "%s/queue-%u", fe, i);
                        ok = guest_dev_write(g, t, dir, "tx-ring-ref", "%u", q->tx_ring_ref) &&
                             guest_dev_write(g, t, dir, "rx-ring-ref", "%u", q->rx_ring_ref);
                        if (o->split)
                                ok = ok && guest_dev_write(g, t, dir, "event-channel-tx", "%u", q->port_tx) &&
                                     guest_dev_write(g, t, dir, "event-channel-rx", "%u", q->port_rx);
                        else
                                ok = ok && guest_dev_write(g, t, dir, "event-channel", "%u", q->port_tx);
                }
                if (o->ctrl)
                        ok = ok && guest_dev_write(g, t, fe, "ctrl-ring-ref", "%u", nf->ctrl_ring_ref) &&
                             guest_dev_write(g, t, fe, "event-channel-ctrl", "%u", nf->port_ctrl);
                if (o->mcast)
                        ok = ok && guest_dev_write(g, t, fe, "request-multicast-control", "1");
                if (!ok) {
                        int e = errno;
                        fprintf(stderr, "netfront: writing the keys failed: %s\n", strerror(e));
                        if (t != XBT_NULL)
                                xs_transaction_end(nf->dev.xs, t, true);
                        return -e;
                }
                if (xs_transaction_end(nf->dev.xs, t, false))
                        return 0;
                if (errno != EAGAIN)
                        return -errno;
        }
        return -EAGAIN;
}

static int nf_connect_steps(NetFront *nf, Harness *h, uint32_t domid, uint32_t devid, const NfOptions *o,
                            const char **step);

int nf_connect(NetFront *nf, Harness *h, uint32_t domid, uint32_t devid, const NfOptions *o) {
        const char *step = "start";
        int r = nf_connect_steps(nf, h, domid, devid, o, &step);
        if (r < 0)
                fprintf(stderr, "netfront %u/%u: connect failed at %s: %s\n", domid, devid, step, strerror(-r));
        return r;
}

static int nf_connect_steps(NetFront *nf, Harness *h, uint32_t domid, uint32_t devid, const NfOptions *o,
                            const char **step) {
        uint64_t gfn;
        int r, port;

        memset(nf, 0, sizeof *nf);
        nf->h = h;
        nf->o = *o;
        if (nf->o.queues == 0)
                nf->o.queues = 1;
        r = guest_dev_open(&nf->dev, "vif", domid, devid);
        if (r < 0)
                return r;

        *step = "waiting for InitWait";
        if ((r = wait_backend(nf, 2, 5000)) < 0)
                return r;
        if (o->set_hotplug) {
                char p[200];
                snprintf(p, sizeof p, "%s/hotplug-status", nf->dev.be);
                ts_write(h, p, "connected");
        }
        *step = "the close cycle";
        if (o->windows) {
                /* As the Windows PV drivers close a vif: Closing, Closed, then
                 * Initialising again (5, 6, 1). */
                if ((r = set_state(nf, 5)) < 0 || (r = wait_backend(nf, 5, 5000)) < 0 || (r = set_state(nf, 6)) < 0 ||
                    (r = wait_backend(nf, 6, 5000)) < 0 || (r = set_state(nf, 1)) < 0 || (r = wait_backend(nf, 2, 5000)) < 0)
                        return r;
        }
        *step = "setting up the queues";
        for (unsigned i = 0; i < nf->o.queues; i++)
                if ((r = setup_queue(nf, &nf->q[i])) < 0)
                        return r;
        if (o->ctrl) {
                if ((r = grant_page(nf, false, &gfn, &nf->ctrl_ring_ref)) < 0)
                        return r;
                xen_netif_ctrl_sring_t *cs = xsim_guest_page(domid, gfn);
                SHARED_RING_INIT(cs);
                FRONT_RING_INIT(&nf->ctrl, cs, 4096);
                port = xenevtchn_bind_unbound_port(nf->dev.xce, 0);
                if (port < 0)
                        return -errno;
                nf->port_ctrl = (evtchn_port_t) port;
                if ((r = grant_page(nf, true, &nf->ctrl_data_gfn, &nf->ctrl_data_ref)) < 0)
                        return r;
        }
        *step = "writing the keys";
        r = write_keys(nf);
        if (r < 0)
                return r;
        *step = "waiting for Connected";
        for (unsigned i = 0; i < nf->o.queues; i++)
                rx_post_all(nf, &nf->q[i]);
        if ((r = set_state(nf, 4)) < 0)
                return r;
        return wait_backend(nf, 4, 5000);
}

int nf_shutdown(NetFront *nf) {
        int r = set_state(nf, 6);
        return r < 0 ? r : wait_backend(nf, 6, 5000);
}

void nf_close(NetFront *nf) {
        guest_dev_close(&nf->dev);
}

void nf_wait_event(NetFront *nf, int ms) {
        struct pollfd p = { .fd = xenevtchn_fd(nf->dev.xce), .events = POLLIN };
        if (poll(&p, 1, ms) > 0) {
                int port;
                while ((port = xenevtchn_pending(nf->dev.xce)) >= 0)
                        xenevtchn_unmask(nf->dev.xce, (evtchn_port_t) port);
        }
}

static void violation(NetFront *nf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(NetFront *nf, const char *fmt, ...) {
        va_list ap;

        if (nf->violations++ > 0)
                return;
        va_start(ap, fmt);
        vsnprintf(nf->violation, sizeof nf->violation, fmt, ap);
        va_end(ap);
}

void nf_put_raw(NetFront *nf, unsigned qi, const netif_tx_request_t *req) {
        NfQueue *q = &nf->q[qi];
        *RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt) = *req;
        q->tx_expect[q->tx.req_prod_pvt & (NF_RING - 1)] = req->id;
        q->tx.req_prod_pvt++;
}

/* Consumes every TX response there is, checking each against the request
 * in its slot, as netfront does (xennet_tx_buf_gc). Returns the violations
 * found. */
static unsigned tx_gc(NetFront *nf, unsigned qi) {
        NfQueue *q = &nf->q[qi];
        RING_IDX rp = __atomic_load_n(&q->tx.sring->rsp_prod, __ATOMIC_ACQUIRE);
        unsigned before = nf->violations;

        if (rp - q->tx.rsp_cons > q->tx.req_prod_pvt - q->tx.rsp_cons) {
                violation(nf, "queue %u: TX rsp_prod %u beyond the requests (%u posted, %u consumed)", qi, rp,
                          q->tx.req_prod_pvt, q->tx.rsp_cons);
                rp = q->tx.req_prod_pvt;
        }
        for (; q->tx.rsp_cons != rp; q->tx.rsp_cons++) {
                RING_IDX i = q->tx.rsp_cons;
                netif_tx_response_t r = *RING_GET_RESPONSE(&q->tx, i);
                uint16_t want = q->tx_expect[i & (NF_RING - 1)];
                if (want == NF_EXTRA ? r.status != NETIF_RSP_NULL : r.id != want || r.status == NETIF_RSP_NULL)
                        violation(nf, "queue %u: TX response %u is (id %u, status %d) where (id %u%s) is outstanding",
                                  qi, i, r.id, r.status, want == NF_EXTRA ? 0 : want, want == NF_EXTRA ? ", NULL" : "");
                q->tx_status[i & (NF_RING - 1)] = r.status;
        }
        return nf->violations - before;
}

int nf_xmit(NetFront *nf, unsigned qi, const uint8_t *frame, size_t len, const NfTx *t, int timeout_ms) {
        NfQueue *q = &nf->q[qi];
        static const NfTx none;
        uint16_t ids[64];
        unsigned n_slots = 0, n_extras = 0;
        size_t off = 0;
        long end = now_ms() + timeout_ms;
        RING_IDX first = q->tx.req_prod_pvt;
        bool bad = false;

        if (!t)
                t = &none;
        if (t->mcast_type) {
                netif_tx_request_t r = { .gref = 0, .offset = 0, .size = 0, .flags = NETTXF_extra_info,
                                         .id = ids[n_slots++] = nf->next_tx_id++ & 1023 };
                netif_extra_info_t e = { .type = t->mcast_type };
                memcpy(e.u.mcast.addr, t->mcast_addr, 6);
                nf_put_raw(nf, qi, &r);
                memcpy(RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt), &e, sizeof e);
                q->tx_expect[q->tx.req_prod_pvt & (NF_RING - 1)] = NF_EXTRA;
                q->tx.req_prod_pvt++;
                n_extras = 1;
        } else {
                /* Split the frame: first slot at first_offset, then chunks. */
                while (off < len || n_slots == 0) {
                        unsigned slot = q->tx.req_prod_pvt & (NF_RING - 1);
                        uint16_t o = n_slots == 0 ? t->first_offset : t->chunk ? (uint16_t) ((n_slots * 64) % 512) : 0;
                        size_t room = 4096 - o, c = t->chunk ? t->chunk : room;
                        size_t n = len - off < c ? len - off : c;
                        if (n > room)
                                n = room;
                        memcpy((uint8_t *) xsim_guest_page(nf->dev.domid, q->tx_gfn[slot]) + o, frame + off, n);
                        netif_tx_request_t r = { .gref = q->tx_gref[slot], .offset = o,
                                                 .size = n_slots == 0 ? (uint16_t) len : (uint16_t) n,
                                                 .id = ids[n_slots] = nf->next_tx_id++ & 1023 };
                        off += n;
                        if (off < len)
                                r.flags |= NETTXF_more_data;
                        if (n_slots == 0) {
                                r.flags |= t->flags;
                                if (t->gso_type || t->hash_extra)
                                        r.flags |= NETTXF_extra_info;
                        }
                        nf_put_raw(nf, qi, &r);
                        if (n_slots == 0) {
                                if (t->gso_type) {
                                        netif_extra_info_t *e =
                                                (netif_extra_info_t *) RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt);
                                        *e = (netif_extra_info_t) { .type = XEN_NETIF_EXTRA_TYPE_GSO,
                                                                    .flags = t->hash_extra ? XEN_NETIF_EXTRA_FLAG_MORE : 0 };
                                        e->u.gso.type = t->gso_type;
                                        e->u.gso.size = t->gso_size;
                                        q->tx_expect[q->tx.req_prod_pvt & (NF_RING - 1)] = NF_EXTRA;
                                        q->tx.req_prod_pvt++;
                                        n_extras++;
                                }
                                if (t->hash_extra) {
                                        netif_extra_info_t *e =
                                                (netif_extra_info_t *) RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt);
                                        *e = (netif_extra_info_t) { .type = XEN_NETIF_EXTRA_TYPE_HASH };
                                        e->u.hash.type = _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
                                        q->tx_expect[q->tx.req_prod_pvt & (NF_RING - 1)] = NF_EXTRA;
                                        q->tx.req_prod_pvt++;
                                        n_extras++;
                                }
                        }
                        n_slots++;
                        if (n_slots >= 60)
                                return -E2BIG;
                }
        }
        nf_push(nf, qi);

        /* Its responses, and any still due to an earlier call that timed out. */
        RING_IDX end_idx = q->tx.req_prod_pvt;
        (void) n_extras;
        for (;;) {
                int more;
                bad |= tx_gc(nf, qi) > 0;
                if (end_idx - q->tx.rsp_cons == 0 || end_idx - q->tx.rsp_cons > NF_RING)
                        break;
                RING_FINAL_CHECK_FOR_RESPONSES(&q->tx, more);
                if (more)
                        continue;
                if (now_ms() > end)
                        return -ETIMEDOUT;
                nf_wait_event(nf, 5);
        }
        return bad ? -EPROTO : q->tx_status[first & (NF_RING - 1)];
}

static int recv_one(NetFront *nf, unsigned qi, NfFrame *f) {
        NfQueue *q = &nf->q[qi];
        bool first = true, more = true, extra = false;

        if (!RING_HAS_UNCONSUMED_RESPONSES(&q->rx))
                return -EAGAIN;
        if (q->rx.sring->rsp_prod - q->rx.rsp_cons > q->rx.req_prod_pvt - q->rx.rsp_cons) {
                violation(nf, "queue %u: RX rsp_prod %u beyond the buffers posted (%u)", qi, q->rx.sring->rsp_prod,
                          q->rx.req_prod_pvt);
                return -EPROTO;
        }
        f->len = 0;
        f->has_gso = f->has_hash = false;
        f->queue = qi;
        f->status = 0;
        while (more || extra) {
                RING_IDX i = q->rx.rsp_cons;
                unsigned slot = i & (NF_RING - 1);
                if (!RING_HAS_UNCONSUMED_RESPONSES(&q->rx))
                        return -EPROTO; /* a packet must be pushed whole */
                q->rx.rsp_cons++;
                if (extra) {
                        netif_extra_info_t e;
                        memcpy(&e, RING_GET_RESPONSE(&q->rx, i), sizeof e);
                        if (e.type == XEN_NETIF_EXTRA_TYPE_GSO) {
                                f->gso = e;
                                f->has_gso = true;
                        } else if (e.type == XEN_NETIF_EXTRA_TYPE_HASH) {
                                f->hash = e;
                                f->has_hash = true;
                        } else
                                return -EPROTO;
                        extra = e.flags & XEN_NETIF_EXTRA_FLAG_MORE;
                        continue;
                }
                netif_rx_response_t r = *RING_GET_RESPONSE(&q->rx, i);
                /* Same slot as the request: the id we posted there. */
                if (r.id != slot) {
                        violation(nf, "queue %u: RX response %u has id %u, not %u", qi, i, r.id, slot);
                        return -EPROTO;
                }
                if (r.status < 0) {
                        f->status = r.status;
                } else {
                        if (r.offset + r.status > 4096 || f->len + (size_t) r.status > sizeof f->data)
                                return -EPROTO;
                        memcpy(f->data + f->len, (uint8_t *) xsim_guest_page(nf->dev.domid, q->rx_gfn[slot]) + r.offset,
                               (size_t) r.status);
                        f->len += (size_t) r.status;
                }
                if (first) {
                        f->flags = r.flags;
                        extra = r.flags & NETRXF_extra_info;
                        first = false;
                }
                more = r.flags & NETRXF_more_data;
        }
        rx_post_all(nf, q);
        return 0;
}

int nf_recv(NetFront *nf, int qi, NfFrame *f, int timeout_ms) {
        long end = now_ms() + timeout_ms;
        for (;;) {
                for (unsigned i = 0; i < nf->o.queues; i++) {
                        int more;
                        if (qi >= 0 && (unsigned) qi != i)
                                continue;
                        int r = recv_one(nf, i, f);
                        if (r != -EAGAIN)
                                return r;
                        RING_FINAL_CHECK_FOR_RESPONSES(&nf->q[i].rx, more);
                        if (more) {
                                r = recv_one(nf, i, f);
                                if (r != -EAGAIN)
                                        return r;
                        }
                }
                if (now_ms() > end)
                        return -ETIMEDOUT;
                nf_wait_event(nf, timeout_ms == 0 ? 0 : 5);
                if (timeout_ms == 0)
                        return -ETIMEDOUT;
        }
}

void *nf_ctrl_page(NetFront *nf) {
        return xsim_guest_page(nf->dev.domid, nf->ctrl_data_gfn);
}

int nf_ctrl(NetFront *nf, uint16_t type, uint32_t d0, uint32_t d1, uint32_t d2, uint32_t *ret_data, int timeout_ms) {
        long end = now_ms() + timeout_ms;
        uint16_t id = ++nf->next_ctrl_id ?: ++nf->next_ctrl_id;
        struct xen_netif_ctrl_request *r = RING_GET_REQUEST(&nf->ctrl, nf->ctrl.req_prod_pvt);
        int notify;

        *r = (struct xen_netif_ctrl_request) { .id = id, .type = type, .data = { d0, d1, d2 } };
        nf->ctrl.req_prod_pvt++;
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->ctrl, notify);
        if (notify)
                xenevtchn_notify(nf->dev.xce, nf->port_ctrl);
        for (;;) {
                while (RING_HAS_UNCONSUMED_RESPONSES(&nf->ctrl)) {
                        struct xen_netif_ctrl_response rsp = *RING_GET_RESPONSE(&nf->ctrl, nf->ctrl.rsp_cons);
                        nf->ctrl.rsp_cons++;
                        if (rsp.id != id || rsp.type != type)
                                return -EPROTO;
                        if (ret_data)
                                *ret_data = rsp.data;
                        return (int) rsp.status;
                }
                int more;
                RING_FINAL_CHECK_FOR_RESPONSES(&nf->ctrl, more);
                if (more)
                        continue;
                if (now_ms() > end)
                        return -ETIMEDOUT;
                nf_wait_event(nf, 5);
        }
}

/* ---- bulk paths (the benchmark): no copies, no per-packet waits ---------- */

unsigned nf_tx_reap(NetFront *nf, unsigned qi, unsigned *ret_errors) {
        NfQueue *q = &nf->q[qi];
        RING_IDX rp = q->tx.sring->rsp_prod, i;
        unsigned errors = 0;

        xen_rmb();
        for (i = q->tx.rsp_cons; i != rp; i++) {
                int16_t s = RING_GET_RESPONSE(&q->tx, i)->status;
                errors += s != NETIF_RSP_OKAY && s != NETIF_RSP_NULL;
        }
        unsigned n = rp - q->tx.rsp_cons;
        q->tx.rsp_cons = rp;
        if (ret_errors)
                *ret_errors += errors;
        return n;
}

int nf_rx_reap(NetFront *nf, unsigned qi, uint64_t *ret_bytes, unsigned *ret_errors) {
        NfQueue *q = &nf->q[qi];
        RING_IDX rp = q->rx.sring->rsp_prod, i = q->rx.rsp_cons;
        int packets = 0;

        xen_rmb();
        if (rp - i > NF_RING)
                return -EPROTO;
        while (i != rp) {
                /* One whole packet: data slots chained by more_data, the
                 * extras (chained by FLAG_MORE) right after the first. */
                RING_IDX j = i;
                bool first = true, more = true, extra = false, bad = false;
                uint64_t bytes = 0;
                while ((more || extra) && j != rp) {
                        const netif_rx_response_t *r = RING_GET_RESPONSE(&q->rx, j);
                        j++;
                        if (extra) {
                                extra = ((const netif_extra_info_t *) r)->flags & XEN_NETIF_EXTRA_FLAG_MORE;
                                continue;
                        }
                        if (r->status < 0)
                                bad = true;
                        else
                                bytes += (uint64_t) r->status;
                        if (first)
                                extra = r->flags & NETRXF_extra_info;
                        first = false;
                        more = r->flags & NETRXF_more_data;
                }
                if (more || extra)
                        break; /* not all there yet */
                i = j;
                packets++;
                *ret_bytes += bytes;
                if (bad && ret_errors)
                        (*ret_errors)++;
        }
        if (i != q->rx.rsp_cons) {
                q->rx.rsp_cons = i;
                rx_post_all(nf, q);
        }
        return packets;
}

bool nf_arm(NetFront *nf) {
        bool any = false;

        for (unsigned i = 0; i < nf->o.queues; i++) {
                int more;
                RING_FINAL_CHECK_FOR_RESPONSES(&nf->q[i].tx, more);
                any |= more;
                RING_FINAL_CHECK_FOR_RESPONSES(&nf->q[i].rx, more);
                any |= more;
        }
        return any;
}
