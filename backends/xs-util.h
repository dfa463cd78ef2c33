/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* XenStore helpers: bounded, strict reads of values another domain may
 * control, and multi-key publications committed in one transaction. */

#include <stdbool.h>
#include <stdint.h>
#include <xenstore.h>

#include "util.h"

/* Longest value pvbackd accepts from XenStore for ordinary keys. Everything we
 * read is short (numbers, paths, MACs); longer means hostile or broken. */
#define XS_VALUE_MAX 256

/* Reads path into a NUL-terminated malloc'd string. -ENOENT if absent,
 * -E2BIG if longer than max_len, -EINVAL if it contains a NUL byte. */
int xs_read_str(struct xs_handle *xs, xs_transaction_t t, const char *path, size_t max_len, char **ret);
int xs_read_uint(struct xs_handle *xs, xs_transaction_t t, const char *path, uint64_t max, uint64_t *ret);
int xs_read_bool01(struct xs_handle *xs, xs_transaction_t t, const char *path, bool *ret);
bool xs_exists(struct xs_handle *xs, xs_transaction_t t, const char *path);

char *path_join(const char *dir, const char *key);

typedef struct XsOp {
        char *path;
        char *value; /* NULL: remove path */
} XsOp;

/* A set of writes and removals published atomically. */
typedef struct XsBatch {
        XsOp *ops;
        size_t n, allocated;
        int error; /* first allocation failure, reported by commit */
} XsBatch;

#define XS_BATCH_RETRIES 16

void xs_batch_printf(XsBatch *b, const char *dir, const char *key, const char *fmt, ...) _printf_(4, 5);
void xs_batch_rm(XsBatch *b, const char *dir, const char *key);
/* Commits every operation in one transaction, retried on EAGAIN. If
 * require_path is set and does not exist inside the transaction, nothing is
 * written and -ENOENT is returned: a removed backend directory must never be
 * brought back by a late write. */
int xs_batch_commit(struct xs_handle *xs, XsBatch *b, const char *require_path);
void xs_batch_done(XsBatch *b);
