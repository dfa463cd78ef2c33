/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <sys/queue.h>
#include <xenctrl.h>
#include <xenevtchn.h>

#include "crashpoint.h"
#include "evtchn.h"
#include "fdstore.h"
#include "log.h"
#include "state.h"

/* Ports handled per wake-up before other sources get a turn. */
#define EVTCHN_PORTS_PER_DISPATCH 64
/* Highest port number accepted from the evtchn device (FIFO ABI limit). */
#define EVTCHN_PORT_MAX (1u << 17)
#define EVTCHN_FDNAME "evtchn"
#define EVTCHN_TABLE_KIND 0x65766331u /* "evc1" */

/* What is bound on the evtchn fd, which outlives the process in the FD
 * store: no ioctl lists a file's ports, so the table says, by local port.
 * A bind in progress is noted first: a crash before its entry is written
 * leaves a binding that only the guest's side can name (xc_evtchn_status). */
typedef struct EvtchnSlot {
        uint32_t domid_plus1; /* 0: free */
        uint32_t remote_port;
} EvtchnSlot;

typedef struct EvtchnTable {
        StateHeader h;
        uint32_t pending_domid_plus1, pending_remote_port;
        EvtchnSlot slot[EVTCHN_PORT_MAX];
} EvtchnTable;

struct EvtchnPort {
        EvtchnDispatcher *ed;
        uint32_t local_port, domid, remote_port;
        evtchn_handler_t handler;
        void *userdata;
        RateWindow window;
        uint64_t throttled_total;
        bool throttled, kicked, in_handler, dead;
        LIST_ENTRY(EvtchnPort) throttled_link, kicked_link;
};

struct EvtchnDispatcher {
        sd_event *event;
        xenevtchn_handle *xce;
        xc_interface *xc;
        StateFile table_file;
        EvtchnTable *table;   /* NULL without a runtime directory: nothing outlives us */
        bool restored;        /* the fd came back from the FD store: its bindings are live */
        bool in_store;        /* the service manager holds a copy of the fd */
        bool keep_bindings;   /* exiting with the fd stored: leave everything bound */
        unsigned n_adoptable; /* restored bindings no one has taken over yet */
        sd_event_source *io, *timer, *kick;
        EvtchnPort **ports;
        size_t n_ports;
        unsigned rate_limit;
        uint64_t interval_usec;
        LIST_HEAD(, EvtchnPort) throttled;
        LIST_HEAD(, EvtchnPort) kicked;
};

static void port_free(EvtchnPort *p) {
        if (p->throttled)
                LIST_REMOVE(p, throttled_link);
        if (p->kicked)
                LIST_REMOVE(p, kicked_link);
        free(p);
}

/* Runs the handler with the port masked, then unmasks: a guest cannot make us
 * re-enter a ring that we are still working on. */
static void port_run(EvtchnPort *p) {
        EvtchnDispatcher *ed = p->ed;

        p->in_handler = true;
        p->handler(p, p->userdata);
        p->in_handler = false;
        if (p->dead) {
                port_free(p);
                return;
        }
        if (xenevtchn_unmask(ed->xce, p->local_port) < 0)
                log_warning_errno(negative_errno(), "Failed to unmask event channel %u: %m", p->local_port);
}

static bool rate_allows(EvtchnDispatcher *ed, EvtchnPort *p, uint64_t now) {
        return rate_window_take(&p->window, now, ed->interval_usec, ed->rate_limit, 1);
}

