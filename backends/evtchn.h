/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Event channels for every device of the daemon, on one xenevtchn handle
 * (one fd, however many guests). Defences against event storms (XSA-332):
 * a port stays masked while its handler runs and is unmasked only after the
 * work is done; each port has a rate limit, beyond which it stays masked
 * until its window ends; and a handler never loops, it asks to be called
 * again with evtchn_port_kick(). */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>
#include <xenctrl.h>

typedef struct EvtchnDispatcher EvtchnDispatcher;
typedef struct EvtchnPort EvtchnPort;
typedef void (*evtchn_handler_t)(EvtchnPort *p, void *userdata);

/* Opens the evtchn device, or takes back the one an earlier process left in
 * the FD store with its bindings: evtchn_bind() of a guest port bound there
 * takes the binding over (unmasked, the handler run once), until
 * evtchn_dispatcher_drop_unclaimed() unbinds what nothing took over. xc
 * tells a binding whose bind was in progress at a crash. */
int evtchn_dispatcher_new(sd_event *e, xc_interface *xc, unsigned rate_limit, unsigned interval_ms,
                          EvtchnDispatcher **ret);
/* Exiting for a restart: leave every binding in place for the next process
 * (if the fd is in the FD store; else they go with it anyway). */
void evtchn_dispatcher_keep_bindings(EvtchnDispatcher *ed);
void evtchn_dispatcher_drop_unclaimed(EvtchnDispatcher *ed);
EvtchnDispatcher *evtchn_dispatcher_free(EvtchnDispatcher *ed);
void evtchn_dispatcher_set_rate_limit(EvtchnDispatcher *ed, unsigned rate_limit, unsigned interval_ms);

/* Binds to the guest's unbound port remote_port. */
int evtchn_bind(EvtchnDispatcher *ed, uint32_t domid, uint32_t remote_port, evtchn_handler_t handler,
                void *userdata, EvtchnPort **ret);
/* The same for a device: its guest's port, on the daemon's dispatcher. */
typedef struct XenbusDevice XenbusDevice;
int xenbus_device_bind_evtchn(XenbusDevice *d, uint32_t remote_port, evtchn_handler_t handler, void *userdata,
                              EvtchnPort **ret);
/* Safe to call from the port's own handler. NULL is fine. */
void evtchn_unbind(EvtchnPort *p);
int evtchn_notify(EvtchnPort *p);
/* Runs the handler again soon (more work than one call should do). */
void evtchn_port_kick(EvtchnPort *p);
uint32_t evtchn_local_port(const EvtchnPort *p);
/* Events that were held back by the rate limit, for statistics and tests. */
uint64_t evtchn_port_throttled(const EvtchnPort *p);
