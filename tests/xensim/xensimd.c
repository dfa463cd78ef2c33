/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xensimd: the simulated XenStore server, and the "toolstack" half of the
 * simulated hypervisor (domain lifecycle requests arrive as XS_CONTROL
 * messages from dom0 clients).
 *
 * Protocol: SOCK_SEQPACKET unix socket DIR/xenstore.sock, one struct
 * xsd_sockmsg header + payload per packet.  Each client handle opens a
 * request connection (strict request -> reply) and an event connection
 * (watch events only).  The first packet on each is XSIM_MSG_HELLO.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "hmap.h"
#include "store.h"
#include "xsim-internal.h"

#define OUTQ_LIMIT (64u << 20)

struct outmsg {
        struct outmsg *next;
        size_t len;
        char data[];
};

enum { ROLE_NEW, ROLE_REQ, ROLE_EVT };

struct conn {
        int fd;
        pid_t pid; /* the peer's, for dropping its connections */
        int role;
        bool broken;
        struct client *client;
        struct outmsg *oq, **oq_tail;
        size_t oq_bytes;
        bool want_out;
        struct conn *prev, *next;
};

struct wlist {
        char *path;
        struct watch *head;
};

struct watch {
        struct watch *wl_next, *wl_prev;        /* same path */
        struct watch *all_next, *all_prev;      /* all watches */
        struct watch *c_next;                   /* same client */
        struct client *client;
        struct wlist *wl;
        char *path;                             /* canonical */
        char *token;
        bool relative;
};

struct tx_ent {
        struct tx_ent *next;
        struct txn *tx;
};

struct client {
        uint64_t id;
        uint32_t domid;
        struct conn *req, *evt;
        struct watch *watches;
        unsigned nwatches;
        struct tx_ent *txs;
        unsigned ntx;
        struct client *prev, *next;
};

static struct {
        const char *dir;
        int lfd, epfd, sfd;
        struct store *store;
        struct hmap watches;
        struct watch *all_watches;
        struct client *clients;
        struct conn *conns;
        uint64_t next_client_id;
        uint32_t next_tx_id;
        unsigned fault_tx;
        unsigned dying;
        bool quit;
} S;

