#include "tenantd/map.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tenantd/util.h"

struct map_entry {
    struct map_entry *next;
    uint64_t hash;
    void *value;
    size_t len;
    char key[];
};

struct td_map {
    struct map_entry **buckets;
    size_t n_buckets; /* power of two */
    size_t size;
};

/* SipHash-2-4 (libsodium's crypto_shorthash) under a random key, so that keys chosen by a
 * client (function names, tenant ids) cannot be made to collide. */
static uint8_t siphash_key[crypto_shorthash_KEYBYTES];
_Static_assert(crypto_shorthash_BYTES == sizeof(uint64_t), "a 64-bit hash");

static pthread_once_t siphash_once = PTHREAD_ONCE_INIT; /* the key is made once, for all */

static void siphash_setup(void)
{
    if (td_random(siphash_key, sizeof(siphash_key)) < 0)
        abort(); /* no entropy at all: nothing sensible can continue */
}

uint64_t td_hash(const void *key, size_t len)
{
    pthread_once(&siphash_once, siphash_setup);
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, key, len, siphash_key);
    return h;
}

void td_fingerprint128(const void *data, size_t len, uint8_t out[TD_FINGERPRINT_LEN])
{
    _Static_assert(crypto_shorthash_siphashx24_BYTES == TD_FINGERPRINT_LEN, "128 bits");
    _Static_assert(crypto_shorthash_siphashx24_KEYBYTES == sizeof(siphash_key), "one key");
    pthread_once(&siphash_once, siphash_setup);
    crypto_shorthash_siphashx24(out, data, len, siphash_key);
}

struct td_map *td_map_new(void)
{
    struct td_map *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->n_buckets = 16;
    m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    return m;
}

void td_map_free(struct td_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_buckets; i++) {
        struct map_entry *e = m->buckets[i];
        while (e) {
            struct map_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static struct map_entry **map_find(const struct td_map *m, const void *key, size_t len,
                                   uint64_t hash)
{
    struct map_entry **pp = &m->buckets[hash & (m->n_buckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == hash && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0)
            return pp;
    return pp;
}

void *td_map_get(const struct td_map *m, const void *key, size_t len)
{
    struct map_entry **pp = map_find(m, key, len, td_hash(key, len));
    return *pp ? (*pp)->value : NULL;
}

static void map_grow(struct td_map *m)
{
    size_t n = m->n_buckets * 2;
    struct map_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < m->n_buckets; i++) {
        struct map_entry *e = m->buckets[i];
        while (e) {
            struct map_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = n;
}

int td_map_put(struct td_map *m, const void *key, size_t len, void *value, void **ret_old)
{
    uint64_t hash = td_hash(key, len);
    struct map_entry **pp = map_find(m, key, len, hash);
    if (*pp) {
        if (ret_old)
            *ret_old = (*pp)->value;
        (*pp)->value = value;
        return 0;
    }
    if (ret_old)
        *ret_old = NULL;
    struct map_entry *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return -ENOMEM;
    e->next = NULL;
    e->hash = hash;
    e->value = value;
    e->len = len;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    *pp = e;
    if (++m->size > m->n_buckets)
        map_grow(m);
    return 0;
}

void *td_map_remove(struct td_map *m, const void *key, size_t len)
{
    struct map_entry **pp = map_find(m, key, len, td_hash(key, len));
    struct map_entry *e = *pp;
    if (!e)
        return NULL;
    void *value = e->value;
    *pp = e->next;
    free(e);
    m->size--;
    return value;
}

size_t td_map_size(const struct td_map *m)
{
    return m->size;
}

void td_map_foreach(const struct td_map *m, td_map_visit_fn fn, void *userdata)
{
    for (size_t i = 0; i < m->n_buckets; i++)
        for (struct map_entry *e = m->buckets[i]; e; e = e->next)
            if (!fn(e->key, e->len, e->value, userdata))
                return;
}
