/* SPDX-License-Identifier: GPL-2.0-or-later */

/*
 * The backend state machine, as one table.
 *
 * The inputs (the frontend's state, B/online written by the toolstack, the
 * class's readiness, failures) only choose a *target* state, in
 * xenbus_target_state(). The walk towards the target goes one edge at a time
 * along next_step[current][target]; each edge has exactly one action in
 * edges[][]. This is xen-netback's set_backend_state(), written as data.
 *
 *                 device appears (libxl wrote B/state=1)
 *                          |
 *                          | probe: features + state=2, one transaction
 *                          v
 *        +-------->  InitWait (2) ------ fe 3|4 and ready ------> Connected (4)
 *        |             |      |              connect: map, bind     |       |
 *        |           fe 5     | fe 6|gone                           | fe 5, | fe 6|1|gone,
 *        |             v      |                                     | or    | failure
 *        |        Closing (5) |                        online=0 --> v       |
 *        |             |      |                            Closing (5)      |
 *        |             |      |                   (still serving: hot-unplug)
 *        |             |      v                                     |       |
 *        |             +--> Closed (6) <--- disconnect: drain, unmap -+-------+
 *        |                    |
 *        +--- fe 1|3|4, ------+
 *             online=1: probe again
 *                             |
 *                             | online=0 or frontend gone
 *                             v
 *                  released (the backend directory is libxl's to remove)
 *
 * InitWait is never skipped (libxl waits for exactly 2), Connected is only
 * ever reached from InitWait, and a backend never leaves Connected on its own
 * while online=1 unless the data path failed (Windows would not reconnect).
 */

#include "xenbus-internal.h"

static const XenbusState S_INIT = XenbusStateInitialising, S_WAIT = XenbusStateInitWait,
                         S_CONN = XenbusStateConnected, S_CLOSING = XenbusStateClosing,
                         S_CLOSED = XenbusStateClosed;

/* next_step[current][target]: the next state on the shortest legal path. */
static const XenbusState next_step[XenbusStateClosed + 1][XenbusStateClosed + 1] = {
        [XenbusStateInitialising] = { [XenbusStateInitWait] = XenbusStateInitWait,
                                      [XenbusStateConnected] = XenbusStateInitWait,
                                      [XenbusStateClosing] = XenbusStateInitWait,
                                      [XenbusStateClosed] = XenbusStateInitWait },
        [XenbusStateInitWait] = { [XenbusStateInitWait] = XenbusStateInitWait,
                                  [XenbusStateConnected] = XenbusStateConnected,
                                  [XenbusStateClosing] = XenbusStateClosing,
                                  [XenbusStateClosed] = XenbusStateClosed },
        [XenbusStateConnected] = { [XenbusStateInitWait] = XenbusStateClosed,
                                   [XenbusStateConnected] = XenbusStateConnected,
                                   [XenbusStateClosing] = XenbusStateClosing,
                                   [XenbusStateClosed] = XenbusStateClosed },
        [XenbusStateClosing] = { [XenbusStateInitWait] = XenbusStateClosed,
                                 [XenbusStateConnected] = XenbusStateClosing,
                                 [XenbusStateClosing] = XenbusStateClosing,
                                 [XenbusStateClosed] = XenbusStateClosed },
        [XenbusStateClosed] = { [XenbusStateInitWait] = XenbusStateInitWait,
                                [XenbusStateConnected] = XenbusStateInitWait,
                                [XenbusStateClosing] = XenbusStateClosed,
                                [XenbusStateClosed] = XenbusStateClosed },
};

typedef enum EdgeAction {
        EDGE_NONE,       /* not an edge */
        EDGE_PROBE,      /* probe, publish features, write 2 */
        EDGE_CONNECT,    /* map rings, bind, publish properties, write 4 */
        EDGE_WRITE,      /* only write the new state */
        EDGE_DISCONNECT, /* drain and unmap, then write the new state */
} EdgeAction;

static const EdgeAction edges[XenbusStateClosed + 1][XenbusStateClosed + 1] = {
        [XenbusStateInitialising][XenbusStateInitWait] = EDGE_PROBE,
        [XenbusStateInitWait][XenbusStateConnected] = EDGE_CONNECT,
        [XenbusStateInitWait][XenbusStateClosing] = EDGE_WRITE,
        [XenbusStateInitWait][XenbusStateClosed] = EDGE_WRITE,
        [XenbusStateConnected][XenbusStateClosing] = EDGE_WRITE,
        [XenbusStateConnected][XenbusStateClosed] = EDGE_DISCONNECT,
        [XenbusStateClosing][XenbusStateClosed] = EDGE_DISCONNECT,
        [XenbusStateClosed][XenbusStateInitWait] = EDGE_PROBE,
};

