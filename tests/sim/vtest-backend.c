/* SPDX-License-Identifier: GPL-2.0-or-later */

/* A test-only device class on the XenBus core. Its knobs are backend nodes
 * the tests write as a toolstack would:
 *   vtest-setup = fail        probe fails (like a missing disk image)
 *   vtest-wait = <node>       setup completes only when <node> appears
 *                             (like blkback waiting for physical-device-path)
 *   vtest-gate = 1            connect only once hotplug-status=connected
 *                             (like netback)
 *   vtest-drain-ms = N        disconnect takes N ms (in-flight I/O) */

#include <sys/mman.h>

#include "evtchn.h"
#include "grant.h"
#include "ring.h"
#include "vtest-ring.h"
#include "xenbus.h"

#define VTEST_BUDGET 64 /* requests per handler call; then kick */

typedef struct Vtest {
        XenbusDevice *dev;
        GrantMapping ring_map;
        vtest_back_ring_t ring;
        EvtchnPort *port;
        sd_event_source *drain_timer;
        char *wait_node;
        bool gate;
        uint64_t drain_ms;
} Vtest;

static void vtest_unmap(Vtest *v) {
        evtchn_unbind(v->port);
        v->port = NULL;
        xenbus_unmap_grants(v->dev, &v->ring_map);
}

static void vtest_ring_handler(EvtchnPort *p, void *userdata) {
        Vtest *v = userdata;
        XenbusDevice *d = v->dev;
        GrantCopyBatch batch;
        static uint8_t buf[GRANT_COPY_BATCH_MAX][XEN_PAGE_SIZE_BYTES];
        struct vtest_request reqs[GRANT_COPY_BATCH_MAX];
        unsigned n = 0;
        RING_IDX rp, rc;
        int more, failed;

        rp = v->ring.sring->req_prod;
        xen_rmb();
        rc = v->ring.req_cons;
        /* A producer index more than a ring ahead is a broken frontend. */
        if (!ring_req_prod_sane(rp, rc, v->ring.rsp_prod_pvt, RING_SIZE(&v->ring))) {
                xenbus_device_fatal(d, -EPROTO, "ring producer index %u is beyond the ring (consumer %u, size %u)",
                                    rp, rc, RING_SIZE(&v->ring));
                return;
        }
        grant_copy_init(&batch, xenbus_device_gnttab(d));
        while (rc != rp && n < MIN(VTEST_BUDGET, GRANT_COPY_BATCH_MAX)) {
                struct vtest_request *r = &reqs[n];

                RING_COPY_REQUEST(&v->ring, rc, r); /* once, then only the copy */
                rc++;
                if (grant_copy_from_guest(&batch, (uint16_t) xenbus_device_domid(d), r->gref, r->offset,
                                          buf[batch.n], r->len) < 0)
                        r->len = 0; /* invalid: answered with an error below */
                n++;
        }
        v->ring.req_cons = rc;

        failed = grant_copy_flush(&batch);
        (void) failed;
        for (unsigned i = 0, seg = 0; i < n; i++) {
                struct vtest_response *rsp = RING_GET_RESPONSE(&v->ring, v->ring.rsp_prod_pvt);
                struct vtest_response out = { .id = reqs[i].id, .status = -1 };

                if (reqs[i].len > 0) {
                        if (batch.segs[seg].status == GNTST_okay) {
                                out.status = 0;
                                out.sum = vtest_checksum(buf[seg], reqs[i].len);
                        }
                        seg++;
                }
                *rsp = out;
                v->ring.rsp_prod_pvt++;
        }
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&v->ring, more);
        if (more)
                (void) evtchn_notify(p);

        RING_FINAL_CHECK_FOR_REQUESTS(&v->ring, more);
        if (more)
                evtchn_port_kick(p);
}

static int vtest_probe(XenbusDevice *d, XsBatch *pub) {
        const char *be = xenbus_device_backend_path(d);
        Vtest *v = xenbus_device_get_data(d);
        _cleanup_free_ char *setup = NULL, *wait = NULL, *gate = NULL;
        uint64_t ms = 0;

        if (!v) {
                v = calloc(1, sizeof *v);
                if (!v)
                        return xenbus_device_set_error(d, -ENOMEM, "out of memory");
                v->dev = d;
                xenbus_device_set_data(d, v);
        }
        if (xenbus_read_backend(d, "vtest-setup", 32, &setup) >= 0 && streq(setup, "fail"))
                return xenbus_device_set_error(d, -ENOENT, "vtest backing store /nonexistent/vtest.img: %s",
                                               strerror(ENOENT));
        free(v->wait_node);
        v->wait_node = NULL;
        if (xenbus_read_backend(d, "vtest-wait", 64, &wait) >= 0)
                v->wait_node = TAKE_PTR(wait);
        v->gate = xenbus_read_backend(d, "vtest-gate", 8, &gate) >= 0 && streq(gate, "1");
        (void) xenbus_read_backend_uint(d, "vtest-drain-ms", 60000, &ms);
        v->drain_ms = ms;

        xs_batch_printf(pub, be, "feature-vtest", "1");
        xs_batch_printf(pub, be, "max-ring-page-order", "%u",
                        MIN(xenbus_device_config(d)->max_ring_page_order, RING_PAGE_ORDER_MAX));
        return v->wait_node ? PROBE_PENDING : PROBE_READY;
}

