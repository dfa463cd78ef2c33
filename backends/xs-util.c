/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "xs-util.h"

int xs_read_str(struct xs_handle *xs, xs_transaction_t t, const char *path, size_t max_len, char **ret) {
        unsigned len = 0;
        char *v;

        errno = 0;
        v = xs_read(xs, t, path, &len);
        if (!v)
                return errno == ENOENT ? -ENOENT : negative_errno();
        if (len > max_len) {
                free(v);
                return -E2BIG;
        }
        if (strlen(v) != len) {
                free(v);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

int xs_read_uint(struct xs_handle *xs, xs_transaction_t t, const char *path, uint64_t max, uint64_t *ret) {
        _cleanup_free_ char *v = NULL;
        int r;

        r = xs_read_str(xs, t, path, 32, &v);
        if (r < 0)
                return r == -E2BIG ? -ERANGE : r;
        return parse_uint(v, max, ret);
}

int xs_read_bool01(struct xs_handle *xs, xs_transaction_t t, const char *path, bool *ret) {
        _cleanup_free_ char *v = NULL;
        int r;

        r = xs_read_str(xs, t, path, 8, &v);
        if (r < 0)
                return r == -E2BIG ? -EINVAL : r;
        return parse_bool01(v, ret);
}

bool xs_exists(struct xs_handle *xs, xs_transaction_t t, const char *path) {
        unsigned n = 0;
        char **d = xs_directory(xs, t, path, &n);

        if (d) {
                free(d);
                return true;
        }
        return errno != ENOENT;
}

char *path_join(const char *dir, const char *key) {
        char *p;

        if (asprintf(&p, "%s/%s", dir, key) < 0)
                return NULL;
        return p;
}

static void batch_push(XsBatch *b, char *path, char *value) {
        if (!path && !b->error)
                b->error = -ENOMEM;
        if (!b->error && b->n == b->allocated) {
                size_t na = b->allocated ? b->allocated * 2 : 16;
                XsOp *o = reallocarray(b->ops, na, sizeof *o);
                if (o) {
                        b->ops = o;
                        b->allocated = na;
                } else
                        b->error = -ENOMEM;
        }
        if (b->error) {
                free(path);
                free(value);
                return;
        }
        b->ops[b->n++] = (XsOp) { .path = path, .value = value };
}

void xs_batch_printf(XsBatch *b, const char *dir, const char *key, const char *fmt, ...) {
        char *value = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&value, fmt, ap);
        va_end(ap);
        if (r < 0) {
                b->error = -ENOMEM;
                return;
        }
        batch_push(b, path_join(dir, key), value);
}

void xs_batch_rm(XsBatch *b, const char *dir, const char *key) {
        batch_push(b, path_join(dir, key), NULL);
}

int xs_batch_commit(struct xs_handle *xs, XsBatch *b, const char *require_path) {
        if (b->error)
                return b->error;

        for (unsigned attempt = 0; attempt < XS_BATCH_RETRIES; attempt++) {
                xs_transaction_t t = xs_transaction_start(xs);
                int r = 0;

                if (t == XBT_NULL)
                        return negative_errno();

                if (require_path && !xs_exists(xs, t, require_path))
                        r = -ENOENT;
                for (size_t i = 0; r == 0 && i < b->n; i++) {
                        bool ok = b->ops[i].value
                                ? xs_write(xs, t, b->ops[i].path, b->ops[i].value, strlen(b->ops[i].value))
                                : (xs_rm(xs, t, b->ops[i].path) || errno == ENOENT);
                        if (!ok)
                                r = negative_errno();
                }
                if (r < 0) {
                        xs_transaction_end(xs, t, true);
                        return r;
                }
                if (xs_transaction_end(xs, t, false))
                        return 0;
                if (errno != EAGAIN)
                        return negative_errno();
        }
        return -EAGAIN;
}

void xs_batch_done(XsBatch *b) {
        for (size_t i = 0; i < b->n; i++) {
                free(b->ops[i].path);
                free(b->ops[i].value);
        }
        free(b->ops);
        *b = (XsBatch) {};
}
