/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The vbd control plane: reading the toolstack's configuration, opening the
 * backing store (params for pvbackd-block disks, physical-device-path from
 * any other hotplug script), publishing features and disk properties before
 * InitWait, and mapping the frontend's rings at connect. */

#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkback.h"

#define PARAMS_MAX 4096
#define KERNEL_BLKBACK_DRIVER "/sys/bus/xen-backend/drivers/vbd"

static int vbd_init(Backend *b) {
        BlkClass *bc;

        if (access(KERNEL_BLKBACK_DRIVER, F_OK) == 0) {
                log_error("The kernel's xen-blkback is bound (" KERNEL_BLKBACK_DRIVER " exists): not serving "
                          "vbd devices, as both would drive the same disks. Blacklist xen_blkback "
                          "(see /etc/modprobe.d/pvbackd.conf) and reboot.");
                return -EBUSY;
        }
        bc = calloc(1, sizeof *bc);
        if (!bc)
                return -ENOMEM;
        backend_set_class_data(b, &vbd_class, bc);
        return 0;
}

/* What the kernel may still write into when the daemon ends (I/O in flight
 * at exit is left to the next process): kept reachable from here until the
 * process is gone, never freed under the kernel, and not counted as a leak. */
static BlkClass *volatile kept_until_exit; /* volatile: a store never read is not dropped */

static void vbd_done(Backend *b) {
        BlkClass *bc = backend_class_data(b, &vbd_class);

        blk_abandoned_done(bc);
        backend_set_class_data(b, &vbd_class, NULL);
        if (bc && bc->abandoned)
                kept_until_exit = bc;
        else
                free(bc);
}

static Blkback *blkback_get(XenbusDevice *d) {
        Blkback *bb = xenbus_device_get_data(d);

        if (bb)
                return bb;
        bb = calloc(1, sizeof *bb);
        if (!bb)
                return NULL;
        bb->dev = d;
        bb->efd = -1;
        bb->inotify_fd = -1;
        bb->backing.fd = -1;
        LIST_INIT(&bb->requests);
        for (unsigned i = 0; i < BLK_MAX_QUEUES; i++)
                bb->queues[i] = (BlkQueue) { .bb = bb, .index = i };
        xenbus_device_set_data(d, bb);
        return bb;
}

/* The disk's [disk "<params>"] section of pvbackd.conf, if any. */
static const ConfigDisk *configured_disk(Blkback *bb) {
        return config_find_disk(xenbus_device_config(bb->dev), bb->params);
}

/* A per-disk serial from pvbackd.conf (validated there: 1..20 printable
 * ASCII characters); NULL means the serial derived from the store. */
static const char *blk_configured_serial(Blkback *bb) {
        const ConfigDisk *c = configured_disk(bb);
        return c ? c->serial : NULL;
}

/* Grant mapping: the configured policy, and whether this store allows it.
 * I/O on guest pages is safe when the kernel is done with them at
 * completion: buffered I/O (the data is copied during the syscall), or
 * O_DIRECT on local storage, or when the toolstack says so with
 * direct-io-safe=1 (libxl's key for the same question). Said in the
 * journal at each connect (connecting) and when a reload changes it. */
static void update_map_policy(Blkback *bb, bool connecting) {
        const ConfigDisk *c = configured_disk(bb);
        bool safe = bb->backing_open && (bb->direct_io_safe || !bb->backing.direct ||
                                         blk_backing_is_local(&bb->backing));

        bb->grant_map = !c                                    ? BLK_GRANT_MAP_AUTO
                        : c->grant_map == CONFIG_GRANT_MAP_NEVER  ? BLK_GRANT_MAP_NEVER
                        : c->grant_map == CONFIG_GRANT_MAP_ALWAYS ? BLK_GRANT_MAP_ALWAYS
                                                                  : BLK_GRANT_MAP_AUTO;
        if (bb->backing_open && !safe && (connecting || bb->map_safe))
                log_dev_info(bb->dev, "%s may be network storage: no I/O on guest pages, grant copy or daemon "
                             "buffers (direct-io-safe=1 allows it)",
                             bb->backing.path);
        bb->map_safe = safe;
}

