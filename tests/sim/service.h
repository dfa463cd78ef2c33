/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* systemd's part for the simulated-Xen tests: the notify socket read all the
 * time (as PID 1 does: pvbackd's sd_notify() blocks when the socket's queue
 * is full), READY/STATUS/WATCHDOG kept for the tests, and the file
 * descriptor store: fds sent with FDSTORE=1 are kept under their FDNAME,
 * dropped on FDSTOREREMOVE=1, and handed to the next pvbackd as
 * $LISTEN_FDS/$LISTEN_FDNAMES/$LISTEN_PID, as systemd does on a restart. */

#include <stdbool.h>
#include <sys/types.h>

typedef struct ServiceManager ServiceManager;

/* Binds the notify socket at path and starts reading it. */
int service_new(const char *path, ServiceManager **ret);
ServiceManager *service_free(ServiceManager *sm);
/* Waits up to timeout_ms for a notify line containing want (lines received
 * since the last call count); with want NULL, just waits. */
bool service_wait_notify(ServiceManager *sm, const char *want, int timeout_ms);
bool service_ready(ServiceManager *sm);
/* A new process starts: not ready, and the lines not yet looked at dropped. */
void service_reset_ready(ServiceManager *sm);
/* The last STATUS= text, copied into buf. */
void service_status(ServiceManager *sm, char *buf, size_t size);
/* In the forked child, before exec: the stored fds as fd 3.. and the
 * LISTEN_* variables for pid (the child's own). Async-signal-safe enough for
 * a child of a threaded parent: no allocation, no locks. */
void service_pass_fds_in_child(ServiceManager *sm, pid_t pid);
/* Prepares what the child will pass (call in the parent before fork). */
void service_prepare_fds(ServiceManager *sm);
/* How many fds are stored, and whether name is among them. */
unsigned service_n_fds(ServiceManager *sm);
bool service_has_fd(ServiceManager *sm, const char *name);
/* `systemctl stop`: the store is closed. */
void service_close_fds(ServiceManager *sm);
