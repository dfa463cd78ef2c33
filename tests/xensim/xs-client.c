/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libxenstore replacement talking to xensimd.  Each handle has a request
 * connection and an event connection; xs_fileno() is the latter, so it is
 * readable exactly when watch events are queued.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "xsim-internal.h"

struct xs_handle {
        uint32_t domid;
        int req_fd, evt_fd;
        pthread_mutex_t req_lock, evt_lock;
        uint32_t req_id;
};

static int connect_server(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        r = xsim_path(sa.sun_path, sizeof(sa.sun_path), "xenstore.sock");
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int send_packet(int fd, uint32_t type, uint32_t req_id, uint32_t tx, const struct iovec *iov, int niov) {
        struct xsd_sockmsg h = { .type = type, .req_id = req_id, .tx_id = tx };
        struct iovec v[8];
        struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t) niov + 1 };
        size_t total = 0;
        ssize_t n;

        if (niov > 7)
                return -EINVAL;
        for (int i = 0; i < niov; i++) {
                v[i + 1] = iov[i];
                total += iov[i].iov_len;
        }
        if (total > XSIM_MAX_REQ)
                return -E2BIG;
        h.len = (uint32_t) total;
        v[0] = (struct iovec) { &h, sizeof(h) };
        do
                n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EPIPE ? -ECONNRESET : -errno;
        return 0;
}

/* Receive one whole packet into a malloc'd, NUL-terminated buffer. */
static int recv_packet(int fd, int flags, struct xsd_sockmsg *ret_hdr, char **ret_payload) {
        ssize_t size, n;
        char *buf;

        do
                size = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | flags);
        while (size < 0 && errno == EINTR);
        if (size < 0)
                return -errno;
        if (size == 0)
                return -ECONNRESET;
        buf = malloc((size_t) size + 1);
        if (!buf)
                return -ENOMEM;
        do
                n = recv(fd, buf, (size_t) size, flags);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                int r = -errno;
                free(buf);
                return r;
        }
        if ((size_t) n < sizeof(*ret_hdr) || n != size) {
                free(buf);
                return -EBADMSG;
        }
        memcpy(ret_hdr, buf, sizeof(*ret_hdr));
        if (ret_hdr->len != (size_t) n - sizeof(*ret_hdr)) {
                free(buf);
                return -EBADMSG;
        }
        memmove(buf, buf + sizeof(*ret_hdr), ret_hdr->len);
        buf[ret_hdr->len] = 0;
        *ret_payload = buf;
        return 0;
}

/* One request/reply exchange.  Returns the payload length or -errno. */
static int talk(struct xs_handle *h, uint32_t type, uint32_t tx, const struct iovec *iov, int niov, char **ret) {
        struct xsd_sockmsg rh;
        char *payload = NULL;
        uint32_t id;
        int r;

        if (!h)
                return -EINVAL;
        pthread_mutex_lock(&h->req_lock);
        id = ++h->req_id;
        r = send_packet(h->req_fd, type, id, tx, iov, niov);
        if (r >= 0)
                r = recv_packet(h->req_fd, 0, &rh, &payload);
        pthread_mutex_unlock(&h->req_lock);
        if (r < 0)
                return r;
        if (rh.req_id != id) {
                free(payload);
                return -EBADMSG;
        }
        if (rh.type == XS_ERROR) {
                int32_t e = EIO;
                if (rh.len >= sizeof(e))
                        memcpy(&e, payload, sizeof(e));
                free(payload);
                return -(e > 0 ? e : EIO);
        }
        if (ret)
                *ret = payload;
        else
                free(payload);
        return (int) rh.len;
}

static int hello(int fd, uint32_t domid, const char *role, const char *id, char **ret) {
        char dom[16];
        struct iovec iov[3];
        struct xsd_sockmsg rh;
        char *payload;
        int r;

        snprintf(dom, sizeof(dom), "%u", domid);
        iov[0] = (struct iovec) { dom, strlen(dom) + 1 };
        iov[1] = (struct iovec) { (void *) role, strlen(role) + 1 };
        iov[2] = (struct iovec) { (void *) id, strlen(id) + 1 };
        r = send_packet(fd, XSIM_MSG_HELLO, 0, 0, iov, 3);
        if (r < 0)
                return r;
        r = recv_packet(fd, 0, &rh, &payload);
        if (r < 0)
                return r;
        if (rh.type != XSIM_MSG_HELLO) {
                free(payload);
                return -EPROTO;
        }
        if (ret)
                *ret = payload;
        else
                free(payload);
        return 0;
}

