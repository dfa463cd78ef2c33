/* SPDX-License-Identifier: GPL-2.0-or-later */

/* A device's life in the core: created by discovery, its XenStore edges
 * (state, setup result, errors for people), the frontend's state and the
 * toolstack's online node followed, released and freed. */

#include <inttypes.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>

#include "evtchn.h"
#include "xenbus-internal.h"

static int device_cmp(const void *a, const void *b) {
        return strcmp(((const XenbusDevice *) a)->backend_path, ((const XenbusDevice *) b)->backend_path);
}

static int device_serial_cmp(const void *a, const void *b) {
        uint64_t x = ((const XenbusDevice *) a)->serial, y = ((const XenbusDevice *) b)->serial;
        return x < y ? -1 : x > y;
}
XenbusDevice *xenbus_device_find(Backend *b, const char *backend_path) {
        XenbusDevice key = { .backend_path = (char *) backend_path };
        void **n = tfind(&key, &b->devices, device_cmp);
        return n ? *n : NULL;
}

XenbusDevice *xenbus_device_find_serial(Backend *b, uint64_t serial) {
        XenbusDevice key = { .serial = serial };
        void **n = tfind(&key, &b->devices_by_serial, device_serial_cmp);
        return n ? *n : NULL;
}

/* ---- what a class sees of its device ------------------------------------ */

Backend *xenbus_device_get_backend(const XenbusDevice *d) {
        return d->backend;
}

sd_event *xenbus_device_event(const XenbusDevice *d) {
        return d->backend->event;
}

const PvbackdConfig *xenbus_device_config(const XenbusDevice *d) {
        return &d->backend->config;
}

xengnttab_handle *xenbus_device_gnttab(const XenbusDevice *d) {
        return d->backend->xgt;
}

int xenbus_device_bind_evtchn(XenbusDevice *d, uint32_t remote_port, evtchn_handler_t handler, void *userdata,
                              EvtchnPort **ret) {
        return evtchn_bind(d->backend->evtchn, d->domid, remote_port, handler, userdata, ret);
}

uint32_t xenbus_device_domid(const XenbusDevice *d) {
        return d->domid;
}

uint32_t xenbus_device_devid(const XenbusDevice *d) {
        return d->devid;
}

const char *xenbus_device_backend_path(const XenbusDevice *d) {
        return d->backend_path;
}

const char *xenbus_device_frontend_path(const XenbusDevice *d) {
        return d->frontend_path;
}

void *xenbus_device_get_data(const XenbusDevice *d) {
        return d->data;
}

void xenbus_device_set_data(XenbusDevice *d, void *data) {
        d->data = data;
}

LogContext *xenbus_device_log_context(XenbusDevice *d) {
        return &d->log;
}

bool xenbus_device_ratelimit_ok(XenbusDevice *d) {
        return ratelimit_below(&d->ratelimit);
}

bool xenbus_device_connected(const XenbusDevice *d) {
        return d->connected;
}

bool xenbus_device_setup_ready(const XenbusDevice *d) {
        return d->setup_ready;
}

bool xenbus_device_failed(const XenbusDevice *d) {
        return d->failed;
}

/* ---- reading ------------------------------------------------------------ */

/* Whether path is dir or below it. */
static bool path_within(const char *path, const char *dir) {
        const char *rest = dir ? startswith(path, dir) : NULL;

        return rest && (*rest == '\0' || *rest == '/');
}

/* The node dir/key, if dir is the device's own backend or frontend
 * directory or below it: a class cannot be led to another guest's nodes. */
