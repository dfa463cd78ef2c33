/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hotplug-run.h"

static const char STUB[] =
        "#!/bin/sh\n"
        "# stand-in for the stock vif-bridge: records how it was run\n"
        "{ echo \"$#\"; for a in \"$@\"; do echo \"$a\"; done; echo \"XENBUS_PATH=$XENBUS_PATH\"; } > \"$HP_STUB_LOG\"\n"
        "exit 0\n";

static int write_file(const char *path, const char *text, size_t len, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        if (write(fd, text, len) != (ssize_t) len) {
                close(fd);
                return -EIO;
        }
        close(fd);
        return 0;
}

static int copy_file(const char *src, const char *dst) {
        static char buf[65536];
        int fd = open(src, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof buf);
        close(fd);
        if (n < 0)
                return -errno;
        return write_file(dst, buf, (size_t) n, 0755);
}

int hp_dir_new(const char *xs_tool, const char *script_src, HpDir *ret) {
        char tmpl[] = "/tmp/pvbackd-hotplug-XXXXXX", p[512];
        const char *tools[] = { "xenstore-read", "xenstore-write", "xenstore-exists" };
        const char *base = strrchr(script_src, '/') ? strrchr(script_src, '/') + 1 : script_src;
        int r;

        *ret = (HpDir) {};
        if (!mkdtemp(tmpl))
                return -errno;
        ret->dir = strdup(tmpl);
        if (asprintf(&ret->bin, "%s/bin", tmpl) < 0 || asprintf(&ret->scripts, "%s/scripts", tmpl) < 0 ||
            asprintf(&ret->stub_log, "%s/vif-bridge.log", tmpl) < 0)
                return -ENOMEM;
        if (mkdir(ret->bin, 0755) < 0 || mkdir(ret->scripts, 0755) < 0)
                return -errno;
        for (unsigned i = 0; i < 3; i++) {
                snprintf(p, sizeof p, "%s/%s", ret->bin, tools[i]);
                if (symlink(xs_tool, p) < 0)
                        return -errno;
        }
        snprintf(p, sizeof p, "%s/%s", ret->scripts, base);
        if ((r = copy_file(script_src, p)) < 0)
                return r;
        snprintf(p, sizeof p, "%s/vif-bridge", ret->scripts);
        return write_file(p, STUB, sizeof STUB - 1, 0755);
}

void hp_dir_free(HpDir *d) {
        if (d->dir) {
                char cmd[600];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", d->dir);
        }
        free(d->dir);
        free(d->bin);
        free(d->scripts);
        free(d->stub_log);
        *d = (HpDir) {};
}

int hp_start(const HpDir *d, const char *script, const char *const *args, const char *const *env, HpRun *ret) {
        char path[512], out[512];
        const char *argv[16];
        size_t n = 0;
        int fd;

        *ret = (HpRun) { .pid = -1, .out_fd = -1, .status = -1 };
        snprintf(path, sizeof path, "%s/%s", d->scripts, script);
        snprintf(out, sizeof out, "%s/out.XXXXXX", d->dir);
        fd = mkostemp(out, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        unlink(out);
        unlink(d->stub_log);
        argv[n++] = path;
        for (; args && *args && n < 15; args++)
                argv[n++] = *args;
        argv[n] = NULL;
        ret->pid = fork();
        if (ret->pid < 0) {
                close(fd);
                return -errno;
        }
        if (ret->pid == 0) {
                char pathvar[1024];
                snprintf(pathvar, sizeof pathvar, "%s:/usr/sbin:/usr/bin:/sbin:/bin", d->bin);
                setenv("PATH", pathvar, 1);
                setenv("HP_STUB_LOG", d->stub_log, 1);
                unsetenv("PVBACKD_VIF_SCRIPT");
                unsetenv("PVBACKD_WAIT_SECONDS");
                for (; env && *env; env++)
                        putenv((char *) *env);
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                execv(path, (char *const *) argv);
                _exit(127);
        }
        ret->out_fd = fd;
        return 0;
}

bool hp_wait(HpRun *r, int timeout_ms) {
        int status;

        if (r->status >= 0)
                return true;
        for (int waited = 0;; waited += 10) {
                pid_t p = waitpid(r->pid, &status, WNOHANG);
                if (p == r->pid)
                        break;
                if (waited >= timeout_ms)
                        return false;
                usleep(10000);
        }
        r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        ssize_t n = pread(r->out_fd, r->out, sizeof r->out - 1, 0);
        r->out[n > 0 ? n : 0] = 0;
        return true;
}

void hp_finish(HpRun *r) {
        if (r->pid > 0 && r->status < 0) {
                kill(r->pid, SIGKILL);
                hp_wait(r, 5000);
        }
        if (r->out_fd >= 0)
                close(r->out_fd);
        r->out_fd = -1;
}

char *hp_stub_log(const HpDir *d) {
        char buf[2048];
        int fd = open(d->stub_log, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return NULL;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = 0;
        return strdup(buf);
}
