/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Raw ptys as xenconsoled makes them: the slave stays open in pvbackd, so
 * the master never sees EIO/EPOLLHUP when no client is attached, and output
 * written while nobody reads waits in the pty (and then in our buffer). */

#include <fcntl.h>
#include <stdio.h>
#include <termios.h>

#include "consback.h"
#include "fdstore.h"

int pty_open_raw(const char *store_name, int *ret_master, int *ret_slave, char **ret_path) {
        _cleanup_close_ int master = -1, slave = -1;
        struct termios t;
        bool kept = false;
        char name[128];

        if (store_name && *store_name) {
                master = fdstore_take(store_name);
                kept = master >= 0;
                if (kept && ptsname_r(master, name, sizeof name) != 0) {
                        log_warning("Stored %s is not a pty any more, making a new one", store_name);
                        master = safe_close(master);
                        kept = false;
                }
        }
        if (!kept) {
                master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
                if (master < 0)
                        return negative_errno();
                if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof name) != 0)
                        return negative_errno();
        }
        slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (slave < 0)
                return negative_errno();
        if (tcgetattr(slave, &t) < 0)
                return negative_errno();
        cfmakeraw(&t);
        if (tcsetattr(slave, TCSANOW, &t) < 0)
                return negative_errno();
        *ret_path = strdup(name);
        if (!*ret_path)
                return -ENOMEM;
        if (!kept && store_name && *store_name) {
                int r = fdstore_put(store_name, master);
                if (r < 0)
                        log_warning_errno(r, "Cannot keep %s in the service manager's store: a restart gives the "
                                             "console a new pty: %m", name);
        }
        *ret_master = master;
        *ret_slave = slave;
        master = slave = -1;
        return 0;
}

void pty_forget(const char *store_name) {
        if (store_name && *store_name)
                fdstore_remove(store_name);
}