struct xs_handle *xsim_xs_open(uint32_t domid) {
        struct xs_handle *h;
        char *id = NULL;
        int r;

        if (domid >= XSIM_MAX_DOMS) {
                errno = EINVAL;
                return NULL;
        }
        h = calloc(1, sizeof(*h));
        if (!h) {
                errno = ENOMEM;
                return NULL;
        }
        h->domid = domid;
        h->evt_fd = -1;
        pthread_mutex_init(&h->req_lock, NULL);
        pthread_mutex_init(&h->evt_lock, NULL);

        r = h->req_fd = connect_server();
        if (r >= 0)
                r = hello(h->req_fd, domid, "req", "", &id);
        if (r >= 0)
                r = h->evt_fd = connect_server();
        if (r >= 0)
                r = hello(h->evt_fd, domid, "evt", id, NULL);
        free(id);
        if (r < 0) {
                xs_close(h);
                errno = -r;
                return NULL;
        }
        return h;
}

int xsim_xs_domid(struct xs_handle *h) {
        return h ? (int) h->domid : -EINVAL;
}

struct xs_handle *xs_open(unsigned long flags) {
        uint32_t domid;
        int r;

        (void) flags;
        r = xsim_self_domid(&domid);
        if (r >= 0) {
                const char *dir;
                r = xsim_dir(&dir);
        }
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        return xsim_xs_open(domid);
}

struct xs_handle *xs_daemon_open(void) { return xs_open(0); }
struct xs_handle *xs_domain_open(void) { return xs_open(0); }
struct xs_handle *xs_daemon_open_readonly(void) { return xs_open(XS_OPEN_READONLY); }

void xs_close(struct xs_handle *h) {
        int saved = errno;

        if (!h)
                return;
        if (h->req_fd >= 0)
                close(h->req_fd);
        if (h->evt_fd >= 0)
                close(h->evt_fd);
        pthread_mutex_destroy(&h->req_lock);
        pthread_mutex_destroy(&h->evt_lock);
        free(h);
        errno = saved;
}

void xs_daemon_close(struct xs_handle *h) {
        xs_close(h);
}

int xs_fileno(struct xs_handle *h) {
        if (!h) {
                errno = EINVAL;
                return -1;
        }
        return h->evt_fd;
}

static char **fail_ptr(int r) {
        errno = -r;
        return NULL;
}

static bool fail_bool(int r) {
        errno = -r;
        return false;
}

/* Split NUL-terminated strings into one malloc'd vector (free the vector only). */
static char **split(const char *buf, size_t len, unsigned *num) {
        unsigned n = 0;
        char **v, *strings;

        for (size_t i = 0; i < len; i++)
                n += buf[i] == 0;
        v = malloc((n + 1) * sizeof(char *) + len + 1);
        if (!v)
                return fail_ptr(-ENOMEM);
        strings = (char *) (v + n + 1);
        memcpy(strings, buf, len);
        strings[len] = 0;
        for (unsigned i = 0; i < n; i++) {
                v[i] = strings;
                strings += strlen(strings) + 1;
        }
        v[n] = NULL;
        if (num)
                *num = n;
        return v;
}

static int path_iov(const char *path, struct iovec *iov) {
        if (!path)
                return -EINVAL;
        *iov = (struct iovec) { (void *) path, strlen(path) + 1 };
        return 0;
}

char **xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *num) {
        struct iovec iov;
        char *buf;
        char **v;
        int r;

        r = path_iov(path, &iov);
        if (r >= 0)
                r = talk(h, XS_DIRECTORY, t, &iov, 1, &buf);
        if (r < 0)
                return fail_ptr(r);
        v = split(buf, (size_t) r, num);
        free(buf);
        return v;
}

void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *len) {
        struct iovec iov;
        char *buf;
        int r;

        r = path_iov(path, &iov);
        if (r >= 0)
                r = talk(h, XS_READ, t, &iov, 1, &buf);
        if (r < 0)
                return fail_ptr(r);
        if (len)
                *len = (unsigned) r;
        return buf;     /* recv_packet NUL-terminated it */
}

