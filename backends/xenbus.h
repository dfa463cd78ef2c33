/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The XenBus backend core. A device class (vbd, vif, console) registers its
 * kind and a few operations; the core owns discovery, the XenStore watches,
 * the backend state machine, domain lifetime and error reporting. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <systemd/sd-event.h>
#include <xenctrl.h>
#include <xengnttab.h>
#include <xenstore.h>
#include <xen/io/xenbus.h>

#include "config.h"
#include "log.h"
#include "xs-util.h"

/* Opaque to classes: the core keeps its state to itself (xenbus-internal.h). */
typedef struct Backend Backend;
typedef struct Domain Domain;
typedef struct XenbusDevice XenbusDevice;
typedef struct EvtchnDispatcher EvtchnDispatcher;

/* What probe() says about the device's setup. */
enum {
        PROBE_READY = 0,   /* set up; the core writes pvbackd-status=ready */
        PROBE_PENDING = 1, /* waiting for something (e.g. a hotplug script's node);
                            * the class calls xenbus_device_setup_done() later */
};

typedef struct BackendClass {
        const char *kind; /* directory under backend/ and device/: "vbd", "vif", "console" */

        /* Once at start, if the class is enabled: check the host (e.g. that
         * the kernel's xen-blkback is not bound) and set up shared state.
         * A negative errno, after init() logged why, disables the class and
         * the daemon goes on serving the others. NULL: nothing to do. */
        int (*init)(Backend *b);
        void (*done)(Backend *b);

        /* Whether this class serves the device at backend_path (e.g. the
         * console class leaves console 0 to xenconsoled). NULL: all. */
        bool (*claims)(Backend *b, const char *backend_path, uint32_t domid, uint32_t devid);

        /* A domain appeared (@introduceDomain) or went (dying or destroyed,
         * @releaseDomain), whether or not it has devices: for classes that
         * create devices themselves (pvbackd's own secondary consoles). */
        void (*domain_introduced)(Backend *b, uint32_t domid);
        void (*domain_released)(Backend *b, uint32_t domid);

        /* SIGHUP: b->config is the new configuration (the old one is freed
         * after this returns: copy what you keep). Reopen log files here. */
        void (*reload)(Backend *b);

        /* Frontend nodes (relative to the frontend directory) the guest
         * rewrites while connected and the class must follow, e.g. netif's
         * "request-multicast-control". Each is watched on its own -- never the
         * whole guest-writable directory -- and reported through
         * frontend_changed() while the device is connected. NULL-terminated. */
        const char *const *watched_frontend_nodes;
        void (*frontend_changed)(XenbusDevice *d, const char *node);

        /* Backend nodes (relative to the backend directory) written by the
         * toolstack or hotplug scripts that this class reacts to, e.g.
         * "physical-device-path" or "hotplug-status". NULL-terminated. */
        const char *const *watched_backend_nodes;

        /* Read the backend configuration and add the feature keys to pub,
         * which the core commits together with state=InitWait. Runs when the
         * device appears and again before every re-InitWait, so it must be
         * idempotent. Must not block. Returns PROBE_READY, PROBE_PENDING, or
         * a negative errno after xenbus_device_set_error() (setup failure). */
        int (*probe)(XenbusDevice *d, XsBatch *pub);

        /* One of watched_backend_nodes changed (or the device was probed and
         * it may already be there). */
        void (*backend_changed)(XenbusDevice *d, const char *node);

        /* May the device connect now? (hotplug done, backing store open).
         * NULL means always. */
        bool (*can_connect)(XenbusDevice *d);

        /* Frontend is Initialised or Connected: read its ring keys, map,
         * bind, and add device properties to pub (committed with state=4).
         * Negative errno after xenbus_device_set_error() on failure. */
        int (*connect)(XenbusDevice *d, XsBatch *pub);

        /* Stop the data path, unmap and unbind. Return 0 when done, or 1 when
         * in-flight work must finish first; then call xenbus_device_drained(). */
        int (*disconnect)(XenbusDevice *d);

        /* The guest suspended itself (xl save, migration): finish in-flight
         * I/O and make written data durable, but keep the rings mapped -- a
         * cancelled suspend resumes on them. NULL: nothing to do. */
        void (*quiesce)(XenbusDevice *d);

        /* Free everything the class holds for d, at once (domain dying,
         * backend directory removed, daemon exit). No XenStore writes. */
        void (*release)(XenbusDevice *d);
} BackendClass;

