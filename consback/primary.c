/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The primary console, /local/domain/<id>/console, in place of xenconsoled
 * ([console] primary = yes), reading what libxl writes for it. It has no
 * xenbus handshake and no device the core would see: libxl writes ring-ref
 * (a frame number), port (an unbound port for dom0), type=xenconsoled and
 * tty="" after @introduceDomain, so each domain's console directory is
 * watched and served once ring-ref and port exist. The ring comes from grant
 * entry 0 (GNTTAB_RESERVED_CONSOLE, seeded by the domain builder for PV, PVH
 * and HVM alike), else from a foreign map of the ring-ref frame. libxl waits
 * 10 s for console/tty, so everything is done in the watch's handler. A
 * restore or soft reset rewrites ring-ref/port: remap and rebind; libxl
 * resetting tty to "" gets it written again. The data path, flow control and
 * sinks are the secondary consoles' (ring.c, sink.c), with the label
 * "console". */

#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>

#include "consback.h"

#define PRIMARY_TOKEN_PREFIX "primary/"
#define PRIMARY_EVENTS_PER_DISPATCH 64
/* A ring-ref is a frame number (PV: an MFN, PVH/HVM: a GFN). */
#define PRIMARY_FRAME_MAX ((UINT64_C(1) << 52) - 1)

struct PrimaryConsole {
        ConsClass *cc;
        uint32_t domid;
        Console con;
        LogContext log;
        char path[48];  /* /local/domain/<id>/console */
        char token[32];
        bool watching;
        bool not_ours;  /* type is neither absent nor xenconsoled: logged once */
        uint64_t ring_ref;
        uint32_t port;  /* what con is served from while con.intf is set or con.failed */
};

static int primary_read(PrimaryConsole *pc, xs_transaction_t t, const char *key, size_t max_len, char **ret) {
        _cleanup_free_ char *p = path_join(pc->path, key);

        return p ? xs_read_str(backend_xenstore(pc->cc->backend), t, p, max_len, ret) : -ENOMEM;
}

static int primary_read_uint(PrimaryConsole *pc, xs_transaction_t t, const char *key, uint64_t max, uint64_t *ret) {
        _cleanup_free_ char *p = path_join(pc->path, key);

        return p ? xs_read_uint(backend_xenstore(pc->cc->backend), t, p, max, ret) : -ENOMEM;
}

typedef struct PrimaryNodes {
        int type_r;  /* 0, -ENOENT, or another error reading type */
        char *type;
        bool have_ring;
        uint64_t ring_ref, port;
} PrimaryNodes;

/* type, ring-ref and port from one snapshot: libxl writes them in one
 * transaction, and separate reads could pair a missing type with the
 * ring-ref written just after (and serve another daemon's console). */
static int primary_read_nodes(PrimaryConsole *pc, PrimaryNodes *ret) {
        struct xs_handle *xs = backend_xenstore(pc->cc->backend);

        for (unsigned attempt = 0; attempt < XS_BATCH_RETRIES; attempt++) {
                xs_transaction_t t = xs_transaction_start(xs);
                PrimaryNodes n = {};

                if (t == XBT_NULL)
                        return negative_errno();
                n.type_r = primary_read(pc, t, "type", 32, &n.type);
                n.have_ring = primary_read_uint(pc, t, "ring-ref", PRIMARY_FRAME_MAX, &n.ring_ref) >= 0 &&
                              primary_read_uint(pc, t, "port", UINT32_MAX, &n.port) >= 0;
                if (xs_transaction_end(xs, t, false)) {
                        *ret = n;
                        return 0;
                }
                free(n.type);
                if (errno != EAGAIN)
                        return negative_errno();
        }
        return -EAGAIN;
}

/* Grant entry 0 first, as xenconsoled: it needs no privilege over the
 * guest's memory (and is what a deprivileged or stub console domain can do). */
static int primary_map(PrimaryConsole *pc, uint64_t frame) {
        Console *c = &pc->con;
        xen_pfn_t pfn = (xen_pfn_t) frame;
        int err = 0, r;
        void *p;

        p = xengnttab_map_grant_ref(backend_gnttab(pc->cc->backend), pc->domid, GNTTAB_RESERVED_CONSOLE,
                                    PROT_READ | PROT_WRITE);
        if (p) {
                c->ring_map = CONS_RING_GRANT0;
                c->ring_addr = p;
                return 0;
        }
        r = negative_errno();
        if (!pc->cc->fmem)
                return log_cons_warning_errno(c, r, "Cannot map grant entry 0 of the console: %m");
        log_cons_debug(c, "Cannot map grant entry 0 (%s), mapping frame %" PRIu64 " instead", strerror(-r), frame);
        p = xenforeignmemory_map(pc->cc->fmem, pc->domid, PROT_READ | PROT_WRITE, 1, &pfn, &err);
        if (!p)
                return log_cons_warning_errno(c, negative_errno(), "Cannot map the console ring (frame %" PRIu64 "): %m",
                                              frame);
        if (err != 0) {
                (void) xenforeignmemory_unmap(pc->cc->fmem, p, 1);
                return log_cons_warning_errno(c, -abs(err), "Cannot map the console ring (frame %" PRIu64 "): %m",
                                              frame);
        }
        c->ring_map = CONS_RING_FOREIGN;
        c->ring_addr = p;
        return 0;
}

