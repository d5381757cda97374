/* The request context: action, resource and condition keys (case-insensitive names). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

#define PRINCIPAL_TAG_PREFIX "aws:PrincipalTag/"

struct td_policy_ctx *td_policy_ctx_new(void)
{
    return calloc(1, sizeof(struct td_policy_ctx));
}

static void key_clear_values(struct pol_ctx_key *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->values[i]);
    k->n = 0;
}

static void key_release(struct pol_ctx_key *k)
{
    key_clear_values(k);
    free(k->values);
    free(k->name);
}

void td_policy_ctx_free(struct td_policy_ctx *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->n; i++)
        key_release(&ctx->keys[i]);
    free(ctx->keys);
    free(ctx->action);
    free(ctx->resource);
    free(ctx);
}

static int replace_string(char **slot, const char *value)
{
    char *copy = NULL;
    if (value) {
        if (strlen(value) > TD_POLICY_CTX_MAX_VALUE_LEN)
            return -E2BIG;
        copy = strdup(value);
        if (!copy)
            return -ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

int td_policy_ctx_set_request(struct td_policy_ctx *ctx, const char *action, const char *resource)
{
    if (!ctx)
        return -EINVAL;
    int r = replace_string(&ctx->action, action);
    return r < 0 ? r : replace_string(&ctx->resource, resource);
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
        if (pol_ascii_caseeq(k->name, strlen(k->name), name, len))
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
    struct pol_ctx_key *k = (struct pol_ctx_key *)pol_ctx_find(ctx, name, strlen(name));
    if (k) {
        *ret = k;
        return 0;
    }
    if (ctx->n >= TD_POLICY_CTX_MAX_KEYS)
        return -E2BIG;
    if (ctx->n == ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap * 2 : 8;
        struct pol_ctx_key *keys = realloc(ctx->keys, cap * sizeof(*keys));
        if (!keys)
            return -ENOMEM;
        ctx->keys = keys;
        ctx->cap = cap;
    }
    k = &ctx->keys[ctx->n];
    memset(k, 0, sizeof(*k));
    k->name = strdup(name);
    if (!k->name)
        return -ENOMEM;
    ctx->n++;
    *ret = k;
    return 0;
}

static int key_append(struct pol_ctx_key *k, const char *value)
{
    if (strlen(value) > TD_POLICY_CTX_MAX_VALUE_LEN || k->n >= TD_POLICY_CTX_MAX_VALUES)
        return -E2BIG;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4;
        char **values = realloc(k->values, cap * sizeof(*values));
        if (!values)
            return -ENOMEM;
        k->values = values;
        k->cap = cap;
    }
    char *copy = strdup(value);
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
    key_clear_values(k);
    k->multi = false;
    return key_append(k, value);
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
    return value ? key_append(k, value) : 0;
}

int td_policy_ctx_set_principal_tag(struct td_policy_ctx *ctx, const char *tag, const char *value)
{
    if (!tag || !*tag)
        return -EINVAL;
    size_t plen = strlen(PRINCIPAL_TAG_PREFIX), tlen = strlen(tag);
    if (tlen > TD_POLICY_CTX_MAX_KEY_LEN)
        return -E2BIG;
    char *name = malloc(plen + tlen + 1);
    if (!name)
        return -ENOMEM;
    memcpy(name, PRINCIPAL_TAG_PREFIX, plen);
    memcpy(name + plen, tag, tlen + 1);
    int r = td_policy_ctx_set(ctx, name, value);
    free(name);
    return r;
}

int td_policy_ctx_unset(struct td_policy_ctx *ctx, const char *key)
{
    if (!ctx || !key)
        return -EINVAL;
    const struct pol_ctx_key *k = pol_ctx_find(ctx, key, strlen(key));
    if (!k)
        return 0;
    size_t i = (size_t)(k - ctx->keys);
    key_release(&ctx->keys[i]);
    memmove(&ctx->keys[i], &ctx->keys[i + 1], (ctx->n - i - 1) * sizeof(*ctx->keys));
    ctx->n--;
    return 0;
}
