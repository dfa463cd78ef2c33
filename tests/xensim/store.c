/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * XenStore tree for xensimd.
 *
 * The committed tree lives in a hash map keyed by full path (O(path length)
 * lookups), each node keeping an insertion-ordered list of children.
 *
 * Transactions are optimistic: a transaction keeps a "shadow" map of the
 * nodes it modified (CLONED = existing node with new contents, FRESH = node
 * created in the transaction, which hides any committed subtree at that path,
 * DELETED = removed) plus a read set with the committed generation of every
 * path it touched.  A commit fails with EAGAIN if any of those generations
 * moved; otherwise the shadow is applied shallow-first.  A node's generation
 * changes whenever its value, permissions or list of children changes.
 */
#include <stdio.h>
#include <string.h>

#include "hmap.h"
#include "store.h"
#include "xsim-internal.h"

enum { NS_BASE, NS_CLONED, NS_FRESH, NS_DELETED };

struct node {
        char *path;
        const char *name;               /* last component, points into path */
        char *value;
        unsigned vlen;
        struct xs_permissions *perms;
        unsigned nperms;
        uint64_t gen;
        int state;
        /* committed tree */
        struct node *parent, *first, *last, *next, *prev;
        /* shadow nodes: names of children */
        char **kids;
        unsigned nkids, kids_cap;
};

struct readset_entry {
        char *path;
        uint64_t gen;
};

struct event {
        struct event *next;
        char *path;
        bool removed;
        struct xs_permissions *perms, *perms2;
        unsigned n, n2;
};

struct txn {
        uint32_t id, dom;
        struct hmap shadow, readset;
        bool hiding;                    /* any FRESH/DELETED entries? */
        unsigned ncreated;
        struct event *ev_head, **ev_tail;
};

struct store {
        struct hmap nodes;
        uint64_t seq;
        store_fire_t fire;
        void *userdata;
        uint32_t quota[XSIM_MAX_DOMS];
};

static void *xmalloc(size_t n) {
        void *p = malloc(n ? n : 1);
        if (!p)
                abort();        /* the simulator does not try to survive OOM */
        return p;
}

static char *xstrdup(const char *s) {
        size_t n = strlen(s) + 1;
        return memcpy(xmalloc(n), s, n);
}

static struct xs_permissions *perms_dup(const struct xs_permissions *p, unsigned n) {
        return memcpy(xmalloc(n * sizeof(*p)), p, n * sizeof(*p));
}

static void set_value(struct node *n, const void *val, unsigned len) {
        free(n->value);
        n->value = xmalloc(len + 1);
        memcpy(n->value, val, len);
        n->value[len] = 0;
        n->vlen = len;
}

static void set_perms(struct node *n, const struct xs_permissions *p, unsigned np) {
        free(n->perms);
        n->perms = perms_dup(p, np);
        n->nperms = np;
}

static struct node *node_new(const char *path, int state) {
        struct node *n = calloc(1, sizeof(*n));

        if (!n)
                abort();
        n->path = xstrdup(path);
        n->name = strrchr(n->path, '/') + 1;
        n->state = state;
        return n;
}

static void node_clear_kids(struct node *n) {
        for (unsigned i = 0; i < n->nkids; i++)
                free(n->kids[i]);
        free(n->kids);
        n->kids = NULL;
        n->nkids = n->kids_cap = 0;
}

static void node_free(struct node *n) {
        if (!n)
                return;
        node_clear_kids(n);
        free(n->value);
        free(n->perms);
        free(n->path);
        free(n);
}

static void kids_add(struct node *n, const char *name) {
        if (n->nkids == n->kids_cap) {
                n->kids_cap = n->kids_cap ? n->kids_cap * 2 : 8;
                n->kids = realloc(n->kids, n->kids_cap * sizeof(char *));
                if (!n->kids)
                        abort();
        }
        n->kids[n->nkids++] = xstrdup(name);
}

static void kids_del(struct node *n, const char *name) {
        for (unsigned i = 0; i < n->nkids; i++)
                if (strcmp(n->kids[i], name) == 0) {
                        free(n->kids[i]);
                        memmove(n->kids + i, n->kids + i + 1, (n->nkids - i - 1) * sizeof(char *));
                        n->nkids--;
                        return;
                }
}

