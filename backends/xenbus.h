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
         * A negative errno disables the class, logged, and the daemon goes
         * on serving the others. NULL: nothing to do. */
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

struct Domain {
        Backend *backend;
        LIST_ENTRY(Domain) link;
        uint32_t domid;
        xen_domain_handle_t uuid;
        char *name;         /* sanitized, for logs */
        unsigned n_devices;
        unsigned n_grants_mapped;
        bool suspended;     /* quiesce() ran for the current suspend */
        LIST_HEAD(, XenbusDevice) devices;
};

struct XenbusDevice {
        Backend *backend;
        const BackendClass *class;
        Domain *domain;
        uint32_t domid, devid;
        uint64_t serial;        /* unique for the daemon's lifetime; names the watch token */

        char *backend_path;     /* /local/domain/0/backend/<kind>/<domid>/<devid> */
        char *frontend_path;    /* validated /local/domain/<domid>/device/<kind>/<devid> */
        char *frontend_state_path;
        char *watch_token;
        LogContext log;

        XenbusState state;          /* B/state as we last wrote it */
        XenbusState frontend_state; /* XenbusStateUnknown when absent */
        bool online;                /* B/online, written by the toolstack */
        bool setup_ready;           /* pvbackd-status=ready written */
        bool setup_failed;          /* parked at InitWait with hotplug-error */
        bool failed;                /* runtime failure: data path closed */
        bool connected;             /* data path up (rings mapped) */
        bool draining;              /* class finishing in-flight work */
        bool refused;               /* invalid toolstack config: never probed or connected */
        bool released;
        char *error;                /* last failure, for hotplug-error */
        RateLimit ratelimit;        /* for messages the guest can provoke */

        void *data;                 /* the class's own state */
        LIST_ENTRY(XenbusDevice) domain_link;
};

struct Backend {
        sd_event *event;
        struct xs_handle *xs;
        xc_interface *xc;
        xengnttab_handle *xgt;
        EvtchnDispatcher *evtchn;
        PvbackdConfig config;

        const BackendClass *const *classes;
        size_t n_classes;
        bool *class_enabled;
        void **class_data;
        unsigned *class_devices;

        void *devices;          /* tsearch root, by (class, domid, devid) */
        void *devices_by_serial;
        void *domains;          /* tsearch root, by domid */
        LIST_HEAD(, Domain) domain_list;
        LIST_HEAD(, XenbusDevice) orphans;   /* devices of domains we cannot serve */
        LIST_HEAD(, XenbusDevice) graveyard; /* released, freed once the stack unwinds */
        uint8_t *live_domids;   /* bitmap of domains seen alive, for domain_introduced/released */
        bool watch_introduce;
        uint64_t next_serial;
        unsigned n_devices, n_domains;

        sd_event_source *xs_source, *gc_source;
        void (*status_changed)(Backend *b);
        bool exiting;
};

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
bool backend_class_enabled(const Backend *b, const BackendClass *c);
/* Class-wide state set by init(), by class. */
void *backend_class_data(const Backend *b, const BackendClass *c);
void backend_set_class_data(Backend *b, const BackendClass *c, void *data);

/* For classes. */
#define log_dev_full(d, level, error, ...) log_internal(level, error, &(d)->log, __func__, __VA_ARGS__)
#define log_dev_debug(d, ...) log_dev_full(d, LOG_DEBUG, 0, __VA_ARGS__)
#define log_dev_info(d, ...) log_dev_full(d, LOG_INFO, 0, __VA_ARGS__)
#define log_dev_warning(d, ...) log_dev_full(d, LOG_WARNING, 0, __VA_ARGS__)
#define log_dev_error_errno(d, error, ...) log_dev_full(d, LOG_ERR, error, __VA_ARGS__)
#define log_dev_warning_errno(d, error, ...) log_dev_full(d, LOG_WARNING, error, __VA_ARGS__)

int xenbus_read_backend(XenbusDevice *d, const char *key, size_t max_len, char **ret);
int xenbus_read_backend_uint(XenbusDevice *d, const char *key, uint64_t max, uint64_t *ret);
int xenbus_read_frontend(XenbusDevice *d, const char *key, size_t max_len, char **ret);
int xenbus_read_frontend_uint(XenbusDevice *d, const char *key, uint64_t max, uint64_t *ret);

/* Records the message that setup or connect failures report (hotplug-error,
 * the error node, the journal). Returns -abs(error). */
int xenbus_device_set_error(XenbusDevice *d, int error, const char *fmt, ...) _printf_(3, 4);
/* A PROBE_PENDING setup finished: error 0 publishes pvbackd-status=ready,
 * otherwise hotplug-error and pvbackd-status=error (message from set_error). */
void xenbus_device_setup_done(XenbusDevice *d, int error);
/* A runtime failure after connect (broken ring, I/O setup lost): logs, writes
 * /local/domain/0/error/<backend path>/error, and closes the device. */
void xenbus_device_fatal(XenbusDevice *d, int error, const char *fmt, ...) _printf_(3, 4);
/* The class finished draining after disconnect() returned 1. */
void xenbus_device_drained(XenbusDevice *d);
/* Something can_connect() depends on changed: re-run the state machine. */
void xenbus_device_kick(XenbusDevice *d);

/* State machine (state.c), driven by the core. */
XenbusState xenbus_target_state(const XenbusDevice *d);
void xenbus_device_update(XenbusDevice *d);
const char *xenbus_state_to_string(XenbusState s);

/* Internal to the core (xenbus.c), used by state.c. */
int xenbus_device_write_state(XenbusDevice *d, XenbusState s, XsBatch *extra);
int xenbus_device_publish_initwait(XenbusDevice *d);
int xenbus_device_do_connect(XenbusDevice *d);
int xenbus_device_do_disconnect(XenbusDevice *d);
void xenbus_device_release(XenbusDevice *d, bool write_closed);
