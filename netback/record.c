/* SPDX-License-Identifier: GPL-2.0-or-later */

/* A connected vif across a restart or a crash of pvbackd: the record
 * (netback.h) is made at connect and kept up to date as responses are
 * pushed; a restarted process takes the rings back from it.
 *
 * Netif responses are written in order, one per request slot, and pushed
 * only at packet boundaries, so the requests not answered are exactly those
 * from the shared rsp_prod on. Resuming there with req_cons = rsp_prod_pvt
 * = rsp_prod: TX packets the earlier process took (and perhaps wrote to the
 * tap) but did not answer are sent again -- at most one batch per queue,
 * which the guest's TCP tolerates as any duplicate on the wire -- and RX
 * buffers it filled but did not push are filled again, the packets in
 * them lost as a NIC drops them. No response is ever sent twice, nor for a
 * request the frontend no longer has outstanding.
 *
 * Responses are journalled in the record before they go into the ring
 * (where they overwrite their requests) and each push is followed by the
 * store of its rsp_prod into the record, so the live rsp_prod is the saved
 * one, or the saved one plus the journal (a crash in the push, which the
 * next process finishes). The frontend can write rsp_prod too: anything
 * else closes the device. State the frontend sets through the
 * rings (hash settings, multicast filter) is saved before the response that
 * acknowledges it is pushed; a request run again sets the same. */

#include <inttypes.h>

#include "crashpoint.h"
#include "netback.h"
#include "record.h"

_Static_assert(__CONST_RING_SIZE(netif_tx, XEN_PAGE_SIZE_BYTES) == VIF_RING_SIZE, "netif TX ring size");
_Static_assert(__CONST_RING_SIZE(netif_rx, XEN_PAGE_SIZE_BYTES) == VIF_RING_SIZE, "netif RX ring size");

/* The order of stores (the record is shared memory: what is stored before
 * the process dies is there for the next one): the responses into the
 * journal, then its count; the responses into the ring, the push; then the
 * record's rsp_prod, and the count back to 0. */
#define JOURNAL_PUSH(ring, stage, journal, journal_n, saved, pushed, notify, crash)                  \
        do {                                                                                           \
                uint32_t n_ = (ring)->rsp_prod_pvt - (pushed);                                         \
                if ((saved)) {                                                                         \
                        for (uint32_t i_ = 0; i_ < n_; i_++)                                           \
                                (journal)[((pushed) + i_) % VIF_RING_SIZE] = (stage)[((pushed) + i_) % VIF_RING_SIZE]; \
                        __atomic_store_n(&(journal_n), n_, __ATOMIC_RELEASE);                          \
                }                                                                                      \
                for (uint32_t i_ = 0; i_ < n_; i_++)                                                   \
                        *RING_GET_RESPONSE(ring, (pushed) + i_) = (stage)[((pushed) + i_) % VIF_RING_SIZE]; \
                if (n_ > 0)                                                                            \
                        crash_point(crash); /* in the ring over their requests, not pushed */         \
                RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(ring, notify);                                    \
        } while (0)

bool vif_push_tx(VifQueue *q) {
        VifQueueRecord *rec = q->rec;
        int notify;

        JOURNAL_PUSH(&q->tx, q->tx_stage, rec->tx_journal, rec->tx_journal_n, rec, q->tx_pushed, notify, "net-tx-unpushed");
        q->tx_pushed = q->tx.rsp_prod_pvt;
        if (rec) {
                __atomic_store_n(&rec->tx_rsp, q->tx_pushed, __ATOMIC_RELEASE);
                __atomic_store_n(&rec->tx_journal_n, 0, __ATOMIC_RELEASE);
        }
        return notify;
}

bool vif_push_rx(VifQueue *q) {
        VifQueueRecord *rec = q->rec;
        int notify;

        JOURNAL_PUSH(&q->rx, q->rx_stage, rec->rx_journal, rec->rx_journal_n, rec, q->rx_pushed, notify, "net-rx-unpushed");
        crash_point("net-rx-pushed"); /* pushed, neither recorded nor notified */
        q->rx_pushed = q->rx.rsp_prod_pvt;
        if (rec) {
                __atomic_store_n(&rec->rx_rsp, q->rx_pushed, __ATOMIC_RELEASE);
                __atomic_store_n(&rec->rx_journal_n, 0, __ATOMIC_RELEASE);
        }
        return notify;
}

bool vif_push_ctrl(Vif *v, const struct xen_netif_ctrl_response *rsp, unsigned n) {
        VifRecord *rec = v->rec;
        int notify;

        if (rec) {
                memcpy(rec->ctrl_journal, rsp, n * sizeof *rsp);
                __atomic_store_n(&rec->ctrl_journal_n, n, __ATOMIC_RELEASE);
        }
        for (unsigned i = 0; i < n; i++)
                *RING_GET_RESPONSE(&v->ctrl, v->ctrl_pushed + i) = rsp[i];
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&v->ctrl, notify);
        v->ctrl_pushed = v->ctrl.rsp_prod_pvt;
        if (rec) {
                __atomic_store_n(&rec->ctrl_rsp, v->ctrl_pushed, __ATOMIC_RELEASE);
                __atomic_store_n(&rec->ctrl_journal_n, 0, __ATOMIC_RELEASE);
        }
        return notify;
}

