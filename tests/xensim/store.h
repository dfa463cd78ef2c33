/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The XenStore tree of xensimd: nodes, permissions, optimistic transactions.
 * All paths passed in are canonical absolute paths (see store_canon()). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <xenstore.h>

struct store;
struct txn;

/* Called for every modification (immediately, or at commit for transactions).
 * perms/perms2 are the ACLs that decide who may see the event (either one
 * granting read is enough); perms2 may be NULL. */
typedef void (*store_fire_t)(void *userdata, const char *path, bool removed,
                             const struct xs_permissions *perms, unsigned nperms,
                             const struct xs_permissions *perms2, unsigned nperms2);

int store_new(store_fire_t fire, void *userdata, struct store **ret);
void store_free(struct store *s);

/* Canonicalise a client path: relative paths live under /local/domain/<dom>.
 * '@' special names are accepted only when allow_special. */
int store_canon(uint32_t dom, const char *in, bool allow_special, char *out, size_t size);

bool store_can_read(uint32_t dom, const struct xs_permissions *p, unsigned n);

int store_read(struct store *s, struct txn *tx, uint32_t dom, const char *path, const char **val, unsigned *len);
int store_write(struct store *s, struct txn *tx, uint32_t dom, const char *path, const void *val, unsigned len);
int store_mkdir(struct store *s, struct txn *tx, uint32_t dom, const char *path);
int store_rm(struct store *s, struct txn *tx, uint32_t dom, const char *path);
/* Returns a malloc'd buffer of NUL-terminated names. */
int store_directory(struct store *s, struct txn *tx, uint32_t dom, const char *path, char **ret, unsigned *ret_len);
int store_get_perms(struct store *s, struct txn *tx, uint32_t dom, const char *path,
                    const struct xs_permissions **ret, unsigned *n);
int store_set_perms(struct store *s, struct txn *tx, uint32_t dom, const char *path,
                    const struct xs_permissions *perms, unsigned n);

struct txn *txn_new(uint32_t id, uint32_t dom);
uint32_t txn_id(const struct txn *tx);
void txn_free(struct txn *tx);
/* Commits (and frees nothing); returns -EAGAIN on conflict. */
int txn_commit(struct store *s, struct txn *tx);
