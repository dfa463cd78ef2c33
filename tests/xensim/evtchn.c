/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libxenevtchn replacement.  Port state lives in the domain files; wake-ups
 * travel through a per-handle named FIFO (DIR/evtchn-<domid>-<pid>-<id>)
 * carrying 4-byte port numbers, like reads from /dev/xen/evtchn.
 *
 * Bindings belong to the open file, as with the Linux evtchn device, not to
 * the process: a port is owned by the handle id, and the handle's FIFO fd
 * (the one xenevtchn_fd() returns, opened once, O_RDWR) holds flock(LOCK_EX)
 * on itself.  flock locks belong to the open file description, so the lock
 * lives while any copy of the fd does (dup, fork, SCM_RIGHTS, systemd's FD
 * store) and vanishes with the last close, also when a process is killed.
 * Events keep being queued in the pipe meanwhile.  xenevtchn_fdopen() turns
 * such a copy back into a handle owning the same ports.
 *
 * When the last copy is gone, Xen's evtchn_close() runs for every port bound
 * on it: the local port is freed, an interdomain peer goes back to unbound
 * for us.  The simulator does this lazily but before anyone could tell the
 * difference: handle_reap() tries the lock on a fresh open of the FIFO and,
 * if it gets it, closes the handle's ports and unlinks the FIFO.  It runs
 * when xenevtchn_close() may have dropped the last copy, over every FIFO in
 * xenevtchn_open(), and on the ports involved before xenevtchn_bind_interdomain()
 * and xc_evtchn_status() look at them.  A guest's notification towards a
 * dead handle is dropped either way (it lands in a pipe nobody can read).
 * Reapers serialize on flock(DIR/evtchn.lock), so a second reaper finds the
 * FIFO gone (ENOENT: dead and done) rather than locked (alive).
 *
 * Delivery follows the Linux evtchn device: a delivered port is masked until
 * xenevtchn_unmask(); notifications while masked only set pending; unmask
 * re-delivers a pending port.  So at most one wake-up per port is queued and
 * the FIFO cannot overflow (XSIM_NR_PORTS * 4 bytes < 64 KiB default).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <xenevtchn.h>

#include "xsim-internal.h"

struct xenevtchn_handle {
        uint32_t domid;                 /* the domain the handle acts as */
        int fd;
        uint64_t id;                    /* owner_id of its ports */
        uint32_t pid;                   /* of the process that opened it: names the FIFO */
        struct xsim_dom *self;
        char path[PATH_MAX];
};

/* ---- wake-up transport ---- */

#define WAKE_CACHE 64

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
        uint64_t id;
        int fd;
} wake_cache[WAKE_CACHE];
static unsigned wake_next;

static int fifo_path(char *buf, size_t size, uint32_t domid, uint32_t pid, uint64_t id) {
        return xsim_path(buf, size, "evtchn-%u-%u-%llu", domid, pid, (unsigned long long) id);
}

/* Parses a FIFO's file name; false if it is not one. */
static bool fifo_name_parse(const char *name, uint32_t *domid, uint32_t *pid, uint64_t *id) {
        unsigned d, p;
        unsigned long long i;
        int n = -1;

        if (sscanf(name, "evtchn-%u-%u-%llu%n", &d, &p, &i, &n) != 3 || n < 0 || name[n] || i == 0 ||
            d >= XSIM_MAX_DOMS)
                return false;
        *domid = d;
        *pid = p;
        *id = i;
        return true;
}

void xsim_wake(uint32_t domid, uint32_t owner_pid, uint64_t owner_id, uint32_t port) {
        int fd = -1;

        pthread_mutex_lock(&wake_lock);
        for (unsigned i = 0; i < WAKE_CACHE; i++)
                if (wake_cache[i].id && wake_cache[i].id == owner_id) {
                        fd = wake_cache[i].fd;
                        break;
                }
        if (fd < 0) {
                char path[PATH_MAX];
                unsigned slot = wake_next++ % WAKE_CACHE;

                /* O_RDWR: we count as a reader too, so a vanished owner can
                 * never get us a SIGPIPE; data to a dead FIFO is just lost. */
                if (fifo_path(path, sizeof(path), domid, owner_pid, owner_id) >= 0)
                        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0) {
                        if (wake_cache[slot].id)
                                close(wake_cache[slot].fd);
                        wake_cache[slot].id = owner_id;
                        wake_cache[slot].fd = fd;
                }
        }
        if (fd >= 0 && write(fd, &port, sizeof(port)) != sizeof(port)) {
                /* Queue full or owner gone: the event is dropped, as for a dead peer. */
        }
        pthread_mutex_unlock(&wake_lock);
}

