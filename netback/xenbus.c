/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The vif class on the XenBus core: what xen-netback's xenbus.c does, on a
 * tap device. Probe creates the tap (down) before InitWait, so that libxl's
 * vif-bridge/vif-openvswitch/vif-route find vif<domid>.<handle>; connect
 * waits for hotplug-status=connected, as netback does. */

#include <inttypes.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <sys/stat.h>

#include "netback.h"
#include "record.h"

#define VIF_TAP_MAC ((const uint8_t[6]) { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff })

static const char *const vif_watched[] = { "hotplug-status", "rate", NULL };

static int parse_mac(const char *s, uint8_t ret[6]) {
        unsigned b[6];
        char tail;

        if (strlen(s) != 17 ||
            sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
                return -EINVAL;
        for (unsigned i = 0; i < 6; i++)
                ret[i] = (uint8_t) b[i];
        return 0;
}

/* rate = "<bytes>,<usecs>": egress credit per interval. */
static int parse_rate(const char *s, uint64_t *ret_bytes, uint64_t *ret_usec) {
        _cleanup_free_ char *copy = strdup(s);
        char *comma;
        uint64_t bytes, usec;

        if (!copy)
                return -ENOMEM;
        comma = strchr(copy, ',');
        if (!comma)
                return -EINVAL;
        *comma = 0;
        if (parse_uint(copy, UINT64_MAX / 2, &bytes) < 0 || parse_uint(comma + 1, UINT32_MAX, &usec) < 0 ||
            bytes == 0 || usec == 0)
                return -EINVAL;
        *ret_bytes = bytes;
        *ret_usec = usec;
        return 0;
}

static int read_rate(XenbusDevice *d, uint64_t *ret_bytes, uint64_t *ret_usec) {
        _cleanup_free_ char *rate = NULL;
        int r = xenbus_read_backend(d, "rate", 64, &rate);

        if (r == -ENOENT) {
                *ret_bytes = *ret_usec = 0;
                return 0;
        }
        if (r < 0 || parse_rate(rate, ret_bytes, ret_usec) < 0)
                return -EINVAL;
        return 0;
}

static void vif_apply_rate(Vif *v, uint64_t bytes, uint64_t usec) {
        v->credit_bytes = bytes;
        v->credit_usec = usec;
        for (unsigned i = 0; i < v->n_queues && v->queues; i++) {
                vif_credit_reset(&v->queues[i]);
                if (v->queues[i].tx_port)
                        evtchn_port_kick(v->queues[i].tx_port); /* may have been waiting for credit */
        }
}

/* ---- multicast filter ---------------------------------------------------- */

int vif_mcast_add(Vif *v, const uint8_t addr[6]) {
        if (!(addr[0] & 1))
                return -EINVAL;
        for (unsigned i = 0; i < v->n_mcast; i++)
                if (memcmp(v->mcast[i], addr, 6) == 0)
                        return 0;
        if (v->n_mcast >= VIF_MCAST_MAX)
                return -ENOSPC;
        memcpy(v->mcast[v->n_mcast++], addr, 6);
        vif_record_save_filters(v);
        vif_mcast_reread(v);
        return 0;
}

void vif_mcast_del(Vif *v, const uint8_t addr[6]) {
        for (unsigned i = 0; i < v->n_mcast; i++)
                if (memcmp(v->mcast[i], addr, 6) == 0) {
                        memmove(v->mcast[i], v->mcast[i + 1], (v->n_mcast - i - 1) * 6);
                        v->n_mcast--;
                        vif_record_save_filters(v);
                        break;
                }
        vif_mcast_reread(v);
}

bool vif_mcast_allows(Vif *v, const uint8_t *dst) {
        static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

        if (memcmp(dst, bcast, 6) == 0)
                return true;
        for (unsigned i = 0; i < v->n_mcast; i++)
                if (memcmp(v->mcast[i], dst, 6) == 0)
                        return true;
        return false;
}

/* request-multicast-control is rewritten by Windows as its filter changes:
 * read at connect, when the frontend sends a multicast extra, and whenever
 * the node changes (the core watches it for us). */
void vif_mcast_reread(Vif *v) {
        bool on = false;
        _cleanup_free_ char *s = NULL;

        if (xenbus_read_frontend(v->dev, "request-multicast-control", 8, &s) >= 0)
                (void) parse_bool01(s, &on);
        v->fe_mcast_ctrl = on;
}

/* ---- class operations ---------------------------------------------------- */

static const char *const vif_watched_frontend[] = { "request-multicast-control", NULL };

static void vif_frontend_changed(XenbusDevice *d, const char *node) {
        Vif *v = xenbus_device_get_data(d);

        if (v && streq(node, "request-multicast-control"))
                vif_mcast_reread(v);
}

static int vif_init(Backend *b) {
        struct stat st;

        (void) b;
        if (stat("/sys/bus/xen-backend/drivers/vif", &st) >= 0)
                return log_error_errno(-EBUSY, "The kernel's xen-netback is bound (/sys/bus/xen-backend/drivers/vif "
                                               "exists); blacklist xen_netback to let pvbackd serve vif devices");
        return 0;
}

static Vif *vif_get(XenbusDevice *d) {
        Vif *v = xenbus_device_get_data(d);

        if (v)
                return v;
        v = calloc(1, sizeof *v);
        if (!v)
                return NULL;
        v->dev = d;
        for (unsigned i = 0; i < VIF_MAX_QUEUES; i++)
                v->tap_fds[i] = -1;
        xenbus_device_set_data(d, v);
        return v;
}

static unsigned vif_max_queues(XenbusDevice *d) {
        return MAX(1u, MIN(xenbus_device_config(d)->max_queues, VIF_MAX_QUEUES));
}

static int vif_probe(XenbusDevice *d, XsBatch *pub) {
        const char *be = xenbus_device_backend_path(d);
        Vif *v = vif_get(d);
        _cleanup_free_ char *mac = NULL, *vifname = NULL, *bridge = NULL, *err = NULL;
        char name[IFNAMSIZ + 8];
        uint64_t handle = xenbus_device_devid(d), mtu = 0, bytes, usec;
        int r;

        if (!v)
                return xenbus_device_set_error(d, -ENOMEM, "out of memory");

        r = xenbus_read_backend_uint(d, "handle", UINT16_MAX, &handle);
        if (r < 0 && r != -ENOENT)
                return xenbus_device_set_error(d, r, "%s/handle is not a number up to 65535", be);
        r = xenbus_read_backend(d, "mac", 32, &mac);
        if (r >= 0) {
                if (parse_mac(mac, v->mac) < 0)
                        return xenbus_device_set_error(d, -EINVAL, "%s/mac is not a MAC address (xx:xx:xx:xx:xx:xx)",
                                                       be);
                v->have_mac = true;
        } else if (r != -ENOENT)
                return xenbus_device_set_error(d, r, "%s/mac is invalid", be);
        r = xenbus_read_backend_uint(d, "mtu", 65535, &mtu);
        if ((r < 0 && r != -ENOENT) || (r >= 0 && mtu < 68))
                return xenbus_device_set_error(d, -EINVAL, "%s/mtu is not a number in 68..65535", be);
        v->mtu = (unsigned) mtu;
        if (read_rate(d, &bytes, &usec) < 0)
                return xenbus_device_set_error(d, -EINVAL, "%s/rate is not \"<bytes>,<usecs>\" with both above 0",
                                               be);
        r = xenbus_read_backend(d, "vifname", XS_VALUE_MAX, &vifname);
        if (r >= 0 && strlen(vifname) >= IFNAMSIZ)
                return xenbus_device_set_error(d, -EINVAL, "%s/vifname is longer than %u characters",
                                               be, IFNAMSIZ - 1);
        (void) xenbus_read_backend(d, "bridge", XS_VALUE_MAX, &bridge); /* the script's business */

        snprintf(name, sizeof name, "vif%u.%u", xenbus_device_domid(d), (unsigned) handle);
        if (strlen(name) >= IFNAMSIZ)
                return xenbus_device_set_error(d, -ENAMETOOLONG, "interface name %s is too long", name);

        if (v->n_taps == 0 && tap_take_stored(v) > 0) {
                /* An earlier process's tap: its queues stay as they are while
                 * re-attaching; otherwise only queue 0 takes packets. */
                if (!xenbus_device_reattaching(d))
                        for (unsigned i = 1; i < v->n_taps; i++)
                                (void) tap_set_queue_attached(v->tap_fds[i], false);
                log_dev_info(d, "Took tap %s back from the earlier process (ifindex %d, %u queues)", v->ifname,
                             v->ifindex, v->n_taps);
        } else if (!tap_still_ours(v)) {
                tap_close_all(v);
                r = tap_open_queues(v, name, vif_max_queues(d), &err);
                if (r < 0)
                        return xenbus_device_set_error(d, r, "%s", err ?: "cannot create the tap device");
                (void) tap_set_mac(v, VIF_TAP_MAC); /* what netback gives its vifs; the script sets it too */
                if (v->mtu > 0 && (r = tap_set_mtu(v, v->mtu)) < 0)
                        return xenbus_device_set_error(d, r, "cannot set the MTU of %s to %u: %s", name, v->mtu,
                                                       strerror(-r));
                log_dev_info(d, "Created tap %s (ifindex %d, %u queues)", name, v->ifindex, v->n_taps);
                v->tap_recreated = xenbus_device_reattaching(d);
        } else
                log_dev_debug(d, "Reusing tap ifindex %d", v->ifindex);
        v->credit_bytes = bytes;
        v->credit_usec = usec;

        xs_batch_printf(pub, be, "feature-rx-copy", "1");
        xs_batch_printf(pub, be, "feature-rx-flip", "0");
        xs_batch_printf(pub, be, "feature-sg", "1");
        xs_batch_printf(pub, be, "feature-gso-tcpv4", "1");
        xs_batch_printf(pub, be, "feature-gso-tcpv6", "1");
        xs_batch_printf(pub, be, "feature-ipv6-csum-offload", "1");
        xs_batch_printf(pub, be, "multi-queue-max-queues", "%u", v->n_taps);
        xs_batch_printf(pub, be, "feature-split-event-channels", "1");
        xs_batch_printf(pub, be, "feature-ctrl-ring", "1");
        xs_batch_printf(pub, be, "feature-multicast-control", "1");
        xs_batch_printf(pub, be, "feature-dynamic-multicast-control", "1");
        return PROBE_READY;
}

static void vif_backend_changed(XenbusDevice *d, const char *node) {
        Vif *v = xenbus_device_get_data(d);
        uint64_t bytes, usec;

        if (!v)
                return;
        if (streq(node, "hotplug-status"))
                xenbus_device_kick(d);
        else if (streq(node, "rate")) {
                if (read_rate(d, &bytes, &usec) < 0) {
                        log_dev_warning(d, "Ignoring invalid rate, keeping %" PRIu64 " bytes per %" PRIu64 " us",
                                        v->credit_bytes, v->credit_usec);
                        return;
                }
                if (bytes != v->credit_bytes || usec != v->credit_usec) {
                        log_dev_info(d, "Rate limit now %" PRIu64 " bytes per %" PRIu64 " us", bytes, usec);
                        vif_apply_rate(v, bytes, usec);
                }
        }
}

static bool vif_can_connect(XenbusDevice *d) {
        _cleanup_free_ char *hs = NULL;

        return xenbus_read_backend(d, "hotplug-status", 32, &hs) >= 0 && streq(hs, "connected");
}

static int read_fe_bool(XenbusDevice *d, const char *dir, const char *key, bool def, bool *ret) {
        int r = xenbus_read_bool(d, dir, key, ret);

        if (r == -ENOENT) {
                *ret = def;
                return 0;
        }
        if (r < 0)
                return xenbus_device_set_error(d, r, "%s/%s is not 0 or 1", dir, key);
        return 0;
}

static int read_fe_port(XenbusDevice *d, const char *dir, const char *key, uint32_t *ret) {
        uint64_t v;
        int r;

        r = xenbus_read_uint(d, dir, key, UINT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint32_t) v;
        return 0;
}

static void on_tx_port(EvtchnPort *p, void *userdata) {
        (void) p;
        vif_tx_event(userdata);
}

static void on_rx_port(EvtchnPort *p, void *userdata) {
        VifQueue *q = userdata;

        (void) p;
        vif_rx_buffers_posted(q->vif, q);
}

static void on_shared_port(EvtchnPort *p, void *userdata) {
        VifQueue *q = userdata;
        XenbusDevice *d = q->vif->dev;

        (void) p;
        vif_rx_buffers_posted(q->vif, q);
        if (xenbus_device_failed(d))
                return; /* closing: take no more requests */
        vif_tx_event(q);
}

static void on_ctrl_port(EvtchnPort *p, void *userdata) {
        (void) p;
        vif_ctrl_event(userdata);
}

static void queue_stop(Vif *v, VifQueue *q, bool detach) {
        XenbusDevice *d = v->dev;

        if (q->rx_port != q->tx_port)
                evtchn_unbind(q->rx_port);
        evtchn_unbind(q->tx_port);
        q->tx_port = q->rx_port = NULL;
        vif_rx_stop(q);
        q->credit_timer = sd_event_source_disable_unref(q->credit_timer);
        q->tx.sring = NULL;
        q->rx.sring = NULL;
        xenbus_unmap_grants(d, &q->tx_map);
        xenbus_unmap_grants(d, &q->rx_map);
        free(q->tx_arena);
        free(q->rx_arena);
        q->tx_arena = q->rx_arena = NULL;
        free(q->tx_batch);
        free(q->rx_batch);
        q->tx_batch = NULL;
        q->rx_batch = NULL;
        /* Not when released: a detached queue loses what it holds, and an
         * exiting daemon leaves the queues to the next process. */
        if (detach && q->index > 0 && q->tap_attached)
                (void) tap_set_queue_attached(q->tap_fd, false);
        q->tap_attached = false;

        v->closed_stats.tx_packets += q->stats.tx_packets;
        v->closed_stats.tx_bytes += q->stats.tx_bytes;
        v->closed_stats.tx_dropped += q->stats.tx_dropped;
        v->closed_stats.tx_errors += q->stats.tx_errors;
        v->closed_stats.rx_packets += q->stats.rx_packets;
        v->closed_stats.rx_bytes += q->stats.rx_bytes;
        v->closed_stats.rx_dropped += q->stats.rx_dropped;
        v->closed_stats.rx_errors += q->stats.rx_errors;
        v->closed_stats.rx_filtered += q->stats.rx_filtered;
}

static void vif_stop(Vif *v, bool detach) {
        XenbusDevice *d = v->dev;

        vif_record_stop(v);
        evtchn_unbind(v->ctrl_port);
        v->ctrl_port = NULL;
        v->ctrl.sring = NULL;
        xenbus_unmap_grants(d, &v->ctrl_map);
        if (!v->queues)
                return;
        for (unsigned i = 0; i < v->n_queues; i++)
                queue_stop(v, &v->queues[i], detach);
        free(v->queues);
        v->queues = NULL;
        v->n_queues = 0;
        log_dev_info(d,
                     "Statistics: tx %" PRIu64 " packets %" PRIu64 " bytes, %" PRIu64 " dropped, %" PRIu64
                     " errors; rx %" PRIu64 " packets %" PRIu64 " bytes, %" PRIu64 " dropped, %" PRIu64
                     " errors, %" PRIu64 " filtered",
                     v->closed_stats.tx_packets, v->closed_stats.tx_bytes, v->closed_stats.tx_dropped,
                     v->closed_stats.tx_errors, v->closed_stats.rx_packets, v->closed_stats.rx_bytes,
                     v->closed_stats.rx_dropped, v->closed_stats.rx_errors, v->closed_stats.rx_filtered);
}

static int queue_connect(Vif *v, VifQueue *q, const char *dir) {
        XenbusDevice *d = v->dev;
        uint32_t port_tx, port_rx, port;
        bool split;
        int r;

        VifQueueRecord *e = &v->expected.q[q->index];

        r = xenbus_map_ring_order(d, dir, "tx-ring-ref", 0, &e->tx_ref, &q->tx_map);
        if (r < 0)
                return r;
        r = xenbus_map_ring_order(d, dir, "rx-ring-ref", 0, &e->rx_ref, &q->rx_map);
        if (r < 0)
                return r;
        BACK_RING_INIT(&q->tx, (netif_tx_sring_t *) q->tx_map.addr, XEN_PAGE_SIZE_BYTES);
        BACK_RING_INIT(&q->rx, (netif_rx_sring_t *) q->rx_map.addr, XEN_PAGE_SIZE_BYTES);

        split = read_fe_port(d, dir, "event-channel-tx", &port_tx) >= 0 &&
                read_fe_port(d, dir, "event-channel-rx", &port_rx) >= 0;
        if (!split && read_fe_port(d, dir, "event-channel", &port) < 0)
                return xenbus_device_set_error(d, -EINVAL, "%s has no valid event-channel(-tx/-rx)", dir);
        e->port_tx = split ? port_tx : port;
        e->port_rx = split ? port_rx : port;
        v->expected.split = split;

        q->tx_arena = malloc(VIF_ARENA_SIZE);
        q->rx_arena = malloc(VIF_ARENA_SIZE);
        q->tx_batch = vif_tx_batch_new();
        q->rx_batch = vif_rx_batch_new();
        if (!q->tx_arena || !q->rx_arena || !q->tx_batch || !q->rx_batch)
                return xenbus_device_set_error(d, -ENOMEM, "out of memory");

        if (split) {
                r = xenbus_device_bind_evtchn(d, port_tx, on_tx_port, q, &q->tx_port);
                if (r >= 0)
                        r = xenbus_device_bind_evtchn(d, port_rx, on_rx_port, q, &q->rx_port);
        } else {
                r = xenbus_device_bind_evtchn(d, port, on_shared_port, q, &q->tx_port);
                q->rx_port = q->tx_port;
        }
        if (r < 0)
                return xenbus_device_set_error(d, r, "cannot bind the event channels of %s: %s", dir, strerror(-r));

        r = tap_set_queue_attached(q->tap_fd, true);
        if (r < 0)
                return xenbus_device_set_error(d, r, "cannot attach tap queue %u: %s", q->index, strerror(-r));
        q->tap_attached = true;
        vif_credit_reset(q);
        r = vif_rx_start(q);
        if (r < 0)
                return xenbus_device_set_error(d, r, "cannot watch tap queue %u: %s", q->index, strerror(-r));
        return 0;
}

static int ctrl_connect(Vif *v) {
        XenbusDevice *d = v->dev;
        const char *fe = xenbus_device_frontend_path(d);
        _cleanup_free_ char *ref = NULL;
        uint32_t port;
        int r;

        if (xenbus_read_frontend(d, "ctrl-ring-ref", 32, &ref) == -ENOENT)
                return 0; /* optional */
        r = xenbus_map_ring_order(d, fe, "ctrl-ring-ref", 0, &v->expected.ctrl_ref, &v->ctrl_map);
        if (r < 0)
                return r;
        if (read_fe_port(d, fe, "event-channel-ctrl", &port) < 0)
                return xenbus_device_set_error(d, -EINVAL, "%s/event-channel-ctrl is missing or invalid",
                                               fe);
        v->expected.has_ctrl = 1;
        v->expected.ctrl_port = port;
        BACK_RING_INIT(&v->ctrl, (xen_netif_ctrl_sring_t *) v->ctrl_map.addr, XEN_PAGE_SIZE_BYTES);
        r = xenbus_device_bind_evtchn(d, port, on_ctrl_port, v, &v->ctrl_port);
        if (r < 0)
                return xenbus_device_set_error(d, r, "cannot bind the control event channel: %s", strerror(-r));
        evtchn_port_kick(v->ctrl_port);
        return 0;
}

static int vif_connect_fail(Vif *v, int r) {
        vif_stop(v, true);
        return r;
}

static int vif_connect(XenbusDevice *d, XsBatch *pub) {
        const char *fe = xenbus_device_frontend_path(d);
        Vif *v = xenbus_device_get_data(d);
        uint64_t n = 1;
        bool rx_copy, rx_notify, no_csum;
        unsigned offload = 0;
        int r;

        (void) pub;
        if (!v || v->n_taps == 0)
                return xenbus_device_set_error(d, -ENODEV, "the tap device is gone");
        if ((r = read_fe_bool(d, fe, "request-rx-copy", false, &rx_copy)) < 0 ||
            (r = read_fe_bool(d, fe, "feature-rx-notify", false, &rx_notify)) < 0 ||
            (r = read_fe_bool(d, fe, "feature-sg", false, &v->fe_sg)) < 0 ||
            (r = read_fe_bool(d, fe, "feature-gso-tcpv4", false, &v->fe_gso4)) < 0 ||
            (r = read_fe_bool(d, fe, "feature-gso-tcpv6", false, &v->fe_gso6)) < 0 ||
            (r = read_fe_bool(d, fe, "feature-no-csum-offload", false, &no_csum)) < 0 ||
            (r = read_fe_bool(d, fe, "feature-ipv6-csum-offload", false, &v->fe_csum6)) < 0)
                return r;
        if (!rx_copy)
                return xenbus_device_set_error(d, -EOPNOTSUPP, "the frontend did not request rx-copy (flip is not supported)");
        if (!rx_notify)
                return xenbus_device_set_error(d, -EOPNOTSUPP, "the frontend does not support feature-rx-notify");
        v->fe_csum4 = !no_csum;
        r = xenbus_read_frontend_uint(d, "multi-queue-num-queues", UINT32_MAX, &n);
        if (r < 0 && r != -ENOENT)
                return xenbus_device_set_error(d, r, "%s/multi-queue-num-queues is invalid", fe);
        if (n < 1 || n > v->n_taps)
                return xenbus_device_set_error(d, -EINVAL, "the frontend asks for %" PRIu64 " queues, at most %u offered",
                                               n, v->n_taps);

        v->queues = calloc(n, sizeof *v->queues);
        if (!v->queues)
                return xenbus_device_set_error(d, -ENOMEM, "out of memory");
        v->n_queues = (unsigned) n;
        v->expected = (VifRecord) { .n_queues = (uint32_t) n };
        for (unsigned i = 0; i < n; i++)
                v->queues[i] = (VifQueue) { .vif = v, .index = i, .tap_fd = v->tap_fds[i] };
        v->hash_alg = XEN_NETIF_CTRL_HASH_ALGORITHM_NONE;
        v->hash_flags = v->hash_size = 0;
        memset(v->hash_key, 0, sizeof v->hash_key);
        v->n_mcast = 0;
        vif_mcast_reread(v);
        v->closed_stats = (VifStats) {};

        if (v->fe_csum4 || v->fe_csum6) {
                offload = TUN_F_CSUM;
                if (v->fe_gso4)
                        offload |= TUN_F_TSO4 | TUN_F_TSO_ECN;
                if (v->fe_gso6)
                        offload |= TUN_F_TSO6 | TUN_F_TSO_ECN;
        } else
                v->fe_gso4 = v->fe_gso6 = false; /* GSO needs partial checksums */
        r = tap_set_offload(v->tap_fds[0], offload);
        if (r < 0)
                return vif_connect_fail(v, xenbus_device_set_error(d, r, "cannot set the tap offloads: %s", strerror(-r)));

        for (unsigned i = 0; i < n; i++) {
                _cleanup_free_ char *dir = NULL;
                if (n == 1)
                        dir = strdup(fe);
                else if (asprintf(&dir, "%s/queue-%u", fe, i) < 0)
                        dir = NULL;
                if (!dir)
                        return vif_connect_fail(v, xenbus_device_set_error(d, -ENOMEM, "out of memory"));
                r = queue_connect(v, &v->queues[i], dir);
                if (r < 0)
                        return vif_connect_fail(v, r);
        }
        r = ctrl_connect(v);
        if (r < 0)
                return vif_connect_fail(v, r);
        r = vif_record_start(v);
        if (r < 0)
                return vif_connect_fail(v, r);
        v->tap_recreated = false;

        /* Requests queued before we connected. */
        for (unsigned i = 0; i < n; i++) {
                VifQueue *q = &v->queues[i];
                evtchn_port_kick(q->tx_port);
                if (!xenbus_device_reattaching(d))
                        continue;
                /* The earlier process may have pushed responses and died
                 * before it could notify: a spurious event is harmless. */
                if (q->rx_port != q->tx_port) {
                        evtchn_port_kick(q->rx_port);
                        (void) evtchn_notify(q->rx_port);
                }
                (void) evtchn_notify(q->tx_port);
        }
        if (v->ctrl_port && xenbus_device_reattaching(d))
                (void) evtchn_notify(v->ctrl_port);
        log_dev_info(d, "Frontend: %u queue(s), %s event channels, sg=%d gso4=%d gso6=%d csum4=%d csum6=%d, %s, mcast=%d",
                     v->n_queues, v->queues[0].rx_port != v->queues[0].tx_port ? "split" : "shared", v->fe_sg,
                     v->fe_gso4, v->fe_gso6, v->fe_csum4, v->fe_csum6,
                     v->ctrl_port ? "control ring" : "no control ring", v->fe_mcast_ctrl);
        return 0;
}

static int vif_disconnect(XenbusDevice *d) {
        Vif *v = xenbus_device_get_data(d);

        if (v)
                vif_stop(v, true);
        return 0;
}

static void vif_release(XenbusDevice *d) {
        Vif *v = xenbus_device_get_data(d);

        if (!v)
                return;
        vif_stop(v, false);
        tap_close_all(v); /* deletes the tap, as netback does at Closed with online=0 */
        free(v);
        xenbus_device_set_data(d, NULL);
}

const BackendClass vif_class = {
        .kind = "vif",
        .init = vif_init,
        .watched_backend_nodes = vif_watched,
        .watched_frontend_nodes = vif_watched_frontend,
        .frontend_changed = vif_frontend_changed,
        .probe = vif_probe,
        .backend_changed = vif_backend_changed,
        .can_connect = vif_can_connect,
        .connect = vif_connect,
        .disconnect = vif_disconnect,
        .release = vif_release,
};