static void timer_arm(EvtchnDispatcher *ed) {
        EvtchnPort *p;
        uint64_t next = UINT64_MAX;

        LIST_FOREACH(p, &ed->throttled, throttled_link)
                next = MIN(next, rate_window_end(&p->window, ed->interval_usec));
        if (next == UINT64_MAX)
                return (void) sd_event_source_set_enabled(ed->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_time(ed->timer, next);
        (void) sd_event_source_set_enabled(ed->timer, SD_EVENT_ONESHOT);
}

static void port_throttle(EvtchnDispatcher *ed, EvtchnPort *p) {
        /* Stays masked: the guest's further notifications only set pending. */
        p->throttled = true;
        p->throttled_total++;
        LIST_INSERT_HEAD(&ed->throttled, p, throttled_link);
        timer_arm(ed);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        EvtchnDispatcher *ed = userdata;
        uint64_t now = now_usec();

        (void) s;
        (void) usec;
        /* Restart the search after each handler: it may unbind other ports. */
        for (;;) {
                EvtchnPort *p, *ready = NULL;

                LIST_FOREACH(p, &ed->throttled, throttled_link)
                        if (rate_window_ended(&p->window, now, ed->interval_usec)) {
                                ready = p;
                                break;
                        }
                if (!ready)
                        break;
                LIST_REMOVE(ready, throttled_link);
                ready->throttled = false;
                /* The held-back event is the new window's first. */
                rate_window_restart(&ready->window, now);
                (void) rate_allows(ed, ready, now);
                /* The event that was held back may carry work: run it now. */
                port_run(ready);
        }
        timer_arm(ed);
        return 0;
}

static int on_kick(sd_event_source *s, void *userdata) {
        EvtchnDispatcher *ed = userdata;
        EvtchnPort *p;
        unsigned budget = EVTCHN_PORTS_PER_DISPATCH;

        (void) s;
        while ((p = LIST_FIRST(&ed->kicked)) && budget-- > 0) {
                LIST_REMOVE(p, kicked_link);
                p->kicked = false;
                if (p->throttled)
                        continue; /* runs when its window ends */
                if (!rate_allows(ed, p, now_usec())) {
                        port_throttle(ed, p);
                        continue;
                }
                p->in_handler = true;
                p->handler(p, p->userdata);
                p->in_handler = false;
                if (p->dead)
                        port_free(p);
        }
        if (!LIST_EMPTY(&ed->kicked))
                (void) sd_event_source_set_enabled(ed->kick, SD_EVENT_ONESHOT);
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        EvtchnDispatcher *ed = userdata;
        uint64_t now = now_usec();

        (void) s;
        (void) fd;
        (void) revents;
        for (unsigned i = 0; i < EVTCHN_PORTS_PER_DISPATCH; i++) {
                xenevtchn_port_or_error_t port = xenevtchn_pending(ed->xce);
                EvtchnPort *p;

                if (port < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                log_warning_errno(negative_errno(), "Failed to read pending event channels: %m");
                        break;
                }
                if ((size_t) port >= ed->n_ports || !(p = ed->ports[port])) {
                        /* Unbound meanwhile: nothing to do, nothing to unmask. */
                        continue;
                }
                if (p->throttled)
                        continue;
                if (!rate_allows(ed, p, now)) {
                        port_throttle(ed, p);
                        continue;
                }
                port_run(p);
        }
        return 0;
}

/* A bind the earlier process had started when it died: find its port
 * from the guest's side, so that it can be adopted or unbound. */
static void table_resolve_pending(EvtchnDispatcher *ed) {
        EvtchnTable *t = ed->table;
        xc_evtchn_status_t st;

        if (!t->pending_domid_plus1)
                return;
        st = (xc_evtchn_status_t) { .dom = (domid_t) (t->pending_domid_plus1 - 1), .port = t->pending_remote_port };
        if (ed->xc && xc_evtchn_status(ed->xc, &st) == 0 && st.status == EVTCHNSTAT_interdomain &&
            st.u.interdomain.dom == 0 && st.u.interdomain.port > 0 && st.u.interdomain.port < EVTCHN_PORT_MAX &&
            !t->slot[st.u.interdomain.port].domid_plus1)
                t->slot[st.u.interdomain.port] =
                        (EvtchnSlot) { .domid_plus1 = t->pending_domid_plus1, .remote_port = t->pending_remote_port };
        t->pending_domid_plus1 = t->pending_remote_port = 0;
}

void evtchn_dispatcher_drop_unclaimed(EvtchnDispatcher *ed) {
        for (uint32_t port = 1; port < EVTCHN_PORT_MAX && ed->n_adoptable > 0; port++) {
                EvtchnSlot *slot = &ed->table->slot[port];
                if (!slot->domid_plus1 || (port < ed->n_ports && ed->ports[port]))
                        continue;
                log_info("Unbinding event channel %u (domain %u port %u): nothing took it over", port,
                         slot->domid_plus1 - 1, slot->remote_port);
                (void) xenevtchn_unbind(ed->xce, port);
                *slot = (EvtchnSlot) {};
                ed->n_adoptable--;
        }
        ed->n_adoptable = 0;
}

static int dispatcher_open(EvtchnDispatcher *ed) {
        int stored = fdstore_take(EVTCHN_FDNAME), r;
        bool table_restored = false;

        if (stored >= 0) {
                ed->xce = xenevtchn_fdopen(NULL, stored, 0);
                if (ed->xce)
                        ed->restored = ed->in_store = true;
                else {
                        log_warning_errno(negative_errno(), "Cannot use the stored event channel device: %m");
                        fdstore_remove(EVTCHN_FDNAME);
                        close(stored);
                }
        }
        if (!ed->xce) {
                ed->xce = xenevtchn_open(NULL, 0);
                if (!ed->xce)
                        return negative_errno();
                r = fdstore_put(EVTCHN_FDNAME, xenevtchn_fd(ed->xce));
                if (r < 0)
                        log_warning_errno(r, "Cannot keep the event channel device in the service manager's "
                                             "store; a crash will close every guest's event channels: %m");
                ed->in_store = r == 0 && fdstore_available();
        }

        r = state_file_open("evtchn", EVTCHN_TABLE_KIND, sizeof(EvtchnTable), ed->restored, &ed->table_file,
                            &table_restored);
        if (r < 0) {
                log_warning_errno(r, "Cannot keep the table of event channels in %s: %m", state_dir());
                return 0;
        }
        ed->table = ed->table_file.addr;
        if (!ed->restored)
                return 0;
        if (!table_restored) {
                log_warning("The stored event channel device came back without its table: its bindings cannot "
                            "be taken over");
                return 0;
        }
        table_resolve_pending(ed);
        for (uint32_t port = 1; port < EVTCHN_PORT_MAX; port++)
                if (ed->table->slot[port].domid_plus1)
                        ed->n_adoptable++;
        if (ed->n_adoptable > 0)
                log_info("Taking over %u event channels from the earlier process", ed->n_adoptable);
        return 0;
}

int evtchn_dispatcher_new(sd_event *e, xc_interface *xc, unsigned rate_limit, unsigned interval_ms,
                          EvtchnDispatcher **ret) {
        EvtchnDispatcher *ed;
        int fd, r;

        ed = calloc(1, sizeof *ed);
        if (!ed)
                return -ENOMEM;
        ed->event = sd_event_ref(e);
        ed->xc = xc;
        LIST_INIT(&ed->throttled);
        LIST_INIT(&ed->kicked);
        evtchn_dispatcher_set_rate_limit(ed, rate_limit, interval_ms);

        r = dispatcher_open(ed);
        if (r < 0)
                goto fail;
        fd = xenevtchn_fd(ed->xce);
        /* Non-blocking, so that xenevtchn_pending() says EAGAIN when drained. */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
                r = negative_errno();
                goto fail;
        }
        r = sd_event_add_io(e, &ed->io, fd, EPOLLIN, on_io, ed);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(ed->io, "evtchn");
        r = sd_event_add_time(e, &ed->timer, CLOCK_MONOTONIC, 0, 0, on_timer, ed);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(ed->timer, SD_EVENT_OFF);
        r = sd_event_add_defer(e, &ed->kick, on_kick, ed);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(ed->kick, SD_EVENT_OFF);
        *ret = ed;
        return 0;
fail:
        evtchn_dispatcher_free(ed);
        return r;
}