/* Core lifetime. classes is a NULL-terminated list of the built-in classes;
 * the config says which of them are served. The core takes ownership of
 * *config (which is left empty) here and in backend_reload(). */
int backend_new(sd_event *e, PvbackdConfig *config, const BackendClass *const *classes, Backend **ret);
/* Sets up the watches; when it returns, discovery of existing devices is done. */
int backend_start(Backend *b);
/* Applies a reloaded config (limits apply to devices set up from now on),
 * then tells the classes (their reload op), then frees the old config. */
void backend_reload(Backend *b, PvbackdConfig *config);
/* Releases every device without any XenStore write a frontend could see. */
Backend *backend_free(Backend *b);
/* Called (outside any class callback) when devices or guests come or go. */
void backend_set_status_callback(Backend *b, void (*status_changed)(Backend *b));
/* "Serving N guests, M devices: vbd x vif y ...", for sd_notify STATUS=. */
int backend_status(const Backend *b, char **ret);
/* The daemon is exiting (SIGTERM, a restart): what is in flight is left to
 * the next process, nothing is waited for, nothing the next process takes
 * over is undone. */
bool backend_exiting(const Backend *b);
/* A XenStore connection broke (the core's or a class's own): the daemon
 * exits with error for its service manager to restart it. */
void backend_lost_xenstore(Backend *b, int error);
bool backend_class_enabled(const Backend *b, const BackendClass *c);
/* Class-wide state set by init(), by class. */
void *backend_class_data(const Backend *b, const BackendClass *c);
void backend_set_class_data(Backend *b, const BackendClass *c, void *data);

/* What classes share: the event loop, the configuration in force, the
 * daemon-wide Xen handles. */
sd_event *backend_event(const Backend *b);
const PvbackdConfig *backend_config(const Backend *b);
xengnttab_handle *backend_gnttab(const Backend *b);
EvtchnDispatcher *backend_evtchn(const Backend *b);
/* For class-wide XenStore work that is no device's (consoles the class
 * creates, the primary console's directory); a device's nodes go through the
 * xenbus_read_*() and xenbus_device_publish() below. */
struct xs_handle *backend_xenstore(const Backend *b);
/* Calls f for every live device of class c; f must not release devices. */
void backend_foreach_device(Backend *b, const BackendClass *c, void (*f)(XenbusDevice *d, void *userdata),
                            void *userdata);

/* A device, as its class sees it. */
Backend *xenbus_device_get_backend(const XenbusDevice *d);
/* The Backend's shared handles, reached from a device. */
sd_event *xenbus_device_event(const XenbusDevice *d);
const PvbackdConfig *xenbus_device_config(const XenbusDevice *d);
xengnttab_handle *xenbus_device_gnttab(const XenbusDevice *d);
uint32_t xenbus_device_domid(const XenbusDevice *d);
uint32_t xenbus_device_devid(const XenbusDevice *d);
const char *xenbus_device_backend_path(const XenbusDevice *d);
/* NULL for a device the core refused. */
const char *xenbus_device_frontend_path(const XenbusDevice *d);
void *xenbus_device_get_data(const XenbusDevice *d);
void xenbus_device_set_data(XenbusDevice *d, void *data);
/* The journal fields of the device's lines (domid, guest, backend path). */
LogContext *xenbus_device_log_context(XenbusDevice *d);
/* For messages the guest can provoke: true while under the device's budget. */
bool xenbus_device_ratelimit_ok(XenbusDevice *d);
bool xenbus_device_connected(const XenbusDevice *d);
/* pvbackd-status=ready was published. */
bool xenbus_device_setup_ready(const XenbusDevice *d);
/* xenbus_device_fatal() ran: the data path is closed, or is closed as soon
 * as the current handler returns. */
