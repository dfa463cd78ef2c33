/* SPDX-License-Identifier: GPL-2.0-or-later */

/* pvbackd's own secondary consoles, laid out as libxl lays out its extra
 * consoles. When a domain appears, its name is matched against the
 * [guest "<name>"] sections and each declared console becomes
 * device/console/<n> (n = 1..9, skipping numbers in use, e.g. by libxl
 * channels) plus its backend directory, written in ONE transaction with
 * libxl's nodes and permissions: Linux's hvc_xen probes on the first node it
 * sees and never retries, so a console written node by node can be missed by
 * a booting guest. type=pvbackd keeps QEMU and xenconsoled away and is how
 * claims() recognises ours. When the domain goes, or a reload drops the
 * declaration, the directories are
 * removed again, if they are still ours. */

#include <stdio.h>

#include "consback.h"

#define CONSOLE_TX_RETRIES 16
#define CONSOLE_BACKEND_ROOT "/local/domain/0/backend"

extern const BackendClass console_class;

static ConsClass *cons_class(Backend *b) {
        return backend_class_data(b, &console_class);
}

ConsDomain *consback_domain_find(ConsClass *cc, uint32_t domid) {
        for (ConsDomain *cd = LIST_FIRST(&cc->domains); cd; cd = LIST_NEXT(cd, link))
                if (cd->domid == domid)
                        return cd;
        return NULL;
}

static void domain_free(ConsDomain *cd) {
        consback_primary_free(cd->primary);
        LIST_REMOVE(cd, link);
        for (size_t i = 0; i < ELEMENTSOF(cd->labels); i++)
                free(cd->labels[i]);
        free(cd->name);
        free(cd);
}

void consback_domains_free(ConsClass *cc) {
        while (!LIST_EMPTY(&cc->domains))
                domain_free(LIST_FIRST(&cc->domains));
}

static bool tx_write_perms(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *key,
                           const char *value, struct xs_permissions *perms) {
        _cleanup_free_ char *p = path_join(dir, key);

        return p && xs_write(xs, t, p, value, strlen(value)) && xs_set_permissions(xs, t, p, perms, 2);
}

static bool name_in(char **names, unsigned n, const char *name) {
        for (unsigned i = 0; names && i < n; i++)
                if (streq(names[i], name))
                        return true;
        return false;
}

/* Creates the frontend and backend directories of one console; returns the devid. */
static int console_create(ConsClass *cc, ConsDomain *cd, const ConfigConsole *con) {
        Backend *b = cc->backend;
        struct xs_handle *xs = backend_xenstore(b);
        struct xs_permissions guest_owned[2] = { { .id = cd->domid, .perms = XS_PERM_NONE },
                                                 { .id = 0, .perms = XS_PERM_READ } };
        struct xs_permissions dom0_owned[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                                { .id = cd->domid, .perms = XS_PERM_READ } };
        char fe_dir[64], be_dir[64], fe[80], be[80], domid_s[16], limit_s[16];

        snprintf(fe_dir, sizeof fe_dir, "/local/domain/%u/device/console", cd->domid);
        snprintf(be_dir, sizeof be_dir, CONSOLE_BACKEND_ROOT "/console/%u", cd->domid);
        snprintf(domid_s, sizeof domid_s, "%u", cd->domid);
        snprintf(limit_s, sizeof limit_s, "%u", backend_config(b)->console_buffer_limit);

        for (unsigned attempt = 0; attempt < CONSOLE_TX_RETRIES; attempt++) {
                xs_transaction_t t = xs_transaction_start(xs);
                unsigned n_fe = 0, n_be = 0, devid = 0;
                char **fes, **bes;
                bool ok;

                if (t == XBT_NULL)
                        return negative_errno();
                fes = xs_directory(xs, t, fe_dir, &n_fe);
                bes = xs_directory(xs, t, be_dir, &n_be);
                for (unsigned i = 1; i <= CONFIG_GUEST_CONSOLES_MAX && devid == 0; i++) {
                        char s[4];
                        snprintf(s, sizeof s, "%u", i);
                        if (!name_in(fes, n_fe, s) && !name_in(bes, n_be, s))
                                devid = i;
                }
                free(fes);
                free(bes);
                if (devid == 0) {
                        xs_transaction_end(xs, t, true);
                        return -ENOSPC;
                }
                snprintf(fe, sizeof fe, "%s/%u", fe_dir, devid);
                snprintf(be, sizeof be, "%s/%u", be_dir, devid);

                /* What libxl__device_console_add writes, with type=pvbackd. */
                ok = xs_mkdir(xs, t, fe) && xs_set_permissions(xs, t, fe, guest_owned, 2) &&
                     tx_write_perms(xs, t, fe, "backend", be, guest_owned) &&
                     tx_write_perms(xs, t, fe, "backend-id", "0", guest_owned) &&
                     tx_write_perms(xs, t, fe, "state", "1", guest_owned) &&
                     tx_write_perms(xs, t, fe, "protocol", "vt100", guest_owned) &&
                     tx_write_perms(xs, t, fe, "type", "pvbackd", dom0_owned) &&
                     tx_write_perms(xs, t, fe, "name", con->label, dom0_owned) &&
                     tx_write_perms(xs, t, fe, "limit", limit_s, dom0_owned) &&
                     tx_write_perms(xs, t, fe, "output", "pty", dom0_owned) &&
                     tx_write_perms(xs, t, fe, "tty", "", dom0_owned) &&
                     xs_mkdir(xs, t, be) && xs_set_permissions(xs, t, be, dom0_owned, 2) &&
                     tx_write_perms(xs, t, be, "frontend", fe, dom0_owned) &&
                     tx_write_perms(xs, t, be, "frontend-id", domid_s, dom0_owned) &&
                     tx_write_perms(xs, t, be, "online", "1", dom0_owned) &&
                     tx_write_perms(xs, t, be, "protocol", "vt100", dom0_owned) &&
                     tx_write_perms(xs, t, be, "name", con->label, dom0_owned) &&
                     tx_write_perms(xs, t, be, "state", "1", dom0_owned);
                if (!ok) {
                        int r = negative_errno();
                        xs_transaction_end(xs, t, true);
                        return r;
                }
                if (xs_transaction_end(xs, t, false))
                        return (int) devid;
                if (errno != EAGAIN)
                        return negative_errno();
        }
        return -EAGAIN;
}