void evtchn_dispatcher_keep_bindings(EvtchnDispatcher *ed) {
        /* Only a stored fd keeps them: ours closes with the process. */
        if (ed)
                ed->keep_bindings = ed->in_store;
}

EvtchnDispatcher *evtchn_dispatcher_free(EvtchnDispatcher *ed) {
        if (!ed)
                return NULL;
        for (size_t i = 0; i < ed->n_ports; i++)
                if (ed->ports[i])
                        evtchn_unbind(ed->ports[i]);
        free(ed->ports);
        sd_event_source_disable_unref(ed->io);
        sd_event_source_disable_unref(ed->timer);
        sd_event_source_disable_unref(ed->kick);
        if (ed->xce)
                xenevtchn_close(ed->xce);
        state_file_close(&ed->table_file, false);
        sd_event_unref(ed->event);
        free(ed);
        return NULL;
}

void evtchn_dispatcher_set_rate_limit(EvtchnDispatcher *ed, unsigned rate_limit, unsigned interval_ms) {
        ed->rate_limit = rate_limit ?: 1;
        ed->interval_usec = (uint64_t) (interval_ms ?: 1) * 1000u;
}

static int ports_reserve(EvtchnDispatcher *ed, uint32_t port) {
        size_t n;
        EvtchnPort **a;

        if (port < ed->n_ports)
                return 0;
        n = MAX((size_t) port + 1, ed->n_ports * 2);
        a = reallocarray(ed->ports, n, sizeof *a);
        if (!a)
                return -ENOMEM;
        memset(a + ed->n_ports, 0, (n - ed->n_ports) * sizeof *a);
        ed->ports = a;
        ed->n_ports = n;
        return 0;
}