bool xenbus_device_failed(const XenbusDevice *d);

#define log_dev_full(d, level, error, ...) \
        log_internal(level, error, xenbus_device_log_context(d), __func__, __VA_ARGS__)
#define log_dev_debug(d, ...) log_dev_full(d, LOG_DEBUG, 0, __VA_ARGS__)
#define log_dev_info(d, ...) log_dev_full(d, LOG_INFO, 0, __VA_ARGS__)
#define log_dev_warning(d, ...) log_dev_full(d, LOG_WARNING, 0, __VA_ARGS__)
#define log_dev_error_errno(d, error, ...) log_dev_full(d, LOG_ERR, error, __VA_ARGS__)
#define log_dev_warning_errno(d, error, ...) log_dev_full(d, LOG_WARNING, error, __VA_ARGS__)

/* Typed reads of the node dir/key (dir itself if key is NULL), where dir is the device's backend or
 * frontend directory or below it (-EPERM otherwise); -ENOENT when absent,
 * -EINVAL when the value is not what was asked for. Strings are at most
 * max_len bytes, numbers at most max, booleans "0" or "1". */
int xenbus_read_str(XenbusDevice *d, const char *dir, const char *key, size_t max_len, char **ret);
int xenbus_read_uint(XenbusDevice *d, const char *dir, const char *key, uint64_t max, uint64_t *ret);
int xenbus_read_bool(XenbusDevice *d, const char *dir, const char *key, bool *ret);
/* The same, relative to the backend or frontend directory itself. */
int xenbus_read_backend(XenbusDevice *d, const char *key, size_t max_len, char **ret);
int xenbus_read_backend_uint(XenbusDevice *d, const char *key, uint64_t max, uint64_t *ret);
int xenbus_read_backend_bool(XenbusDevice *d, const char *key, bool *ret);
int xenbus_read_frontend(XenbusDevice *d, const char *key, size_t max_len, char **ret);
int xenbus_read_frontend_uint(XenbusDevice *d, const char *key, uint64_t max, uint64_t *ret);
int xenbus_read_frontend_bool(XenbusDevice *d, const char *key, bool *ret);
/* Commits pub (nodes under the backend directory) in one transaction;
 * -ENOENT when the toolstack removed the directory meanwhile. */
int xenbus_device_publish(XenbusDevice *d, XsBatch *pub);

/* Records the message that setup or connect failures report (hotplug-error,
 * the error node, the journal). Returns -abs(error). */
int xenbus_device_set_error(XenbusDevice *d, int error, const char *fmt, ...) _printf_(3, 4);
/* A PROBE_PENDING setup finished: error 0 publishes pvbackd-status=ready,
 * otherwise hotplug-error and pvbackd-status=error (message from set_error). */
void xenbus_device_setup_done(XenbusDevice *d, int error);
/* A runtime failure after connect (broken ring, I/O setup lost): logs, writes
 * /local/domain/0/error/<backend path>/error, and closes the device once the
 * current handler has returned -- so the caller's state (the queue, the
 * ring, d itself) stays valid until then, as with Linux netback's
 * xenvif_fatal_tx_err(). The caller stops taking requests and returns. */
void xenbus_device_fatal(XenbusDevice *d, int error, const char *fmt, ...) _printf_(3, 4);
/* The class finished draining after disconnect() returned 1. */
void xenbus_device_drained(XenbusDevice *d);
/* Something can_connect() depends on changed: re-run the state machine. */
void xenbus_device_kick(XenbusDevice *d);

const char *xenbus_state_to_string(XenbusState s);