static uint32_t owner_of(const struct node *n) {
        return n->nperms ? n->perms[0].id : 0;
}

/* Truncate path to its parent in place; false for "/". */
static bool to_parent(char *path) {
        char *sl = strrchr(path, '/');

        if (!sl || (sl == path && path[1] == 0))
                return false;
        if (sl == path)
                path[1] = 0;
        else
                *sl = 0;
        return true;
}

static unsigned perm_of(uint32_t dom, const struct xs_permissions *p, unsigned n) {
        if (dom == 0)
                return XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
        if (n == 0)
                return 0;
        if (p[0].id == dom)
                return XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
        for (unsigned i = 1; i < n; i++)
                if (p[i].id == dom)
                        return p[i].perms & (XS_PERM_READ | XS_PERM_WRITE);
        return p[0].perms & (XS_PERM_READ | XS_PERM_WRITE);
}

bool store_can_read(uint32_t dom, const struct xs_permissions *p, unsigned n) {
        return perm_of(dom, p, n) & XS_PERM_READ;
}

static bool can(uint32_t dom, const struct node *n, unsigned want) {
        return (perm_of(dom, n->perms, n->nperms) & want) == want;
}

int store_canon(uint32_t dom, const char *in, bool allow_special, char *out, size_t size) {
        size_t len = strnlen(in, XENSTORE_ABS_PATH_MAX + 1);
        int n;

        if (len == 0)
                return -EINVAL;
        if (in[0] == '@') {
                if (!allow_special || len >= size)
                        return -EINVAL;
                for (size_t i = 1; i < len; i++)
                        if (!((in[i] >= 'a' && in[i] <= 'z') || (in[i] >= 'A' && in[i] <= 'Z')))
                                return -EINVAL;
                memcpy(out, in, len + 1);
                return 0;
        }
        if (in[0] == '/') {
                if (len > XENSTORE_ABS_PATH_MAX)
                        return -EINVAL;
                n = snprintf(out, size, "%s", in);
        } else {
                if (len > XENSTORE_REL_PATH_MAX)
                        return -EINVAL;
                n = snprintf(out, size, "/local/domain/%u/%s", dom, in);
        }
        if (n < 0 || (size_t) n >= size || n > XENSTORE_ABS_PATH_MAX)
                return -EINVAL;
        for (const char *c = out; *c; c++) {
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                      strchr("/_-@", *c)))
                        return -EINVAL;
                if (c[0] == '/' && c[1] == '/')
                        return -EINVAL;
        }
        if (n > 1 && out[n - 1] == '/')
                return -EINVAL;
        return 0;
}

/* ---- committed tree ---- */

static void quota_add(struct store *s, uint32_t owner, int delta) {
        if (owner < XSIM_MAX_DOMS)
                s->quota[owner] += delta;
}

static int base_link(struct store *s, struct node *n) {
        struct node *parent = NULL;

        if (strcmp(n->path, "/") != 0) {
                char pp[strlen(n->path) + 1];

                strcpy(pp, n->path);
                to_parent(pp);
                parent = hmap_get(&s->nodes, pp);
                if (!parent)
                        return -ENOENT;
        }
        if (hmap_put(&s->nodes, n->path, n) < 0)
                abort();
        n->state = NS_BASE;
        n->parent = parent;
        if (parent) {
                n->prev = parent->last;
                if (parent->last)
                        parent->last->next = n;
                else
                        parent->first = n;
                parent->last = n;
                parent->gen = ++s->seq;
        }
        n->gen = ++s->seq;
        quota_add(s, owner_of(n), 1);
        return 0;
}

static void base_unlink_subtree(struct store *s, struct node *n) {
        while (n->first)
                base_unlink_subtree(s, n->first);
        if (n->parent) {
                if (n->prev)
                        n->prev->next = n->next;
                else
                        n->parent->first = n->next;
                if (n->next)
                        n->next->prev = n->prev;
                else
                        n->parent->last = n->prev;
                n->parent->gen = ++s->seq;
        }
        hmap_remove(&s->nodes, n->path);
        quota_add(s, owner_of(n), -1);
        node_free(n);
}

