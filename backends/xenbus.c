/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The XenBus backend core: discovery, watches, domain lifetime, and the
 * XenStore side of every state change. The state machine itself is in
 * state.c; event channels and grants in evtchn.c and grant.c. */

#include <inttypes.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>

#include "evtchn.h"
#include "xenbus.h"

#define BACKEND_ROOT "/local/domain/0/backend"
#define DOMID_MAX_GUEST (DOMID_FIRST_RESERVED - 1)
/* Watch events handled per wake-up, so that one busy guest cannot starve the
 * event channels; the xenstore fd stays readable and we come back. */
#define XS_EVENTS_PER_DISPATCH 256

static int device_cmp(const void *a, const void *b) {
        return strcmp(((const XenbusDevice *) a)->backend_path, ((const XenbusDevice *) b)->backend_path);
}

static int device_serial_cmp(const void *a, const void *b) {
        uint64_t x = ((const XenbusDevice *) a)->serial, y = ((const XenbusDevice *) b)->serial;
        return x < y ? -1 : x > y;
}

static int domain_cmp(const void *a, const void *b) {
        uint32_t x = ((const Domain *) a)->domid, y = ((const Domain *) b)->domid;
        return x < y ? -1 : x > y;
}

static XenbusDevice *device_find(Backend *b, const char *backend_path) {
        XenbusDevice key = { .backend_path = (char *) backend_path };
        void **n = tfind(&key, &b->devices, device_cmp);
        return n ? *n : NULL;
}

static XenbusDevice *device_find_serial(Backend *b, uint64_t serial) {
        XenbusDevice key = { .serial = serial };
        void **n = tfind(&key, &b->devices_by_serial, device_serial_cmp);
        return n ? *n : NULL;
}

static Domain *domain_find(Backend *b, uint32_t domid) {
        Domain key = { .domid = domid };
        void **n = tfind(&key, &b->domains, domain_cmp);
        return n ? *n : NULL;
}

void *backend_class_data(const Backend *b, const BackendClass *c) {
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->classes[i] == c)
                        return b->class_data[i];
        return NULL;
}

void backend_set_class_data(Backend *b, const BackendClass *c, void *data) {
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->classes[i] == c)
                        b->class_data[i] = data;
}

bool backend_class_enabled(const Backend *b, const BackendClass *c) {
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->classes[i] == c)
                        return b->class_enabled[i];
        return false;
}

static size_t class_index(const Backend *b, const BackendClass *c) {
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->classes[i] == c)
                        return i;
        return 0;
}

static void status_changed(Backend *b) {
        if (b->status_changed && !b->exiting)
                b->status_changed(b);
}

/* ---- reading ------------------------------------------------------------ */

static int read_rel(XenbusDevice *d, const char *dir, const char *key, size_t max_len, char **ret) {
        _cleanup_free_ char *p = NULL;

        if (!dir)
                return -ENOENT;
        p = path_join(dir, key);
        if (!p)
                return -ENOMEM;
        return xs_read_str(d->backend->xs, XBT_NULL, p, max_len, ret);
}

static int read_rel_uint(XenbusDevice *d, const char *dir, const char *key, uint64_t max, uint64_t *ret) {
        _cleanup_free_ char *p = NULL;

        if (!dir)
                return -ENOENT;
        p = path_join(dir, key);
        if (!p)
                return -ENOMEM;
        return xs_read_uint(d->backend->xs, XBT_NULL, p, max, ret);
}

int xenbus_read_backend(XenbusDevice *d, const char *key, size_t max_len, char **ret) {
        return read_rel(d, d->backend_path, key, max_len, ret);
}

int xenbus_read_backend_uint(XenbusDevice *d, const char *key, uint64_t max, uint64_t *ret) {
        return read_rel_uint(d, d->backend_path, key, max, ret);
}

int xenbus_read_frontend(XenbusDevice *d, const char *key, size_t max_len, char **ret) {
        return read_rel(d, d->frontend_path, key, max_len, ret);
}

int xenbus_read_frontend_uint(XenbusDevice *d, const char *key, uint64_t max, uint64_t *ret) {
        return read_rel_uint(d, d->frontend_path, key, max, ret);
}

/* ---- writing ------------------------------------------------------------ */