static char lsock_tag, sig_tag;       /* epoll cookies */
static uint8_t rbuf[XSIM_MAX_REQ + sizeof(struct xsd_sockmsg) + 64];

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_msg(const char *fmt, ...) {
        va_list ap;

        if (!getenv("XENSIM_DEBUG"))
                return;
        va_start(ap, fmt);
        fprintf(stderr, "xensimd: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* ---- connection output ---- */

static void conn_update_events(struct conn *c) {
        struct epoll_event ev = { .events = EPOLLIN | (c->oq ? EPOLLOUT : 0), .data.ptr = c };
        bool want = c->oq != NULL;

        if (want == c->want_out)
                return;
        c->want_out = want;
        epoll_ctl(S.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_flush(struct conn *c) {
        while (c->oq && !c->broken) {
                struct outmsg *m = c->oq;
                if (send(c->fd, m->data, m->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        c->broken = true;       /* closed when epoll reports it */
                        break;
                }
                c->oq = m->next;
                if (!c->oq)
                        c->oq_tail = &c->oq;
                c->oq_bytes -= m->len;
                free(m);
        }
        if (c->broken)
                while (c->oq) {
                        struct outmsg *m = c->oq;
                        c->oq = m->next;
                        free(m);
                }
        if (!c->oq) {
                c->oq_tail = &c->oq;
                c->oq_bytes = 0;
        }
        conn_update_events(c);
}

static void conn_send(struct conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
                      const void *d1, size_t l1, const void *d2, size_t l2) {
        struct xsd_sockmsg h = { .type = type, .req_id = req_id, .tx_id = tx_id, .len = (uint32_t) (l1 + l2) };
        size_t len = sizeof(h) + l1 + l2;
        struct outmsg *m;

        if (!c || c->broken)
                return;
        if (c->oq_bytes + len > OUTQ_LIMIT) {
                log_msg("output queue of fd %d full, dropping message", c->fd);
                return;
        }
        m = malloc(sizeof(*m) + len);
        if (!m)
                abort();
        m->next = NULL;
        m->len = len;
        memcpy(m->data, &h, sizeof(h));
        if (l1)
                memcpy(m->data + sizeof(h), d1, l1);
        if (l2)
                memcpy(m->data + sizeof(h) + l1, d2, l2);
        *c->oq_tail = m;
        c->oq_tail = &m->next;
        c->oq_bytes += len;
        conn_flush(c);
}

static void reply(struct conn *c, const struct xsd_sockmsg *req, const void *d, size_t l) {
        conn_send(c, req->type, req->req_id, req->tx_id, d, l, NULL, 0);
}

static void reply_err(struct conn *c, const struct xsd_sockmsg *req, int err) {
        int32_t e = err < 0 ? -err : err;
        conn_send(c, XS_ERROR, req->req_id, req->tx_id, &e, sizeof(e), NULL, 0);
}

static void reply_ok(struct conn *c, const struct xsd_sockmsg *req) {
        reply(c, req, "OK", 3);
}

/* ---- watches ---- */

static void send_event(struct watch *w, const char *abs) {
        const char *shown = abs;
        char prefix[64];
        size_t pl;

        if (!w->client->evt)
                return;
        if (w->relative) {
                pl = (size_t) snprintf(prefix, sizeof(prefix), "/local/domain/%u/", w->client->domid);
                if (strncmp(abs, prefix, pl) == 0)
                        shown = abs + pl;
        }
        conn_send(w->client->evt, XS_WATCH_EVENT, 0, 0, shown, strlen(shown) + 1, w->token, strlen(w->token) + 1);
}

static bool visible(uint32_t dom, const struct xs_permissions *p, unsigned n,
                    const struct xs_permissions *p2, unsigned n2) {
        return dom == 0 || store_can_read(dom, p, n) || (p2 && store_can_read(dom, p2, n2));
}

static void fire_list(const char *key, const char *path, const struct xs_permissions *p, unsigned n,
                      const struct xs_permissions *p2, unsigned n2) {
        struct wlist *wl = hmap_get(&S.watches, key);

        if (!wl)
                return;
        for (struct watch *w = wl->head; w; w = w->wl_next)
                if (visible(w->client->domid, p, n, p2, n2))
                        send_event(w, path);
}

static void fire(void *userdata, const char *path, bool removed, const struct xs_permissions *p, unsigned n,
                 const struct xs_permissions *p2, unsigned n2) {
        size_t plen = strlen(path);
        char buf[plen + 1];

        (void) userdata;
        /* Watches on the node itself and on every ancestor. */
        fire_list("/", path, p, n, p2, n2);
        memcpy(buf, path, plen + 1);
        for (size_t i = 1; plen > 1 && i <= plen; i++)
                if (buf[i] == '/' || buf[i] == 0) {
                        char saved = buf[i];
                        buf[i] = 0;
                        fire_list(buf, path, p, n, p2, n2);
                        buf[i] = saved;
                }
        /* A removed subtree also triggers watches below it, reported with the
         * watched path, like xenstored's non-exact firing. */
        if (removed)
                for (struct watch *w = S.all_watches; w; w = w->all_next)
                        if (strncmp(w->path, path, plen) == 0 && w->path[plen] == '/' &&
                            visible(w->client->domid, p, n, NULL, 0))
                                send_event(w, w->path);
}

static void fire_special(const char *name) {
        struct wlist *wl = hmap_get(&S.watches, name);

        if (!wl)
                return;
        for (struct watch *w = wl->head; w; w = w->wl_next)
                if (w->client->domid == 0)
                        send_event(w, name);
}

static void watch_free(struct watch *w) {
        struct wlist *wl = w->wl;

        if (w->wl_prev)
                w->wl_prev->wl_next = w->wl_next;
        else
                wl->head = w->wl_next;
        if (w->wl_next)
                w->wl_next->wl_prev = w->wl_prev;
        if (!wl->head) {
                hmap_remove(&S.watches, wl->path);
                free(wl->path);
                free(wl);
        }
        if (w->all_prev)
                w->all_prev->all_next = w->all_next;
        else
                S.all_watches = w->all_next;
        if (w->all_next)
                w->all_next->all_prev = w->all_prev;
        free(w->path);
        free(w->token);
        free(w);
}

static int watch_add(struct client *c, const char *path, const char *abs, const char *token) {
        struct watch *w;
        struct wlist *wl;

        for (w = c->watches; w; w = w->c_next)
                if (strcmp(w->path, abs) == 0 && strcmp(w->token, token) == 0)
                        return -EEXIST;
        if (c->domid != 0 && c->nwatches >= XSIM_WATCH_QUOTA)
                return -E2BIG;
        if (strlen(token) > XENSTORE_PAYLOAD_MAX)
                return -EINVAL;

        wl = hmap_get(&S.watches, abs);
        if (!wl) {
                wl = calloc(1, sizeof(*wl));
                if (!wl || !(wl->path = strdup(abs)) || hmap_put(&S.watches, wl->path, wl) < 0)
                        abort();
        }
        w = calloc(1, sizeof(*w));
        if (!w || !(w->path = strdup(abs)) || !(w->token = strdup(token)))
                abort();
        w->client = c;
        w->wl = wl;
        w->relative = path[0] != '/' && path[0] != '@';
        w->wl_next = wl->head;
        if (wl->head)
                wl->head->wl_prev = w;
        wl->head = w;
        w->all_next = S.all_watches;
        if (S.all_watches)
                S.all_watches->all_prev = w;
        S.all_watches = w;
        w->c_next = c->watches;
        c->watches = w;
        c->nwatches++;

        /* Registration fires once, with the path as the client spelled it. */
        conn_send(c->evt, XS_WATCH_EVENT, 0, 0, path, strlen(path) + 1, token, strlen(token) + 1);
        return 0;
}

static int watch_del(struct client *c, const char *abs, const char *token) {
        for (struct watch **p = &c->watches; *p; p = &(*p)->c_next)
                if (strcmp((*p)->path, abs) == 0 && strcmp((*p)->token, token) == 0) {
                        struct watch *w = *p;
                        *p = w->c_next;
                        c->nwatches--;
                        watch_free(w);
                        return 0;
                }
        return -ENOENT;
}

/* ---- clients & connections ---- */

static void conn_free(struct conn *c) {
        epoll_ctl(S.epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        while (c->oq) {
                struct outmsg *m = c->oq;
                c->oq = m->next;
                free(m);
        }
        if (c->prev)
                c->prev->next = c->next;
        else
                S.conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        free(c);
}

static void client_free(struct client *c) {
        while (c->watches) {
                struct watch *w = c->watches;
                c->watches = w->c_next;
                watch_free(w);
        }
        while (c->txs) {
                struct tx_ent *t = c->txs;
                c->txs = t->next;
                txn_free(t->tx);
                free(t);
        }
        if (c->evt)
                conn_free(c->evt);
        if (c->prev)
                c->prev->next = c->next;
        else
                S.clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        free(c);
}

static void conn_close(struct conn *c) {
        struct client *cl = c->client;

        if (cl && c->role == ROLE_REQ) {
                cl->req = NULL;
                client_free(cl);        /* also closes the event connection */
        } else if (cl && c->role == ROLE_EVT)
                cl->evt = NULL;
        conn_free(c);
}

static struct client *client_find(uint64_t id) {
        for (struct client *c = S.clients; c; c = c->next)
                if (c->id == id)
                        return c;
        return NULL;
}

static struct txn *tx_find(struct client *c, uint32_t id) {
        for (struct tx_ent *t = c->txs; t; t = t->next)
                if (txn_id(t->tx) == id)
                        return t->tx;
        return NULL;
}

static void tx_remove(struct client *c, struct txn *tx) {
        for (struct tx_ent **p = &c->txs; *p; p = &(*p)->next)
                if ((*p)->tx == tx) {
                        struct tx_ent *t = *p;
                        *p = t->next;
                        c->ntx--;
                        txn_free(t->tx);
                        free(t);
                        return;
                }
}

/* ---- payload parsing ---- */

struct cursor {
        const char *p;
        size_t left;
};

static const char *next_str(struct cursor *cur) {
        const char *s = cur->p, *nul;

        if (cur->left == 0 || !(nul = memchr(s, 0, cur->left)))
                return NULL;
        cur->left -= (size_t) (nul - s) + 1;
        cur->p = nul + 1;
        return s;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *ret) {
        unsigned long v;
        char *end;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

/* ---- domains ---- */

static int table(struct xsim_domtab **t) {
        int r = xsim_domtab(t);
        if (r < 0)
                return r;
        return xsim_lock(&(*t)->lock);
}

static void xs_as_dom0_perms(const char *path, const struct xs_permissions *p, unsigned n) {
        int r = store_set_perms(S.store, NULL, 0, path, p, n);
        if (r < 0)
                log_msg("set perms %s: %s", path, strerror(-r));
}

static void xs_as_dom0_write(const char *path, const char *val) {
        int r = store_write(S.store, NULL, 0, path, val, (unsigned) strlen(val));
        if (r < 0)
                log_msg("write %s: %s", path, strerror(-r));
}

static void domain_nodes(uint32_t domid, const char *name) {
        struct xs_permissions ro[2] = { { 0, XS_PERM_NONE }, { domid, XS_PERM_READ } };
        struct xs_permissions rw[1] = { { domid, XS_PERM_NONE } };
        char p[128], v[16];

        snprintf(p, sizeof(p), "/local/domain/%u", domid);
        xs_as_dom0_write(p, "");
        xs_as_dom0_perms(p, ro, 2);
        snprintf(p, sizeof(p), "/local/domain/%u/name", domid);
        xs_as_dom0_write(p, name);
        snprintf(p, sizeof(p), "/local/domain/%u/domid", domid);
        snprintf(v, sizeof(v), "%u", domid);
        xs_as_dom0_write(p, v);
        snprintf(p, sizeof(p), "/local/domain/%u/device", domid);
        xs_as_dom0_write(p, "");
        xs_as_dom0_perms(p, ro, 2);
        snprintf(p, sizeof(p), "/local/domain/%u/data", domid);
        xs_as_dom0_write(p, "");
        xs_as_dom0_perms(p, rw, 1);
}

static int domain_create(uint32_t domid, const char *name, const char *uuid_hex, uint32_t nr_pages) {
        xen_domain_handle_t uuid = {0};
        struct xsim_domtab *t;
        uint64_t gen;
        int r;

        if (domid >= XSIM_MAX_DOMS || nr_pages > XSIM_MAX_PAGES || strlen(name) >= sizeof(t->dom[0].name))
                return -EINVAL;
        if (strlen(uuid_hex) == 32)
                for (int i = 0; i < 16; i++) {
                        unsigned b;
                        if (sscanf(uuid_hex + 2 * i, "%2x", &b) != 1)
                                return -EINVAL;
                        uuid[i] = (uint8_t) b;
                }
        else if (*uuid_hex)
                return -EINVAL;

        r = table(&t);
        if (r < 0)
                return r;
        if (t->dom[domid].state != XSIM_DOM_NONE) {
                xsim_unlock(&t->lock);
                return -EEXIST;
        }
        gen = t->next_gen++;
        t->dom[domid].state = XSIM_DOM_DYING;     /* reserve while the file is built */
        t->dom[domid].gen = 0;
        xsim_unlock(&t->lock);

        r = xsim_dom_file_create(domid, gen, nr_pages);

        if (xsim_lock(&t->lock) < 0)
                return -EIO;
        if (r < 0)
                t->dom[domid].state = XSIM_DOM_NONE;
        else {
                struct xsim_domentry *e = &t->dom[domid];
                e->state = XSIM_DOM_ALIVE;
                e->flags = 0;
                e->gen = gen;
                e->nr_pages = nr_pages;
                memcpy(e->uuid, uuid, sizeof(uuid));
                snprintf(e->name, sizeof(e->name), "%s", name);
                if (domid > t->max_domid)
                        t->max_domid = domid;
        }
        xsim_unlock(&t->lock);
        if (r < 0)
                return r;

        if (domid != 0) {
                domain_nodes(domid, name);
                fire_special("@introduceDomain");
        }
        return 0;
}

static int domain_set_flags(uint32_t domid, uint32_t clear, uint32_t set) {
        struct xsim_domtab *t;
        int r;

        if (domid >= XSIM_MAX_DOMS || domid == 0)
                return -EINVAL;
        r = table(&t);
        if (r < 0)
                return r;
        if (t->dom[domid].state == XSIM_DOM_NONE)
                r = -ESRCH;
        else
                t->dom[domid].flags = (t->dom[domid].flags & ~clear) | set;
        xsim_unlock(&t->lock);
        return r;
}

/* Remove dying domains that no longer have foreign mappings (those of
 * processes that died do not count). */
static void reap(void) {
        struct xsim_domtab *t;
        unsigned dying = 0;
        uint32_t max;

        if (xsim_domtab(&t) < 0)
                return;
        (void) xsim_mappers_reap();     /* dead processes' mappings first */
        if (xsim_lock(&t->lock) < 0)
                return;
        max = t->max_domid;
        xsim_unlock(&t->lock);

        for (uint32_t d = 1; d <= max && d < XSIM_MAX_DOMS; d++) {
                struct xsim_dom *dom;
                uint32_t maps;
                char path[PATH_MAX];

                if (__atomic_load_n(&t->dom[d].state, __ATOMIC_RELAXED) != XSIM_DOM_DYING || t->dom[d].gen == 0)
                        continue;
                if (xsim_dom_get(d, &dom) < 0)
                        continue;
                if (xsim_lock(&dom->hdr->lock) < 0)
                        continue;
                maps = dom->hdr->foreign_maps;
                xsim_unlock(&dom->hdr->lock);
                if (maps > 0) {
                        dying++;
                        continue;
                }
                if (xsim_lock(&t->lock) < 0)
                        continue;
                if (t->dom[d].gen == dom->gen)
                        memset(&t->dom[d], 0, sizeof(t->dom[d]));
                xsim_unlock(&t->lock);
                if (xsim_path(path, sizeof(path), "dom%u.mem", d) >= 0)
                        unlink(path);
                log_msg("domain %u vanished", d);
                fire_special("@releaseDomain");
        }
        S.dying = dying;
}

static int domain_destroy(uint32_t domid) {
        struct xsim_domtab *t;
        struct xsim_dom *dom;
        int r;

        if (domid == 0 || domid >= XSIM_MAX_DOMS)
                return -EINVAL;
        r = xsim_dom_get(domid, &dom);
        if (r < 0)
                return r;
        r = table(&t);
        if (r < 0)
                return r;
        if (t->dom[domid].state != XSIM_DOM_ALIVE || t->dom[domid].gen != dom->gen)
                r = -ESRCH;
        else
                t->dom[domid].state = XSIM_DOM_DYING;
        xsim_unlock(&t->lock);
        if (r < 0)
                return r;

        /* From now on no new grant maps or channel binds succeed. */
        r = xsim_lock(&dom->hdr->lock);
        if (r < 0)
                return r;
        dom->hdr->dying = 1;
        xsim_unlock(&dom->hdr->lock);

        xsim_evtchn_close_domain(domid);
        fire_special("@releaseDomain");
        reap();
        return 0;
}

static int is_introduced(uint32_t domid) {
        struct xsim_domtab *t;
        int r;

        if (domid >= XSIM_MAX_DOMS)
                return 0;
        r = table(&t);
        if (r < 0)
                return r;
        r = t->dom[domid].state == XSIM_DOM_ALIVE;
        xsim_unlock(&t->lock);
        return r;
}

static int do_control(struct cursor *cur, char *out, size_t outsize) {
        const char *cmd = next_str(cur), *a[4];
        uint32_t domid, v;
        int r;

        if (!cmd)
                return -EINVAL;
        for (int i = 0; i < 4; i++)
                a[i] = next_str(cur);
        snprintf(out, outsize, "OK");

        if (strcmp(cmd, "domain-create") == 0) {
                if (!a[1] || !a[2] || parse_u32(a[0], XSIM_MAX_DOMS - 1, &domid) < 0 ||
                    parse_u32(a[3], XSIM_MAX_PAGES, &v) < 0)
                        return -EINVAL;
                return domain_create(domid, a[1], a[2], v);
        }
        if (strcmp(cmd, "domain-pause") == 0 || strcmp(cmd, "domain-unpause") == 0) {
                if (parse_u32(a[0], XSIM_MAX_DOMS - 1, &domid) < 0)
                        return -EINVAL;
                return cmd[7] == 'p' ? domain_set_flags(domid, 0, XSIM_DF_PAUSED)
                                     : domain_set_flags(domid, XSIM_DF_PAUSED, 0);
        }
        if (strcmp(cmd, "domain-shutdown") == 0) {
                if (parse_u32(a[0], XSIM_MAX_DOMS - 1, &domid) < 0 || parse_u32(a[1], 255, &v) < 0)
                        return -EINVAL;
                r = domain_set_flags(domid, 0xff << XSIM_DF_REASON_SHIFT,
                                     XSIM_DF_SHUTDOWN | (v << XSIM_DF_REASON_SHIFT));
                if (r >= 0)
                        fire_special("@releaseDomain");
                return r;
        }
        if (strcmp(cmd, "domain-soft-reset") == 0) {
                if (parse_u32(a[0], XSIM_MAX_DOMS - 1, &domid) < 0)
                        return -EINVAL;
                r = xsim_evtchn_close_domain(domid);
                if (r < 0)
                        return r;
                return domain_set_flags(domid, XSIM_DF_SHUTDOWN | (0xffu << XSIM_DF_REASON_SHIFT), 0);
        }
        if (strcmp(cmd, "domain-destroy") == 0) {
                if (parse_u32(a[0], XSIM_MAX_DOMS - 1, &domid) < 0)
                        return -EINVAL;
                return domain_destroy(domid);
        }
        if (strcmp(cmd, "reap") == 0) {
                reap();
                return 0;
        }
        if (strcmp(cmd, "drop-pid") == 0) {
                /* A process loses its XenStore connection (xenstored
                 * restarted, the socket broke): its connections close. */
                if (parse_u32(a[0], UINT32_MAX, &v) < 0)
                        return -EINVAL;
                for (struct conn *c = S.conns; c; c = c->next)
                        if (c->pid == (pid_t) v)
                                c->broken = true;
                return 0;
        }
        if (strcmp(cmd, "fault-tx") == 0) {
                if (parse_u32(a[0], UINT32_MAX, &v) < 0)
                        return -EINVAL;
                S.fault_tx = v;
                return 0;
        }
        if (strcmp(cmd, "watches") == 0) {
                /* dom0's watches at or below a prefix, one per line: lets
                 * tests check which guest-writable nodes a backend watches. */
                size_t used = 0, l = a[0] ? strlen(a[0]) : 0;
                out[0] = 0;
                for (struct watch *w = S.all_watches; w; w = w->all_next) {
                        if (w->client->domid != 0 || !a[0] || strncmp(w->path, a[0], l) != 0)
                                continue;
                        int n = snprintf(out + used, outsize - used, "%s\n", w->path);
                        if (n < 0 || (size_t) n >= outsize - used)
                                return -E2BIG;
                        used += (size_t) n;
                }
                return 0;
        }
        if (strcmp(cmd, "quit") == 0) {
                S.quit = true;
                return 0;
        }
        return -ENOSYS;
}

/* ---- requests ---- */

static void handle_hello(struct conn *c, const struct xsd_sockmsg *h, struct cursor *cur) {
        const char *dom = next_str(cur), *role = next_str(cur), *id = next_str(cur);
        uint32_t domid;

        if (parse_u32(dom, XSIM_MAX_DOMS - 1, &domid) < 0 || !role) {
                c->broken = true;
                return;
        }
        if (strcmp(role, "req") == 0) {
                struct client *cl = calloc(1, sizeof(*cl));
                char buf[32];

                if (!cl)
                        abort();
                cl->id = ++S.next_client_id;
                cl->domid = domid;
                cl->req = c;
                cl->next = S.clients;
                if (S.clients)
                        S.clients->prev = cl;
                S.clients = cl;
                c->client = cl;
                c->role = ROLE_REQ;
                snprintf(buf, sizeof(buf), "%" PRIu64, cl->id);
                reply(c, h, buf, strlen(buf) + 1);
        } else if (strcmp(role, "evt") == 0 && id) {
                struct client *cl = client_find(strtoull(id, NULL, 10));

                if (!cl || cl->domid != domid || cl->evt) {
                        c->broken = true;
                        return;
                }
                cl->evt = c;
                c->client = cl;
                c->role = ROLE_EVT;
                reply_ok(c, h);
        } else
                c->broken = true;
}

static void handle_request(struct conn *c, const struct xsd_sockmsg *h, const char *payload) {
        struct client *cl = c->client;
        struct cursor cur = { payload, h->len };
        char abs[XENSTORE_ABS_PATH_MAX + 64];
        struct txn *tx = NULL;
        const char *path;
        int r;

        if (h->tx_id != 0) {
                tx = tx_find(cl, h->tx_id);
                if (!tx) {
                        reply_err(c, h, ENOENT);
                        return;
                }
        }

        switch (h->type) {
        case XS_READ:
        case XS_WRITE:
        case XS_MKDIR:
        case XS_RM:
        case XS_DIRECTORY:
        case XS_GET_PERMS:
        case XS_SET_PERMS:
                path = next_str(&cur);
                if (!path) {
                        reply_err(c, h, EINVAL);
                        return;
                }
                r = store_canon(cl->domid, path, false, abs, sizeof(abs));
                if (r < 0) {
                        reply_err(c, h, -r);
                        return;
                }
                break;
        default:
                break;
        }

        switch (h->type) {
        case XS_READ: {
                const char *val;
                unsigned len;
                r = store_read(S.store, tx, cl->domid, abs, &val, &len);
                if (r >= 0)
                        reply(c, h, val, len);
                break;
        }
        case XS_WRITE:
                r = store_write(S.store, tx, cl->domid, abs, cur.p, (unsigned) cur.left);
                if (r >= 0)
                        reply_ok(c, h);
                break;
        case XS_MKDIR:
                r = store_mkdir(S.store, tx, cl->domid, abs);
                if (r >= 0)
                        reply_ok(c, h);
                break;
        case XS_RM:
                r = store_rm(S.store, tx, cl->domid, abs);
                if (r >= 0)
                        reply_ok(c, h);
                break;
        case XS_DIRECTORY: {
                _cleanup_free_ char *buf = NULL;
                unsigned len;
                r = store_directory(S.store, tx, cl->domid, abs, &buf, &len);
                if (r >= 0)
                        reply(c, h, buf, len);
                break;
        }
        case XS_GET_PERMS: {
                const struct xs_permissions *p;
                unsigned n;
                r = store_get_perms(S.store, tx, cl->domid, abs, &p, &n);
                if (r >= 0)
                        reply(c, h, p, n * sizeof(*p));
                break;
        }
        case XS_SET_PERMS: {
                size_t n = cur.left / sizeof(struct xs_permissions);
                struct xs_permissions p[n ? n : 1];
                if (cur.left % sizeof(struct xs_permissions) || n == 0 || n > 1024) {
                        r = -EINVAL;
                        break;
                }
                memcpy(p, cur.p, cur.left);
                r = store_set_perms(S.store, tx, cl->domid, abs, p, (unsigned) n);
                if (r >= 0)
                        reply_ok(c, h);
                break;
        }
        case XS_WATCH:
        case XS_UNWATCH: {
                const char *token;
                path = next_str(&cur);
                token = next_str(&cur);
                if (!path || !token) {
                        r = -EINVAL;
                        break;
                }
                r = store_canon(cl->domid, path, true, abs, sizeof(abs));
                if (r < 0)
                        break;
                if (h->type == XS_WATCH) {
                        /* The initial event is queued before the reply, so it is
                         * readable on the event connection once xs_watch() returns. */
                        r = watch_add(cl, path, abs, token);
                        if (r >= 0)
                                reply_ok(c, h);
                } else {
                        r = watch_del(cl, abs, token);
                        if (r >= 0)
                                reply_ok(c, h);
                }
                break;
        }
        case XS_TRANSACTION_START: {
                struct tx_ent *t;
                uint32_t id;
                if (tx) {
                        r = -EBUSY;
                        break;
                }
                if (cl->domid != 0 && cl->ntx >= XSIM_TX_QUOTA) {
                        r = -ENOSPC;
                        break;
                }
                do
                        id = ++S.next_tx_id;
                while (id == 0 || tx_find(cl, id));
                t = calloc(1, sizeof(*t));
                if (!t)
                        abort();
                t->tx = txn_new(id, cl->domid);
                t->next = cl->txs;
                cl->txs = t;
                cl->ntx++;
                reply(c, h, &id, sizeof(id));
                r = 0;
                break;
        }
        case XS_TRANSACTION_END: {
                const char *what = next_str(&cur);
                if (!tx || !what || (strcmp(what, "T") && strcmp(what, "F"))) {
                        r = tx ? -EINVAL : -ENOENT;
                        break;
                }
                r = 0;
                if (what[0] == 'T') {
                        if (S.fault_tx > 0) {
                                S.fault_tx--;
                                r = -EAGAIN;
                        } else
                                r = txn_commit(S.store, tx);
                }
                tx_remove(cl, tx);
                if (r >= 0)
                        reply_ok(c, h);
                break;
        }
        case XS_IS_DOMAIN_INTRODUCED: {
                uint32_t d;
                r = parse_u32(next_str(&cur), UINT32_MAX, &d);
                if (r >= 0)
                        r = is_introduced(d);
                if (r >= 0)
                        reply(c, h, r ? "T" : "F", 2);
                break;
        }
        case XS_GET_DOMAIN_PATH: {
                uint32_t d;
                char buf[64];
                r = parse_u32(next_str(&cur), UINT32_MAX, &d);
                if (r >= 0) {
                        snprintf(buf, sizeof(buf), "/local/domain/%u", d);
                        reply(c, h, buf, strlen(buf) + 1);
                }
                break;
        }
        case XS_CONTROL: {
                char out[XENSTORE_PAYLOAD_MAX - 1];
                if (cl->domid != 0) {
                        r = -EACCES;
                        break;
                }
                r = do_control(&cur, out, sizeof(out));
                if (r >= 0)
                        reply(c, h, out, strlen(out) + 1);
                break;
        }
        default:
                r = -ENOSYS;
                break;
        }
        if (r < 0)
                reply_err(c, h, -r);
}

static void conn_readable(struct conn *c) {
        for (;;) {
                struct iovec iov = { rbuf, sizeof(rbuf) - 1 };     /* room for a NUL */
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                struct xsd_sockmsg h;
                ssize_t n;

                n = recvmsg(c->fd, &mh, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return;
                        c->broken = true;
                        return;
                }
                if (n == 0 || (mh.msg_flags & MSG_TRUNC) || (size_t) n < sizeof(h)) {
                        c->broken = true;
                        return;
                }
                memcpy(&h, rbuf, sizeof(h));
                if (h.len != (size_t) n - sizeof(h)) {
                        c->broken = true;
                        return;
                }
                rbuf[n] = 0;    /* keeps string parsing of garbage bounded */
                if (c->role == ROLE_NEW) {
                        struct cursor cur = { (char *) rbuf + sizeof(h), h.len };
                        if (h.type != XSIM_MSG_HELLO) {
                                c->broken = true;
                                return;
                        }
                        handle_hello(c, &h, &cur);
                } else if (c->role == ROLE_REQ)
                        handle_request(c, &h, (char *) rbuf + sizeof(h));
                else {
                        c->broken = true;       /* event connections are server -> client only */
                        return;
                }
                if (c->broken || S.quit)
                        return;
        }
}

static void accept_conns(void) {
        for (;;) {
                int fd = accept4(S.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                struct conn *c;

                if (fd < 0)
                        return;
                c = calloc(1, sizeof(*c));
                if (!c)
                        abort();
                c->fd = fd;
                {
                        struct ucred cred;
                        socklen_t len = sizeof cred;
                        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
                                c->pid = cred.pid;
                }
                c->oq_tail = &c->oq;
                c->next = S.conns;
                if (S.conns)
                        S.conns->prev = c;
                S.conns = c;
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                if (epoll_ctl(S.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                        conn_free(c);
        }
}

/* Close connections flagged as broken; done outside of any iteration. */
static void sweep(void) {
        bool again = true;

        while (again) {
                again = false;
                for (struct conn *c = S.conns; c; c = c->next)
                        if (c->broken) {
                                conn_close(c);
                                again = true;   /* conn_close may free several */
                                break;
                        }
        }
}

/* ---- setup ---- */

static int setup(void) {
        struct xs_permissions ro[2] = { { 0, XS_PERM_NONE }, { 0, XS_PERM_READ } };
        char path[PATH_MAX];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        sigset_t mask;
        FILE *f;
        int r;

        r = xsim_domtab_create(S.dir);
        if (r < 0)
                return r;
        r = store_new(fire, NULL, &S.store);
        if (r < 0)
                return r;
        r = domain_create(0, "Domain-0", "", XSIM_DOM0_PAGES);
        if (r < 0)
                return r;
        xs_as_dom0_write("/local/domain/0/name", "Domain-0");
        xs_as_dom0_write("/local/domain/0/domid", "0");
        xs_as_dom0_perms("/local/domain/0", ro, 1);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        S.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        S.epfd = epoll_create1(EPOLL_CLOEXEC);
        if (S.sfd < 0 || S.epfd < 0)
                return -errno;

        if ((size_t) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/xenstore.sock", S.dir) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        unlink(sa.sun_path);
        S.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (S.lfd < 0 || bind(S.lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(S.lfd, 128) < 0)
                return -errno;

        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lsock_tag };
        epoll_ctl(S.epfd, EPOLL_CTL_ADD, S.lfd, &ev);
        ev.data.ptr = &sig_tag;
        epoll_ctl(S.epfd, EPOLL_CTL_ADD, S.sfd, &ev);

        snprintf(path, sizeof(path), "%s/xensimd.pid", S.dir);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fprintf(f, "%d\n", (int) getpid());
        fclose(f);
        /* Readiness: the socket is listening before "ready" appears. */
        snprintf(path, sizeof(path), "%s/ready", S.dir);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fclose(f);
        return 0;
}

static void teardown(void) {
        char path[PATH_MAX];

        while (S.clients)
                conn_close(S.clients->req);
        while (S.conns)
                conn_free(S.conns);
        store_free(S.store);
        hmap_clear(&S.watches);
        snprintf(path, sizeof(path), "%s/ready", S.dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/xenstore.sock", S.dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/xensimd.pid", S.dir);
        unlink(path);
        close(S.lfd);
        close(S.sfd);
        close(S.epfd);
        xsim_caches_reset();
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 }
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) >= 0)
                switch (c) {
                case 'd':
                        S.dir = optarg;
                        break;
                default:
                        fprintf(stderr, "usage: %s --dir DIR\n", argv[0]);
                        return c == 'h' ? 0 : 2;
                }
        if (!S.dir) {
                fprintf(stderr, "usage: %s --dir DIR\n", argv[0]);
                return 2;
        }
        /* Never outlive whoever started us (CI must not leak daemons). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        setenv("XENSIM_DIR", S.dir, 1);
        S.lfd = S.sfd = S.epfd = -1;

        r = setup();
        if (r < 0) {
                fprintf(stderr, "xensimd: setup failed: %s\n", strerror(-r));
                return 1;
        }

        while (!S.quit) {
                struct epoll_event evs[64];
                int n = epoll_wait(S.epfd, evs, XSIM_ELEMENTSOF(evs), S.dying ? 200 : -1);

                if (n < 0 && errno != EINTR)
                        break;
                for (int i = 0; i < n; i++) {
                        void *p = evs[i].data.ptr;
                        if (p == &lsock_tag)
                                accept_conns();
                        else if (p == &sig_tag)
                                S.quit = true;
                        else {
                                struct conn *cn = p;
                                if (cn->broken)
                                        continue;
                                if (evs[i].events & EPOLLOUT)
                                        conn_flush(cn);
                                if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                                        conn_readable(cn);
                        }
                }
                sweep();
                if (S.dying)
                        reap();
        }
        teardown();
        return 0;
}
