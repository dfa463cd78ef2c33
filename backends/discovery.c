/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Discovery: devices appearing under /local/domain/0/backend/<kind> (at
 * start and from the kind's watch), what the toolstack wrote for them
 * checked before anything else, and devices whose directory went. */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "xenbus-internal.h"

/* Refuses a misconfigured device: it is never probed nor connected, but it
 * still reaches InitWait so that libxl runs the hotplug script, which then
 * reports our message through xl. */
static void device_refuse(XenbusDevice *d, const char *fmt, ...) _printf_(2, 3);
static void device_refuse(XenbusDevice *d, const char *fmt, ...) {
        va_list ap;

        if (d->refused)
                return; /* the first reason is the one to fix */
        va_start(ap, fmt);
        xenbus_device_vset_error(d, fmt, ap);
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
        if (state == XenbusStateConnected && !xenbus_record_exists(c, domid, devid)) {
                /* Connected by a process whose record is gone (a reboot of
                 * dom0 cannot be it: the guest would be gone too). */
                log_warning("%s was connected by an earlier backend that left no record to re-attach from; "
                            "leaving it alone", backend_path);
                return;
        }
        if (state != XenbusStateInitialising && state != XenbusStateInitWait && state != XenbusStateConnected)
                return;

        r = xenbus_domain_get(b, domid, &dom);
        if (r == -ESRCH)
                return (void) log_debug("%s: domain %u is gone, ignoring", backend_path, domid);

        if (xenbus_device_new(b, c, backend_path, domid, devid, &d) < 0) {
                if (dom && dom->n_devices == 0)
                        xenbus_domain_free(dom);
                return (void) log_error_errno(-ENOMEM, "Out of memory");
        }

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
                r = xenbus_device_read_frontend_state(d);
                d->frontend_state = r < 0 ? XenbusStateInitialising : (XenbusState) r;
        }
        backend_status_changed(b);
        if (state == XenbusStateConnected)
                xenbus_device_reattach(d);
        else
                xenbus_device_update(d);
        xenbus_device_watch(d);
}

/* A device disappeared if its backend directory did. */
void xenbus_device_check_removed(XenbusDevice *d) {
        if (!xs_exists(d->backend->xs, XBT_NULL, d->backend_path)) {
                log_dev_debug(d, "backend directory removed");
                xenbus_device_release(d, false);
        }
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
                if (!xenbus_device_find(b, dev))
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
                xenbus_device_check_removed(hits[i]);
}

/* A watch on backend/<kind> fired for path. */
void xenbus_discovery_event(Backend *b, const BackendClass *c, const char *path) {
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

        d = xenbus_device_find(b, dev);
        if (!d) {
                device_discover(b, c, dev, domid, devid);
                return;
        }
        if (node[0] == '\0' || streq(node, "state"))
                xenbus_device_check_removed(d);
        else if (streq(node, "online"))
                xenbus_device_online_changed(d);
        else if (c->backend_changed && c->watched_backend_nodes && !d->setup_failed)
                for (const char *const *n = c->watched_backend_nodes; *n; n++)
                        if (streq(node, *n)) {
                                c->backend_changed(d, node);
                                break;
                        }
}

void xenbus_discovery_scan(Backend *b, const BackendClass *c) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, BACKEND_ROOT "/%s", c->kind) < 0)
                return (void) log_error_errno(-ENOMEM, "Out of memory");
        scan_devices(b, c, path, 0);
}