/* The message every report of this failure uses: hotplug-error, the error
 * node, the journal. NULL on allocation failure; callers fall back to a
 * generic text. */
static void device_vset_error(XenbusDevice *d, const char *fmt, va_list ap) {
        char *m = NULL;

        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        free(d->error);
        d->error = m;
}

int xenbus_device_set_error(XenbusDevice *d, int error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        device_vset_error(d, fmt, ap);
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
        va_list ap;

        if (d->released || d->failed)
                return;
        va_start(ap, fmt);
        device_vset_error(d, fmt, ap);
        va_end(ap);

        log_dev_full(d, LOG_ERR, error, "Closing device: %s", d->error ?: "device failed");
        write_error_node(d, error);
        d->failed = true;
        if (xenbus_device_do_disconnect(d) > 0)
                return; /* the state machine continues when drained */
        xenbus_device_update(d);
}

int xenbus_device_do_connect(XenbusDevice *d) {
        XsBatch pub = {};
        int r;

        r = d->class->connect(d, &pub);
        if (r < 0) {
                xs_batch_done(&pub);
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

int xenbus_device_do_disconnect(XenbusDevice *d) {
        int r;

        if (!d->connected)
                return 0;
        r = d->class->disconnect ? d->class->disconnect(d) : 0;
        if (r > 0) {
                d->draining = true;
                return 1;
        }
        d->connected = false;
        log_dev_debug(d, "Disconnected");
        return 0;
}

void xenbus_device_drained(XenbusDevice *d) {
        if (!d->draining)
                return;
        d->draining = false;
        d->connected = false;
        log_dev_debug(d, "Disconnected after draining");
        if (!d->released)
                xenbus_device_update(d);
}

void xenbus_device_kick(XenbusDevice *d) {
        if (!d->released)
                xenbus_device_update(d);
}

/* ---- device and domain lifetime ----------------------------------------- */

static void domain_free(Domain *dom) {
        Backend *b = dom->backend;

        tdelete(dom, &b->domains, domain_cmp);
        LIST_REMOVE(dom, link);
        b->n_domains--;
        free(dom->name);
        free(dom);
}

static void device_free(XenbusDevice *d) {
        free(d->backend_path);
        free(d->frontend_path);
        free(d->frontend_state_path);
        free(d->watch_token);
        free(d->error);
        free(d);
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

/* Frees the class state and forgets the device. The backend directory stays:
 * it is libxl's to remove. write_closed is for a dying domain, whose
 * toolstack may be waiting for Closed. The memory itself goes only when the
 * event loop is back at the top (device_gc), because callers up the stack
 * may still hold d. */
void xenbus_device_release(XenbusDevice *d, bool write_closed) {
        Backend *b = d->backend;

        if (d->released)
                return;
        d->released = true;

        if (d->class->release)
                d->class->release(d);
        d->data = NULL;
        d->connected = d->draining = false;
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
        b->class_devices[class_index(b, d->class)]--;
        log_dev_info(d, "Released");

        d->log.guest = NULL;
        if (d->domain && --d->domain->n_devices == 0)
                domain_free(d->domain);
        d->domain = NULL;

        LIST_INSERT_HEAD(&b->graveyard, d, domain_link);
        sd_event_source_set_enabled(b->gc_source, SD_EVENT_ONESHOT);
        status_changed(b);
}

static int device_gc(sd_event_source *s, void *userdata) {
        Backend *b = userdata;
        XenbusDevice *d;

        (void) s;
        while ((d = LIST_FIRST(&b->graveyard))) {
                LIST_REMOVE(d, domain_link);
                device_free(d);
        }
        return 0;
}

static int domain_info(Backend *b, uint32_t domid, xc_domaininfo_t *ret) {
        int n = xc_domain_getinfolist(b->xc, domid, 1, ret);

        if (n < 0)
                return negative_errno();
        if (n == 0 || ret->domain != domid)
                return -ESRCH;
        return 0;
}

/* Releases every device of dom at once; this frees dom. */
static void domain_release_devices(Domain *dom, const char *why) {
        XenbusDevice *d;

        log_info("Releasing the devices of domain %u (%s): %s", dom->domid, dom->name ?: "?", why);
        while ((d = LIST_FIRST(&dom->devices))) {
                bool last = dom->n_devices == 1;
                xenbus_device_release(d, true);
                if (last)
                        break;
        }
}

static int domain_get(Backend *b, uint32_t domid, Domain **ret) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        xc_domaininfo_t info;
        Domain *dom;
        int r;

        r = domain_info(b, domid, &info);
        if (r < 0)
                return r;
        if (info.flags & XEN_DOMINF_dying)
                return -ESRCH;

        dom = domain_find(b, domid);
        if (dom && memcmp(dom->uuid, info.handle, sizeof dom->uuid) == 0) {
                *ret = dom;
                return 0;
        }
        if (dom) /* the domid was reused before we saw the old domain go */
                domain_release_devices(dom, "domain id reused by a new domain");

        if (b->n_domains >= b->config.max_guests)
                return -EUSERS;
        dom = calloc(1, sizeof *dom);
        if (!dom)
                return -ENOMEM;
        dom->backend = b;
        dom->domid = domid;
        memcpy(dom->uuid, info.handle, sizeof dom->uuid);
        LIST_INIT(&dom->devices);
        /* The name is only for logs; bounded and made printable. */
        if (asprintf(&path, "/local/domain/%u/name", domid) >= 0 &&
            xs_read_str(b->xs, XBT_NULL, path, XS_VALUE_MAX, &name) >= 0)
                dom->name = sanitize_for_log(name, 64);
        if (!tsearch(dom, &b->domains, domain_cmp)) {
                free(dom->name);
                free(dom);
                return -ENOMEM;
        }
        LIST_INSERT_HEAD(&b->domain_list, dom, link);
        b->n_domains++;
        *ret = dom;
        return 0;
}

static void domain_check_suspend(Domain *dom, const xc_domaininfo_t *info) {
        bool suspended = (info->flags & XEN_DOMINF_shutdown) &&
                         ((info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask) == SHUTDOWN_suspend;

        if (suspended == dom->suspended)
                return;
        dom->suspended = suspended;
        if (!suspended)
                return;
        log_info("Domain %u (%s) suspended: finishing in-flight I/O", dom->domid, dom->name ?: "?");
        for (XenbusDevice *d = LIST_FIRST(&dom->devices); d; d = LIST_NEXT(d, domain_link))
                if (d->connected && d->class->quiesce)
                        d->class->quiesce(d);
}

/* @releaseDomain carries no domid (Xen 4.17): look at every domain we serve. */
static void domains_check(Backend *b) {
        Domain *dom, *next;

        for (dom = LIST_FIRST(&b->domain_list); dom; dom = next) {
                xc_domaininfo_t info;
                int r = domain_info(b, dom->domid, &info);

                next = LIST_NEXT(dom, link);
                if (r == -ESRCH)
                        domain_release_devices(dom, "domain destroyed");
                else if (r < 0)
                        log_warning_errno(r, "Cannot query domain %u: %m", dom->domid);
                else if (info.flags & XEN_DOMINF_dying)
                        domain_release_devices(dom, "domain dying");
                else if (memcmp(dom->uuid, info.handle, sizeof info.handle) != 0)
                        domain_release_devices(dom, "domain id reused by a new domain");
                else
                        domain_check_suspend(dom, &info);
        }
}

/* ---- discovery ---------------------------------------------------------- */

static int read_frontend_state(XenbusDevice *d) {
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

static void frontend_changed(XenbusDevice *d) {
        int s = read_frontend_state(d);

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

/* Refuses a misconfigured device: it is never probed nor connected, but it
 * still reaches InitWait so that libxl runs the hotplug script, which then
 * reports our message through xl. */
static void device_refuse(XenbusDevice *d, const char *fmt, ...) _printf_(2, 3);
static void device_refuse(XenbusDevice *d, const char *fmt, ...) {
        va_list ap;

        if (d->refused)
                return; /* the first reason is the one to fix */
        va_start(ap, fmt);
        device_vset_error(d, fmt, ap);
        va_end(ap);
        d->refused = d->setup_failed = true;
}

/* Splits <root>/<kind>/<domid>/<devid>[/<node>]; false for anything else,
 * including non-canonical numbers. */
static bool backend_path_parse(const char *path, const char *kind, char **ret_device_path, const char **ret_node,
                               uint32_t *ret_domid, uint32_t *ret_devid) {
        const char *p = startswith(path, BACKEND_ROOT "/");
        char part[2][16];
        uint64_t v[2];

        if (!p || !(p = startswith(p, kind)) || *p != '/')
                return false;
        for (unsigned i = 0; i < 2; i++) {
                size_t l;
                if (*p != '/')
                        return false;
                p++;
                l = strcspn(p, "/");
                if (l == 0 || l >= sizeof part[i])
                        return false;
                memcpy(part[i], p, l);
                part[i][l] = 0;
                p += l;
        }
        if (parse_uint(part[0], DOMID_MAX_GUEST, &v[0]) < 0 || parse_uint(part[1], UINT32_MAX, &v[1]) < 0)
                return false;
        if (asprintf(ret_device_path, BACKEND_ROOT "/%s/%s/%s", kind, part[0], part[1]) < 0)
                return false;
        *ret_node = *p == '/' ? p + 1 : p;
        *ret_domid = (uint32_t) v[0];
        *ret_devid = (uint32_t) v[1];
        return true;
}

static void answer_untracked_detach(Backend *b, const char *backend_path) {
        _cleanup_free_ char *on = path_join(backend_path, "online");
        XsBatch pub = {};
        bool online = true;

        /* A device we never tracked (refused, or left by an earlier instance)
         * being detached: answer Closed so libxl does not wait 10 s. */
        if (!on || xs_read_bool01(b->xs, XBT_NULL, on, &online) < 0 || online)
                return;
        xs_batch_printf(&pub, backend_path, "state", "%d", XenbusStateClosed);
        (void) xs_batch_commit(b->xs, &pub, backend_path);
        xs_batch_done(&pub);
}

/* Reads and checks what libxl wrote; the first problem refuses the device. */
static void device_check_toolstack_nodes(XenbusDevice *d) {
        _cleanup_free_ char *fe = NULL, *expected = NULL, *online_path = NULL;
        uint64_t fe_id;
        bool online;
        int r;

        online_path = path_join(d->backend_path, "online");
        r = online_path ? xs_read_bool01(d->backend->xs, XBT_NULL, online_path, &online) : -ENOMEM;
        if (r < 0)
                device_refuse(d, "%s/online is %s", d->backend_path, r == -ENOENT ? "missing" : "not 0 or 1");
        d->online = r < 0 ? true : online; /* a refused device still answers the toolstack */

        r = xenbus_read_backend_uint(d, "frontend-id", DOMID_MAX_GUEST, &fe_id);
        if (r < 0)
                device_refuse(d, "%s/frontend-id is %s", d->backend_path,
                              r == -ENOENT ? "missing" : "not a valid domain id");
        else if (fe_id != d->domid)
                device_refuse(d, "%s/frontend-id is %" PRIu64 ", expected %u", d->backend_path, fe_id, d->domid);

        /* The frontend path must be this very device's: anything else could
         * make us watch and map another guest's nodes. */
        if (asprintf(&expected, "/local/domain/%u/device/%s/%u", d->domid, d->class->kind, d->devid) < 0)
                return device_refuse(d, "out of memory");
        r = xenbus_read_backend(d, "frontend", XS_VALUE_MAX, &fe);
        if (r < 0)
                device_refuse(d, "%s/frontend is %s", d->backend_path,
                              r == -ENOENT ? "missing" : "too long or not a string");
        else if (!streq(fe, expected))
                device_refuse(d, "%s/frontend is not %s", d->backend_path, expected);

        if (!d->refused) {
                d->frontend_path = TAKE_PTR(fe);
                d->frontend_state_path = path_join(d->frontend_path, "state");
                if (!d->frontend_state_path)
                        device_refuse(d, "out of memory");
        }
}

static void device_discover(Backend *b, const BackendClass *c, const char *backend_path, uint32_t domid,
                            uint32_t devid) {
        _cleanup_free_ char *state_path = path_join(backend_path, "state");
        uint64_t state;
        XenbusDevice *d;
        Domain *dom = NULL;
        int r;

        if (!state_path)
                return (void) log_error_errno(-ENOMEM, "Out of memory");
        if (xs_read_uint(b->xs, XBT_NULL, state_path, XenbusStateReconfigured, &state) < 0)
                return; /* not (yet, or any more) a device */
        if (c->claims && !c->claims(b, backend_path, domid, devid))
                return;
        if (state == XenbusStateClosing)
                return answer_untracked_detach(b, backend_path);
        if (state == XenbusStateConnected || state == XenbusStateInitialised) {
                log_warning("%s was connected by an earlier pvbackd; re-attaching to live rings is not supported "
                            "yet, leaving it alone", backend_path);
                return;
        }
        if (state != XenbusStateInitialising && state != XenbusStateInitWait)
                return;

        r = domain_get(b, domid, &dom);
        if (r == -ESRCH)
                return (void) log_debug("%s: domain %u is gone, ignoring", backend_path, domid);

        d = calloc(1, sizeof *d);
        if (!d)
                return (void) log_error_errno(-ENOMEM, "Out of memory");
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
                return (void) log_error_errno(-ENOMEM, "Out of memory");
        }
        if (!tsearch(d, &b->devices_by_serial, device_serial_cmp)) {
                tdelete(d, &b->devices, device_cmp);
                device_free(d);
                return (void) log_error_errno(-ENOMEM, "Out of memory");
        }
        d->log = (LogContext) { .domid = domid, .device = d->backend_path };
        b->n_devices++;
        b->class_devices[class_index(b, c)]++;

        if (r < 0) {
                LIST_INSERT_HEAD(&b->orphans, d, domain_link);
                device_refuse(d, "cannot serve domain %u: %s", domid,
                              r == -EUSERS ? "too many guests (max-guests in pvbackd.conf)" : strerror(-r));
        } else {
                d->domain = dom;
                d->log.guest = dom->name;
                LIST_INSERT_HEAD(&dom->devices, d, domain_link);
                if (++dom->n_devices > b->config.max_devices_per_guest)
                        device_refuse(d, "domain %u has more than %u devices (max-devices-per-guest in pvbackd.conf)",
                                      domid, b->config.max_devices_per_guest);
        }
        device_check_toolstack_nodes(d);
        log_dev_info(d, "New %s device%s", c->kind, d->refused ? ", refused" : "");

        /* InitWait first, within milliseconds of the device appearing: libxl
         * gives us 10 s and adds all of a guest's devices in parallel. */
        if (d->frontend_state_path) {
                r = read_frontend_state(d);
                d->frontend_state = r < 0 ? XenbusStateInitialising : (XenbusState) r;
        }
        status_changed(b);
        xenbus_device_update(d);
        if (d->released || !d->frontend_state_path)
                return;
        /* Only the frontend's state node (and the few nodes the class names):
         * never a whole guest-writable directory. */
        if (!xs_watch(b->xs, d->frontend_state_path, d->watch_token))
                log_dev_error_errno(d, negative_errno(), "Failed to watch %s: %m", d->frontend_state_path);
        frontend_nodes_watch(d, true);
}

/* A device disappeared if its backend directory did. */
static void device_check_removed(XenbusDevice *d) {
        if (!xs_exists(d->backend->xs, XBT_NULL, d->backend_path)) {
                log_dev_debug(d, "backend directory removed");
                xenbus_device_release(d, false);
        }
}

static void online_changed(XenbusDevice *d) {
        _cleanup_free_ char *p = path_join(d->backend_path, "online");
        bool online;
        int r;

        if (!p)
                return;
        r = xs_read_bool01(d->backend->xs, XBT_NULL, p, &online);
        if (r == -ENOENT)
                return device_check_removed(d);
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

static void scan_devices(Backend *b, const BackendClass *c, const char *dir, unsigned depth) {
        unsigned n = 0;
        char **names = xs_directory(b->xs, XBT_NULL, dir, &n);

        if (!names)
                return;
        for (unsigned i = 0; i < n; i++) {
                _cleanup_free_ char *p = path_join(dir, names[i]);
                _cleanup_free_ char *dev = NULL;
                const char *node;
                uint32_t domid, devid;

                if (!p)
                        break;
                if (depth == 0) {
                        scan_devices(b, c, p, 1);
                        continue;
                }
                if (!backend_path_parse(p, c->kind, &dev, &node, &domid, &devid))
                        continue;
                if (!device_find(b, dev))
                        device_discover(b, c, dev, domid, devid);
        }
        free(names);
}

/* A directory above devices changed (or went): check the devices below it. */
static void check_removed_under(Backend *b, const BackendClass *c, const char *dir) {
        _cleanup_free_ XenbusDevice **hits = NULL;
        size_t n = 0, l = strlen(dir);

        if (b->n_devices == 0)
                return;
        hits = calloc(b->n_devices, sizeof *hits);
        if (!hits)
                return;
        /* Collect first: releasing a device may free its domain. */
        for (Domain *dom = LIST_FIRST(&b->domain_list); dom; dom = LIST_NEXT(dom, link))
                for (XenbusDevice *d = LIST_FIRST(&dom->devices); d; d = LIST_NEXT(d, domain_link))
                        if (d->class == c && n < b->n_devices && strncmp(d->backend_path, dir, l) == 0 &&
                            d->backend_path[l] == '/')
                                hits[n++] = d;
        for (XenbusDevice *d = LIST_FIRST(&b->orphans); d; d = LIST_NEXT(d, domain_link))
                if (d->class == c && n < b->n_devices && strncmp(d->backend_path, dir, l) == 0 &&
                    d->backend_path[l] == '/')
                        hits[n++] = d;
        for (size_t i = 0; i < n; i++)
                device_check_removed(hits[i]);
}

/* A watch on backend/<kind> fired for path. */
static void backend_event(Backend *b, const BackendClass *c, const char *path) {
        _cleanup_free_ char *dev = NULL, *kind_root = NULL;
        const char *node;
        uint32_t domid, devid;
        XenbusDevice *d;

        if (!backend_path_parse(path, c->kind, &dev, &node, &domid, &devid)) {
                /* The kind or a domain directory: (re)scan below it, and
                 * notice devices whose directories went with it. */
                if (asprintf(&kind_root, BACKEND_ROOT "/%s", c->kind) < 0)
                        return;
                if (streq(path, kind_root)) {
                        scan_devices(b, c, path, 0);
                } else if (startswith(path, kind_root))
                        scan_devices(b, c, path, 1);

                check_removed_under(b, c, path);
                return;
        }

        d = device_find(b, dev);
        if (!d) {
                device_discover(b, c, dev, domid, devid);
                return;
        }
        if (node[0] == '\0' || streq(node, "state"))
                device_check_removed(d);
        else if (streq(node, "online"))
                online_changed(d);
        else if (c->backend_changed && c->watched_backend_nodes && !d->setup_failed)
                for (const char *const *n = c->watched_backend_nodes; *n; n++)
                        if (streq(node, *n)) {
                                c->backend_changed(d, node);
                                break;
                        }
}

/* ---- domains appearing and going, for classes that care ----------------- */

#define DOMID_BITMAP_BYTES (DOMID_FIRST_RESERVED / 8 + 1)

static bool bit_test(const uint8_t *m, uint32_t i) {
        return m[i / 8] & (1u << (i % 8));
}

static void bit_set(uint8_t *m, uint32_t i, bool v) {
        if (v)
                m[i / 8] |= (uint8_t) (1u << (i % 8));
        else
                m[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

/* Both special watches carry no domid: compare the live set with Xen's. */
static void domains_rescan(Backend *b) {
        _cleanup_free_ uint8_t *alive = calloc(1, DOMID_BITMAP_BYTES);
        xc_domaininfo_t info[256];
        uint32_t next = 1;

        if (!alive || !b->live_domids)
                return;
        for (;;) {
                int n = xc_domain_getinfolist(b->xc, next, ELEMENTSOF(info), info);
                if (n < 0)
                        return (void) log_warning_errno(negative_errno(), "Cannot list domains: %m");
                for (int i = 0; i < n; i++)
                        if (info[i].domain < DOMID_FIRST_RESERVED && !(info[i].flags & XEN_DOMINF_dying))
                                bit_set(alive, info[i].domain, true);
                if (n < (int) ELEMENTSOF(info))
                        break;
                next = info[n - 1].domain + 1;
        }
        for (uint32_t domid = 1; domid < DOMID_FIRST_RESERVED; domid++) {
                bool was = bit_test(b->live_domids, domid), is = bit_test(alive, domid);
                if (was == is)
                        continue;
                bit_set(b->live_domids, domid, is);
                for (size_t i = 0; i < b->n_classes; i++) {
                        const BackendClass *c = b->classes[i];
                        if (!b->class_enabled[i])
                                continue;
                        if (is && c->domain_introduced)
                                c->domain_introduced(b, domid);
                        else if (!is && c->domain_released)
                                c->domain_released(b, domid);
                }
        }
}

/* ---- the XenStore watch dispatcher -------------------------------------- */

static void watch_event(Backend *b, const char *path, const char *token) {
        uint64_t v;

        if (token[0] == 'f') {
                XenbusDevice *d;
                if (parse_uint(token + 1, UINT64_MAX, &v) < 0 || !(d = device_find_serial(b, v)))
                        return; /* a late event for a released device */
                if (!d->released)
                        frontend_changed(d);
        } else if (token[0] == 'n') {
                XenbusDevice *d;
                const char *node;
                if (parse_uint(token + 1, UINT64_MAX, &v) < 0 || !(d = device_find_serial(b, v)) || d->released ||
                    !d->connected || !d->class->frontend_changed || !d->frontend_path)
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
        } else if (token[0] == 'k') {
                if (parse_uint(token + 1, b->n_classes - 1, &v) < 0 || !b->class_enabled[v])
                        return;
                backend_event(b, b->classes[v], path);
        } else if (streq(token, "r")) {
                domains_check(b);
                if (b->watch_introduce)
                        domains_rescan(b);
        } else if (streq(token, "i"))
                domains_rescan(b);
}

static int xs_dispatch(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Backend *b = userdata;

        (void) s;
        (void) fd;
        (void) revents;
        for (unsigned i = 0; i < XS_EVENTS_PER_DISPATCH; i++) {
                char **ev = xs_check_watch(b->xs);
                if (!ev) {
                        if (errno != EAGAIN)
                                return log_error_errno(negative_errno(), "Lost the XenStore connection: %m");
                        break;
                }
                watch_event(b, ev[XS_WATCH_PATH], ev[XS_WATCH_TOKEN]);
                free(ev);
        }
        return 0;
}

/* ---- lifetime ------------------------------------------------------------ */

int backend_new(sd_event *e, PvbackdConfig *config, const BackendClass *const *classes, Backend **ret) {
        Backend *b;
        size_t n = 0;
        int r;

        while (classes[n])
                n++;
        b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->event = sd_event_ref(e);
        b->config = config_take(config);
        b->classes = classes;
        b->n_classes = n;
        LIST_INIT(&b->domain_list);
        LIST_INIT(&b->orphans);
        LIST_INIT(&b->graveyard);
        b->class_enabled = calloc(n ?: 1, sizeof *b->class_enabled);
        b->class_devices = calloc(n ?: 1, sizeof *b->class_devices);
        b->class_data = calloc(n ?: 1, sizeof *b->class_data);
        if (!b->class_enabled || !b->class_devices || !b->class_data) {
                backend_free(b);
                return -ENOMEM;
        }

        for (size_t i = 0; i < n; i++) {
                const char *k = classes[i]->kind;
                b->class_enabled[i] = streq(k, "vbd")       ? b->config.serve_vbd
                                      : streq(k, "vif")     ? b->config.serve_vif
                                      : streq(k, "console") ? b->config.serve_console
                                                            : true;
        }

        b->xs = xs_open(0);
        if (!b->xs) {
                r = log_error_errno(negative_errno(), "Failed to connect to XenStore: %m");
                goto fail;
        }
        b->xc = xc_interface_open(NULL, NULL, 0);
        if (!b->xc) {
                r = log_error_errno(negative_errno(), "Failed to open the Xen control interface: %m");
                goto fail;
        }
        b->xgt = xengnttab_open(NULL, 0);
        if (!b->xgt) {
                r = log_error_errno(negative_errno(), "Failed to open the grant table device: %m");
                goto fail;
        }
        r = evtchn_dispatcher_new(e, b->config.evtchn_rate_limit, b->config.evtchn_rate_interval_ms, &b->evtchn);
        if (r < 0) {
                log_error_errno(r, "Failed to open the event channel device: %m");
                goto fail;
        }
        *ret = b;
        return 0;
fail:
        backend_free(b);
        return r;
}

int backend_start(Backend *b) {
        int r;

        for (size_t i = 0; i < b->n_classes; i++) {
                const BackendClass *c = b->classes[i];

                if (!b->class_enabled[i])
                        continue;
                if (c->init) {
                        r = c->init(b);
                        if (r < 0) {
                                log_error_errno(r, "Not serving %s devices: %m", c->kind);
                                b->class_enabled[i] = false;
                                continue;
                        }
                }
                if (c->domain_introduced || c->domain_released)
                        b->watch_introduce = true;
        }
        if (b->watch_introduce) {
                b->live_domids = calloc(1, DOMID_BITMAP_BYTES);
                if (!b->live_domids)
                        return log_error_errno(-ENOMEM, "Out of memory");
                if (!xs_watch(b->xs, "@introduceDomain", "i"))
                        return log_error_errno(negative_errno(), "Failed to watch @introduceDomain: %m");
        }

        for (size_t i = 0; i < b->n_classes; i++) {
                char token[24], path[128];

                if (!b->class_enabled[i])
                        continue;
                snprintf(token, sizeof token, "k%zu", i);
                snprintf(path, sizeof path, BACKEND_ROOT "/%s", b->classes[i]->kind);
                if (!xs_watch(b->xs, path, token))
                        return log_error_errno(negative_errno(), "Failed to watch %s: %m", path);
        }
        if (!xs_watch(b->xs, "@releaseDomain", "r"))
                return log_error_errno(negative_errno(), "Failed to watch @releaseDomain: %m");

        r = sd_event_add_io(b->event, &b->xs_source, xs_fileno(b->xs), EPOLLIN, xs_dispatch, b);
        if (r < 0)
                return log_error_errno(r, "Failed to add the XenStore event source: %m");
        /* The control plane before the data path (anchors §13.9). */
        (void) sd_event_source_set_priority(b->xs_source, SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_event_source_set_description(b->xs_source, "xenstore");

        r = sd_event_add_defer(b->event, &b->gc_source, device_gc, b);
        if (r < 0)
                return log_error_errno(r, "Failed to add the release source: %m");
        (void) sd_event_source_set_priority(b->gc_source, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_enabled(b->gc_source, SD_EVENT_OFF);

        /* Pick up what exists now; the watches' first firings repeat this
         * cheaply (known devices are skipped). */
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->class_enabled[i]) {
                        char path[128];
                        snprintf(path, sizeof path, BACKEND_ROOT "/%s", b->classes[i]->kind);
                        scan_devices(b, b->classes[i], path, 0);
                }
        return 0;
}

void backend_reload(Backend *b, PvbackdConfig *config) {
        PvbackdConfig old = b->config;

        b->config = config_take(config);
        /* Which classes are served is fixed for the daemon's lifetime: turning
         * a class off under live guests would orphan their devices. */
        b->config.serve_vbd = old.serve_vbd;
        b->config.serve_vif = old.serve_vif;
        b->config.serve_console = old.serve_console;
        evtchn_dispatcher_set_rate_limit(b->evtchn, b->config.evtchn_rate_limit, b->config.evtchn_rate_interval_ms);
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->class_enabled[i] && b->classes[i]->reload)
                        b->classes[i]->reload(b);
        config_free(&old);
}

Backend *backend_free(Backend *b) {
        Domain *dom;
        XenbusDevice *d;

        if (!b)
                return NULL;
        b->exiting = true;
        while ((dom = LIST_FIRST(&b->domain_list)))
                while ((d = LIST_FIRST(&dom->devices))) {
                        bool last = dom->n_devices == 1;
                        xenbus_device_release(d, false);
                        if (last)
                                break;
                }
        while ((d = LIST_FIRST(&b->orphans)))
                xenbus_device_release(d, false);
        device_gc(NULL, b);
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->class_enabled[i] && b->classes[i]->done && b->xs)
                        b->classes[i]->done(b);

        sd_event_source_disable_unref(b->xs_source);
        sd_event_source_disable_unref(b->gc_source);
        b->evtchn = evtchn_dispatcher_free(b->evtchn);
        if (b->xgt)
                xengnttab_close(b->xgt);
        if (b->xc)
                xc_interface_close(b->xc);
        if (b->xs)
                xs_close(b->xs);
        sd_event_unref(b->event);
        /* Every device and domain was released above; the trees are empty. */
        config_free(&b->config);
        free(b->class_enabled);
        free(b->class_devices);
        free(b->class_data);
        free(b->live_domids);
        free(b);
        return NULL;
}