/* ---- views (committed tree, optionally overlaid by a transaction) ---- */

static void tx_note(struct txn *tx, const char *path, const struct node *base) {
        struct readset_entry *e;

        if (hmap_get(&tx->readset, path))
                return;
        e = xmalloc(sizeof(*e));
        e->path = xstrdup(path);
        e->gen = base ? base->gen : 0;
        if (hmap_put(&tx->readset, e->path, e) < 0)
                abort();
}

/* Is the committed node at path hidden by a FRESH/DELETED ancestor? */
static bool tx_hidden(struct txn *tx, const char *path) {
        char buf[strlen(path) + 1];

        if (!tx->hiding)
                return false;
        strcpy(buf, path);
        while (to_parent(buf)) {
                struct node *m = hmap_get(&tx->shadow, buf);
                if (m)
                        return m->state != NS_CLONED;
        }
        return false;
}

static struct node *v_get(struct store *s, struct txn *tx, const char *path) {
        struct node *n;

        if (!tx)
                return hmap_get(&s->nodes, path);
        n = hmap_get(&tx->shadow, path);
        if (n)
                return n->state == NS_DELETED ? NULL : n;
        if (tx_hidden(tx, path))
                return NULL;
        n = hmap_get(&s->nodes, path);
        tx_note(tx, path, n);
        return n;
}

/* Node to modify; it must exist in the view. */
static struct node *v_for_write(struct store *s, struct txn *tx, const char *path) {
        struct node *b, *c;

        if (!tx)
                return hmap_get(&s->nodes, path);
        c = hmap_get(&tx->shadow, path);
        if (c)
                return c;
        b = hmap_get(&s->nodes, path);
        if (!b)
                abort();
        tx_note(tx, path, b);
        c = node_new(path, NS_CLONED);
        set_value(c, b->value, b->vlen);
        set_perms(c, b->perms, b->nperms);
        c->gen = b->gen;
        for (struct node *k = b->first; k; k = k->next)
                kids_add(c, k->name);
        if (hmap_put(&tx->shadow, c->path, c) < 0)
                abort();
        return c;
}

static void parent_path(const char *path, char *out) {
        strcpy(out, path);
        to_parent(out);
}

/* Create a node whose parent exists in the view and which itself does not. */
static struct node *v_create(struct store *s, struct txn *tx, const char *path, const void *val, unsigned len,
                             const struct xs_permissions *perms, unsigned np) {
        struct node *n, *old;

        n = node_new(path, NS_FRESH);
        set_value(n, val, len);
        set_perms(n, perms, np);
        if (!tx) {
                if (base_link(s, n) < 0)
                        abort();
                return n;
        }

        char pp[strlen(path) + 1];
        parent_path(path, pp);
        kids_add(v_for_write(s, tx, pp), n->name);

        old = hmap_get(&tx->shadow, path);
        if (old) {
                hmap_remove(&tx->shadow, path);
                node_free(old);
        } else
                tx_note(tx, path, hmap_get(&s->nodes, path));
        if (hmap_put(&tx->shadow, n->path, n) < 0)
                abort();
        tx->hiding = true;
        tx->ncreated++;
        return n;
}

static void make_deleted(struct node *n) {
        n->state = NS_DELETED;
        node_clear_kids(n);
        free(n->value);
        n->value = NULL;
        free(n->perms);
        n->perms = NULL;
        n->vlen = n->nperms = 0;
}

