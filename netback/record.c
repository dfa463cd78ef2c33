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
 * Each push is followed by the store of its rsp_prod into the record, so
 * the live rsp_prod is the saved one or, after a crash between the two, at
 * most one push (a ring) ahead. The frontend can write rsp_prod too:
 * anything else closes the device. State the frontend sets through the
 * rings (hash settings, multicast filter) is saved before the response that
 * acknowledges it is pushed; a request run again sets the same. */

#include <inttypes.h>

#include "netback.h"
#include "record.h"

static uint32_t live_rsp_prod(const uint32_t *p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* The live rsp_prod of a ring, checked against the saved one. */
static int resume_index(Vif *v, const char *what, unsigned qi, const uint32_t *shared, uint32_t saved, uint32_t size,
                        uint32_t *ret) {
        uint32_t live = live_rsp_prod(shared);

        if (live - saved > size)
                return xenbus_device_set_error(v->dev, -EPROTO,
                                               "queue %u: cannot re-attach: the %s response index %u is not where "
                                               "the earlier process left it (%u)", qi, what, live, saved);
        *ret = live;
        return 0;
}

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
                return xenbus_device_set_error(d, restored, "cannot keep the device's record: %s", strerror(-restored));
        (void) tap_get_name(v->tap_fds[0], now);
        if (!restored) {
                *rec = v->expected;
                v->rec = rec;
                snprintf(rec->ifname, sizeof rec->ifname, "%s", now);
                for (unsigned i = 0; i < v->n_queues; i++) {
                        rec->q[i].tx_rsp = v->queues[i].tx.rsp_prod_pvt;
                        rec->q[i].rx_rsp = v->queues[i].rx.rsp_prod_pvt;
                }
                rec->ctrl_rsp = v->ctrl.rsp_prod_pvt;
                vif_record_save_filters(v);
                goto done;
        }

        if (!same_rings(rec, &v->expected))
                return xenbus_device_set_error(d, -ESTALE, "the frontend's rings changed while pvbackd was away");
        /* Everything checked before anything changes. */
        for (unsigned i = 0; i < v->n_queues; i++) {
                VifQueue *q = &v->queues[i];
                if ((r = resume_index(v, "TX", i, &q->tx.sring->rsp_prod, rec->q[i].tx_rsp, RING_SIZE(&q->tx), &tx[i])) < 0 ||
                    (r = resume_index(v, "RX", i, &q->rx.sring->rsp_prod, rec->q[i].rx_rsp, RING_SIZE(&q->rx), &rx[i])) < 0)
                        return r;
        }
        if (v->ctrl.sring &&
            (r = resume_index(v, "control", 0, &v->ctrl.sring->rsp_prod, rec->ctrl_rsp, RING_SIZE(&v->ctrl), &ctrl)) < 0)
                return r;
        for (unsigned i = 0; i < v->n_queues; i++) {
                VifQueue *q = &v->queues[i];
                if (tx[i] != rec->q[i].tx_rsp || rx[i] != rec->q[i].rx_rsp)
                        log_dev_debug(d, "queue %u: the earlier process pushed responses it did not record", i);
                q->tx.req_cons = q->tx.rsp_prod_pvt = tx[i];
                q->rx.req_cons = q->rx.rsp_prod_pvt = rx[i];
                rec->q[i].tx_rsp = tx[i];
                rec->q[i].rx_rsp = rx[i];
        }
        if (v->ctrl.sring) {
                v->ctrl.req_cons = v->ctrl.rsp_prod_pvt = ctrl;
                rec->ctrl_rsp = ctrl;
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
