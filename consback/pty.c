/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Raw ptys as xenconsoled makes them: the slave stays open in pvbackd, so
 * the master never sees EIO/EPOLLHUP when no client is attached, and output
 * written while nobody reads waits in the pty (and then in our buffer). */

#include <fcntl.h>
#include <stdio.h>
#include <termios.h>

#include "consback.h"

int pty_open_raw(int *ret_master, int *ret_slave, char **ret_path) {
        _cleanup_close_ int master = -1, slave = -1;
        struct termios t;
        char name[128];

        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (master < 0)
                return negative_errno();
        if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof name) != 0)
                return negative_errno();
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
        *ret_master = master;
        *ret_slave = slave;
        master = slave = -1;
        return 0;
}