static void v_rm(struct store *s, struct txn *tx, const char *path) {
        size_t plen = strlen(path);
        struct node *n;
        char pp[plen + 1];

        if (!tx) {
                base_unlink_subtree(s, hmap_get(&s->nodes, path));
                return;
        }
        parent_path(path, pp);
        kids_del(v_for_write(s, tx, pp), strrchr(path, '/') + 1);

        /* Shadowed descendants must not resurface if the path is re-created. */
        for (struct hmap_iter it = {0}; hmap_next(&tx->shadow, &it);) {
                struct node *d = it.e->value;
                if (strncmp(d->path, path, plen) == 0 && d->path[plen] == '/')
                        make_deleted(d);
        }
        n = hmap_get(&tx->shadow, path);
        if (!n) {
                tx_note(tx, path, hmap_get(&s->nodes, path));
                n = node_new(path, NS_DELETED);
                if (hmap_put(&tx->shadow, n->path, n) < 0)
                        abort();
        }
        make_deleted(n);
        tx->hiding = true;
}

static void emit(struct store *s, struct txn *tx, const char *path, bool removed,
                 const struct xs_permissions *p, unsigned n, const struct xs_permissions *p2, unsigned n2) {
        struct event *e;

        if (!tx) {
                s->fire(s->userdata, path, removed, p, n, p2, n2);
                return;
        }
        e = calloc(1, sizeof(*e));
        if (!e)
                abort();
        e->path = xstrdup(path);
        e->removed = removed;
        e->perms = perms_dup(p, n);
        e->n = n;
        if (p2) {
                e->perms2 = perms_dup(p2, n2);
                e->n2 = n2;
        }
        *tx->ev_tail = e;
        tx->ev_tail = &e->next;
}

/* ---- operations ---- */

static int create_path(struct store *s, struct txn *tx, uint32_t dom, const char *path, const void *val, unsigned len) {
        size_t plen = strlen(path), pos;
        struct node *anc = NULL, *n = NULL;
        unsigned missing = 1;
        char buf[plen + 1];

        strcpy(buf, path);
        while (to_parent(buf)) {
                anc = v_get(s, tx, buf);
                if (anc)
                        break;
                missing++;
        }
        if (!anc)
                return -ENOENT;
        if (!can(dom, anc, XS_PERM_WRITE))
                return -EACCES;
        if (dom != 0 && s->quota[dom] + (tx ? tx->ncreated : 0) + missing > XSIM_NODE_QUOTA)
                return -ENOSPC;

        pos = strcmp(buf, "/") == 0 ? 0 : strlen(buf);
        n = anc;
        while (pos < plen) {
                const char *sl = strchr(path + pos + 1, '/');
                size_t end = sl ? (size_t) (sl - path) : plen;
                bool last = end == plen;
                struct xs_permissions perms[n->nperms ? n->nperms : 1];
                unsigned np = n->nperms;

                memcpy(buf, path, end);
                buf[end] = 0;
                if (np)
                        memcpy(perms, n->perms, np * sizeof(perms[0]));
                else {
                        perms[0] = (struct xs_permissions) { .id = 0, .perms = XS_PERM_NONE };
                        np = 1;
                }
                /* An unprivileged creator becomes the owner of what it creates. */
                if (dom != 0)
                        perms[0].id = dom;
                n = v_create(s, tx, buf, last ? val : "", last ? len : 0, perms, np);
                pos = end;
        }
        emit(s, tx, path, false, n->perms, n->nperms, NULL, 0);
        return 0;
}

int store_read(struct store *s, struct txn *tx, uint32_t dom, const char *path, const char **val, unsigned *len) {
        struct node *n = v_get(s, tx, path);

        if (!n)
                return -ENOENT;
        if (!can(dom, n, XS_PERM_READ))
                return -EACCES;
        *val = n->value;
        *len = n->vlen;
        return 0;
}

int store_write(struct store *s, struct txn *tx, uint32_t dom, const char *path, const void *val, unsigned len) {
        struct node *n;

        if (len > XENSTORE_PAYLOAD_MAX)
                return -E2BIG;
        if (path[0] != '/')
                return -EINVAL;
        n = v_get(s, tx, path);
        if (!n)
                return create_path(s, tx, dom, path, val, len);
        if (!can(dom, n, XS_PERM_WRITE))
                return -EACCES;
        n = v_for_write(s, tx, path);
        set_value(n, val, len);
        if (!tx)
                n->gen = ++s->seq;
        emit(s, tx, path, false, n->perms, n->nperms, NULL, 0);
        return 0;
}

