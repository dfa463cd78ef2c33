/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

uint64_t hmap_hash(const char *key) {
        uint64_t h = 0xcbf29ce484222325ULL;     /* FNV-1a */

        for (; *key; key++)
                h = (h ^ (unsigned char) *key) * 0x100000001b3ULL;
        return h ^ (h >> 29);
}

static struct hmap_entry **find(const struct hmap *m, const char *key, uint64_t h) {
        struct hmap_entry **p;

        if (!m->buckets)
                return NULL;
        for (p = &m->buckets[h & (m->nbuckets - 1)]; *p; p = &(*p)->next)
                if ((*p)->hash == h && strcmp((*p)->key, key) == 0)
                        return p;
        return NULL;
}

void *hmap_get(const struct hmap *m, const char *key) {
        struct hmap_entry **p = find(m, key, hmap_hash(key));
        return p ? (*p)->value : NULL;
}

static int grow(struct hmap *m) {
        size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
        struct hmap_entry **b = calloc(n, sizeof(*b));

        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < m->nbuckets; i++)
                for (struct hmap_entry *e = m->buckets[i], *next; e; e = next) {
                        next = e->next;
                        e->next = b[e->hash & (n - 1)];
                        b[e->hash & (n - 1)] = e;
                }
        free(m->buckets);
        m->buckets = b;
        m->nbuckets = n;
        return 0;
}

int hmap_put(struct hmap *m, const char *key, void *value) {
        uint64_t h = hmap_hash(key);
        struct hmap_entry **p = find(m, key, h), *e;

        if (p) {
                (*p)->key = key;
                (*p)->value = value;
                return 0;
        }
        if (m->size >= m->nbuckets && grow(m) < 0)
                return -ENOMEM;
        e = malloc(sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->hash = h;
        e->key = key;
        e->value = value;
        e->next = m->buckets[h & (m->nbuckets - 1)];
        m->buckets[h & (m->nbuckets - 1)] = e;
        m->size++;
        return 0;
}

void *hmap_remove(struct hmap *m, const char *key) {
        struct hmap_entry **p = find(m, key, hmap_hash(key)), *e;
        void *v;

        if (!p)
                return NULL;
        e = *p;
        *p = e->next;
        v = e->value;
        free(e);
        m->size--;
        return v;
}

void hmap_clear(struct hmap *m) {
        for (size_t i = 0; i < m->nbuckets; i++)
                for (struct hmap_entry *e = m->buckets[i], *next; e; e = next) {
                        next = e->next;
                        free(e);
                }
        free(m->buckets);
        m->buckets = NULL;
        m->nbuckets = m->size = 0;
}

/* Safe against removal of the current entry. */
bool hmap_next(const struct hmap *m, struct hmap_iter *it) {
        if (it->e)
                it->e = it->next;
        else if (it->bucket == 0 && m->nbuckets > 0)
                it->e = m->buckets[0];
        while (!it->e) {
                if (++it->bucket >= m->nbuckets)
                        return false;
                it->e = m->buckets[it->bucket];
        }
        it->next = it->e->next;
        return true;
}