const char *xenbus_state_to_string(XenbusState s) {
        static const char *const names[] = {
                "Unknown", "Initialising", "InitWait", "Initialised", "Connected",
                "Closing", "Closed", "Reconfiguring", "Reconfigured",
        };
        return (unsigned) s < ELEMENTSOF(names) ? names[s] : "invalid";
}

static bool frontend_gone(const XenbusDevice *d) {
        return d->frontend_state == XenbusStateUnknown;
}

static bool ready_to_connect(const XenbusDevice *d) {
        if (d->setup_failed || d->failed || !d->setup_ready)
                return false;
        return !d->class->can_connect || d->class->can_connect((XenbusDevice *) d);
}

XenbusState xenbus_target_state(const XenbusDevice *d) {
        if (frontend_gone(d))
                return S_CLOSED;

        if (!d->online) {
                /* Hot-unplug: a frontend that is using the device keeps being
                 * served until it closes (Windows and Linux finish their I/O
                 * first). Anything else can go at once. */
                if (d->connected && d->frontend_state >= XenbusStateInitialised &&
                    d->frontend_state <= XenbusStateClosing)
                        return S_CLOSING;
                return S_CLOSED;
        }

        switch (d->frontend_state) {
        case XenbusStateInitialising:
        case XenbusStateInitWait:
                /* A failed device waits for the frontend to close first. */
                if (d->failed && d->state != S_CLOSED)
                        return S_CLOSED;
                return S_WAIT;
        case XenbusStateInitialised:
        case XenbusStateConnected:
                if (d->failed)
                        return d->state == S_CLOSED ? S_CLOSED : S_CLOSING;
                if (d->state == S_CONN)
                        return S_CONN;
                return ready_to_connect(d) ? S_CONN : S_WAIT;
        case XenbusStateClosing:
                return d->state == S_CLOSED ? S_CLOSED : S_CLOSING;
        default:
                return S_CLOSED;
        }
}

static int take_edge(XenbusDevice *d, XenbusState next) {
        int r;

        switch (edges[d->state][next]) {
        case EDGE_PROBE:
                return xenbus_device_publish_initwait(d);
        case EDGE_CONNECT:
                return xenbus_device_do_connect(d);
        case EDGE_DISCONNECT:
                r = xenbus_device_do_disconnect(d);
                if (r != 0)
                        return r; /* draining (1) or failed */
                return xenbus_device_write_state(d, next, NULL);
        case EDGE_WRITE:
                return xenbus_device_write_state(d, next, NULL);
        case EDGE_NONE:
        default:
                /* next_step[] only names edges that exist; a gap is a bug. */
                log_dev_full(d, LOG_CRIT, 0, "no edge %s -> %s, keeping state", xenbus_state_to_string(d->state),
                             xenbus_state_to_string(next));
                return -EINVAL;
        }
}

void xenbus_device_update(XenbusDevice *d) {
        /* Every path in the table is at most three edges long; the bound only
         * guards against a bug turning into a busy loop. */
        for (unsigned steps = 0; steps < 8 && !d->released && !d->draining && !d->reattaching; steps++) {
                XenbusState target = xenbus_target_state(d);
                XenbusState next;
                int r;

                if (d->state < S_INIT || d->state > S_CLOSED)
                        return;
                next = next_step[d->state][target];
                if (next == 0 || next == d->state)
                        break;

                log_dev_debug(d, "backend %s -> %s (target %s, frontend %s, online=%d)",
                              xenbus_state_to_string(d->state), xenbus_state_to_string(next),
                              xenbus_state_to_string(target), xenbus_state_to_string(d->frontend_state),
                              d->online);
                r = take_edge(d, next);
                if (r > 0 || d->released)
                        return; /* waiting for the class to drain, or gone */
                if (r < 0 && d->state != next && !d->failed)
                        return; /* XenStore trouble, logged; the next event retries */
        }

        if (!d->released && !d->draining && d->state == S_CLOSED && (!d->online || frontend_gone(d)))
                xenbus_device_release(d, false);
}
