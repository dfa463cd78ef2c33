/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The control ring (feature-ctrl-ring): the frontend sets the Toeplitz hash
 * (algorithm, flags, key, mapping size and mapping) that decides the hash
 * extra and the queue of each received packet. This is Windows RSS. */

#include "netback.h"

#define HASH_FLAGS_ALL                                                                                      \
        (XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP | XEN_NETIF_CTRL_HASH_TYPE_IPV6 | \
         XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP)

static uint32_t copy_from_gref(Vif *v, uint32_t gref, void *dst, size_t len) {
        GrantCopyBatch b;

        if (len == 0)
                return XEN_NETIF_CTRL_STATUS_SUCCESS;
        grant_copy_init(&b, xenbus_device_gnttab(v->dev));
        if (grant_copy_from_guest(&b, (uint16_t) xenbus_device_domid(v->dev), gref, 0, dst, (uint16_t) len) < 0 ||
            grant_copy_flush(&b) != 0)
                return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

static uint32_t ctrl_handle(Vif *v, const struct xen_netif_ctrl_request *req, uint32_t *ret_data) {
        *ret_data = 0;
        switch (req->type) {
        case XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM:
                if (req->data[0] != XEN_NETIF_CTRL_HASH_ALGORITHM_NONE &&
                    req->data[0] != XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ)
                        return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
                v->hash_alg = req->data[0];
                return XEN_NETIF_CTRL_STATUS_SUCCESS;

        case XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS:
                if (v->hash_alg == XEN_NETIF_CTRL_HASH_ALGORITHM_NONE)
                        return XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED;
                *ret_data = HASH_FLAGS_ALL;
                return XEN_NETIF_CTRL_STATUS_SUCCESS;

        case XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS:
                if (req->data[0] & ~(uint32_t) HASH_FLAGS_ALL)
                        return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
                if (v->hash_alg == XEN_NETIF_CTRL_HASH_ALGORITHM_NONE)
                        return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
                v->hash_flags = req->data[0];
                return XEN_NETIF_CTRL_STATUS_SUCCESS;

        case XEN_NETIF_CTRL_TYPE_SET_HASH_KEY: {
                uint8_t key[VIF_HASH_KEY_MAX] = {};
                uint32_t st;
                if (req->data[1] > VIF_HASH_KEY_MAX)
                        return XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW;
                st = copy_from_gref(v, req->data[0], key, req->data[1]);
                if (st == XEN_NETIF_CTRL_STATUS_SUCCESS)
                        memcpy(v->hash_key, key, sizeof key); /* unspecified octets are zero */
                return st;
        }

        case XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE:
                *ret_data = VIF_HASH_MAPPING_MAX;
                return XEN_NETIF_CTRL_STATUS_SUCCESS;

        case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE:
                if (req->data[0] > VIF_HASH_MAPPING_MAX)
                        return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
                v->hash_size = req->data[0];
                memset(v->hash_mapping, 0, sizeof v->hash_mapping);
                return XEN_NETIF_CTRL_STATUS_SUCCESS;

        case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING: {
                uint32_t gref = req->data[0], n = req->data[1], off = req->data[2];
                uint32_t m[VIF_HASH_MAPPING_MAX];
                uint32_t st;
                if (n > VIF_HASH_MAPPING_MAX || off > v->hash_size || n > v->hash_size - off)
                        return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
                st = copy_from_gref(v, gref, m, n * sizeof m[0]);
                if (st != XEN_NETIF_CTRL_STATUS_SUCCESS)
                        return st;
                for (uint32_t i = 0; i < n; i++)
                        if (m[i] >= v->n_queues)
                                return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
                memcpy(v->hash_mapping + off, m, n * sizeof m[0]);
                return XEN_NETIF_CTRL_STATUS_SUCCESS;
        }

        default:
                return XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED;
        }
}

void vif_ctrl_event(Vif *v) {
        XenbusDevice *d = v->dev;
        RING_IDX rp, rc;
        struct xen_netif_ctrl_response rsps[VIF_CTRL_BATCH];
        unsigned n = 0;
        int more;

        if (!v->ctrl.sring)
                return;
        rp = v->ctrl.sring->req_prod;
        xen_rmb();
        rc = v->ctrl.req_cons;
        if (!ring_req_prod_sane(rp, rc, v->ctrl.rsp_prod_pvt, RING_SIZE(&v->ctrl))) {
                xenbus_device_fatal(d, -EPROTO, "control ring producer index %u is beyond the ring", rp);
                return;
        }
        while (rc != rp && n < VIF_CTRL_BATCH) {
                struct xen_netif_ctrl_request req;
                struct xen_netif_ctrl_response *rsp;
                uint32_t data;
                uint32_t status;

                RING_COPY_REQUEST(&v->ctrl, rc, &req);
                rc++;
                status = ctrl_handle(v, &req, &data);
                log_dev_debug(d, "control request %u type %u: status %u", req.id, req.type, status);
                rsp = &rsps[n++];
                rsp->id = req.id;
                rsp->type = req.type;
                rsp->status = status;
                rsp->data = data;
                v->ctrl.rsp_prod_pvt++;
        }
        v->ctrl.req_cons = rc;
        vif_record_save_filters(v); /* before the responses that acknowledge it */
        more = vif_push_ctrl(v, rsps, n);
        if (more)
                (void) evtchn_notify(v->ctrl_port);
        RING_FINAL_CHECK_FOR_REQUESTS(&v->ctrl, more);
        if (more)
                evtchn_port_kick(v->ctrl_port);
}