/* Removes a console's directories if they are still the ones we created. */
static int console_remove(ConsClass *cc, uint32_t domid, unsigned devid) {
        Backend *b = cc->backend;
        struct xs_handle *xs = backend_xenstore(b);
        char fe[80], be[80], p[96];

        snprintf(fe, sizeof fe, "/local/domain/%u/device/console/%u", domid, devid);
        snprintf(be, sizeof be, CONSOLE_BACKEND_ROOT "/console/%u/%u", domid, devid);
        for (unsigned attempt = 0; attempt < CONSOLE_TX_RETRIES; attempt++) {
                _cleanup_free_ char *type = NULL, *frontend = NULL;
                xs_transaction_t t = xs_transaction_start(xs);
                bool ours;

                if (t == XBT_NULL)
                        return negative_errno();
                snprintf(p, sizeof p, "%s/type", fe);
                ours = xs_read_str(xs, t, p, 16, &type) == -ENOENT || (type && streq(type, "pvbackd"));
                snprintf(p, sizeof p, "%s/frontend", be);
                ours = ours && (xs_read_str(xs, t, p, XS_VALUE_MAX, &frontend) == -ENOENT ||
                                (frontend && streq(frontend, fe)));
                if (!ours) {
                        xs_transaction_end(xs, t, true);
                        log_info("Console %u of domain %u is no longer pvbackd's, leaving it", devid, domid);
                        return 0;
                }
                (void) xs_rm(xs, t, fe);
                (void) xs_rm(xs, t, be);
                if (xs_transaction_end(xs, t, false))
                        return 0;
                if (errno != EAGAIN)
                        return negative_errno();
        }
        return -EAGAIN;
}

/* Consoles an earlier pvbackd created for this domain (a restart): ours
 * again, not created twice. */
static void domain_adopt_existing(ConsClass *cc, ConsDomain *cd) {
        Backend *b = cc->backend;
        struct xs_handle *xs = backend_xenstore(b);
        char dir[64];
        unsigned n = 0;
        char **names;

        snprintf(dir, sizeof dir, "/local/domain/%u/device/console", cd->domid);
        names = xs_directory(xs, XBT_NULL, dir, &n);
        for (unsigned i = 0; names && i < n; i++) {
                _cleanup_free_ char *type = NULL, *label = NULL, *tp = NULL, *np = NULL;
                uint64_t devid;

                if (parse_uint(names[i], CONFIG_GUEST_CONSOLES_MAX, &devid) < 0 || devid == 0 ||
                    asprintf(&tp, "%s/%s/type", dir, names[i]) < 0 || asprintf(&np, "%s/%s/name", dir, names[i]) < 0)
                        continue;
                if (xs_read_str(xs, XBT_NULL, tp, 16, &type) < 0 || !streq(type, "pvbackd") ||
                    xs_read_str(xs, XBT_NULL, np, CONFIG_CONSOLE_LABEL_MAX, &label) < 0)
                        continue;
                free(cd->labels[devid]);
                cd->labels[devid] = TAKE_PTR(label);
        }
        free(names);
}

