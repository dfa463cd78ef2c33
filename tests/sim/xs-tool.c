/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Stand-ins for xenstore-read, xenstore-write and xenstore-exists on the
 * simulated XenStore (XENSIM_DIR), for the tests of the hotplug scripts:
 * the program acts as the tool it is called as (a symlink), or as the one
 * named by its first argument. Like the real tools run in dom0, a path that
 * does not start with '/' is relative to /local/domain/0. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

static char *full_path(const char *p) {
        char *r;

        if (p[0] == '/')
                return strdup(p);
        if (asprintf(&r, "/local/domain/0/%s", p) < 0)
                return NULL;
        return r;
}

static int do_read(struct xs_handle *xs, int argc, char **argv) {
        for (int i = 0; i < argc; i++) {
                char *p = full_path(argv[i]);
                unsigned len;
                char *v = p ? xs_read(xs, XBT_NULL, p, &len) : NULL;
                if (!v) {
                        fprintf(stderr, "couldn't read path %s\n", argv[i]);
                        free(p);
                        return 1;
                }
                printf("%.*s\n", (int) len, v);
                free(v);
                free(p);
        }
        return 0;
}

static int do_write(struct xs_handle *xs, int argc, char **argv) {
        if (argc == 0 || argc % 2 != 0) {
                fprintf(stderr, "Usage: xenstore-write key value ...\n");
                return 2;
        }
        for (int i = 0; i < argc; i += 2) {
                char *p = full_path(argv[i]);
                if (!p || !xs_write(xs, XBT_NULL, p, argv[i + 1], strlen(argv[i + 1]))) {
                        fprintf(stderr, "could not write path %s\n", argv[i]);
                        free(p);
                        return 1;
                }
                free(p);
        }
        return 0;
}

static int do_exists(struct xs_handle *xs, int argc, char **argv) {
        for (int i = 0; i < argc; i++) {
                char *p = full_path(argv[i]);
                unsigned len;
                char *v = p ? xs_read(xs, XBT_NULL, p, &len) : NULL;
                free(p);
                if (!v)
                        return 1;
                free(v);
        }
        return 0;
}

int main(int argc, char **argv) {
        const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        struct xs_handle *xs;
        int r;

        if (strncmp(name, "xenstore-", 9) != 0 && argc > 1) {
                name = argv[1];
                argc--, argv++;
        }
        xs = xs_open(0);
        if (!xs) {
                fprintf(stderr, "%s: cannot open the (simulated) XenStore: %s\n", name, strerror(errno));
                return 1;
        }
        if (strcmp(name, "xenstore-read") == 0)
                r = do_read(xs, argc - 1, argv + 1);
        else if (strcmp(name, "xenstore-write") == 0)
                r = do_write(xs, argc - 1, argv + 1);
        else if (strcmp(name, "xenstore-exists") == 0)
                r = do_exists(xs, argc - 1, argv + 1);
        else {
                fprintf(stderr, "%s: not one of xenstore-read, xenstore-write, xenstore-exists\n", name);
                r = 2;
        }
        xs_close(xs);
        return r;
}
