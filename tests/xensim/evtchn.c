/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libxenevtchn replacement.  Port state lives in the domain files; wake-ups
 * travel through a per-handle named FIFO (DIR/evtchn-<pid>-<id>) carrying
 * 4-byte port numbers, like reads from /dev/xen/evtchn.
 *
 * Delivery follows the Linux evtchn device: a delivered port is masked until
 * xenevtchn_unmask(); notifications while masked only set pending; unmask
 * re-delivers a pending port.  So at most one wake-up per port is queued and
 * the FIFO cannot overflow (XSIM_NR_PORTS * 4 bytes < 64 KiB default).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <xenevtchn.h>

#include "xsim-internal.h"

struct xenevtchn_handle {
        uint32_t domid;
        int fd;
        uint64_t id;
        uint32_t pid;
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

static int fifo_path(char *buf, size_t size, uint32_t pid, uint64_t id) {
        return xsim_path(buf, size, "evtchn-%u-%llu", pid, (unsigned long long) id);
}

void xsim_wake(uint32_t owner_pid, uint64_t owner_id, uint32_t port) {
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
                if (fifo_path(path, sizeof(path), owner_pid, owner_id) >= 0)
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
                xce->id = __atomic_add_fetch(&t->next_handle_id, 1, __ATOMIC_SEQ_CST);
                r = fifo_path(xce->path, sizeof(xce->path), xce->pid, xce->id);
        }
        if (r >= 0 && mkfifo(xce->path, 0600) < 0)
                r = -errno;
        if (r >= 0) {
                xce->fd = open(xce->path, O_RDWR | O_NONBLOCK | ((flags & XENEVTCHN_NO_CLOEXEC) ? 0 : O_CLOEXEC));
                if (xce->fd < 0) {
                        r = -errno;
                        unlink(xce->path);
                }
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

xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd, unsigned open_flags) {
        (void) logger;
        (void) fd;
        (void) open_flags;
        errno = EOPNOTSUPP;
        return NULL;
}

int xenevtchn_close(xenevtchn_handle *xce) {
        if (!xce)
                return 0;
        /* Closing the device unbinds every port of this handle. */
        for (uint32_t port = 1; port < XSIM_NR_PORTS; port++)
                if (__atomic_load_n(&xce->self->hdr->ports[port].owner_id, __ATOMIC_RELAXED) == xce->id)
                        port_close(xce->self, port, xce->id);
        close(xce->fd);
        unlink(xce->path);
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
                xsim_wake(wpid, wid, rp);
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
                xsim_wake(xce->pid, xce->id, port);
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
