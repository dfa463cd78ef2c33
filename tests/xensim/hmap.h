/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Minimal string-keyed hash map (chained, power-of-two buckets).  Keys are
 * borrowed: the caller keeps them alive for as long as the entry exists. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap_entry {
        struct hmap_entry *next;
        uint64_t hash;
        const char *key;
        void *value;
};

struct hmap {
        struct hmap_entry **buckets;
        size_t nbuckets, size;
};

uint64_t hmap_hash(const char *key);
void *hmap_get(const struct hmap *m, const char *key);
int hmap_put(struct hmap *m, const char *key, void *value);   /* replaces */
void *hmap_remove(struct hmap *m, const char *key);
void hmap_clear(struct hmap *m);

/* Iteration: for (struct hmap_iter it = {0}; hmap_next(m, &it); ) use it.e */
struct hmap_iter {
        size_t bucket;
        struct hmap_entry *e, *next;
};
bool hmap_next(const struct hmap *m, struct hmap_iter *it);