static void publish_disk(Blkback *bb, XsBatch *pub) {
        XenbusDevice *d = bb->dev;
        const char *be = xenbus_device_backend_path(d);
        const char *serial = blk_configured_serial(bb);
        char derived[32];
        unsigned info = (bb->cdrom ? VDISK_CDROM : 0) | (bb->removable ? VDISK_REMOVABLE : 0) |
                        (bb->read_only ? VDISK_READONLY : 0);

        xs_batch_printf(pub, be, "sectors", "%" PRIu64, bb->backing.size / BLK_SECTOR_SIZE);
        xs_batch_printf(pub, be, "info", "%u", info);
        xs_batch_printf(pub, be, "sector-size", "%u", BLK_SECTOR_SIZE);
        xs_batch_printf(pub, be, "physical-sector-size", "%u", bb->backing.physical_sector_size);
        if (bb->discard_enable && bb->backing.discard && !bb->read_only) {
                xs_batch_printf(pub, be, "feature-discard", "1");
                xs_batch_printf(pub, be, "discard-granularity", "%u",
                                MAX(bb->backing.discard_granularity, BLK_SECTOR_SIZE));
                xs_batch_printf(pub, be, "discard-alignment", "0");
                if (bb->backing.secure_discard)
                        xs_batch_printf(pub, be, "discard-secure", "1");
                else
                        xs_batch_rm(pub, be, "discard-secure");
        } else {
                xs_batch_rm(pub, be, "discard-secure");
                xs_batch_rm(pub, be, "feature-discard");
                xs_batch_rm(pub, be, "discard-granularity");
                xs_batch_rm(pub, be, "discard-alignment");
        }
        if (!serial && blk_backing_serial(&bb->backing, derived, sizeof derived) == 0)
                serial = derived;
        if (serial) {
                _cleanup_free_ char *p80 = blk_vpd_page80_base64(serial), *p83 = blk_vpd_page83_base64(serial);
                if (p80 && p83) {
                        xs_batch_printf(pub, be, "sm-data/scsi/0x12/0x80", "%s", p80);
                        xs_batch_printf(pub, be, "sm-data/scsi/0x12/0x83", "%s", p83);
                }
        }
}

static void publish_transport(Blkback *bb, XsBatch *pub) {
        XenbusDevice *d = bb->dev;
        const char *be = xenbus_device_backend_path(d);
        const PvbackdConfig *c = xenbus_device_config(d);
        const ConfigDisk *cd = configured_disk(bb);

        bb->max_indirect = c->max_indirect_segments;
        if (bb->max_indirect > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLK_SEGS_PER_INDIRECT_PAGE)
                bb->max_indirect = BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLK_SEGS_PER_INDIRECT_PAGE;
        xs_batch_printf(pub, be, "max-ring-page-order", "%u",
                        MIN(c->max_ring_page_order, RING_PAGE_ORDER_MAX));
        xs_batch_printf(pub, be, "multi-queue-max-queues", "%u",
                        MAX(1u, MIN(c->max_queues, BLK_MAX_QUEUES)));
        if (bb->max_indirect > 0)
                xs_batch_printf(pub, be, "feature-max-indirect-segments", "%u", bb->max_indirect);
        else
                xs_batch_rm(pub, be, "feature-max-indirect-segments");
        xs_batch_printf(pub, be, "feature-flush-cache", "1");
        xs_batch_printf(pub, be, "feature-barrier", "1");
        /* On by default: measured with tests/bench/bench-blk.c (README
         * "## Block backend"); pvbackd.conf can switch it off per disk. */
        bb->offer_persistent = !cd || cd->persistent_grants;
        if (bb->offer_persistent)
                xs_batch_printf(pub, be, "feature-persistent", "1");
        else
                xs_batch_rm(pub, be, "feature-persistent");
}

