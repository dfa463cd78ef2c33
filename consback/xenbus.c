/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The console class on the XenBus core: which devices are ours (claims),
 * what each serves (probe), the ring and the pty (connect), and following
 * configuration reloads. */

#include <stdio.h>

#include "consback.h"

const BackendClass console_class;

static ConsClass *cons_class(Backend *b) {
        return backend_class_data(b, &console_class);
}

/* Only the consoles we create (type=pvbackd, a dom0-owned node the guest
 * cannot write): never console 0 (xenconsoled), never type=ioemu (QEMU). */
static bool console_claims(Backend *b, const char *backend_path, uint32_t domid, uint32_t devid) {
        _cleanup_free_ char *path = NULL, *type = NULL;

        (void) backend_path;
        if (devid == 0 || devid > CONFIG_GUEST_CONSOLES_MAX)
                return false;
        if (asprintf(&path, "/local/domain/%u/device/console/%u/type", domid, devid) < 0)
                return false;
        return xs_read_str(backend_xenstore(b), XBT_NULL, path, 16, &type) >= 0 && streq(type, "pvbackd");
}

/* The config's view of this console; defaults (a pty) if the declaration is
 * gone, e.g. after a restart with another config. A primary console is always
 * a pty (`xl console` needs one); the caller keeps its output. */
void console_apply_config(Console *c) {
        const PvbackdConfig *cfg = backend_config(c->cc->backend);
        const ConfigGuest *g = config_find_guest(cfg, c->guest);
        const ConfigConsole *con = NULL;

        for (size_t i = 0; g && i < g->n_consoles && !con; i++)
                if (streq(g->consoles[i].label, c->label))
                        con = &g->consoles[i];
        c->output = con ? con->output : CONSOLE_OUTPUT_PTY;
        c->log = c->output == CONSOLE_OUTPUT_LOG || (con && con->log >= 0 ? con->log == 1 : cfg->console_log);
        c->journal = con && con->journal >= 0 ? con->journal == 1 : cfg->console_journal;
        free(c->socket_path);
        c->socket_path = con && con->socket_path ? strdup(con->socket_path) : NULL;
        if (c->output == CONSOLE_OUTPUT_SOCKET && !c->socket_path)
                c->output = CONSOLE_OUTPUT_LOG;
}

static int console_probe(XenbusDevice *d, XsBatch *pub) {
        ConsClass *cc = cons_class(xenbus_device_get_backend(d));
        Console *c = xenbus_device_get_data(d);
        ConsDomain *cd;
        int r;

        (void) pub;
        if (c)
                return PROBE_READY; /* again before a re-InitWait: keep the pty and the buffer */

        c = calloc(1, sizeof *c);
        if (!c)
                return xenbus_device_set_error(d, -ENOMEM, "out of memory");
        *c = (Console) { .cc = cc, .dev = d, .domid = xenbus_device_domid(d), .logctx = xenbus_device_log_context(d),
                         .ratelimit = RATELIMIT_INIT(10 * 1000000u, 10),
                         .pty_master = -1, .pty_slave = -1, .listen_fd = -1, .client_fd = -1,
                         .logfile.fd = -1, .logfile.at_line_start = true };
        xenbus_device_set_data(d, c);
        LIST_INSERT_HEAD(&cc->consoles, c, link);

        r = xenbus_read_frontend(d, "name", CONFIG_CONSOLE_LABEL_MAX, &c->label);
        if (r < 0)
                return xenbus_device_set_error(d, r, "%s/name is %s", xenbus_device_frontend_path(d),
                                               r == -ENOENT ? "missing" : "invalid");
        cd = consback_domain_find(cc, xenbus_device_domid(d));
        if (cd && cd->name)
                c->guest = strdup(cd->name);
        else {
                /* Found by the core's first scan, before @introduceDomain told us
                 * about the domain (a restarted pvbackd): ask XenStore. */
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "/local/domain/%u/name", xenbus_device_domid(d)) < 0 ||
                    xs_read_str(backend_xenstore(cc->backend), XBT_NULL, path, CONFIG_GUEST_NAME_MAX, &c->guest) < 0) {
                        free(c->guest);
                        if (asprintf(&c->guest, "domain-%u", xenbus_device_domid(d)) < 0)
                                c->guest = NULL;
                }
        }
        if (!c->guest)
                return xenbus_device_set_error(d, -ENOMEM, "out of memory");
        console_apply_config(c);

        if (c->output == CONSOLE_OUTPUT_SOCKET) {
                r = console_socket_listen(c);
                if (r < 0)
                        return xenbus_device_set_error(d, r, "cannot listen on %s: %s", c->socket_path, strerror(-r));
        }
        console_sinks_open(c);
        log_dev_info(d, "Console '%s' of %s: %s", c->label, c->guest,
                     c->output == CONSOLE_OUTPUT_PTY ? "pty" : c->output == CONSOLE_OUTPUT_SOCKET ? c->socket_path : "log only");
        return PROBE_READY;
}

typedef struct ConsoleRecord {
        uint32_t ring_ref, port;
} ConsoleRecord;