void xsim_evtchn_reset(void) {
        pthread_mutex_lock(&wake_lock);
        for (unsigned i = 0; i < WAKE_CACHE; i++) {
                if (wake_cache[i].id)
                        close(wake_cache[i].fd);
                wake_cache[i].fd = 0;
                wake_cache[i].id = 0;
        }
        pthread_mutex_unlock(&wake_lock);
}

/* ---- port table helpers (callers hold the domain lock) ---- */

static int port_alloc(struct xsim_dom_hdr *h) {
        for (uint32_t i = 0; i < XSIM_NR_PORTS - 1; i++) {
                uint32_t p = 1 + (h->next_port - 1 + i) % (XSIM_NR_PORTS - 1);
                if (h->ports[p].state == XSIM_PORT_FREE) {
                        h->next_port = p % (XSIM_NR_PORTS - 1) + 1;
                        return (int) p;
                }
        }
        return -ENOSPC;
}

static void port_own(struct xsim_port *p, const xenevtchn_handle *xce) {
        p->owner_id = xce->id;
        p->owner_pid = xce->pid;
        p->pending = p->masked = 0;
}

/* Deliver an event on port p (already marked pending); returns true if the
 * owner must be woken (after dropping the lock). */
static bool port_deliver(struct xsim_port *p) {
        if (p->masked || !p->owner_id)
                return false;
        p->pending = 0;
        p->masked = 1;
        return true;
}

/* Unlink port `port` of domain `d` from its peer and free it.  Takes care of
 * locking; tolerates concurrent changes. */
static void port_close(struct xsim_dom *d, uint32_t port, uint64_t owner_id) {
        for (int attempt = 0; attempt < 16; attempt++) {
                struct xsim_port *p = &d->hdr->ports[port];
                uint32_t rd, rp;
                struct xsim_dom *r;

                if (xsim_lock(&d->hdr->lock) < 0)
                        return;
                if (p->state == XSIM_PORT_FREE || (owner_id && p->owner_id != owner_id)) {
                        xsim_unlock(&d->hdr->lock);
                        return;
                }
                if (p->state != XSIM_PORT_INTERDOMAIN) {
                        memset(p, 0, sizeof(*p));
                        xsim_unlock(&d->hdr->lock);
                        return;
                }
                rd = p->remote_dom;
                rp = p->remote_port;
                xsim_unlock(&d->hdr->lock);

                if (xsim_dom_get(rd, &r) < 0) {
                        /* Peer domain gone: nothing to unlink. */
                        if (xsim_lock(&d->hdr->lock) < 0)
                                return;
                        if (p->state == XSIM_PORT_INTERDOMAIN && p->remote_dom == rd && p->remote_port == rp)
                                memset(p, 0, sizeof(*p));
                        xsim_unlock(&d->hdr->lock);
                        return;
                }
                if (xsim_lock_pair(d, r) < 0)
                        return;
                if (p->state != XSIM_PORT_INTERDOMAIN || p->remote_dom != rd || p->remote_port != rp) {
                        xsim_unlock_pair(d, r);
                        continue;
                }
                struct xsim_port *q = &r->hdr->ports[rp];
                if (rp < XSIM_NR_PORTS && q->state == XSIM_PORT_INTERDOMAIN &&
                    q->remote_dom == d->domid && q->remote_port == port) {
                        /* Like Xen's close: the peer goes back to unbound. */
                        q->state = XSIM_PORT_UNBOUND;
                        q->remote_dom = d->domid;
                        q->remote_port = 0;
                }
                memset(p, 0, sizeof(*p));
                xsim_unlock_pair(d, r);
                return;
        }
}