static int open_backing(Blkback *bb, const char *path) {
        XenbusDevice *d = bb->dev;
        _cleanup_free_ char *msg = NULL;
        int r;

        r = blk_backing_open(path, bb->read_only, &bb->backing, &msg);
        if (r < 0)
                return xenbus_device_set_error(d, r, "%s", msg ?: strerror(-r));
        bb->backing_open = true;
        bb->shrink_logged = 0;
        r = blk_resize_watch_start(bb);
        if (r < 0)
                log_dev_warning_errno(d, r, "Cannot watch %s for growth (resize on SIGHUP only): %m", path);
        if (!bb->backing.direct && !bb->logged_buffered) {
                bb->logged_buffered = true;
                log_dev_info(d, "%s does not take O_DIRECT; using buffered I/O, made durable by flushes", path);
        }
        log_dev_debug(d, "Opened %s: %" PRIu64 " bytes%s", path, bb->backing.size,
                      bb->backing.block_device ? ", block device" : "");
        return 0;
}

static void close_backing(Blkback *bb) {
        blk_resize_watch_stop(bb);
        if (bb->backing_open)
                blk_backing_close(&bb->backing);
        bb->backing_open = false;
        free(bb->opened_path);
        bb->opened_path = NULL;
}

static bool read_backend_bool(XenbusDevice *d, const char *key, bool def) {
        bool v = def;

        return xenbus_read_backend_bool(d, key, &v) < 0 ? def : v;
}

static int vbd_probe(XenbusDevice *d, XsBatch *pub) {
        Blkback *bb = blkback_get(d);
        _cleanup_free_ char *params = NULL, *mode = NULL, *type = NULL, *script = NULL, *spec = NULL;
        bool removable, discard;
        int r;

        if (!bb)
                return xenbus_device_set_error(d, -ENOMEM, "out of memory");
        r = xenbus_read_backend(d, "specification", 32, &spec);
        if (r >= 0 && !streq(spec, "xen"))
                return xenbus_device_set_error(d, -EINVAL, "specification '%s' is not served (only 'xen')", spec);
        r = xenbus_read_backend(d, "device-type", 32, &type);
        if (r >= 0 && !streq(type, "disk") && !streq(type, "cdrom"))
                return xenbus_device_set_error(d, -EINVAL, "device-type '%s' is neither 'disk' nor 'cdrom'", type);
        r = xenbus_read_backend(d, "params", PARAMS_MAX, &params);
        if (r < 0 || params[0] == '\0')
                return xenbus_device_set_error(d, r < 0 ? r : -ENOENT, "%s/params is %s", xenbus_device_backend_path(d),
                                               r == -ENOENT || r >= 0 ? "missing or empty" : "invalid");
        r = xenbus_read_backend(d, "mode", 8, &mode);
        if (r >= 0 && !streq(mode, "r") && !streq(mode, "w") && !streq(mode, "w!"))
                return xenbus_device_set_error(d, -EINVAL, "mode '%s' is neither 'r' nor 'w'", mode);
        removable = read_backend_bool(d, "removable", false);
        bb->direct_io_safe = read_backend_bool(d, "direct-io-safe", false);
        discard = read_backend_bool(d, "discard-enable", true);
        (void) xenbus_read_backend(d, "script", PARAMS_MAX, &script);

        bool read_only = mode && streq(mode, "r");
        const char *script_name = script ? strrchr(script, '/') : NULL;
        bool ours = script && streq(script_name ? script_name + 1 : script, "pvbackd-block");
        /* A changed configuration means a different store. */
        if (bb->backing_open && (read_only != bb->read_only || ours != bb->script_ours ||
                                 (ours && (!bb->params || !streq(bb->params, params)))))
                close_backing(bb);
        free(bb->params);
        bb->params = TAKE_PTR(params);
        bb->read_only = read_only;
        bb->cdrom = type && streq(type, "cdrom");
        bb->removable = removable;
        bb->discard_enable = discard && !read_only;
        bb->script_ours = ours;

        if (ours && !bb->backing_open) {
                r = open_backing(bb, bb->params);
                if (r < 0)
                        return r;
        } else if (bb->backing_open)
                (void) blk_backing_refresh_size(&bb->backing); /* it may have grown (resize) */

        publish_transport(bb, pub);
        if (!bb->backing_open)
                return PROBE_PENDING; /* physical-device-path, from the hotplug script */
        publish_disk(bb, pub);
        return PROBE_READY;
}

