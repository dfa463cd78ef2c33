/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The XenBus core's own state. Device classes see only xenbus.h; this header
 * is for the core's files (backend.c, device.c, discovery.c, domain.c,
 * state.c, grant.c, evtchn.c) and the core's unit tests. */

#include <stdarg.h>
#include <sys/queue.h>

#include "record.h"
#include "state.h"
#include "xenbus.h"

#define BACKEND_ROOT "/local/domain/0/backend"
#define DOMID_MAX_GUEST (DOMID_FIRST_RESERVED - 1)

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
        bool failed;                /* runtime failure: data path closed (or about to be) */
        bool teardown_pending;      /* on Backend.teardown, the class's data path still up */
        bool connected;             /* data path up (rings mapped) */
        bool draining;              /* class finishing in-flight work */
        bool refused;               /* invalid toolstack config: never probed or connected */
        bool reattaching;           /* taking over from an earlier process (restart/record.c) */
        bool released;
        StateFile record;           /* while connected: what a restarted daemon needs */
        char *error;                /* last failure, for hotplug-error */
        RateLimit ratelimit;        /* for messages the guest can provoke */

        void *data;                 /* the class's own state */
        LIST_ENTRY(XenbusDevice) domain_link;
        LIST_ENTRY(XenbusDevice) teardown_link;
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

        void *devices;          /* tsearch root, by backend path */
        void *devices_by_serial;
        void *domains;          /* tsearch root, by domid */
        LIST_HEAD(, Domain) domain_list;
        LIST_HEAD(, XenbusDevice) orphans;   /* devices of domains we cannot serve */
        LIST_HEAD(, XenbusDevice) graveyard; /* released, freed once the stack unwinds */
        LIST_HEAD(, XenbusDevice) teardown;  /* failed, closed once the handler returns */
        uint8_t *live_domids;   /* bitmap of domains seen alive, for domain_introduced/released */
        bool watch_introduce;
        uint64_t next_serial;
        unsigned n_devices, n_domains;

        sd_event_source *xs_source, *gc_source, *teardown_source, *takeover_source;
        void (*status_changed)(Backend *b);
        bool exiting;
};

/* restart/record.c: the record file of a connected device. */
bool xenbus_record_exists(const BackendClass *c, uint32_t domid, uint32_t devid);
/* Forgets the record; keep_file leaves it for the next process. */
void xenbus_device_record_drop(XenbusDevice *d, bool keep_file);
/* Removes the records no device took over after a start. */
void xenbus_records_sweep(Backend *b);

/* backend.c: the class table and the daemon-wide status. */
size_t backend_class_index(const Backend *b, const BackendClass *c);
void backend_status_changed(Backend *b);

/* device.c: a device's life and its XenStore edges. */
int xenbus_device_new(Backend *b, const BackendClass *c, const char *backend_path, uint32_t domid, uint32_t devid,
                      XenbusDevice **ret);
XenbusDevice *xenbus_device_find(Backend *b, const char *backend_path);
XenbusDevice *xenbus_device_find_serial(Backend *b, uint64_t serial);
void xenbus_device_vset_error(XenbusDevice *d, const char *fmt, va_list ap);
int xenbus_device_read_frontend_state(XenbusDevice *d);
/* Takes over a device an earlier process left Connected, from its record. */
void xenbus_device_reattach(XenbusDevice *d);
/* Watches the frontend's state node and the class's frontend nodes. */
void xenbus_device_watch(XenbusDevice *d);
void xenbus_device_frontend_changed(XenbusDevice *d);
void xenbus_device_frontend_node_changed(XenbusDevice *d, const char *path);
void xenbus_device_online_changed(XenbusDevice *d);
/* Frees released devices now (the event loop does it when idle). */
void xenbus_device_gc(Backend *b);
/* Closes the data path of devices that failed, from the teardown source. */
void xenbus_device_teardown_failed(Backend *b);

/* discovery.c: devices appearing under backend/<kind> and going. */
void xenbus_discovery_scan(Backend *b, const BackendClass *c);
void xenbus_discovery_event(Backend *b, const BackendClass *c, const char *path);
void xenbus_device_check_removed(XenbusDevice *d);

/* domain.c: the guests we serve and their lifetime. */
int xenbus_domain_get(Backend *b, uint32_t domid, Domain **ret);
void xenbus_domain_free(Domain *dom);
/* @releaseDomain: releases the devices of dying, destroyed or replaced
 * domains, quiesces suspended ones. */
void xenbus_domains_check(Backend *b);
/* Tells the classes about domains that appeared or went since last time. */
void xenbus_domains_rescan(Backend *b);
int xenbus_domains_watch_start(Backend *b);

/* The state machine (state.c): where the device should be, and the step
 * towards it. */
XenbusState xenbus_target_state(const XenbusDevice *d);
void xenbus_device_update(XenbusDevice *d);

/* state.c drives these edges; device.c implements them. */
int xenbus_device_write_state(XenbusDevice *d, XenbusState s, XsBatch *extra);
int xenbus_device_publish_initwait(XenbusDevice *d);
int xenbus_device_do_connect(XenbusDevice *d);
int xenbus_device_do_disconnect(XenbusDevice *d);
void xenbus_device_release(XenbusDevice *d, bool write_closed);
