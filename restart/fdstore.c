/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "fdstore.h"
#include "log.h"
#include "util.h"

typedef struct StoredFd {
        char *name;
        int fd; /* -1 once taken */
} StoredFd;

static StoredFd *stored;
static size_t n_stored;
static bool keep_all;

int fdstore_init(void) {
        char **names = NULL;
        int n = sd_listen_fds_with_names(true, &names);

        if (n <= 0) {
                free(names);
                return n;
        }
        stored = calloc((size_t) n, sizeof *stored);
        if (!stored) {
                for (int i = 0; i < n; i++) {
                        close(SD_LISTEN_FDS_START + i);
                        free(names[i]);
                }
                free(names);
                return log_error_errno(-ENOMEM, "Out of memory");
        }
        for (int i = 0; i < n; i++) {
                stored[i] = (StoredFd) { .name = names[i], .fd = SD_LISTEN_FDS_START + i };
                log_debug("Stored fd %d: %s", stored[i].fd, names[i]);
        }
        n_stored = (size_t) n;
        free(names);
        log_info("Got %d file descriptors back from the service manager", n);
        return n;
}

bool fdstore_available(void) {
        const char *e = getenv("NOTIFY_SOCKET");

        return e && *e;
}

int fdstore_take(const char *name) {
        for (size_t i = 0; i < n_stored; i++)
                if (stored[i].fd >= 0 && streq(stored[i].name, name)) {
                        int fd = stored[i].fd;
                        stored[i].fd = -1;
                        return fd;
                }
        return -ENOENT;
}

int fdstore_put(const char *name, int fd) {
        _cleanup_free_ char *msg = NULL;
        int r;

        if (!fdstore_available())
                return 0;
        if (strchr(name, ':') || asprintf(&msg, "FDSTORE=1\nFDNAME=%s\nFDPOLL=0", name) < 0)
                return -EINVAL;
        r = sd_pid_notify_with_fds(0, false, msg, &fd, 1);
        if (r < 0)
                return r;
        return r == 0 ? -EOPNOTSUPP : 0;
}

void fdstore_keep_all(void) {
        keep_all = true;
}

void fdstore_remove(const char *name) {
        _cleanup_free_ char *msg = NULL;

        if (keep_all || !fdstore_available() || asprintf(&msg, "FDSTOREREMOVE=1\nFDNAME=%s", name) < 0)
                return;
        (void) sd_notify(false, msg);
}

void fdstore_forget_untaken(void) {
        for (size_t i = 0; i < n_stored; i++) {
                if (stored[i].fd >= 0) {
                        log_info("Dropping stored %s: nothing claimed it", stored[i].name);
                        fdstore_remove(stored[i].name);
                        close(stored[i].fd);
                }
                free(stored[i].name);
        }
        free(stored);
        stored = NULL;
        n_stored = 0;
}
