/* The request context: action, resource and condition keys (case-insensitive names). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

#define PRINCIPAL_TAG_PREFIX "aws:PrincipalTag/"

struct pol_arena_chunk {
    struct pol_arena_chunk *next;
    size_t used, size;
    max_align_t data[]; /* size bytes */
};

#define ARENA_CHUNK_BYTES 4096

/* size bytes from the context's arena, aligned for any object; NULL without memory. */
static void *arena_alloc(struct td_policy_ctx *ctx, size_t size)
{
    size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    struct pol_arena_chunk *c = ctx->chunks;
    if (!c || c->size - c->used < size) {
        size_t want = size > ARENA_CHUNK_BYTES ? size : ARENA_CHUNK_BYTES;
        c = malloc(sizeof(*c) + want);
        if (!c)
            return NULL;
        c->size = want;
        c->used = 0;
        c->next = ctx->chunks;
        ctx->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

static char *arena_strndup(struct td_policy_ctx *ctx, const char *s, size_t len)
{
    char *copy = arena_alloc(ctx, len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

struct td_policy_ctx *td_policy_ctx_new(void)
{
    return calloc(1, sizeof(struct td_policy_ctx));
}

void td_policy_ctx_free(struct td_policy_ctx *ctx)
{
    if (!ctx)
        return;
    for (struct pol_arena_chunk *c = ctx->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(ctx->keys);
    free(ctx);
}

static int replace_string(struct td_policy_ctx *ctx, char **slot, const char *value)
{
    char *copy = NULL;
    if (value) {
        size_t len = strlen(value);
        if (len > TD_POLICY_CTX_MAX_VALUE_LEN)
            return -E2BIG;
        if (!(copy = arena_strndup(ctx, value, len)))
            return -ENOMEM;
    }
    *slot = copy;
    return 0;
}

int td_policy_ctx_set_request(struct td_policy_ctx *ctx, const char *action, const char *resource)
{
    if (!ctx)
        return -EINVAL;
    int r = replace_string(ctx, &ctx->action, action);
    return r < 0 ? r : replace_string(ctx, &ctx->resource, resource);
}

const char *td_policy_ctx_action(const struct td_policy_ctx *ctx)
{
    return ctx && ctx->action ? ctx->action : "";
}

const char *td_policy_ctx_resource(const struct td_policy_ctx *ctx)
{
    return ctx && ctx->resource ? ctx->resource : "";
}

const struct pol_ctx_key *pol_ctx_find(const struct td_policy_ctx *ctx, const char *name,
                                       size_t len)
{
    if (!ctx)
        return NULL;
    for (size_t i = 0; i < ctx->n; i++) {
        const struct pol_ctx_key *k = &ctx->keys[i];
        if (pol_ascii_caseeq(k->name, k->name_len, name, len))
            return k;
    }
    return NULL;
}

const char *pol_ctx_single(const struct td_policy_ctx *ctx, const char *name, size_t len)
{
    const struct pol_ctx_key *k = pol_ctx_find(ctx, name, len);
    return k && !k->multi && k->n == 1 ? k->values[0] : NULL;
}

static int check_key_name(const char *key)
{
    if (!key || !*key)
        return -EINVAL;
    return strlen(key) > TD_POLICY_CTX_MAX_KEY_LEN ? -E2BIG : 0;
}

/* The key's entry, created (empty, single-valued) when absent. */
static int key_get(struct td_policy_ctx *ctx, const char *name, struct pol_ctx_key **ret)
{
    int r = check_key_name(name);
    if (r < 0)
        return r;
    size_t len = strlen(name);
    struct pol_ctx_key *k = (struct pol_ctx_key *)pol_ctx_find(ctx, name, len);
    if (k) {
        *ret = k;
        return 0;
    }
    if (ctx->n >= TD_POLICY_CTX_MAX_KEYS)
        return -E2BIG;
    if (ctx->n == ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap * 2 : 16;
        struct pol_ctx_key *keys = realloc(ctx->keys, cap * sizeof(*keys));
        if (!keys)
            return -ENOMEM;
        ctx->keys = keys;
        ctx->cap = cap;
    }
    k = &ctx->keys[ctx->n];
    memset(k, 0, sizeof(*k));
    if (!(k->name = arena_strndup(ctx, name, len)))
        return -ENOMEM;
    k->name_len = len;
    ctx->n++;
    *ret = k;
    return 0;
}

static int key_append(struct td_policy_ctx *ctx, struct pol_ctx_key *k, const char *value)
{
    size_t len = strlen(value);
    if (len > TD_POLICY_CTX_MAX_VALUE_LEN || k->n >= TD_POLICY_CTX_MAX_VALUES)
        return -E2BIG;
    if (k->n == k->cap) { /* a bigger array from the arena; the old one stays there, unused */
        size_t cap = k->cap ? k->cap * 2 : 4;
        char **values = arena_alloc(ctx, cap * sizeof(*values));
        if (!values)
            return -ENOMEM;
        if (k->n)
            memcpy(values, k->values, k->n * sizeof(*values));
        k->values = values;
        k->cap = cap;
    }
    char *copy = arena_strndup(ctx, value, len);
    if (!copy)
        return -ENOMEM;
    k->values[k->n++] = copy;
    return 0;
}

int td_policy_ctx_set(struct td_policy_ctx *ctx, const char *key, const char *value)
{
    if (!ctx || !value)
        return -EINVAL;
    if (strlen(value) > TD_POLICY_CTX_MAX_VALUE_LEN)
        return -E2BIG;
    struct pol_ctx_key *k;
    int r = key_get(ctx, key, &k);
    if (r < 0)
        return r;
    k->n = 0;
    k->multi = false;
    return key_append(ctx, k, value);
}

int td_policy_ctx_add(struct td_policy_ctx *ctx, const char *key, const char *value)
{
    if (!ctx)
        return -EINVAL;
    if (value && strlen(value) > TD_POLICY_CTX_MAX_VALUE_LEN)
        return -E2BIG;
    struct pol_ctx_key *k;
    int r = key_get(ctx, key, &k);
    if (r < 0)
        return r;
    k->multi = true;
    return value ? key_append(ctx, k, value) : 0;
}

int td_policy_ctx_set_principal_tag(struct td_policy_ctx *ctx, const char *tag, const char *value)
{
    if (!tag || !*tag)
        return -EINVAL;
    size_t plen = strlen(PRINCIPAL_TAG_PREFIX), tlen = strlen(tag);
    if (tlen > TD_POLICY_CTX_MAX_KEY_LEN)
        return -E2BIG;
    char name[sizeof(PRINCIPAL_TAG_PREFIX) + TD_POLICY_CTX_MAX_KEY_LEN];
    memcpy(name, PRINCIPAL_TAG_PREFIX, plen);
    memcpy(name + plen, tag, tlen + 1);
    return td_policy_ctx_set(ctx, name, value);
}

int td_policy_ctx_unset(struct td_policy_ctx *ctx, const char *key)
{
    if (!ctx || !key)
        return -EINVAL;
    const struct pol_ctx_key *k = pol_ctx_find(ctx, key, strlen(key));
    if (!k)
        return 0;
    size_t i = (size_t)(k - ctx->keys);
    memmove(&ctx->keys[i], &ctx->keys[i + 1], (ctx->n - i - 1) * sizeof(*ctx->keys));
    ctx->n--;
    return 0;
}