static void vbd_backend_changed(XenbusDevice *d, const char *node) {
        Blkback *bb = xenbus_device_get_data(d);
        _cleanup_free_ char *path = NULL;
        XsBatch pub = {};
        int r;

        if (!bb || !streq(node, "physical-device-path") || bb->script_ours || bb->backing_open ||
            xenbus_device_setup_ready(d))
                return;
        r = xenbus_read_backend(d, "physical-device-path", PARAMS_MAX, &path);
        if (r == -ENOENT)
                return; /* not yet */
        if (r < 0) {
                xenbus_device_setup_done(d, xenbus_device_set_error(d, r, "physical-device-path is invalid"));
                return;
        }
        r = open_backing(bb, path);
        if (r < 0) {
                xenbus_device_setup_done(d, r);
                return;
        }
        publish_disk(bb, &pub);
        r = xenbus_device_publish(d, &pub);
        xs_batch_done(&pub);
        if (r < 0) {
                xenbus_device_setup_done(d, xenbus_device_set_error(d, r, "cannot publish the disk properties"));
                return;
        }
        xenbus_device_setup_done(d, 0);
}

static bool vbd_can_connect(XenbusDevice *d) {
        Blkback *bb = xenbus_device_get_data(d);
        return bb && bb->backing_open;
}

void blk_unmap_queues(Blkback *bb) {
        for (unsigned i = 0; i < BLK_MAX_QUEUES; i++) {
                BlkQueue *q = &bb->queues[i];

                evtchn_unbind(q->port);
                q->port = NULL;
                blk_ring_detach(q);
                xenbus_unmap_grants(bb->dev, &q->ring_map);
                blk_queue_free_pages(q);
                /* Empty if blk_io_stop() abandoned I/O that may use it. */
                blk_persistent_free(&q->persistent, bb->dev);
                q->stopped = false;
                q->barrier_waiting = q->barrier_active = false;
                q->barrier = NULL;
        }
        blk_shadow_stop(bb);
        bb->n_queues = 0;
        bb->persistent = false;
}

static int map_queue(Blkback *bb, BlkQueue *q, const char *dir, unsigned order, BlkAbi abi, uint32_t *ret_refs) {
        XenbusDevice *d = bb->dev;
        int r;

        r = xenbus_map_ring_order(d, dir, "ring-ref", order, ret_refs, &q->ring_map);
        if (r < 0)
                return r;
        r = blk_ring_attach(q, abi);
        if (r < 0)
                return xenbus_device_set_error(d, r, "out of memory");
        q->max_pages = q->ring_size * MAX(bb->max_indirect, (unsigned) BLKIF_MAX_SEGMENTS_PER_REQUEST);
        return 0;
}

