/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The Backend: the class table, what classes share (event loop, config, Xen
 * handles), the XenStore watch dispatcher that routes each event by its
 * token, and the core's lifetime. Devices are in device.c, their discovery
 * in discovery.c, guests in domain.c, the state machine in state.c. */

#include <inttypes.h>
#include <stdio.h>

#include "evtchn.h"
#include "fdstore.h"
#include "xenbus-internal.h"

/* Watch events handled per wake-up, so that one busy guest cannot starve the
 * event channels; the xenstore fd stays readable and we come back. */
#define XS_EVENTS_PER_DISPATCH 256
/* How long a restarted daemon keeps what the earlier process left (event
 * channel bindings, stored fds) for the devices and consoles that take it
 * over: they do at start-up, or when a guest's console nodes are seen. */
#define RESTART_TAKEOVER_USEC (30 * 1000000ull)

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

size_t backend_class_index(const Backend *b, const BackendClass *c) {
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->classes[i] == c)
                        return i;
        return 0;
}

void backend_status_changed(Backend *b) {
        if (b->status_changed && !b->exiting)
                b->status_changed(b);
}

void backend_set_status_callback(Backend *b, void (*status_changed)(Backend *b)) {
        b->status_changed = status_changed;
}

int backend_status(const Backend *b, char **ret) {
        char *s = NULL;

        if (asprintf(&s, "Serving %u guests, %u devices:", b->n_domains, b->n_devices) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < b->n_classes; i++) {
                char *t;
                if (!b->class_enabled[i])
                        continue;
                if (asprintf(&t, "%s %s %u", s, b->classes[i]->kind, b->class_devices[i]) < 0) {
                        free(s);
                        return -ENOMEM;
                }
                free(s);
                s = t;
        }
        *ret = s;
        return 0;
}

bool backend_exiting(const Backend *b) {
        return b->exiting;
}

sd_event *backend_event(const Backend *b) {
        return b->event;
}

const PvbackdConfig *backend_config(const Backend *b) {
        return &b->config;
}

xengnttab_handle *backend_gnttab(const Backend *b) {
        return b->xgt;
}

EvtchnDispatcher *backend_evtchn(const Backend *b) {
        return b->evtchn;
}

struct xs_handle *backend_xenstore(const Backend *b) {
        return b->xs;
}

void backend_foreach_device(Backend *b, const BackendClass *c, void (*f)(XenbusDevice *d, void *userdata),
                            void *userdata) {
        Domain *dom;
        XenbusDevice *d;

        LIST_FOREACH(dom, &b->domain_list, link)
                LIST_FOREACH(d, &dom->devices, domain_link)
                        if (d->class == c && !d->released)
                                f(d, userdata);
}
/* ---- the XenStore watch dispatcher -------------------------------------- */

static void watch_event(Backend *b, const char *path, const char *token) {
        uint64_t v;

        if (token[0] == 'f') {
                XenbusDevice *d;
                if (parse_uint(token + 1, UINT64_MAX, &v) < 0 || !(d = xenbus_device_find_serial(b, v)))
                        return; /* a late event for a released device */
                if (!d->released)
                        xenbus_device_frontend_changed(d);
        } else if (token[0] == 'n') {
                XenbusDevice *d;
                if (parse_uint(token + 1, UINT64_MAX, &v) < 0 || !(d = xenbus_device_find_serial(b, v)))
                        return;
                xenbus_device_frontend_node_changed(d, path);
        } else if (token[0] == 'k') {
                if (parse_uint(token + 1, b->n_classes - 1, &v) < 0 || !b->class_enabled[v])
                        return;
                xenbus_discovery_event(b, b->classes[v], path);
        } else if (streq(token, "r")) {
                xenbus_domains_check(b);
                if (b->watch_introduce)
                        xenbus_domains_rescan(b);
        } else if (streq(token, "i"))
                xenbus_domains_rescan(b);
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
                                backend_lost_xenstore(b, negative_errno());
                        break;
                }
                watch_event(b, ev[XS_WATCH_PATH], ev[XS_WATCH_TOKEN]);
                free(ev);
        }
        return 0;
}

/* ---- lifetime ------------------------------------------------------------ */