/* Makes the domain's consoles match its [guest] section. */
static void domain_sync(ConsClass *cc, ConsDomain *cd) {
        const ConfigGuest *g = cd->name ? config_find_guest(backend_config(cc->backend), cd->name) : NULL;

        /* Removed from the config: remove the device (the only way ours reach Closed). */
        for (unsigned devid = 1; devid <= CONFIG_GUEST_CONSOLES_MAX; devid++) {
                bool declared = false;

                if (!cd->labels[devid])
                        continue;
                for (size_t i = 0; g && i < g->n_consoles && !declared; i++)
                        declared = streq(g->consoles[i].label, cd->labels[devid]);
                if (declared)
                        continue;
                log_info("Removing console %u '%s' of domain %u (%s): no longer in the configuration", devid,
                         cd->labels[devid], cd->domid, cd->name);
                if (console_remove(cc, cd->domid, devid) < 0)
                        log_warning("Cannot remove console %u of domain %u", devid, cd->domid);
                free(cd->labels[devid]);
                cd->labels[devid] = NULL;
        }

        for (size_t i = 0; g && i < g->n_consoles; i++) {
                bool exists = false;
                int devid;

                for (unsigned d = 1; d <= CONFIG_GUEST_CONSOLES_MAX && !exists; d++)
                        exists = cd->labels[d] && streq(cd->labels[d], g->consoles[i].label);
                if (exists)
                        continue;
                devid = console_create(cc, cd, &g->consoles[i]);
                if (devid < 0) {
                        log_warning_errno(devid, "Cannot create console '%s' for domain %u (%s): %s",
                                          g->consoles[i].label, cd->domid, cd->name,
                                          devid == -ENOSPC ? "device/console/1..9 are all in use" : "%m");
                        continue;
                }
                cd->labels[devid] = strdup(g->consoles[i].label);
                log_info("Created console %d '%s' for domain %u (%s)", devid, g->consoles[i].label, cd->domid,
                         cd->name);
        }
}

void consback_domains_sync(ConsClass *cc) {
        for (ConsDomain *cd = LIST_FIRST(&cc->domains); cd; cd = LIST_NEXT(cd, link))
                domain_sync(cc, cd);
}

void consback_domain_introduced(Backend *b, uint32_t domid) {
        ConsClass *cc = cons_class(b);
        _cleanup_free_ char *path = NULL, *name = NULL;
        ConsDomain *cd;
        int r;

        if (!cc)
                return;
        cd = consback_domain_find(cc, domid);
        if (cd) /* reused before we saw it go */
                domain_free(cd);
        cd = calloc(1, sizeof *cd);
        if (!cd)
                return (void) log_error_errno(-ENOMEM, "Out of memory");
        cd->domid = domid;
        LIST_INSERT_HEAD(&cc->domains, cd, link);

        /* Written by libxl before @introduceDomain. A name too long for a
         * [guest] section matches none. */
        if (asprintf(&path, "/local/domain/%u/name", domid) < 0)
                return;
        r = xs_read_str(backend_xenstore(b), XBT_NULL, path, CONFIG_GUEST_NAME_MAX, &name);
        if (r < 0)
                log_debug("Domain %u has no usable name (%s), no secondary consoles for it", domid, strerror(-r));
        else {
                cd->name = TAKE_PTR(name);
                domain_adopt_existing(cc, cd);
                domain_sync(cc, cd);
        }
        if (cc->primary)
                consback_primary_introduced(cc, cd);
}

/* backend/console/<domid>, once nothing is left in it (libxl leaves it when
 * it had no consoles of its own there). */
static void remove_empty_backend_dir(ConsClass *cc, uint32_t domid) {
        Backend *b = cc->backend;
        struct xs_handle *xs = backend_xenstore(b);
        char dir[64];

        snprintf(dir, sizeof dir, CONSOLE_BACKEND_ROOT "/console/%u", domid);
        for (unsigned attempt = 0; attempt < CONSOLE_TX_RETRIES; attempt++) {
                xs_transaction_t t = xs_transaction_start(xs);
                unsigned n = 0;
                char **names;

                if (t == XBT_NULL)
                        return;
                names = xs_directory(xs, t, dir, &n);
                free(names);
                if (!names || n > 0) {
                        xs_transaction_end(xs, t, true);
                        return;
                }
                (void) xs_rm(xs, t, dir);
                if (xs_transaction_end(xs, t, false) || errno != EAGAIN)
                        return;
        }
}

void consback_domain_released(Backend *b, uint32_t domid) {
        ConsClass *cc = cons_class(b);
        ConsDomain *cd = cc ? consback_domain_find(cc, domid) : NULL;

        if (!cd)
                return;
        /* The core has released the devices; libxl never removes ours. */
        for (unsigned devid = 1; devid <= CONFIG_GUEST_CONSOLES_MAX; devid++)
                if (cd->labels[devid] && console_remove(cc, domid, devid) < 0)
                        log_warning("Cannot remove console %u of domain %u", devid, domid);
        remove_empty_backend_dir(cc, domid);
        domain_free(cd);
}