static int vbd_connect(XenbusDevice *d, XsBatch *pub) {
        const char *fe = xenbus_device_frontend_path(d);
        Blkback *bb = xenbus_device_get_data(d);
        const PvbackdConfig *c = xenbus_device_config(d);
        _cleanup_free_ char *protocol = NULL;
        uint64_t nq = 1, order = 0, port, v = 0;
        unsigned max_order = MIN(c->max_ring_page_order, RING_PAGE_ORDER_MAX);
        unsigned max_queues = MAX(1u, MIN(c->max_queues, BLK_MAX_QUEUES));
        BlkAbi abi = BLK_ABI_NATIVE;
        BlkRecord expected = {};
        int r;

        /* Fresh at every connect: a frontend may change anything across a reconnect. */
        r = xenbus_read_frontend_uint(d, "multi-queue-num-queues", max_queues, &nq);
        if (r == -ENOENT)
                nq = 1;
        else if (r < 0 || nq == 0)
                return xenbus_device_set_error(d, r < 0 ? r : -EINVAL,
                                               "%s/multi-queue-num-queues is not in 1..%u", fe,
                                               max_queues);
        r = xenbus_read_frontend_uint(d, "ring-page-order", max_order, &order);
        if (r == -ENOENT)
                order = 0;
        else if (r < 0)
                return xenbus_device_set_error(d, r, "%s/ring-page-order is not in 0..%u", fe,
                                               max_order);
        r = xenbus_read_frontend(d, "protocol", 32, &protocol);
        if (r >= 0) {
                if (streq(protocol, "x86_32-abi"))
                        abi = BLK_ABI_X86_32;
                else if (streq(protocol, "x86_64-abi"))
                        abi = BLK_ABI_X86_64;
                else
                        return xenbus_device_set_error(d, -EINVAL, "protocol '%s' is not supported", protocol);
        } else if (r != -ENOENT)
                return xenbus_device_set_error(d, r, "%s/protocol is invalid", fe);

        /* Persistent grants only when both sides offered them (blkif.h);
         * Windows never does. */
        r = xenbus_read_frontend_uint(d, "feature-persistent", 1, &v);
        bb->persistent = bb->offer_persistent && r >= 0 && v == 1;

        blk_backing_refresh_size(&bb->backing);
        update_map_policy(bb, true);
        bb->n_queues = (unsigned) nq;
        for (unsigned i = 0; i < nq; i++) {
                BlkQueue *q = &bb->queues[i];
                _cleanup_free_ char *dir = NULL;

                if (nq == 1)
                        dir = strdup(fe);
                else if (asprintf(&dir, "%s/queue-%u", fe, i) < 0)
                        dir = NULL;
                if (!dir) {
                        r = xenbus_device_set_error(d, -ENOMEM, "out of memory");
                        goto fail;
                }
                r = map_queue(bb, q, dir, (unsigned) order, abi, expected.queues[i].ring_refs);
                if (r < 0)
                        goto fail;
                if (bb->persistent && blk_persistent_init(&q->persistent, BLK_PERSISTENT_MAX_PER_QUEUE) < 0) {
                        r = xenbus_device_set_error(d, -ENOMEM, "out of memory");
                        goto fail;
                }
                r = xenbus_read_uint(d, dir, "event-channel", UINT32_MAX, &port);
                if (r < 0) {
                        r = xenbus_device_set_error(d, r, "%s/event-channel is %s", dir,
                                                    r == -ENOENT ? "missing" : "invalid");
                        goto fail;
                }
                expected.queues[i].remote_port = (uint32_t) port;
                r = xenbus_device_bind_evtchn(d, (uint32_t) port, blk_queue_handler, q, &q->port);
                if (r < 0) {
                        r = xenbus_device_set_error(d, r, "cannot bind event channel %" PRIu64 " of %s: %s", port,
                                                    dir, strerror(-r));
                        goto fail;
                }
        }
        expected.n_queues = (uint32_t) nq;
        expected.order = (uint32_t) order;
        expected.abi = abi;
        expected.persistent = bb->persistent;
        r = blk_shadow_start(bb, &expected);
        if (r < 0)
                goto fail;
        r = blk_io_start(bb);
        if (r == -EBUSY) {
                const BlkClass *bc = backend_class_data(xenbus_device_get_backend(d), &vbd_class);
                r = xenbus_device_set_error(d, r, "the kernel still holds %u I/Os of disks that went away (at most "
                                            "%u): not connecting until it completes some",
                                            bc ? bc->n_abandoned : 0, BLK_ABANDONED_MAX);
                goto fail;
        }
        if (r < 0) {
                r = xenbus_device_set_error(d, r, "cannot set up asynchronous I/O: %s", strerror(-r));
                goto fail;
        }
        /* The size may have changed since InitWait. */
        xs_batch_printf(pub, xenbus_device_backend_path(d), "sectors", "%" PRIu64, bb->backing.size / BLK_SECTOR_SIZE);
        log_dev_info(d, "%u queue(s), %u-page rings, protocol %s, %s%s", bb->n_queues, 1u << order,
                     protocol ?: "native", bb->backing.path, bb->persistent ? ", persistent grants" : "");
        for (unsigned i = 0; i < bb->n_queues; i++) {
                evtchn_port_kick(bb->queues[i].port); /* requests queued before we connected */
                /* The earlier process may have published responses and died
                 * before it could notify: a spurious event is harmless. */
                if (xenbus_device_reattaching(d))
                        (void) evtchn_notify(bb->queues[i].port);
        }
        return 0;
fail:
        blk_io_stop(bb);
        blk_unmap_queues(bb);
        return r;
}