static int primary_start(PrimaryConsole *pc, uint64_t ring_ref, uint32_t port) {
        Console *c = &pc->con;
        int r;

        r = primary_map(pc, ring_ref);
        if (r < 0)
                return r;
        r = console_ring_attach(c, port);
        if (r < 0)
                return log_cons_warning_errno(c, r, "Cannot bind event channel %u of the console: %m", port);
        if (c->pty_master < 0) {
                snprintf(c->pty_store_name, sizeof c->pty_store_name, "pty-primary-%u", pc->domid);
                r = pty_open_raw(c->pty_store_name, &c->pty_master, &c->pty_slave, &c->tty_path);
                if (r < 0) {
                        console_ring_stop(c);
                        return log_cons_warning_errno(c, r, "Cannot create a pty for the console: %m");
                }
        }
        r = console_reader_start(c);
        if (r < 0) {
                console_ring_stop(c);
                return log_cons_warning_errno(c, r, "Cannot watch the console's pty: %m");
        }
        console_reader_update(c);
        log_cons_info(c, "Serving the primary console (%s) on %s", c->ring_map == CONS_RING_GRANT0 ? "grant 0" : "foreign map",
                      c->tty_path);
        return 0;
}

/* For `xl console` and libxl's wait: console/tty = our pty, whenever it says
 * otherwise (first time, libxl's reset to "" after a bootloader or restore).
 * Never brings back a directory the toolstack removed. */
static void primary_publish_tty(PrimaryConsole *pc) {
        Console *c = &pc->con;
        _cleanup_free_ char *tty = NULL;
        XsBatch batch = {};
        int r;

        if (!c->tty_path)
                return;
        r = primary_read(pc, XBT_NULL, "tty", XS_VALUE_MAX, &tty);
        if (r >= 0 && streq(tty, c->tty_path))
                return;
        xs_batch_printf(&batch, pc->path, "tty", "%s", c->tty_path);
        r = xs_batch_commit(backend_xenstore(pc->cc->backend), &batch, pc->path);
        xs_batch_done(&batch);
        if (r < 0 && r != -ENOENT)
                log_cons_warning_errno(c, r, "Cannot write %s/tty: %m", pc->path);
}

/* Any change under the console directory, or its first appearance. */
static void primary_update(PrimaryConsole *pc) {
        Console *c = &pc->con;
        _cleanup_free_ char *type = NULL;
        PrimaryNodes nodes;
        uint64_t ref, port;
        int r;

        r = primary_read_nodes(pc, &nodes);
        if (r < 0)
                return (void) log_cons_warning_errno(c, r, "Cannot read %s: %m", pc->path);
        type = nodes.type;
        r = nodes.type_r;
        if (r >= 0 ? !streq(type, "xenconsoled") : r != -ENOENT) {
                /* Someone else's (e.g. a stub domain's ioemu console): never touched. */
                if (!pc->not_ours)
                        log_cons_info(c, "Console type is '%s', not xenconsoled: leaving it alone",
                                      type ?: "(unreadable)");
                pc->not_ours = true;
                console_ring_stop(c);
                c->failed = false;
                return;
        }
        pc->not_ours = false;

        ref = nodes.ring_ref;
        port = nodes.port;
        if (!nodes.have_ring) {
                /* Not written yet, or being removed with the domain. */
                if (c->intf)
                        log_cons_debug(c, "Console ring-ref or port gone, stopping the ring");
                console_ring_stop(c);
                c->failed = false;
                return;
        }

        if ((c->intf || c->failed) && ref == pc->ring_ref && port == pc->port) {
                /* Same ring: keep the mapping and the binding (a guest's
                 * EVTCHNOP_reset, as the Windows PV drivers do, re-binds to
                 * our port). */
                if (c->intf)
                        primary_publish_tty(pc);
                return;
        }
        if (c->intf)
                log_cons_info(c, "Console moved to frame %" PRIu64 ", port %" PRIu64 " (restore or soft reset)", ref,
                              port);
        console_ring_stop(c);
        c->failed = false;
        pc->ring_ref = ref;
        pc->port = (uint32_t) port;
        if (primary_start(pc, ref, (uint32_t) port) < 0)
                return; /* logged; the next change of the directory retries */
        primary_publish_tty(pc);
}