/* Without XenStore nothing new can be served nor any device followed: exit
 * with a failure, so that the service manager starts a new process (which
 * takes every device over) rather than keep one that looks healthy. */
void backend_lost_xenstore(Backend *b, int error) {
        log_error_errno(error, "Lost the XenStore connection, exiting for a restart: %m");
        (void) sd_event_exit(b->event, EXIT_FAILURE); /* logged here: the loop's caller only exits */
}

static int on_gc(sd_event_source *s, void *userdata) {
        xenbus_device_gc(userdata);
        return 0;
}

/* What nothing took over: guests that went meanwhile, consoles no longer
 * served. */
static int on_takeover_end(sd_event_source *s, uint64_t usec, void *userdata) {
        Backend *b = userdata;

        evtchn_dispatcher_drop_unclaimed(b->evtchn);
        fdstore_forget_untaken();
        xenbus_records_sweep(b);
        return 0;
}

static int on_teardown(sd_event_source *s, void *userdata) {
        xenbus_device_teardown_failed(userdata);
        return 0;
}

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
        LIST_INIT(&b->teardown);
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
        r = evtchn_dispatcher_new(e, b->xc, b->config.evtchn_rate_limit, b->config.evtchn_rate_interval_ms,
                                  &b->evtchn);
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
                                /* init() said why, where it knew. */
                                log_debug_errno(r, "Class %s disabled: %m", c->kind);
                                b->class_enabled[i] = false;
                                continue;
                        }
                }
                if (c->domain_introduced || c->domain_released)
                        b->watch_introduce = true;
        }
        if (b->watch_introduce) {
                r = xenbus_domains_watch_start(b);
                if (r < 0)
                        return r;
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
        /* The control plane before the data path: a guest that keeps its
         * rings busy must not delay another guest's device set-up, for which
         * libxl waits only 10 s. */
        (void) sd_event_source_set_priority(b->xs_source, SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_event_source_set_description(b->xs_source, "xenstore");

        r = sd_event_add_defer(b->event, &b->gc_source, on_gc, b);
        if (r < 0)
                return log_error_errno(r, "Failed to add the release source: %m");
        (void) sd_event_source_set_priority(b->gc_source, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_enabled(b->gc_source, SD_EVENT_OFF);

        /* Above every other source: a failed device's data path closes right
         * after the handler that found the failure, before any other handler
         * (its event channel, a XenStore event) can see it half-closed. */
        r = sd_event_add_defer(b->event, &b->teardown_source, on_teardown, b);
        if (r < 0)
                return log_error_errno(r, "Failed to add the teardown source: %m");
        (void) sd_event_source_set_priority(b->teardown_source, SD_EVENT_PRIORITY_IMPORTANT - 1);
        (void) sd_event_source_set_description(b->teardown_source, "teardown");
        (void) sd_event_source_set_enabled(b->teardown_source, SD_EVENT_OFF);

        r = sd_event_add_time_relative(b->event, &b->takeover_source, CLOCK_MONOTONIC, RESTART_TAKEOVER_USEC, 0,
                                       on_takeover_end, b);
        if (r < 0)
                return log_error_errno(r, "Failed to add the take-over timer: %m");

        /* Pick up what exists now; the watches' first firings repeat this
         * cheaply (known devices are skipped). */
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->class_enabled[i])
                        xenbus_discovery_scan(b, b->classes[i]);
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
        /* A restart: the next process takes the bindings and fds over. */
        evtchn_dispatcher_keep_bindings(b->evtchn);
        fdstore_keep_all();
        while ((dom = LIST_FIRST(&b->domain_list)))
                while ((d = LIST_FIRST(&dom->devices))) {
                        bool last = dom->n_devices == 1;
                        xenbus_device_release(d, false);
                        if (last)
                                break;
                }
        while ((d = LIST_FIRST(&b->orphans)))
                xenbus_device_release(d, false);
        xenbus_device_gc(b);
        for (size_t i = 0; i < b->n_classes; i++)
                if (b->class_enabled[i] && b->classes[i]->done && b->xs)
                        b->classes[i]->done(b);

        sd_event_source_disable_unref(b->xs_source);
        sd_event_source_disable_unref(b->gc_source);
        sd_event_source_disable_unref(b->teardown_source);
        sd_event_source_disable_unref(b->takeover_source);
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