bool xs_write(struct xs_handle *h, xs_transaction_t t, const char *path, const void *data, unsigned int len) {
        struct iovec iov[2];
        int r;

        if (len > XENSTORE_PAYLOAD_MAX)
                return fail_bool(-E2BIG);
        if (!data && len)
                return fail_bool(-EINVAL);
        r = path_iov(path, &iov[0]);
        iov[1] = (struct iovec) { (void *) data, len };
        if (r >= 0)
                r = talk(h, XS_WRITE, t, iov, 2, NULL);
        return r < 0 ? fail_bool(r) : true;
}

static bool simple_op(struct xs_handle *h, uint32_t type, xs_transaction_t t, const char *path) {
        struct iovec iov;
        int r;

        r = path_iov(path, &iov);
        if (r >= 0)
                r = talk(h, type, t, &iov, 1, NULL);
        return r < 0 ? fail_bool(r) : true;
}

bool xs_mkdir(struct xs_handle *h, xs_transaction_t t, const char *path) {
        return simple_op(h, XS_MKDIR, t, path);
}

bool xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path) {
        return simple_op(h, XS_RM, t, path);
}

struct xs_permissions *xs_get_permissions(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *num) {
        struct iovec iov;
        char *buf;
        int r;

        r = path_iov(path, &iov);
        if (r >= 0)
                r = talk(h, XS_GET_PERMS, t, &iov, 1, &buf);
        if (r < 0)
                return fail_ptr(r), NULL;
        if (r == 0 || r % sizeof(struct xs_permissions)) {
                free(buf);
                errno = EBADMSG;
                return NULL;
        }
        if (num)
                *num = (unsigned) (r / sizeof(struct xs_permissions));
        return (struct xs_permissions *) buf;
}

bool xs_set_permissions(struct xs_handle *h, xs_transaction_t t, const char *path,
                        struct xs_permissions *perms, unsigned int num_perms) {
        struct iovec iov[2];
        int r;

        if (!perms || num_perms == 0 || num_perms > 1024)
                return fail_bool(-EINVAL);
        r = path_iov(path, &iov[0]);
        iov[1] = (struct iovec) { perms, num_perms * sizeof(*perms) };
        if (r >= 0)
                r = talk(h, XS_SET_PERMS, t, iov, 2, NULL);
        return r < 0 ? fail_bool(r) : true;
}

static bool watch_op(struct xs_handle *h, uint32_t type, const char *path, const char *token) {
        struct iovec iov[2];
        int r;

        if (!token)
                return fail_bool(-EINVAL);
        r = path_iov(path, &iov[0]);
        iov[1] = (struct iovec) { (void *) token, strlen(token) + 1 };
        if (r >= 0)
                r = talk(h, type, XBT_NULL, iov, 2, NULL);
        return r < 0 ? fail_bool(r) : true;
}

bool xs_watch(struct xs_handle *h, const char *path, const char *token) {
        return watch_op(h, XS_WATCH, path, token);
}

bool xs_unwatch(struct xs_handle *h, const char *path, const char *token) {
        return watch_op(h, XS_UNWATCH, path, token);
}

/* Non-blocking read of one watch event; -EAGAIN when none is queued. */
static int read_event(struct xs_handle *h, char ***ret) {
        struct xsd_sockmsg rh;
        char *payload;
        unsigned n;
        char **v;
        int r;

        pthread_mutex_lock(&h->evt_lock);
        r = recv_packet(h->evt_fd, MSG_DONTWAIT, &rh, &payload);
        pthread_mutex_unlock(&h->evt_lock);
        if (r < 0)
                return r == -EWOULDBLOCK ? -EAGAIN : r;
        if (rh.type != XS_WATCH_EVENT) {
                free(payload);
                return -EBADMSG;
        }
        v = split(payload, rh.len, &n);
        free(payload);
        if (!v)
                return -ENOMEM;
        if (n < 2) {
                free(v);
                return -EBADMSG;
        }
        *ret = v;
        return 0;
}

char **xs_check_watch(struct xs_handle *h) {
        char **v;
        int r;

        if (!h)
                return fail_ptr(-EINVAL);
        r = read_event(h, &v);
        return r < 0 ? fail_ptr(r) : v;
}