/* The live rsp_prod of a ring, checked against the record: where the
 * earlier process pushed last, or -- if it died in a push, the journal
 * holding journal_n responses -- that push done or not (then the journal's
 * responses are written and pushed now: the requests in their slots may be
 * overwritten already). Anything else is the frontend's doing. */
#define RESUME(v, what, qi, ringp, journal, journal_n, saved, ret)                                          \
        ({                                                                                                 \
                uint32_t live_ = __atomic_load_n(&(ringp)->sring->rsp_prod, __ATOMIC_ACQUIRE);             \
                uint32_t jn_ = (journal_n);                                                                \
                int r_ = 0;                                                                                \
                if (jn_ > RING_SIZE(ringp) || (live_ != (saved) && live_ != (saved) + jn_))                \
                        r_ = xenbus_device_set_error((v)->dev, -EPROTO,                                    \
                                                     "queue %u: cannot re-attach: the %s response index %u is not " \
                                                     "where the earlier process left it (%u, %u being pushed)",    \
                                                     qi, what, live_, (saved), jn_);                      \
                *(ret) = live_;                                                                            \
                r_;                                                                                        \
        })

void vif_record_save_filters(Vif *v) {
        VifRecord *rec = v->rec;

        if (!rec)
                return;
        rec->hash_alg = v->hash_alg;
        rec->hash_flags = v->hash_flags;
        rec->hash_size = v->hash_size;
        memcpy(rec->hash_key, v->hash_key, sizeof rec->hash_key);
        memcpy(rec->hash_mapping, v->hash_mapping, sizeof rec->hash_mapping);
        rec->n_mcast = v->n_mcast;
        memcpy(rec->mcast, v->mcast, sizeof rec->mcast);
        __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void restore_filters(Vif *v, const VifRecord *rec) {
        v->hash_alg = rec->hash_alg;
        v->hash_flags = rec->hash_flags;
        v->hash_size = MIN(rec->hash_size, VIF_HASH_MAPPING_MAX);
        memcpy(v->hash_key, rec->hash_key, sizeof v->hash_key);
        memcpy(v->hash_mapping, rec->hash_mapping, sizeof v->hash_mapping);
        v->n_mcast = MIN(rec->n_mcast, VIF_MCAST_MAX);
        memcpy(v->mcast, rec->mcast, sizeof v->mcast);
}

static bool same_rings(const VifRecord *a, const VifRecord *b) {
        if (a->n_queues != b->n_queues || a->split != b->split || a->has_ctrl != b->has_ctrl ||
            (a->has_ctrl && (a->ctrl_ref != b->ctrl_ref || a->ctrl_port != b->ctrl_port)))
                return false;
        for (unsigned i = 0; i < a->n_queues && i < VIF_MAX_QUEUES; i++)
                if (a->q[i].tx_ref != b->q[i].tx_ref || a->q[i].rx_ref != b->q[i].rx_ref ||
                    a->q[i].port_tx != b->q[i].port_tx || a->q[i].port_rx != b->q[i].port_rx)
                        return false;
        return true;
}

/* Called by connect once the rings are mapped and bound, before anything
 * runs on them. Fresh: the record is made from v->expected. Re-attaching:
 * the rings are taken where the earlier process left them. */
int vif_record_start(Vif *v) {
        XenbusDevice *d = v->dev;
        VifRecord *rec;
        uint32_t tx[VIF_MAX_QUEUES], rx[VIF_MAX_QUEUES], ctrl = 0;
        char now[IFNAMSIZ] = "";
        int restored, r;

        restored = xenbus_device_record(d, sizeof *rec, (void **) &rec);
        if (restored < 0)
                return restored;
        (void) tap_get_name(v->tap_fds[0], now);
        if (!restored) {
                *rec = v->expected;
                v->rec = rec;
                snprintf(rec->ifname, sizeof rec->ifname, "%s", now);
                for (unsigned i = 0; i < v->n_queues; i++) {
                        VifQueue *q = &v->queues[i];
                        rec->q[i].tx_rsp = q->tx_pushed = q->tx.rsp_prod_pvt;
                        rec->q[i].rx_rsp = q->rx_pushed = q->rx.rsp_prod_pvt;
                }
                rec->ctrl_rsp = v->ctrl_pushed = v->ctrl.rsp_prod_pvt;
                vif_record_save_filters(v);
                goto done;
        }

        if (!same_rings(rec, &v->expected))
                return xenbus_device_set_error(d, -ESTALE, "the frontend's rings changed while pvbackd was away");
        /* Everything checked before anything changes. */
        for (unsigned i = 0; i < v->n_queues; i++) {
                VifQueue *q = &v->queues[i];
                VifQueueRecord *qr = &rec->q[i];
                if ((r = RESUME(v, "TX", i, &q->tx, qr->tx_journal, qr->tx_journal_n, qr->tx_rsp, &tx[i])) < 0 ||
                    (r = RESUME(v, "RX", i, &q->rx, qr->rx_journal, qr->rx_journal_n, qr->rx_rsp, &rx[i])) < 0)
                        return r;
        }
        if (v->ctrl.sring &&
            ((rec->ctrl_journal_n > VIF_CTRL_BATCH && (r = xenbus_device_set_error(d, -EPROTO, "the record is corrupt")) < 0) ||
             (r = RESUME(v, "control", 0, &v->ctrl, rec->ctrl_journal, rec->ctrl_journal_n, rec->ctrl_rsp, &ctrl)) < 0))
                return r;
        /* Then the rings are taken where they are: a push the earlier
         * process died in is finished from the journal. */
        for (unsigned i = 0; i < v->n_queues; i++) {
                VifQueue *q = &v->queues[i];
                VifQueueRecord *qr = &rec->q[i];
                int notify;
                q->tx.req_cons = q->tx.rsp_prod_pvt = q->tx_pushed = tx[i];
                q->rx.req_cons = q->rx.rsp_prod_pvt = q->rx_pushed = rx[i];
                if (qr->tx_journal_n > 0 && tx[i] == qr->tx_rsp) {
                        log_dev_info(d, "queue %u: finishing a push of %u TX responses", i, qr->tx_journal_n);
                        for (uint32_t k = 0; k < qr->tx_journal_n; k++)
                                *RING_GET_RESPONSE(&q->tx, tx[i] + k) = qr->tx_journal[(tx[i] + k) % VIF_RING_SIZE];
                        q->tx.rsp_prod_pvt += qr->tx_journal_n;
                        q->tx.req_cons = q->tx_pushed = q->tx.rsp_prod_pvt;
                        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->tx, notify);
                }
                if (qr->rx_journal_n > 0 && rx[i] == qr->rx_rsp) {
                        log_dev_info(d, "queue %u: finishing a push of %u RX responses", i, qr->rx_journal_n);
                        for (uint32_t k = 0; k < qr->rx_journal_n; k++)
                                *RING_GET_RESPONSE(&q->rx, rx[i] + k) = qr->rx_journal[(rx[i] + k) % VIF_RING_SIZE];
                        q->rx.rsp_prod_pvt += qr->rx_journal_n;
                        q->rx.req_cons = q->rx_pushed = q->rx.rsp_prod_pvt;
                        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->rx, notify);
                }
                (void) notify;
                qr->tx_rsp = q->tx_pushed;
                qr->rx_rsp = q->rx_pushed;
                qr->tx_journal_n = qr->rx_journal_n = 0;
        }
        if (v->ctrl.sring) {
                int notify;
                v->ctrl.req_cons = v->ctrl.rsp_prod_pvt = v->ctrl_pushed = ctrl;
                if (rec->ctrl_journal_n > 0 && ctrl == rec->ctrl_rsp) {
                        for (uint32_t k = 0; k < rec->ctrl_journal_n; k++)
                                *RING_GET_RESPONSE(&v->ctrl, ctrl + k) = rec->ctrl_journal[k];
                        v->ctrl.rsp_prod_pvt += rec->ctrl_journal_n;
                        v->ctrl.req_cons = v->ctrl_pushed = v->ctrl.rsp_prod_pvt;
                        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&v->ctrl, notify);
                        (void) notify;
                }
                rec->ctrl_rsp = v->ctrl_pushed;
                rec->ctrl_journal_n = 0;
        }
        restore_filters(v, rec);

        if (v->tap_recreated) {
                /* The tap went with the FD store (systemctl stop): the one
                 * probe made is down and in no bridge; give it at least the
                 * name the vif script gave the old one. */
                if (rec->ifname[0] && !streq(rec->ifname, now) && (r = tap_rename(v, rec->ifname)) < 0)
                        log_dev_warning_errno(d, r, "Cannot rename the new tap %s to %s: %m", now, rec->ifname);
                else if (rec->ifname[0])
                        snprintf(now, sizeof now, "%s", rec->ifname);
                log_dev_warning(d,
                                "The tap of this vif was lost while pvbackd was stopped (systemctl stop closes the FD "
                                "store): re-created %s, serving the guest's rings, but it is DOWN and in no bridge: "
                                "the guest has no network until the vif's hotplug script runs again (or xl "
                                "network-detach/attach)", now);
        }
        snprintf(rec->ifname, sizeof rec->ifname, "%s", now);
        log_dev_info(d, "Took the rings back from the earlier process (tap %s)", now);
done:
        v->rec = rec;
        for (unsigned i = 0; i < v->n_queues; i++)
                v->queues[i].rec = &rec->q[i];
        return 0;
}

void vif_record_stop(Vif *v) {
        v->rec = NULL;
        for (unsigned i = 0; i < v->n_queues && v->queues; i++)
                v->queues[i].rec = NULL;
}