void blk_finish_disconnect(Blkback *bb) {
        blk_io_stop(bb);
        blk_unmap_queues(bb);
        bb->draining = false;
        xenbus_device_drained(bb->dev);
}

static int vbd_disconnect(XenbusDevice *d) {
        Blkback *bb = xenbus_device_get_data(d);

        if (!bb)
                return 0;
        log_dev_info(d,
                     "Disconnecting: %" PRIu64 " reads, %" PRIu64 " writes (%" PRIu64 " grant-mapped, %" PRIu64
                     " fell back to copy), %" PRIu64 " flushes, %" PRIu64 " discards, %" PRIu64
                     " bad requests, %" PRIu64 " I/O errors; %" PRIu64 " segments (%" PRIu64
                     " through a buffer) and %" PRIu64 " indirect pages on persistent grants, %" PRIu64
                     " copied past their bound",
                     bb->stats.rd_req, bb->stats.wr_req, bb->stats.mapped_req, bb->stats.map_fallbacks,
                     bb->stats.flush_req, bb->stats.discard_req, bb->stats.bad_req, bb->stats.io_errors,
                     bb->stats.persistent_segs, bb->stats.persistent_bounced, bb->stats.persistent_indirect,
                     bb->stats.persistent_copied);
        for (unsigned i = 0; i < bb->n_queues; i++) {
                blk_queue_stop(&bb->queues[i]);
        }
        if (bb->inflight > 0) {
                /* Let the kernel finish; the completions still answer the
                 * frontend, then blk_finish_disconnect() unmaps. */
                log_dev_debug(d, "Waiting for %u I/Os before disconnecting", bb->inflight);
                bb->draining = true;
                return 1;
        }
        blk_io_stop(bb);
        blk_unmap_queues(bb);
        return 0;
}

static void vbd_release(XenbusDevice *d) {
        Blkback *bb = xenbus_device_get_data(d);

        if (!bb)
                return;
        blk_io_stop(bb);
        blk_unmap_queues(bb);
        close_backing(bb);
        free(bb->params);
        free(bb);
        xenbus_device_set_data(d, NULL);
}

/* SIGHUP: the new pvbackd.conf applies to the grant-map policy at once and
 * to the serial at the next probe; block devices are checked for growth
 * (files are watched anyway). */
static void vbd_reload_device(XenbusDevice *d, void *userdata) {
        Blkback *bb = xenbus_device_get_data(d);

        (void) userdata;
        if (!bb || !bb->backing_open)
                return;
        if (xenbus_device_connected(d))
                update_map_policy(bb, false);
        blk_resize_check(bb);
}

static void vbd_reload(Backend *b) {
        backend_foreach_device(b, &vbd_class, vbd_reload_device, NULL);
}

static const char *const vbd_watched[] = { "physical-device-path", NULL };

const BackendClass vbd_class = {
        .kind = "vbd",
        .init = vbd_init,
        .done = vbd_done,
        .watched_backend_nodes = vbd_watched,
        .probe = vbd_probe,
        .backend_changed = vbd_backend_changed,
        .can_connect = vbd_can_connect,
        .connect = vbd_connect,
        .disconnect = vbd_disconnect,
        .release = vbd_release,
        .reload = vbd_reload,
};