static int on_primary_watch(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ConsClass *cc = userdata;

        (void) s;
        (void) fd;
        (void) revents;
        for (unsigned i = 0; i < PRIMARY_EVENTS_PER_DISPATCH; i++) {
                _cleanup_free_ char **ev = xs_check_watch(cc->pxs);
                const char *id;
                ConsDomain *cd;
                uint64_t domid;

                if (!ev) {
                        if (errno != EAGAIN) {
                                cc->pxs_source = sd_event_source_disable_unref(cc->pxs_source);
                                backend_lost_xenstore(cc->backend, negative_errno());
                        }
                        break;
                }
                id = startswith(ev[XS_WATCH_TOKEN], PRIMARY_TOKEN_PREFIX);
                if (!id || parse_uint(id, DOMID_FIRST_RESERVED - 1, &domid) < 0)
                        continue;
                cd = consback_domain_find(cc, (uint32_t) domid);
                if (cd && cd->primary)
                        primary_update(cd->primary);
        }
        return 0;
}

void consback_primary_introduced(ConsClass *cc, ConsDomain *cd) {
        PrimaryConsole *pc;
        Console *c;

        if (!cc->pxs || cd->primary)
                return;
        pc = calloc(1, sizeof *pc);
        if (!pc)
                return (void) log_error_errno(-ENOMEM, "Out of memory");
        pc->cc = cc;
        pc->domid = cd->domid;
        snprintf(pc->path, sizeof pc->path, "/local/domain/%u/console", cd->domid);
        snprintf(pc->token, sizeof pc->token, PRIMARY_TOKEN_PREFIX "%u", cd->domid);
        pc->log = (LogContext) { .domid = cd->domid, .device = pc->path };
        c = &pc->con;
        *c = (Console) { .cc = cc, .primary = pc, .domid = cd->domid, .logctx = &pc->log,
                         .ratelimit = RATELIMIT_INIT(10 * 1000000u, 10), .pty_master = -1, .pty_slave = -1,
                         .listen_fd = -1,
                         .client_fd = -1, .logfile.fd = -1, .logfile.at_line_start = true };
        LIST_INSERT_HEAD(&cc->consoles, c, link);
        cd->primary = pc;

        c->label = strdup("console");
        if (cd->name)
                c->guest = strdup(cd->name);
        else if (asprintf(&c->guest, "domain-%u", cd->domid) < 0)
                c->guest = NULL;
        if (!c->label || !c->guest) {
                log_error_errno(-ENOMEM, "Out of memory");
                consback_primary_free(pc);
                cd->primary = NULL;
                return;
        }
        console_apply_config(c);
        c->output = CONSOLE_OUTPUT_PTY;
        console_sinks_open(c);

        /* libxl writes the nodes after @introduceDomain: the watch's first
         * firing, or a later one, finds them. */
        if (!xs_watch(cc->pxs, pc->path, pc->token)) {
                log_cons_warning_errno(c, negative_errno(), "Cannot watch %s: %m", pc->path);
                return;
        }
        pc->watching = true;
        primary_update(pc);
}

void consback_primary_free(PrimaryConsole *pc) {
        if (!pc)
                return;
        if (pc->watching)
                (void) xs_unwatch(pc->cc->pxs, pc->path, pc->token);
        /* Unmap, unbind, close the pty at once: the domain is dying or gone.
         * The tty node is libxl's, removed with the domain. */
        console_free_common(&pc->con);
        free(pc);
}

int consback_primary_init(ConsClass *cc) {
        Backend *b = cc->backend;
        int r;

        cc->pxs = xs_open(0);
        if (!cc->pxs)
                return log_error_errno(negative_errno(),
                                       "Cannot open XenStore for the primary consoles, leaving them to xenconsoled: %m");
        r = sd_event_add_io(backend_event(b), &cc->pxs_source, xs_fileno(cc->pxs), EPOLLIN, on_primary_watch, cc);
        if (r < 0) {
                xs_close(cc->pxs);
                cc->pxs = NULL;
                return log_error_errno(r, "Cannot watch XenStore for the primary consoles, leaving them to xenconsoled: %m");
        }
        (void) sd_event_source_set_priority(cc->pxs_source, SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_event_source_set_description(cc->pxs_source, "xenstore-primary-console");
        cc->fmem = xenforeignmemory_open(NULL, 0);
        if (!cc->fmem)
                log_warning_errno(negative_errno(), "Cannot open foreign memory, the primary consoles need grant entry 0: %m");
        cc->primary = true;
        log_info("Serving every guest's primary console in place of xenconsoled ([console] primary = yes)");
        return 0;
}

void consback_primary_done(ConsClass *cc) {
        /* The domains (and their primary consoles) are freed first. */
        cc->pxs_source = sd_event_source_disable_unref(cc->pxs_source);
        if (cc->pxs)
                xs_close(cc->pxs);
        cc->pxs = NULL;
        if (cc->fmem)
                xenforeignmemory_close(cc->fmem);
        cc->fmem = NULL;
        cc->primary = false;
}