int store_mkdir(struct store *s, struct txn *tx, uint32_t dom, const char *path) {
        struct node *n;

        if (path[0] != '/')
                return -EINVAL;
        n = v_get(s, tx, path);
        if (n)
                return can(dom, n, XS_PERM_WRITE) ? 0 : -EACCES;
        return create_path(s, tx, dom, path, "", 0);
}

int store_rm(struct store *s, struct txn *tx, uint32_t dom, const char *path) {
        struct node *n;

        if (path[0] != '/' || strcmp(path, "/") == 0)
                return -EINVAL;
        n = v_get(s, tx, path);
        if (!n) {
                /* Like xenstored: removing a missing node is fine if its parent exists. */
                char pp[strlen(path) + 1];
                parent_path(path, pp);
                return v_get(s, tx, pp) ? 0 : -ENOENT;
        }
        if (!can(dom, n, XS_PERM_WRITE))
                return -EACCES;

        _cleanup_free_ struct xs_permissions *p = perms_dup(n->perms, n->nperms);
        unsigned np = n->nperms;
        v_rm(s, tx, path);
        emit(s, tx, path, true, p, np, NULL, 0);
        return 0;
}

int store_directory(struct store *s, struct txn *tx, uint32_t dom, const char *path, char **ret, unsigned *ret_len) {
        struct node *n = v_get(s, tx, path);
        size_t len = 0, off = 0;
        char *buf;

        if (!n)
                return -ENOENT;
        if (!can(dom, n, XS_PERM_READ))
                return -EACCES;
        if (n->state == NS_BASE) {
                for (struct node *k = n->first; k; k = k->next)
                        len += strlen(k->name) + 1;
        } else
                for (unsigned i = 0; i < n->nkids; i++)
                        len += strlen(n->kids[i]) + 1;
        if (len > XSIM_MAX_REPLY - 64)
                return -E2BIG;
        buf = xmalloc(len);
        if (n->state == NS_BASE) {
                for (struct node *k = n->first; k; k = k->next) {
                        size_t l = strlen(k->name) + 1;
                        memcpy(buf + off, k->name, l);
                        off += l;
                }
        } else
                for (unsigned i = 0; i < n->nkids; i++) {
                        size_t l = strlen(n->kids[i]) + 1;
                        memcpy(buf + off, n->kids[i], l);
                        off += l;
                }
        *ret = buf;
        *ret_len = (unsigned) len;
        return 0;
}

int store_get_perms(struct store *s, struct txn *tx, uint32_t dom, const char *path,
                    const struct xs_permissions **ret, unsigned *np) {
        struct node *n = v_get(s, tx, path);

        if (!n)
                return -ENOENT;
        if (!can(dom, n, XS_PERM_READ))
                return -EACCES;
        *ret = n->perms;
        *np = n->nperms;
        return 0;
}

int store_set_perms(struct store *s, struct txn *tx, uint32_t dom, const char *path,
                    const struct xs_permissions *perms, unsigned np) {
        struct node *n;

        if (np == 0 || path[0] != '/')
                return -EINVAL;
        for (unsigned i = 0; i < np; i++)
                if (perms[i].perms & ~(unsigned) (XS_PERM_READ | XS_PERM_WRITE))
                        return -EINVAL;
        n = v_get(s, tx, path);
        if (!n)
                return -ENOENT;
        if (!can(dom, n, XS_PERM_WRITE | XS_PERM_OWNER))
                return -EACCES;
        if (dom != 0 && perms[0].id != owner_of(n))
                return -EPERM;      /* unprivileged domains cannot give nodes away */

        _cleanup_free_ struct xs_permissions *old = perms_dup(n->perms, n->nperms);
        unsigned nold = n->nperms;
        n = v_for_write(s, tx, path);
        if (!tx) {
                quota_add(s, owner_of(n), -1);
                quota_add(s, perms[0].id, 1);
                n->gen = ++s->seq;
        }
        set_perms(n, perms, np);
        emit(s, tx, path, false, n->perms, n->nperms, old, nold);
        return 0;
}

/* ---- transactions ---- */