int xsim_evtchn_close_domain(uint32_t domid) {
        struct xsim_dom *d;
        int r;

        r = xsim_dom_get(domid, &d);
        if (r < 0)
                return r;
        for (uint32_t port = 1; port < XSIM_NR_PORTS; port++)
                port_close(d, port, 0);
        return 0;
}

/* ---- handles without a live fd ---- */

static int reap_lock(void) {
        char path[PATH_MAX];
        int fd, r;

        r = xsim_path(path, sizeof(path), "evtchn.lock");
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR) {
                        r = -errno;
                        close(fd);
                        return r;
                }
        return fd;
}

/* The handle's last fd is gone: Xen's evtchn_close() for each of its ports. */
static void handle_release(uint32_t domid, uint64_t id) {
        struct xsim_dom *d;

        if (xsim_dom_get(domid, &d) < 0)
                return;         /* the domain is gone, and its ports with it */
        for (uint32_t port = 1; port < XSIM_NR_PORTS; port++)
                if (__atomic_load_n(&d->hdr->ports[port].owner_id, __ATOMIC_RELAXED) == id)
                        port_close(d, port, id);
}

/* Caller holds the reap lock.  Returns true (after releasing its ports and
 * removing its FIFO) if no fd of the handle is left anywhere, false while one
 * lives or when that cannot be told. */
static bool handle_reap_locked(uint32_t domid, uint32_t pid, uint64_t id) {
        char path[PATH_MAX];
        int fd;

        if (!id || fifo_path(path, sizeof(path), domid, pid, id) < 0)
                return false;
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                if (errno != ENOENT)
                        return false;
                /* Reaped before; its ports were released first, but a port
                 * seen owned by it just now must not stay so. */
                handle_release(domid, id);
                return true;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                close(fd);
                return false;   /* EWOULDBLOCK: a copy of its fd lives */
        }
        handle_release(domid, id);
        unlink(path);
        close(fd);
        return true;
}

static bool handle_reap(uint32_t domid, uint32_t pid, uint64_t id) {
        int lfd = reap_lock();
        bool dead;

        if (lfd < 0)
                return false;
        dead = handle_reap_locked(domid, pid, id);
        close(lfd);
        return dead;
}

/* Reap every handle whose fd is gone (processes that died or exited
 * without xenevtchn_close(), or whose FD store copy was dropped). */
static void handles_reap_all(void) {
        const char *dir;
        struct dirent *de;
        DIR *dp;
        int lfd;

        if (xsim_dir(&dir) < 0)
                return;
        lfd = reap_lock();
        if (lfd < 0)
                return;
        dp = opendir(dir);
        if (dp) {
                while ((de = readdir(dp))) {
                        uint32_t domid, pid;
                        uint64_t id;

                        if (fifo_name_parse(de->d_name, &domid, &pid, &id))
                                (void) handle_reap_locked(domid, pid, id);
                }
                closedir(dp);
        }
        close(lfd);
}

/* If the owner of port `port` of d has no live fd, reap it.  Returns true if
 * something was released (the caller re-reads the port). */
static bool port_reap_owner(struct xsim_dom *d, uint32_t port) {
        struct xsim_port *p = &d->hdr->ports[port];
        uint32_t pid;
        uint64_t id;

        if (port == 0 || port >= XSIM_NR_PORTS || xsim_lock(&d->hdr->lock) < 0)
                return false;
        id = p->state != XSIM_PORT_FREE ? p->owner_id : 0;
        pid = p->owner_pid;
        xsim_unlock(&d->hdr->lock);
        return id && handle_reap(d->domid, pid, id);
}

