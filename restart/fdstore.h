/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* systemd's file descriptor store: what must outlive the process (the event
 * channel device, tap queues, console ptys) is handed to the service manager
 * as it is made, and handed back to the next process in $LISTEN_FDS. Bindings
 * and queues belong to the open file, so a copy kept there keeps them alive
 * across a crash, the watchdog or a restart; `systemctl stop` closes them.
 *
 * Every fd is sent with FDPOLL=0: an evtchn fd reports POLLERR on overflow
 * and a pty master HUP when its slave closes, and systemd would otherwise
 * drop them. Names are unique per fd and never contain ':'. */

#include <stdbool.h>

/* Reads $LISTEN_FDS/$LISTEN_FDNAMES once at start-up. */
int fdstore_init(void);
/* True when the manager keeps fds for us ($NOTIFY_SOCKET is set). */
bool fdstore_available(void);
/* The fd stored under name by an earlier process, now ours (the store keeps
 * its own copy); -ENOENT if there is none. */
int fdstore_take(const char *name);
/* Stores a copy of fd under name; a missing manager is not an error (0). */
int fdstore_put(const char *name, int fd);
/* Drops the stored copy (the device went). Ignored after fdstore_keep_all(). */
void fdstore_remove(const char *name);
/* The daemon is exiting for a restart: from now on nothing leaves the
 * store, whatever is released. */
void fdstore_keep_all(void);
/* Closes, and drops from the store, what no part of the daemon took by now. */
void fdstore_forget_untaken(void);
