/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "service.h"

#define SM_MAX_FDS 1024
#define SM_MAX_LINES 4096

typedef struct StoredFd {
        char name[256];
        int fd;
} StoredFd;

struct ServiceManager {
        int sock;
        int stop_pipe[2];
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        char *lines[SM_MAX_LINES]; /* received, not yet looked at by a wait */
        unsigned head, n_lines;
        char status[256];
        bool ready;
        StoredFd fds[SM_MAX_FDS];
        unsigned n_fds;
        /* for the child: prepared before fork */
        int pass_fds[SM_MAX_FDS];
        unsigned n_pass;
        char pass_names[SM_MAX_FDS * 64];
};

static void store_fd(ServiceManager *sm, const char *name, int fd) {
        for (unsigned i = 0; i < sm->n_fds; i++)
                if (strcmp(sm->fds[i].name, name) == 0) {
                        close(sm->fds[i].fd);
                        sm->fds[i].fd = fd;
                        return;
                }
        if (sm->n_fds == SM_MAX_FDS) {
                close(fd);
                return;
        }
        snprintf(sm->fds[sm->n_fds].name, sizeof sm->fds[0].name, "%s", name);
        sm->fds[sm->n_fds++].fd = fd;
}

static void remove_fd(ServiceManager *sm, const char *name) {
        for (unsigned i = 0; i < sm->n_fds; i++)
                if (strcmp(sm->fds[i].name, name) == 0) {
                        close(sm->fds[i].fd);
                        sm->fds[i] = sm->fds[--sm->n_fds];
                        return;
                }
}

/* One datagram: its lines, and what it asks of the store. */
static void handle(ServiceManager *sm, char *text, int *fds, unsigned n_fds) {
        bool store = false, remove = false;
        char name[256] = "stored";

        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (strncmp(line, "STATUS=", 7) == 0)
                        snprintf(sm->status, sizeof sm->status, "%s", line + 7);
                else if (strcmp(line, "READY=1") == 0)
                        sm->ready = true;
                else if (strcmp(line, "FDSTORE=1") == 0)
                        store = true;
                else if (strcmp(line, "FDSTOREREMOVE=1") == 0)
                        remove = true;
                else if (strncmp(line, "FDNAME=", 7) == 0)
                        snprintf(name, sizeof name, "%s", line + 7);
                if (sm->n_lines < SM_MAX_LINES) {
                        sm->lines[(sm->head + sm->n_lines) % SM_MAX_LINES] = strdup(line);
                        sm->n_lines++;
                }
        }
        for (unsigned i = 0; i < n_fds; i++) {
                if (store)
                        store_fd(sm, name, fds[i]);
                else
                        close(fds[i]);
        }
        if (remove)
                remove_fd(sm, name);
        pthread_cond_broadcast(&sm->cond);
}