/* The same for port `port` of d and its interdomain peer. */
static bool port_reap_pair(struct xsim_dom *d, uint32_t port) {
        struct xsim_port *p = &d->hdr->ports[port];
        struct xsim_dom *r;
        uint32_t rd = 0, rp = 0;
        bool released;

        if (port == 0 || port >= XSIM_NR_PORTS)
                return false;
        released = port_reap_owner(d, port);
        if (xsim_lock(&d->hdr->lock) < 0)
                return released;
        if (p->state == XSIM_PORT_INTERDOMAIN) {
                rd = p->remote_dom;
                rp = p->remote_port;
        }
        xsim_unlock(&d->hdr->lock);
        if (rp && xsim_dom_get(rd, &r) >= 0)
                released |= port_reap_owner(r, rp);
        return released;
}

int xsim_evtchn_status(uint32_t caller, evtchn_status_t *st) {
        struct xsim_dom *d;
        struct xsim_port p;
        uint32_t dom;
        int r;

        if (!st)
                return -EFAULT;
        dom = st->dom == DOMID_SELF ? caller : st->dom;
        if (caller != 0 && dom != caller)
                return -EPERM;
        r = xsim_dom_get(dom, &d);
        if (r < 0)
                return -ESRCH;
        if (st->port >= XSIM_NR_PORTS)
                return -EINVAL;
        (void) port_reap_pair(d, st->port);
        r = xsim_lock(&d->hdr->lock);
        if (r < 0)
                return r;
        p = d->hdr->ports[st->port];
        xsim_unlock(&d->hdr->lock);
        st->vcpu = 0;
        memset(&st->u, 0, sizeof(st->u));
        switch (st->port ? p.state : XSIM_PORT_FREE) {
        case XSIM_PORT_UNBOUND:
                st->status = EVTCHNSTAT_unbound;
                st->u.unbound.dom = (domid_t) p.remote_dom;
                break;
        case XSIM_PORT_INTERDOMAIN:
                st->status = EVTCHNSTAT_interdomain;
                st->u.interdomain.dom = (domid_t) p.remote_dom;
                st->u.interdomain.port = p.remote_port;
                break;
        default:        /* free and reserved, as Xen reports them */
                st->status = EVTCHNSTAT_closed;
                break;
        }
        return 0;
}

/* ---- API ---- */

static xenevtchn_port_or_error_t fail(int r) {
        errno = -r;
        return -1;
}

struct xenevtchn_handle *xsim_evtchn_open(uint32_t domid, unsigned flags) {
        struct xsim_domtab *t;
        xenevtchn_handle *xce;
        int r;

        xce = calloc(1, sizeof(*xce));
        if (!xce) {
                errno = ENOMEM;
                return NULL;
        }
        xce->fd = -1;
        xce->domid = domid;
        xce->pid = (uint32_t) getpid();
        r = xsim_domtab(&t);
        if (r >= 0)
                r = xsim_dom_get(domid, &xce->self);
        if (r >= 0) {
                handles_reap_all();
                xce->id = __atomic_add_fetch(&t->next_handle_id, 1, __ATOMIC_SEQ_CST);
                r = fifo_path(xce->path, sizeof(xce->path), domid, xce->pid, xce->id);
        }
        if (r >= 0 && mkfifo(xce->path, 0600) < 0)
                r = -errno;
        if (r >= 0) {
                xce->fd = open(xce->path, O_RDWR | O_NONBLOCK | ((flags & XENEVTCHN_NO_CLOEXEC) ? 0 : O_CLOEXEC));
                if (xce->fd < 0)
                        r = -errno;
                /* The lock marks the open file alive (see the top); nobody
                 * else can hold it on a FIFO only we know of yet. */
                else if (flock(xce->fd, LOCK_EX | LOCK_NB) < 0) {
                        r = -errno;
                        close(xce->fd);
                }
                if (r < 0)
                        unlink(xce->path);
        }
        if (r < 0) {
                free(xce);
                errno = -r;
                return NULL;
        }
        (void) fcntl(xce->fd, F_SETPIPE_SZ, 1 << 20);   /* best effort headroom */
        return xce;
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags) {
        uint32_t domid;
        int r;

        (void) logger;
        r = xsim_caller_domid(&domid);
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        return xsim_evtchn_open(domid, flags);
}

/* A handle over an fd of an earlier one, typically inherited or received
 * from systemd's FD store by a new process: it owns the same ports and reads
 * what was queued meanwhile.  The fd is identified by its FIFO's name (from
 * /proc/self/fd) and checked to be that FIFO; the handle takes it over and
 * xenevtchn_close() closes it. */
xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd, unsigned open_flags) {
        char link[64], target[PATH_MAX], want[PATH_MAX];
        struct stat fst, pst;
        const char *dir, *name;
        xenevtchn_handle *xce;
        uint32_t domid, pid;
        uint64_t id;
        ssize_t n;
        int r;

        (void) logger;
        if (open_flags) {
                errno = EINVAL;         /* XENEVTCHN_NO_CLOEXEC is rejected, as by libxenevtchn */
                return NULL;
        }
        r = xsim_dir(&dir);
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        if (fd < 0 || fstat(fd, &fst) < 0) {
                errno = EBADF;
                return NULL;
        }
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0 || !S_ISFIFO(fst.st_mode)) {
                errno = ENOTTY;         /* what the device's ioctls would say on another fd */
                return NULL;
        }
        target[n] = 0;
        name = strrchr(target, '/');
        if (!name || !fifo_name_parse(name + 1, &domid, &pid, &id) ||
            fifo_path(want, sizeof(want), domid, pid, id) < 0 || strcmp(want, target) != 0 ||
            stat(want, &pst) < 0 || pst.st_dev != fst.st_dev || pst.st_ino != fst.st_ino) {
                errno = ENOTTY;
                return NULL;
        }
        xce = calloc(1, sizeof(*xce));
        if (!xce) {
                errno = ENOMEM;
                return NULL;
        }
        r = xsim_dom_get(domid, &xce->self);
        if (r < 0) {
                free(xce);
                errno = -r;
                return NULL;
        }
        xce->fd = fd;
        xce->domid = domid;
        xce->pid = pid;
        xce->id = id;
        memcpy(xce->path, want, sizeof(xce->path));
        return xce;
}

/* Closes this handle's fd only.  The ports go when the last copy of the fd
 * does, as with the Linux device's release: if, after our close, the lock on
 * a fresh open of the FIFO can be taken, no copy is left (none in another
 * handle, a child, or an FD store), and we release the ports now.  Otherwise
 * whoever drops the last copy does, or, if that is a process dying, the
 * next reap (see the top of this file). */