static void vtest_backend_changed(XenbusDevice *d, const char *node) {
        Vtest *v = xenbus_device_get_data(d);
        _cleanup_free_ char *val = NULL;

        if (!v)
                return;
        if (v->wait_node && streq(node, v->wait_node) && !xenbus_device_setup_ready(d) &&
            xenbus_read_backend(d, node, XS_VALUE_MAX, &val) >= 0)
                xenbus_device_setup_done(d, 0);
        else if (streq(node, "hotplug-status"))
                xenbus_device_kick(d);
}

static const char *const vtest_watched[] = { "physical-device-path", "hotplug-status", NULL };

static bool vtest_can_connect(XenbusDevice *d) {
        Vtest *v = xenbus_device_get_data(d);
        _cleanup_free_ char *hs = NULL;

        if (!v->gate)
                return true;
        return xenbus_read_backend(d, "hotplug-status", 32, &hs) >= 0 && streq(hs, "connected");
}

static int vtest_connect(XenbusDevice *d, XsBatch *pub) {
        const char *fe = xenbus_device_frontend_path(d);
        Vtest *v = xenbus_device_get_data(d);
        uint64_t port;
        int r;

        r = xenbus_map_ring(d, fe, "ring-ref", "ring-page-order",
                            xenbus_device_config(d)->max_ring_page_order, &v->ring_map);
        if (r < 0)
                return r;
        r = xenbus_read_frontend_uint(d, "event-channel", UINT32_MAX, &port);
        if (r < 0) {
                xenbus_unmap_grants(d, &v->ring_map);
                return xenbus_device_set_error(d, r, "%s/event-channel is %s", fe,
                                               r == -ENOENT ? "missing" : "invalid");
        }
        BACK_RING_INIT(&v->ring, (vtest_sring_t *) v->ring_map.addr,
                       (size_t) v->ring_map.n_pages * XEN_PAGE_SIZE_BYTES);
        r = xenbus_device_bind_evtchn(d, (uint32_t) port, vtest_ring_handler, v, &v->port);
        if (r < 0) {
                xenbus_unmap_grants(d, &v->ring_map);
                return xenbus_device_set_error(d, r, "cannot bind event channel %" PRIu64 ": %s", port,
                                               strerror(-r));
        }
        xs_batch_printf(pub, xenbus_device_backend_path(d), "vtest-ring-pages", "%u", v->ring_map.n_pages);
        /* Requests queued before we connected. */
        evtchn_port_kick(v->port);
        return 0;
}

static int vtest_drain_done(sd_event_source *s, uint64_t usec, void *userdata) {
        Vtest *v = userdata;

        (void) s;
        (void) usec;
        v->drain_timer = sd_event_source_disable_unref(v->drain_timer);
        vtest_unmap(v);
        xenbus_device_drained(v->dev);
        return 0;
}

static int vtest_disconnect(XenbusDevice *d) {
        Vtest *v = xenbus_device_get_data(d);

        if (v->drain_ms > 0 && !v->drain_timer) {
                /* Stop taking requests now; answer the in-flight ones later. */
                evtchn_unbind(v->port);
                v->port = NULL;
                if (sd_event_add_time_relative(xenbus_device_event(d), &v->drain_timer, CLOCK_MONOTONIC,
                                               v->drain_ms * 1000, 0, vtest_drain_done, v) >= 0)
                        return 1;
        }
        vtest_unmap(v);
        return 0;
}

/* A frontend node the guest may rewrite while connected; the class echoes
 * it into the backend so tests can see the core reported the change. */
static const char *const vtest_watched_frontend[] = { "vtest-knob", NULL };

static void vtest_frontend_changed(XenbusDevice *d, const char *node) {
        _cleanup_free_ char *val = NULL;
        XsBatch pub = {};

        if (xenbus_read_frontend(d, node, 32, &val) < 0)
                return;
        xs_batch_printf(&pub, xenbus_device_backend_path(d), "vtest-knob-seen", "%s", val);
        (void) xenbus_device_publish(d, &pub);
        xs_batch_done(&pub);
}

/* Tests look for this node to see that the core asked for a quiesce. */
static void vtest_quiesce(XenbusDevice *d) {
        XsBatch pub = {};

        xs_batch_printf(&pub, xenbus_device_backend_path(d), "vtest-quiesced", "1");
        (void) xenbus_device_publish(d, &pub);
        xs_batch_done(&pub);
}

static void vtest_release(XenbusDevice *d) {
        Vtest *v = xenbus_device_get_data(d);

        if (!v)
                return;
        v->drain_timer = sd_event_source_disable_unref(v->drain_timer);
        vtest_unmap(v);
        free(v->wait_node);
        free(v);
        xenbus_device_set_data(d, NULL);
}

const BackendClass vtest_class = {
        .kind = "vtest",
        .watched_backend_nodes = vtest_watched,
        .watched_frontend_nodes = vtest_watched_frontend,
        .frontend_changed = vtest_frontend_changed,
        .probe = vtest_probe,
        .backend_changed = vtest_backend_changed,
        .can_connect = vtest_can_connect,
        .connect = vtest_connect,
        .disconnect = vtest_disconnect,
        .quiesce = vtest_quiesce,
        .release = vtest_release,
};