static int node_path(XenbusDevice *d, const char *dir, const char *key, char **ret) {
        char *p;

        if (!dir)
                return -ENOENT;
        if (!path_within(dir, d->backend_path) && !path_within(dir, d->frontend_path))
                return -EPERM;
        p = key ? path_join(dir, key) : strdup(dir);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int xenbus_read_str(XenbusDevice *d, const char *dir, const char *key, size_t max_len, char **ret) {
        _cleanup_free_ char *p = NULL;
        int r = node_path(d, dir, key, &p);

        return r < 0 ? r : xs_read_str(d->backend->xs, XBT_NULL, p, max_len, ret);
}

int xenbus_read_uint(XenbusDevice *d, const char *dir, const char *key, uint64_t max, uint64_t *ret) {
        _cleanup_free_ char *p = NULL;
        int r = node_path(d, dir, key, &p);

        return r < 0 ? r : xs_read_uint(d->backend->xs, XBT_NULL, p, max, ret);
}

int xenbus_read_bool(XenbusDevice *d, const char *dir, const char *key, bool *ret) {
        _cleanup_free_ char *p = NULL;
        int r = node_path(d, dir, key, &p);

        return r < 0 ? r : xs_read_bool01(d->backend->xs, XBT_NULL, p, ret);
}

int xenbus_read_backend(XenbusDevice *d, const char *key, size_t max_len, char **ret) {
        return xenbus_read_str(d, d->backend_path, key, max_len, ret);
}

int xenbus_read_backend_uint(XenbusDevice *d, const char *key, uint64_t max, uint64_t *ret) {
        return xenbus_read_uint(d, d->backend_path, key, max, ret);
}

int xenbus_read_frontend(XenbusDevice *d, const char *key, size_t max_len, char **ret) {
        return xenbus_read_str(d, d->frontend_path, key, max_len, ret);
}

int xenbus_read_frontend_uint(XenbusDevice *d, const char *key, uint64_t max, uint64_t *ret) {
        return xenbus_read_uint(d, d->frontend_path, key, max, ret);
}

int xenbus_read_backend_bool(XenbusDevice *d, const char *key, bool *ret) {
        return xenbus_read_bool(d, d->backend_path, key, ret);
}

int xenbus_read_frontend_bool(XenbusDevice *d, const char *key, bool *ret) {
        return xenbus_read_bool(d, d->frontend_path, key, ret);
}

int xenbus_device_publish(XenbusDevice *d, XsBatch *pub) {
        return xs_batch_commit(d->backend->xs, pub, d->backend_path);
}

/* ---- writing ------------------------------------------------------------ */

/* The message every report of this failure uses: hotplug-error, the error
 * node, the journal. NULL on allocation failure; callers fall back to a
 * generic text. */
void xenbus_device_vset_error(XenbusDevice *d, const char *fmt, va_list ap) {
        char *m = NULL;

        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        free(d->error);
        d->error = m;
}

int xenbus_device_set_error(XenbusDevice *d, int error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        xenbus_device_vset_error(d, fmt, ap);
        va_end(ap);
        return error < 0 ? error : -error;
}

int xenbus_device_write_state(XenbusDevice *d, XenbusState s, XsBatch *extra) {
        XsBatch own = {};
        XsBatch *pub = extra ?: &own;
        int r;

        xs_batch_printf(pub, d->backend_path, "state", "%d", (int) s);
        r = xs_batch_commit(d->backend->xs, pub, d->backend_path);
        xs_batch_done(&own);
        if (r == -ENOENT) {
                /* libxl removed the directory under us: nothing left to tell. */
                log_dev_debug(d, "backend directory gone");
                xenbus_device_release(d, false);
                return r;
        }
        if (r < 0)
                return log_dev_error_errno(d, r, "Failed to write state %s: %m", xenbus_state_to_string(s));
        log_dev_debug(d, "state %s", xenbus_state_to_string(s));
        d->state = s;
        return 0;
}

static void publish_setup_result(XenbusDevice *d, XsBatch *pub, int probe_result) {
        if (probe_result < 0) {
                xs_batch_printf(pub, d->backend_path, "hotplug-error", "pvbackd: %s",
                                d->error ?: "device setup failed");
                xs_batch_printf(pub, d->backend_path, "pvbackd-status", "error");
        } else if (probe_result == PROBE_READY) {
                xs_batch_rm(pub, d->backend_path, "hotplug-error");
                xs_batch_printf(pub, d->backend_path, "pvbackd-status", "ready");
        } else
                xs_batch_rm(pub, d->backend_path, "pvbackd-status");
}

int xenbus_device_publish_initwait(XenbusDevice *d) {
        XsBatch pub = {};
        int r, probe_result;

        if (d->refused) /* refused by the core: never probed */
                probe_result = -EINVAL;
        else {
                d->failed = false;
                d->setup_failed = false;
                d->setup_ready = false;
                probe_result = d->class->probe(d, &pub);
                if (probe_result < 0) {
                        xs_batch_done(&pub); /* no half-published features */
                        d->setup_failed = true;
                } else
                        d->setup_ready = probe_result == PROBE_READY;
        }
        /* Logged before it is published: whoever reads hotplug-error finds
         * the journal already saying it. */
        if (probe_result < 0)
                log_dev_full(d, LOG_ERR, probe_result, "Setup failed, reported to the toolstack: %s",
                             d->error ?: "device setup failed");
        publish_setup_result(d, &pub, probe_result);
        r = xenbus_device_write_state(d, XenbusStateInitWait, &pub);
        xs_batch_done(&pub);
        if (r < 0)
                return r;
        if (d->class->backend_changed && d->class->watched_backend_nodes && !d->setup_failed)
                for (const char *const *n = d->class->watched_backend_nodes; *n; n++)
                        d->class->backend_changed(d, *n);
        return 0;
}

void xenbus_device_setup_done(XenbusDevice *d, int error) {
        XsBatch pub = {};
        int r;

        if (d->released)
                return;
        if (error < 0) {
                d->setup_failed = true;
                log_dev_full(d, LOG_ERR, error, "Setup failed, reported to the toolstack: %s",
                             d->error ?: "device setup failed");
        } else
                d->setup_ready = true;
        publish_setup_result(d, &pub, error < 0 ? error : PROBE_READY);
        r = xs_batch_commit(d->backend->xs, &pub, d->backend_path);
        xs_batch_done(&pub);
        if (r < 0 && r != -ENOENT)
                log_dev_error_errno(d, r, "Failed to publish setup result: %m");
        xenbus_device_update(d);
}

static void write_error_node(XenbusDevice *d, int error) {
        _cleanup_free_ char *p = NULL, *v = NULL;
        const char *rel = startswith(d->backend_path, "/local/domain/0/");

        /* Where the kernel's xenbus_dev_fatal() writes: error/<nodename>/error
         * under dom0's home, "<errno> <message>". */
        if (asprintf(&p, "/local/domain/0/error/%s/error", rel ?: d->backend_path) < 0 ||
            asprintf(&v, "%d %s", error < 0 ? -error : error, d->error ?: "device failed") < 0)
                return;
        if (!xs_write(d->backend->xs, XBT_NULL, p, v, strlen(v)))
                log_dev_warning_errno(d, negative_errno(), "Failed to write %s: %m", p);
}

void xenbus_device_fatal(XenbusDevice *d, int error, const char *fmt, ...) {
        Backend *b = d->backend;
        va_list ap;

        if (d->released || d->failed)
                return;
        va_start(ap, fmt);
        xenbus_device_vset_error(d, fmt, ap);
        va_end(ap);

        log_dev_full(d, LOG_ERR, error, "Closing device: %s", d->error ?: "device failed");
        write_error_node(d, error);
        d->failed = true;
        /* The data path that called us still holds its queue and ring: close
         * them from the teardown source, which runs before any other source
         * once this handler has returned. */
        d->teardown_pending = true;
        LIST_INSERT_HEAD(&b->teardown, d, teardown_link);
        sd_event_source_set_enabled(b->teardown_source, SD_EVENT_ONESHOT);
}

static void teardown_cancel(XenbusDevice *d) {
        if (!d->teardown_pending)
                return;
        d->teardown_pending = false;
        LIST_REMOVE(d, teardown_link);
}

void xenbus_device_teardown_failed(Backend *b) {
        XenbusDevice *d;

        while ((d = LIST_FIRST(&b->teardown))) {
                teardown_cancel(d);
                if (xenbus_device_do_disconnect(d) > 0)
                        continue; /* the state machine continues when drained */
                xenbus_device_update(d);
        }
}

int xenbus_device_do_connect(XenbusDevice *d) {
        XsBatch pub = {};
        int r;

        r = d->class->connect(d, &pub);
        if (r < 0) {
                xs_batch_done(&pub);
                xenbus_device_record_drop(d, false);
                log_dev_full(d, LOG_ERR, r, "Failed to connect: %s", d->error ?: "connect failed");
                write_error_node(d, r);
                d->failed = true;
                return r;
        }
        d->connected = true;
        r = xenbus_device_write_state(d, XenbusStateConnected, &pub);
        xs_batch_done(&pub);
        if (r < 0 && !d->released) {
                /* Could not tell the frontend; undo rather than serve a ring
                 * the toolstack does not know is live. */
                xenbus_device_set_error(d, r, "cannot publish Connected state");
                d->failed = true;
                xenbus_device_do_disconnect(d);
        }
        if (r == 0)
                log_dev_info(d, "Connected");
        return r;
}

/* The device is Connected in XenStore and an earlier process left its
 * record: set it up as probe() and connect() would, the class taking the
 * rings as they are, with no XenStore write a frontend could see. The
 * frontend may have moved meanwhile; the state machine then takes over. */
void xenbus_device_reattach(XenbusDevice *d) {
        XsBatch scratch = {};
        int r;

        d->state = XenbusStateConnected;
        d->reattaching = true;
        if (d->refused)
                r = -EINVAL;
        else {
                r = d->class->probe(d, &scratch);
                xs_batch_done(&scratch);
                if (r == PROBE_READY)
                        d->setup_ready = true;
                else if (r == PROBE_PENDING && d->class->backend_changed && d->class->watched_backend_nodes)
                        for (const char *const *n = d->class->watched_backend_nodes; *n && !d->setup_failed; n++)
                                d->class->backend_changed(d, *n); /* the nodes are there already */
        }
        if (r >= 0 && (!d->setup_ready || d->setup_failed || (d->class->can_connect && !d->class->can_connect(d))))
                r = xenbus_device_set_error(d, -EAGAIN, "%s", d->error ?: "the device's set-up is not complete");
        if (r >= 0) {
                /* The device's properties are written again (a new pty's
                 * tty, the size now); the state, which the frontend follows,
                 * is not. */
                r = d->class->connect(d, &scratch);
                if (r >= 0 && (r = xenbus_device_publish(d, &scratch)) < 0)
                        xenbus_device_set_error(d, r, "cannot publish the device's properties");
                xs_batch_done(&scratch);
        }
        d->reattaching = false;
        if (r < 0) {
                xenbus_device_record_drop(d, false);
                log_dev_full(d, LOG_ERR, r, "Cannot re-attach, closing the device: %s",
                             d->error ?: "re-attach failed");
                write_error_node(d, r);
                d->failed = true;
        } else {
                d->connected = true;
                log_dev_info(d, "Re-attached to the live rings");
        }
        xenbus_device_update(d);
}

int xenbus_device_do_disconnect(XenbusDevice *d) {
        int r;

        teardown_cancel(d);
        if (!d->connected) {
                xenbus_device_record_drop(d, false);
                return 0;
        }
        r = d->class->disconnect ? d->class->disconnect(d) : 0;
        if (r > 0) {
                d->draining = true;
                return 1;
        }
        d->connected = false;
        xenbus_device_record_drop(d, false);
        log_dev_debug(d, "Disconnected");
        return 0;
}

void xenbus_device_drained(XenbusDevice *d) {
        if (!d->draining)
                return;
        d->draining = false;
        d->connected = false;
        xenbus_device_record_drop(d, false);
        log_dev_debug(d, "Disconnected after draining");
        if (!d->released)
                xenbus_device_update(d);
}

void xenbus_device_kick(XenbusDevice *d) {
        if (!d->released)
                xenbus_device_update(d);
}

static void device_free(XenbusDevice *d) {
        free(d->backend_path);
        free(d->frontend_path);
        free(d->frontend_state_path);
        free(d->watch_token);
        free(d->error);
        free(d);
}

/* A new device, known to the core's indexes but to no domain yet. */
int xenbus_device_new(Backend *b, const BackendClass *c, const char *backend_path, uint32_t domid, uint32_t devid,
                      XenbusDevice **ret) {
        XenbusDevice *d = calloc(1, sizeof *d);

        if (!d)
                return -ENOMEM;
        *d = (XenbusDevice) {
                .backend = b, .class = c, .domid = domid, .devid = devid,
                .serial = ++b->next_serial,
                .state = XenbusStateInitialising,
                .frontend_state = XenbusStateInitialising,
                .online = true,
                .ratelimit = RATELIMIT_INIT(10 * 1000000u, 10),
        };
        d->backend_path = strdup(backend_path);
        if (!d->backend_path || asprintf(&d->watch_token, "f%" PRIu64, d->serial) < 0 ||
            !tsearch(d, &b->devices, device_cmp)) {
                device_free(d);
                return -ENOMEM;
        }
        if (!tsearch(d, &b->devices_by_serial, device_serial_cmp)) {
                tdelete(d, &b->devices, device_cmp);
                device_free(d);
                return -ENOMEM;
        }
        d->log = (LogContext) { .domid = domid, .device = d->backend_path };
        b->n_devices++;
        b->class_devices[backend_class_index(b, c)]++;
        *ret = d;
        return 0;
}

/* The class's frontend nodes share the device's serial, under token "n". */
static void frontend_nodes_watch(XenbusDevice *d, bool on) {
        char token[32];

        if (!d->frontend_path || !d->class->watched_frontend_nodes)
                return;
        snprintf(token, sizeof token, "n%" PRIu64, d->serial);
        for (const char *const *n = d->class->watched_frontend_nodes; *n; n++) {
                _cleanup_free_ char *p = path_join(d->frontend_path, *n);
                if (!p)
                        continue;
                if (on ? !xs_watch(d->backend->xs, p, token) : !xs_unwatch(d->backend->xs, p, token))
                        log_dev_debug(d, "Failed to %s %s: %m", on ? "watch" : "unwatch", p);
        }
}

void xenbus_device_watch(XenbusDevice *d) {
        if (d->released || !d->frontend_state_path)
                return;
        /* Only the frontend's state node (and the few nodes the class names):
         * never a whole guest-writable directory. */
        if (!xs_watch(d->backend->xs, d->frontend_state_path, d->watch_token))
                log_dev_error_errno(d, negative_errno(), "Failed to watch %s: %m", d->frontend_state_path);
        frontend_nodes_watch(d, true);
}

/* One of the class's watched frontend nodes fired with path. */
void xenbus_device_frontend_node_changed(XenbusDevice *d, const char *path) {
        const char *node;

        if (d->released || !d->connected || !d->class->frontend_changed || !d->frontend_path)
                return;
        node = startswith(path, d->frontend_path);
        if (!node || *node != '/')
                return;
        node++;
        for (const char *const *n = d->class->watched_frontend_nodes; n && *n; n++)
                if (streq(node, *n)) {
                        d->class->frontend_changed(d, node);
                        break;
                }
}

/* Frees the class state and forgets the device. The backend directory stays:
 * it is libxl's to remove. write_closed is for a dying domain, whose
 * toolstack may be waiting for Closed. The memory itself goes only when the
 * event loop is back at the top (xenbus_device_gc), because callers up the stack
 * may still hold d. */
void xenbus_device_release(XenbusDevice *d, bool write_closed) {
        Backend *b = d->backend;

        if (d->released)
                return;
        d->released = true;
        teardown_cancel(d);

        if (d->class->release)
                d->class->release(d);
        d->data = NULL;
        d->connected = d->draining = false;
        /* Exiting, the record stays for the next process; a device that
         * went (domain gone, directory removed) needs it no more. */
        xenbus_device_record_drop(d, b->exiting);
        if (write_closed && d->state != XenbusStateClosed) {
                XsBatch pub = {};
                xs_batch_printf(&pub, d->backend_path, "state", "%d", XenbusStateClosed);
                (void) xs_batch_commit(b->xs, &pub, d->backend_path);
                xs_batch_done(&pub);
        }
        if (d->frontend_state_path && !xs_unwatch(b->xs, d->frontend_state_path, d->watch_token))
                log_dev_debug(d, "Failed to remove watch: %m");
        frontend_nodes_watch(d, false);

        tdelete(d, &b->devices, device_cmp);
        tdelete(d, &b->devices_by_serial, device_serial_cmp);
        LIST_REMOVE(d, domain_link);
        b->n_devices--;
        b->class_devices[backend_class_index(b, d->class)]--;
        log_dev_info(d, "Released");

        d->log.guest = NULL;
        if (d->domain && --d->domain->n_devices == 0)
                xenbus_domain_free(d->domain);
        d->domain = NULL;

        LIST_INSERT_HEAD(&b->graveyard, d, domain_link);
        sd_event_source_set_enabled(b->gc_source, SD_EVENT_ONESHOT);
        backend_status_changed(b);
}

void xenbus_device_gc(Backend *b) {
        XenbusDevice *d;

        while ((d = LIST_FIRST(&b->graveyard))) {
                LIST_REMOVE(d, domain_link);
                device_free(d);
        }
}
int xenbus_device_read_frontend_state(XenbusDevice *d) {
        uint64_t v;
        int r;

        if (!d->frontend_state_path) /* refused device: behave as an idle frontend */
                return XenbusStateInitialising;
        r = xs_read_uint(d->backend->xs, XBT_NULL, d->frontend_state_path, XenbusStateReconfigured, &v);
        if (r == -ENOENT)
                return XenbusStateUnknown;
        if (r < 0)
                return r;
        return (int) v;
}

void xenbus_device_frontend_changed(XenbusDevice *d) {
        int s = xenbus_device_read_frontend_state(d);

        if (s < 0) {
                xenbus_device_fatal(d, s, "frontend wrote an invalid value to %s", d->frontend_state_path);
                return;
        }
        if (s == XenbusStateReconfiguring || s == XenbusStateReconfigured)
                return; /* not used by vbd, vif or console frontends */
        if ((XenbusState) s == d->frontend_state)
                return;
        log_dev_debug(d, "frontend %s -> %s", xenbus_state_to_string(d->frontend_state),
                      xenbus_state_to_string(s));
        d->frontend_state = (XenbusState) s;
        xenbus_device_update(d);
}

void xenbus_device_online_changed(XenbusDevice *d) {
        _cleanup_free_ char *p = path_join(d->backend_path, "online");
        bool online;
        int r;

        if (!p)
                return;
        r = xs_read_bool01(d->backend->xs, XBT_NULL, p, &online);
        if (r == -ENOENT)
                return xenbus_device_check_removed(d);
        if (r < 0) {
                log_dev_warning(d, "online is not 0 or 1, treating it as 0");
                online = false;
        }
        if (online == d->online)
                return;
        log_dev_info(d, "online=%d", online);
        d->online = online;
        xenbus_device_update(d);
}
