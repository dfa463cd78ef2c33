/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "state.h"
#include "util.h"

const char *state_dir(void) {
        static char *dir;
        const char *e;

        if (dir)
                return dir;
        e = getenv("RUNTIME_DIRECTORY");
        /* systemd may pass several, separated by ':'; ours is the first. */
        dir = e && *e ? strndup(e, strcspn(e, ":")) : strdup("/run/pvbackd");
        if (!dir)
                return "/run/pvbackd";
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                log_warning_errno(negative_errno(), "Cannot create %s: %m", dir);
        return dir;
}

static char *state_path(const char *name) {
        char *p;

        if (strchr(name, '/') || asprintf(&p, "%s/%s", state_dir(), name) < 0)
                return NULL;
        return p;
}

bool state_file_exists(const char *name) {
        _cleanup_free_ char *p = state_path(name);

        return p && access(p, F_OK) == 0;
}

void state_file_remove(const char *name) {
        _cleanup_free_ char *p = state_path(name);

        if (p && unlink(p) < 0 && errno != ENOENT)
                log_warning_errno(negative_errno(), "Cannot remove %s: %m", p);
}

int state_file_open(const char *name, uint32_t kind, size_t size, bool restore, StateFile *ret,
                    bool *ret_restored) {
        _cleanup_free_ char *p = state_path(name);
        _cleanup_close_ int fd = -1;
        bool restored = false;
        struct stat st;
        StateHeader *h;
        void *addr;

        if (!p || size < sizeof(StateHeader) || size > UINT32_MAX)
                return -EINVAL;
        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (restore && (size_t) st.st_size == size) {
                StateHeader old;
                if (pread(fd, &old, sizeof old, 0) == (ssize_t) sizeof old && old.magic == STATE_MAGIC &&
                    old.version == STATE_VERSION && old.size == size && old.kind == kind)
                        restored = true;
        }
        if (!restored && (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t) size) < 0))
                return negative_errno();
        addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (addr == MAP_FAILED)
                return negative_errno();
        h = addr;
        if (!restored)
                *h = (StateHeader) { .magic = STATE_MAGIC, .version = STATE_VERSION, .size = (uint32_t) size,
                                     .kind = kind };
        *ret = (StateFile) { .path = TAKE_PTR(p), .addr = addr, .size = size };
        if (ret_restored)
                *ret_restored = restored;
        return 0;
}

void state_file_close(StateFile *f, bool remove) {
        if (f->addr)
                munmap(f->addr, f->size);
        if (remove && f->path && unlink(f->path) < 0 && errno != ENOENT)
                log_warning_errno(negative_errno(), "Cannot remove %s: %m", f->path);
        free(f->path);
        *f = (StateFile) {};
}
