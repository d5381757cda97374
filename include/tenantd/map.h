/* A hash map from byte-string keys to pointers. Keys are copied; values are not owned.
 * Hashing is keyed SipHash (libsodium) with a per-process random key, so keys chosen by
 * clients (tenant ids, function names) cannot be used to degrade lookups. */
#ifndef TENANTD_MAP_H
#define TENANTD_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The maps' keyed hash, for other tables of client-chosen keys (the caches of session tokens
 * and of tenant templates). */
uint64_t td_hash(const void *key, size_t len);

/* A 128-bit fingerprint under the same per-process key (SipHash-2-4 x128): to tell whether a
 * value changed without keeping it, where a cryptographic digest would cost fifteen times more
 * (the signing-key cache checks the secret of every signed request). Nobody outside the process
 * can compute it, so nobody can look for two values that share one. */
#define TD_FINGERPRINT_LEN 16
void td_fingerprint128(const void *data, size_t len, uint8_t out[TD_FINGERPRINT_LEN]);

struct td_map;

struct td_map *td_map_new(void);
void td_map_free(struct td_map *m);

void *td_map_get(const struct td_map *m, const void *key, size_t len);
/* Insert or replace. When replacing, the previous value is returned through ret_old (if not NULL).
 */
int td_map_put(struct td_map *m, const void *key, size_t len, void *value, void **ret_old);
/* Remove and return the value, or NULL when absent. */
void *td_map_remove(struct td_map *m, const void *key, size_t len);
size_t td_map_size(const struct td_map *m);

typedef bool (*td_map_visit_fn)(const void *key, size_t len, void *value, void *userdata);
/* Visit every entry until fn returns false. The map must not be modified during the walk. */
void td_map_foreach(const struct td_map *m, td_map_visit_fn fn, void *userdata);

static inline void *td_map_gets(const struct td_map *m, const char *key)
{
    return td_map_get(m, key, strlen(key));
}

#endif