int xenevtchn_close(xenevtchn_handle *xce) {
        if (!xce)
                return 0;
        close(xce->fd);
        (void) handle_reap(xce->domid, xce->pid, xce->id);
        free(xce);
        return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce) {
        if (!xce)
                return fail(-EINVAL);
        return xce->fd;
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *xce, uint32_t domid) {
        struct xsim_dom_hdr *h;
        int p, r;

        if (!xce)
                return fail(-EINVAL);
        if (domid == DOMID_SELF)
                domid = xce->domid;
        if (domid >= XSIM_MAX_DOMS)
                return fail(-EINVAL);
        h = xce->self->hdr;
        r = xsim_lock(&h->lock);
        if (r < 0)
                return fail(r);
        p = h->dying ? -ESRCH : port_alloc(h);
        if (p > 0) {
                h->ports[p].state = XSIM_PORT_UNBOUND;
                h->ports[p].remote_dom = domid;
                h->ports[p].remote_port = 0;
                port_own(&h->ports[p], xce);
        }
        xsim_unlock(&h->lock);
        return p < 0 ? fail(p) : p;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid, evtchn_port_t remote_port) {
        struct xsim_dom *r;
        struct xsim_port *q;
        int p;

        if (!xce)
                return fail(-EINVAL);
        if (domid == DOMID_SELF)
                domid = xce->domid;
        if (remote_port == 0 || remote_port >= XSIM_NR_PORTS)
                return fail(-EINVAL);
        p = xsim_dom_get(domid, &r);
        if (p < 0)
                return fail(-ESRCH);
        /* A port whose owner's fd is gone is closed (its peer unbound) first. */
        (void) port_reap_pair(r, remote_port);
        p = xsim_lock_pair(xce->self, r);
        if (p < 0)
                return fail(p);
        q = &r->hdr->ports[remote_port];
        if (r->hdr->dying || xce->self->hdr->dying)
                p = -ESRCH;
        else if (q->state != XSIM_PORT_UNBOUND || q->remote_dom != xce->domid)
                p = -EINVAL;
        else
                p = port_alloc(xce->self->hdr);
        if (p > 0) {
                struct xsim_port *l = &xce->self->hdr->ports[p];
                l->state = XSIM_PORT_INTERDOMAIN;
                l->remote_dom = domid;
                l->remote_port = remote_port;
                port_own(l, xce);
                q->state = XSIM_PORT_INTERDOMAIN;
                q->remote_port = (uint32_t) p;
        }
        xsim_unlock_pair(xce->self, r);
        return p < 0 ? fail(p) : p;
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port) {
        struct xsim_dom_hdr *h;
        struct xsim_port *p, *q;
        struct xsim_dom *r;
        uint32_t rd, rp, wpid = 0;
        uint64_t wid = 0;
        int ret;

        if (!xce || port == 0 || port >= XSIM_NR_PORTS)
                return fail(-EINVAL);
        h = xce->self->hdr;
        p = &h->ports[port];
        ret = xsim_lock(&h->lock);
        if (ret < 0)
                return fail(ret);
        if (p->owner_id != xce->id || p->state == XSIM_PORT_FREE) {
                xsim_unlock(&h->lock);
                return fail(-ENOTCONN);
        }
        if (p->state != XSIM_PORT_INTERDOMAIN) {
                xsim_unlock(&h->lock);
                return 0;       /* unbound: Xen silently drops it */
        }
        rd = p->remote_dom;
        rp = p->remote_port;
        xsim_unlock(&h->lock);

        /* The peer may be gone: then the notification is dropped. */
        if (xsim_dom_get(rd, &r) < 0 || rp >= XSIM_NR_PORTS)
                return 0;
        if (xsim_lock(&r->hdr->lock) < 0)
                return 0;
        q = &r->hdr->ports[rp];
        if (!r->hdr->dying && q->state == XSIM_PORT_INTERDOMAIN && q->remote_dom == xce->domid && q->remote_port == port) {
                q->pending = 1;
                if (port_deliver(q)) {
                        wpid = q->owner_pid;
                        wid = q->owner_id;
                }
        }
        xsim_unlock(&r->hdr->lock);
        if (wid)
                xsim_wake(rd, wpid, wid, rp);
        return 0;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce) {
        uint32_t port;
        ssize_t n;

        if (!xce)
                return fail(-EINVAL);
        do
                n = read(xce->fd, &port, sizeof(port));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -1;
        if (n != sizeof(port))
                return fail(-EAGAIN);
        return (xenevtchn_port_or_error_t) port;
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port) {
        struct xsim_dom_hdr *h;
        struct xsim_port *p;
        bool wake = false;
        int r;

        if (!xce || port >= XSIM_NR_PORTS)
                return fail(-EINVAL);
        h = xce->self->hdr;
        p = &h->ports[port];
        r = xsim_lock(&h->lock);
        if (r < 0)
                return fail(r);
        /* Ports of other handles are ignored, like the Linux device does. */
        if (p->owner_id == xce->id && p->state != XSIM_PORT_FREE) {
                p->masked = 0;
                if (p->pending)
                        wake = port_deliver(p);
        }
        xsim_unlock(&h->lock);
        if (wake)
                xsim_wake(xce->domid, xce->pid, xce->id, port);
        return 0;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port) {
        struct xsim_dom_hdr *h;
        bool mine;
        int r;

        if (!xce || port == 0 || port >= XSIM_NR_PORTS)
                return fail(-EINVAL);
        h = xce->self->hdr;
        r = xsim_lock(&h->lock);
        if (r < 0)
                return fail(r);
        mine = h->ports[port].owner_id == xce->id && h->ports[port].state != XSIM_PORT_FREE;
        xsim_unlock(&h->lock);
        if (!mine)
                return fail(-ENOTCONN);
        port_close(xce->self, port, xce->id);
        return 0;
}

int xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid) {
        (void) xce;
        (void) domid;
        return 0;
}