/* An earlier process's binding of the same guest port, nobody's yet. */
static int find_adoptable(EvtchnDispatcher *ed, uint32_t domid, uint32_t remote_port) {
        if (ed->n_adoptable == 0)
                return -ENOENT;
        for (uint32_t port = 1; port < EVTCHN_PORT_MAX; port++) {
                const EvtchnSlot *slot = &ed->table->slot[port];
                if (slot->domid_plus1 == domid + 1 && slot->remote_port == remote_port &&
                    (port >= ed->n_ports || !ed->ports[port]))
                        return (int) port;
        }
        return -ENOENT;
}

int evtchn_bind(EvtchnDispatcher *ed, uint32_t domid, uint32_t remote_port, evtchn_handler_t handler,
                void *userdata, EvtchnPort **ret) {
        xenevtchn_port_or_error_t port;
        bool adopted = false;
        EvtchnPort *p;
        int r;

        port = find_adoptable(ed, domid, remote_port);
        if (port > 0) {
                adopted = true;
                ed->n_adoptable--;
        } else {
                if (ed->table) {
                        ed->table->pending_domid_plus1 = domid + 1;
                        ed->table->pending_remote_port = remote_port;
                }
                port = xenevtchn_bind_interdomain(ed->xce, domid, remote_port);
                if (port < 0)
                        return negative_errno();
                crash_point("evtchn-bound"); /* bound, not in the table */
                if ((uint32_t) port >= EVTCHN_PORT_MAX) {
                        xenevtchn_unbind(ed->xce, (evtchn_port_t) port);
                        return -ERANGE;
                }
                if (ed->table) {
                        ed->table->slot[port] = (EvtchnSlot) { .domid_plus1 = domid + 1, .remote_port = remote_port };
                        ed->table->pending_domid_plus1 = ed->table->pending_remote_port = 0;
                }
        }
        r = ports_reserve(ed, (uint32_t) port);
        p = r < 0 ? NULL : calloc(1, sizeof *p);
        if (!p) {
                xenevtchn_unbind(ed->xce, (evtchn_port_t) port);
                if (ed->table)
                        ed->table->slot[port] = (EvtchnSlot) {};
                return -ENOMEM;
        }
        *p = (EvtchnPort) { .ed = ed, .local_port = (uint32_t) port, .domid = domid, .remote_port = remote_port,
                            .handler = handler, .userdata = userdata };
        ed->ports[port] = p;
        if (adopted) {
                /* It may have been delivered to the earlier process and left
                 * masked; whatever it signalled is looked at now. */
                (void) xenevtchn_unmask(ed->xce, (evtchn_port_t) port);
                evtchn_port_kick(p);
                log_debug("Took over event channel %d (domain %u port %u)", port, domid, remote_port);
        }
        *ret = p;
        return 0;
}

void evtchn_unbind(EvtchnPort *p) {
        EvtchnDispatcher *ed;

        if (!p || p->dead)
                return;
        ed = p->ed;
        ed->ports[p->local_port] = NULL;
        if (!ed->keep_bindings) {
                if (xenevtchn_unbind(ed->xce, p->local_port) < 0)
                        log_debug("Failed to unbind event channel %u: %m", p->local_port);
                if (ed->table)
                        ed->table->slot[p->local_port] = (EvtchnSlot) {};
        }
        if (p->in_handler) {
                p->dead = true; /* freed when the handler returns */
                return;
        }
        port_free(p);
}

int evtchn_notify(EvtchnPort *p) {
        if (xenevtchn_notify(p->ed->xce, p->local_port) < 0)
                return negative_errno();
        return 0;
}

void evtchn_port_kick(EvtchnPort *p) {
        if (p->kicked || p->dead)
                return;
        p->kicked = true;
        LIST_INSERT_HEAD(&p->ed->kicked, p, kicked_link);
        (void) sd_event_source_set_enabled(p->ed->kick, SD_EVENT_ONESHOT);
}

uint32_t evtchn_local_port(const EvtchnPort *p) {
        return p->local_port;
}

uint64_t evtchn_port_throttled(const EvtchnPort *p) {
        return p->throttled_total;
}