char **xs_read_watch(struct xs_handle *h, unsigned int *num) {
        char **v;
        int r;

        if (!h)
                return fail_ptr(-EINVAL);
        for (;;) {
                struct pollfd p = { .fd = h->evt_fd, .events = POLLIN };

                r = read_event(h, &v);
                if (r >= 0) {
                        if (num)
                                *num = 2;
                        return v;
                }
                if (r != -EAGAIN)
                        return fail_ptr(r);
                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        return NULL;
        }
}

xs_transaction_t xs_transaction_start(struct xs_handle *h) {
        xs_transaction_t id = XBT_NULL;
        char *buf;
        int r;

        r = talk(h, XS_TRANSACTION_START, XBT_NULL, NULL, 0, &buf);
        if (r < 0) {
                errno = -r;
                return XBT_NULL;
        }
        if ((size_t) r == sizeof(id))
                memcpy(&id, buf, sizeof(id));
        else
                errno = EBADMSG;
        free(buf);
        return id;
}

bool xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort) {
        struct iovec iov = { abort ? "F" : "T", 2 };
        int r;

        if (t == XBT_NULL)
                return fail_bool(-EINVAL);
        r = talk(h, XS_TRANSACTION_END, t, &iov, 1, NULL);
        return r < 0 ? fail_bool(r) : true;
}

char *xs_get_domain_path(struct xs_handle *h, unsigned int domid) {
        char *p;

        if (!h)
                return fail_ptr(-EINVAL), NULL;
        if (asprintf(&p, "/local/domain/%u", domid) < 0)
                return fail_ptr(-ENOMEM), NULL;
        return p;
}

bool xs_is_domain_introduced(struct xs_handle *h, unsigned int domid) {
        char dom[16];
        struct iovec iov = { dom, 0 };
        char *buf;
        bool ret;
        int r;

        snprintf(dom, sizeof(dom), "%u", domid);
        iov.iov_len = strlen(dom) + 1;
        r = talk(h, XS_IS_DOMAIN_INTRODUCED, XBT_NULL, &iov, 1, &buf);
        if (r < 0)
                return fail_bool(r);
        ret = buf[0] == 'T';
        free(buf);
        return ret;
}

bool xs_path_is_subpath(const char *parent, const char *child) {
        size_t n = strlen(parent);

        if (n > 0 && parent[n - 1] == '/')
                n--;
        return strncmp(child, parent, n) == 0 && (child[n] == '/' || child[n] == 0);
}

/* ---- simulator control channel (always dom0) ---- */

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xs_handle *ctl;
static pid_t ctl_pid;

void xsim_ctl_reset(void) {
        pthread_mutex_lock(&ctl_lock);
        if (ctl && ctl_pid == getpid())
                xs_close(ctl);
        else if (ctl) {
                /* Inherited over fork(): drop our copies without talking. */
                close(ctl->req_fd);
                close(ctl->evt_fd);
                free(ctl);
        }
        ctl = NULL;
        pthread_mutex_unlock(&ctl_lock);
}

int xsim_ctl(const char *const *argv, char **ret_reply) {
        struct iovec iov[7];
        int n = 0, r;

        while (argv[n]) {
                if (n >= 7)
                        return -E2BIG;
                iov[n] = (struct iovec) { (void *) argv[n], strlen(argv[n]) + 1 };
                n++;
        }
        pthread_mutex_lock(&ctl_lock);
        if (ctl && ctl_pid != getpid()) {
                close(ctl->req_fd);
                close(ctl->evt_fd);
                free(ctl);
                ctl = NULL;
        }
        if (!ctl) {
                ctl = xsim_xs_open(0);
                ctl_pid = getpid();
        }
        r = ctl ? talk(ctl, XS_CONTROL, XBT_NULL, iov, n, ret_reply) : -xsim_errno_or(EIO);
        if (r == -ECONNRESET || r == -EPIPE) {
                xs_close(ctl);
                ctl = NULL;
        }
        pthread_mutex_unlock(&ctl_lock);
        return r < 0 ? r : 0;
}

void xsim_poke_reaper(void) {
        static const char *const argv[] = { "reap", NULL };
        (void) xsim_ctl(argv, NULL);
}