struct txn *txn_new(uint32_t id, uint32_t dom) {
        struct txn *tx = calloc(1, sizeof(*tx));

        if (!tx)
                abort();
        tx->id = id;
        tx->dom = dom;
        tx->ev_tail = &tx->ev_head;
        return tx;
}

uint32_t txn_id(const struct txn *tx) {
        return tx->id;
}

void txn_free(struct txn *tx) {
        if (!tx)
                return;
        for (struct hmap_iter it = {0}; hmap_next(&tx->shadow, &it);)
                node_free(it.e->value);
        hmap_clear(&tx->shadow);
        for (struct hmap_iter it = {0}; hmap_next(&tx->readset, &it);) {
                struct readset_entry *e = it.e->value;
                free(e->path);
                free(e);
        }
        hmap_clear(&tx->readset);
        for (struct event *e = tx->ev_head, *next; e; e = next) {
                next = e->next;
                free(e->path);
                free(e->perms);
                free(e->perms2);
                free(e);
        }
        free(tx);
}

static unsigned depth(const char *path) {
        unsigned d = 0;
        for (; *path; path++)
                d += *path == '/';
        return d;
}

static int by_depth(const void *a, const void *b) {
        unsigned da = depth((*(struct node *const *) a)->path), db = depth((*(struct node *const *) b)->path);
        return da < db ? -1 : da > db;
}

int txn_commit(struct store *s, struct txn *tx) {
        size_t n = 0;

        for (struct hmap_iter it = {0}; hmap_next(&tx->readset, &it);) {
                struct readset_entry *e = it.e->value;
                struct node *cur = hmap_get(&s->nodes, e->path);
                if ((cur ? cur->gen : 0) != e->gen)
                        return -EAGAIN;
        }

        _cleanup_free_ struct node **v = xmalloc(tx->shadow.size * sizeof(*v));
        for (struct hmap_iter it = {0}; hmap_next(&tx->shadow, &it);)
                v[n++] = it.e->value;
        qsort(v, n, sizeof(*v), by_depth);

        for (size_t i = 0; i < n; i++) {
                struct node *sn = v[i], *b = hmap_get(&s->nodes, sn->path), *nn;

                switch (sn->state) {
                case NS_DELETED:
                        if (b)
                                base_unlink_subtree(s, b);
                        break;
                case NS_FRESH:
                        if (b)
                                base_unlink_subtree(s, b);
                        nn = node_new(sn->path, NS_BASE);
                        set_value(nn, sn->value, sn->vlen);
                        set_perms(nn, sn->perms, sn->nperms);
                        if (base_link(s, nn) < 0)
                                node_free(nn);  /* parent vanished: cannot happen after validation */
                        break;
                case NS_CLONED:
                        if (!b)
                                break;
                        quota_add(s, owner_of(b), -1);
                        set_value(b, sn->value, sn->vlen);
                        set_perms(b, sn->perms, sn->nperms);
                        quota_add(s, owner_of(b), 1);
                        b->gen = ++s->seq;
                        break;
                }
        }

        for (struct event *e = tx->ev_head; e; e = e->next)
                s->fire(s->userdata, e->path, e->removed, e->perms, e->n, e->perms2, e->n2);
        return 0;
}

/* ---- lifetime ---- */

int store_new(store_fire_t fire, void *userdata, struct store **ret) {
        struct store *s = calloc(1, sizeof(*s));
        struct xs_permissions p = { .id = 0, .perms = XS_PERM_NONE };
        struct node *root;

        if (!s)
                return -ENOMEM;
        s->fire = fire;
        s->userdata = userdata;
        root = node_new("/", NS_BASE);
        root->name = "";
        set_value(root, "", 0);
        set_perms(root, &p, 1);
        base_link(s, root);
        *ret = s;
        return 0;
}

void store_free(struct store *s) {
        struct node *root;

        if (!s)
                return;
        root = hmap_get(&s->nodes, "/");
        if (root) {
                while (root->first)
                        base_unlink_subtree(s, root->first);
                hmap_remove(&s->nodes, "/");
                node_free(root);
        }
        hmap_clear(&s->nodes);
        free(s);
}