static void *reader(void *userdata) {
        ServiceManager *sm = userdata;

        for (;;) {
                struct pollfd p[2] = { { .fd = sm->sock, .events = POLLIN }, { .fd = sm->stop_pipe[0], .events = POLLIN } };
                char buf[4096];
                union {
                        struct cmsghdr h;
                        char space[CMSG_SPACE(sizeof(int) * 253)];
                } control;
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf - 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                                     .msg_controllen = sizeof control };
                int fds[253];
                unsigned n_fds = 0;
                ssize_t n;

                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        return NULL;
                if (p[1].revents)
                        return NULL;
                if (!(p[0].revents & POLLIN))
                        continue;
                n = recvmsg(sm->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
                if (n < 0)
                        continue;
                buf[n] = 0;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                                unsigned k = (unsigned) ((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                                memcpy(fds + n_fds, CMSG_DATA(c), k * sizeof(int));
                                n_fds += k;
                        }
                pthread_mutex_lock(&sm->lock);
                handle(sm, buf, fds, n_fds);
                pthread_mutex_unlock(&sm->lock);
        }
}

int service_new(const char *path, ServiceManager **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        ServiceManager *sm = calloc(1, sizeof *sm);
        int one = 1;

        if (!sm)
                return -ENOMEM;
        pthread_mutex_init(&sm->lock, NULL);
        pthread_cond_init(&sm->cond, NULL);
        sm->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sm->sock < 0 || pipe2(sm->stop_pipe, O_CLOEXEC) < 0) {
                free(sm);
                return -errno;
        }
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        (void) setsockopt(sm->sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
        if (bind(sm->sock, (struct sockaddr *) &sa, sizeof sa) < 0 ||
            pthread_create(&sm->thread, NULL, reader, sm) != 0) {
                int r = -errno;
                close(sm->sock);
                free(sm);
                return r;
        }
        *ret = sm;
        return 0;
}

ServiceManager *service_free(ServiceManager *sm) {
        if (!sm)
                return NULL;
        (void) !write(sm->stop_pipe[1], "x", 1);
        pthread_join(sm->thread, NULL);
        close(sm->sock);
        close(sm->stop_pipe[0]);
        close(sm->stop_pipe[1]);
        service_close_fds(sm);
        while (sm->n_lines > 0) {
                free(sm->lines[sm->head]);
                sm->head = (sm->head + 1) % SM_MAX_LINES;
                sm->n_lines--;
        }
        free(sm);
        return NULL;
}

bool service_wait_notify(ServiceManager *sm, const char *want, int timeout_ms) {
        struct timespec end;
        bool found = false;

        clock_gettime(CLOCK_REALTIME, &end);
        end.tv_sec += timeout_ms / 1000;
        end.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (end.tv_nsec >= 1000000000L) {
                end.tv_sec++;
                end.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&sm->lock);
        for (;;) {
                while (sm->n_lines > 0 && !found) {
                        char *line = sm->lines[sm->head];
                        sm->head = (sm->head + 1) % SM_MAX_LINES;
                        sm->n_lines--;
                        found = want && strstr(line, want);
                        free(line);
                }
                if (found || pthread_cond_timedwait(&sm->cond, &sm->lock, &end) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&sm->lock);
        return found;
}

bool service_ready(ServiceManager *sm) {
        bool r;

        pthread_mutex_lock(&sm->lock);
        r = sm->ready;
        pthread_mutex_unlock(&sm->lock);
        return r;
}

void service_reset_ready(ServiceManager *sm) {
        pthread_mutex_lock(&sm->lock);
        sm->ready = false;
        /* What the earlier process said is not the new one's. */
        while (sm->n_lines > 0) {
                free(sm->lines[sm->head]);
                sm->head = (sm->head + 1) % SM_MAX_LINES;
                sm->n_lines--;
        }
        pthread_mutex_unlock(&sm->lock);
}

void service_status(ServiceManager *sm, char *buf, size_t size) {
        pthread_mutex_lock(&sm->lock);
        snprintf(buf, size, "%s", sm->status);
        pthread_mutex_unlock(&sm->lock);
}

void service_prepare_fds(ServiceManager *sm) {
        size_t l = 0;

        pthread_mutex_lock(&sm->lock);
        sm->n_pass = 0;
        sm->pass_names[0] = 0;
        for (unsigned i = 0; i < sm->n_fds && l + 300 < sizeof sm->pass_names; i++) {
                sm->pass_fds[sm->n_pass++] = sm->fds[i].fd;
                l += (size_t) snprintf(sm->pass_names + l, sizeof sm->pass_names - l, "%s%s", i ? ":" : "",
                                       sm->fds[i].name);
        }
        pthread_mutex_unlock(&sm->lock);
}

void service_pass_fds_in_child(ServiceManager *sm, pid_t pid) {
        char buf[32];
        int high = 3 + (int) sm->n_pass + 16;

        if (sm->n_pass == 0) {
                unsetenv("LISTEN_FDS");
                return;
        }
        /* Out of the way first, so that moving them down never overwrites one. */
        for (unsigned i = 0; i < sm->n_pass; i++)
                sm->pass_fds[i] = fcntl(sm->pass_fds[i], F_DUPFD_CLOEXEC, high + 256);
        for (unsigned i = 0; i < sm->n_pass; i++) {
                dup2(sm->pass_fds[i], 3 + (int) i); /* dup2 clears FD_CLOEXEC */
                close(sm->pass_fds[i]);
        }
        snprintf(buf, sizeof buf, "%u", sm->n_pass);
        setenv("LISTEN_FDS", buf, 1);
        snprintf(buf, sizeof buf, "%d", (int) pid);
        setenv("LISTEN_PID", buf, 1);
        setenv("LISTEN_FDNAMES", sm->pass_names, 1);
}

unsigned service_n_fds(ServiceManager *sm) {
        unsigned n;

        pthread_mutex_lock(&sm->lock);
        n = sm->n_fds;
        pthread_mutex_unlock(&sm->lock);
        return n;
}

bool service_has_fd(ServiceManager *sm, const char *name) {
        bool r = false;

        pthread_mutex_lock(&sm->lock);
        for (unsigned i = 0; i < sm->n_fds && !r; i++)
                r = strcmp(sm->fds[i].name, name) == 0;
        pthread_mutex_unlock(&sm->lock);
        return r;
}

void service_close_fds(ServiceManager *sm) {
        pthread_mutex_lock(&sm->lock);
        for (unsigned i = 0; i < sm->n_fds; i++)
                close(sm->fds[i].fd);
        sm->n_fds = 0;
        pthread_mutex_unlock(&sm->lock);
}