static int console_connect(XenbusDevice *d, XsBatch *pub) {
        const char *fe = xenbus_device_frontend_path(d);
        Console *c = xenbus_device_get_data(d);
        ConsoleRecord *rec;
        uint64_t ref, port;
        int r;

        /* Windows XENCONS writes port and ring-ref; Linux hvc_xen the same keys. */
        r = xenbus_read_frontend_uint(d, "ring-ref", UINT32_MAX, &ref);
        if (r < 0)
                return xenbus_device_set_error(d, r, "%s/ring-ref is %s", fe,
                                               r == -ENOENT ? "missing" : "invalid");
        r = xenbus_read_frontend_uint(d, "port", UINT32_MAX, &port);
        if (r < 0)
                return xenbus_device_set_error(d, r, "%s/port is %s", fe,
                                               r == -ENOENT ? "missing" : "invalid");

        /* All indices are in the shared page: a restarted daemon maps it
         * again and carries on. The record says which page it was. */
        r = xenbus_device_record(d, sizeof *rec, (void **) &rec);
        if (r < 0)
                return r;
        if (r > 0 && (rec->ring_ref != ref || rec->port != port))
                return xenbus_device_set_error(d, -ESTALE, "the frontend's ring changed while pvbackd was away");
        *rec = (ConsoleRecord) { .ring_ref = (uint32_t) ref, .port = (uint32_t) port };

        if (c->output == CONSOLE_OUTPUT_PTY && c->pty_master < 0) {
                snprintf(c->pty_store_name, sizeof c->pty_store_name, "pty-%u-%u", xenbus_device_domid(d),
                         xenbus_device_devid(d));
                r = pty_open_raw(c->pty_store_name, &c->pty_master, &c->pty_slave, &c->tty_path);
                if (r < 0)
                        return xenbus_device_set_error(d, r, "cannot create a pty: %s", strerror(-r));
        }
        r = console_ring_start(c, (uint32_t) ref, (uint32_t) port);
        if (r < 0)
                return r;
        r = console_reader_start(c);
        if (r < 0) {
                console_ring_stop(c);
                return xenbus_device_set_error(d, r, "cannot watch the console reader: %s", strerror(-r));
        }
        console_reader_update(c);
        /* For `xl console -t pv -n <devid>`; dom0-owned, guest read-only. */
        if (c->tty_path)
                xs_batch_printf(pub, fe, "tty", "%s", c->tty_path);
        return 0;
}

static int console_disconnect(XenbusDevice *d) {
        Console *c = xenbus_device_get_data(d);

        if (c)
                console_ring_stop(c);
        return 0;
}

/* Everything but the struct itself, for both kinds of console. */
void console_free_common(Console *c) {
        console_ring_stop(c);
        c->reader_source = sd_event_source_disable_unref(c->reader_source);
        console_sinks_close(c);
        if (c->pty_master >= 0) {
                close(c->pty_master);
                pty_forget(c->pty_store_name); /* ignored while exiting: the next process takes it */
        }
        if (c->pty_slave >= 0)
                close(c->pty_slave);
        c->pty_master = c->pty_slave = -1;
        cons_buffer_free(&c->buf);
        LIST_REMOVE(c, link);
        free(c->tty_path);
        free(c->guest);
        free(c->label);
        free(c->socket_path);
        c->tty_path = c->guest = c->label = c->socket_path = NULL;
}

static void console_release(XenbusDevice *d) {
        Console *c = xenbus_device_get_data(d);

        if (!c)
                return;
        console_free_common(c);
        free(c);
        xenbus_device_set_data(d, NULL);
}

/* SIGHUP (the core's reload op): re-evaluate every live domain against the
 * new config -- consoles added to a [guest] section are created, removed ones
 * removed -- and reopen the log files. */
static void console_reload(Backend *b) {
        ConsClass *cc = cons_class(b);

        if (!cc)
                return;
        if (backend_config(b)->console_primary != cc->primary)
                log_warning("[console] primary changes only when pvbackd restarts; still %s",
                            cc->primary ? "serving primary consoles" : "leaving primary consoles to xenconsoled");
        /* Log and journal switches apply to live consoles; the output (pty,
         * socket) only to consoles set up from now on. */
        for (Console *c = LIST_FIRST(&cc->consoles); c; c = LIST_NEXT(c, link)) {
                ConsoleOutput output = c->output;
                _cleanup_free_ char *socket_path = TAKE_PTR(c->socket_path);

                console_apply_config(c);
                c->output = output;
                free(c->socket_path);
                c->socket_path = TAKE_PTR(socket_path);
                if (c->log)
                        console_sinks_open(c);
        }
        consback_domains_sync(cc);
        consback_reopen_logs(b);
}

static int console_init(Backend *b) {
        ConsClass *cc = calloc(1, sizeof *cc);

        if (!cc)
                return log_error_errno(-ENOMEM, "Not serving consoles: out of memory");
        cc->backend = b;
        LIST_INIT(&cc->domains);
        LIST_INIT(&cc->consoles);
        backend_set_class_data(b, &console_class, cc);
        /* Logged; the secondary consoles are served either way. */
        if (backend_config(b)->console_primary)
                (void) consback_primary_init(cc);
        return 0;
}

static void console_done(Backend *b) {
        ConsClass *cc = cons_class(b);

        if (!cc)
                return;
        /* Our devices stay: a restarted pvbackd adopts them (create.c). */
        consback_domains_free(cc);
        consback_primary_done(cc);
        backend_set_class_data(b, &console_class, NULL);
        free(cc);
}

const BackendClass console_class = {
        .kind = "console",
        .init = console_init,
        .done = console_done,
        .reload = console_reload,
        .claims = console_claims,
        .domain_introduced = consback_domain_introduced,
        .domain_released = consback_domain_released,
        .probe = console_probe,
        .connect = console_connect,
        .disconnect = console_disconnect,
        .release = console_release,
};
