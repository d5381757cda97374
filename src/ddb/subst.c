/* ExpressionAttributeNames and ExpressionAttributeValues of one request.
 *
 * Both maps are checked (and the values put in canonical form) when the substitutions are
 * made, as DynamoDB checks them before it parses any expression. Every parse marks the
 * entries it used; td_ddb_subst_check then refuses the unused ones. The "used" flags are
 * created with the maps, so that marking never allocates (and so never fails).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddb_internal.h"

/* DynamoDB's limits on a placeholder ("#name" is 5 bytes) and on an attribute name. */
#define REF_MAX  255
#define NAME_MAX 65535

struct td_ddb_subst {
    json_t *names;       /* "#n" -> "name" */
    json_t *values;      /* ":v" -> AttributeValue, canonical (a copy) */
    json_t *used_names;  /* "#n" -> true once used */
    json_t *used_values; /* ":v" -> true once used */
};

static bool ref_ok(const char *key, size_t len, char prefix)
{
    if (len < 2 || key[0] != prefix)
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static int check_key(const char *map, const char *key, size_t len, char prefix, struct td_err *err)
{
    if (len == 0)
        return ddb_invalid(err,
                           "%s contains invalid key: The expression attribute map contains "
                           "an empty key",
                           map);
    if (len > REF_MAX)
        return ddb_invalid(err,
                           "%s contains invalid key: The expression attribute map contains "
                           "a key that is too long",
                           map);
    if (!ref_ok(key, len, prefix))
        return ddb_invalid(err, "%s contains invalid key: Syntax error; key: \"%.*s\"", map,
                           (int)len, key);
    return 0;
}

static int add_names(struct td_ddb_subst *s, const json_t *names, struct td_err *err)
{
    const char *map = "ExpressionAttributeNames";
    if (!json_is_object(names))
        return td_err_set(err, 400, DDB_SERIALIZATION, "Expected map or null");
    if (json_object_size(names) == 0)
        return ddb_invalid(err, "%s must not be empty", map);
    const char *key;
    size_t len;
    json_t *v;
    json_object_keylen_foreach((json_t *)names, key, len, v)
    {
        int r = check_key(map, key, len, '#', err);
        if (r < 0)
            return r;
        if (!json_is_string(v))
            return td_err_set(err, 400, DDB_SERIALIZATION,
                              "Unexpected value for %s key %.*s: expected a string", map, (int)len,
                              key);
        if (json_string_length(v) == 0)
            return ddb_invalid(err, "%s contains invalid value: Empty attribute name for key %.*s",
                               map, (int)len, key);
        if (json_string_length(v) > NAME_MAX)
            return ddb_invalid(err,
                               "%s contains invalid value: Attribute name is too long for "
                               "key %.*s",
                               map, (int)len, key);
        if (json_object_setn(s->names, key, len, v) < 0 ||
            json_object_setn(s->used_names, key, len, json_false()) < 0)
            return ddb_oom(err);
    }
    return 0;
}

static int add_values(struct td_ddb_subst *s, const json_t *values, struct td_err *err)
{
    const char *map = "ExpressionAttributeValues";
    if (!json_is_object(values))
        return td_err_set(err, 400, DDB_SERIALIZATION, "Expected map or null");
    if (json_object_size(values) == 0)
        return ddb_invalid(err, "%s must not be empty", map);
    const char *key;
    size_t len;
    json_t *v;
    json_object_keylen_foreach((json_t *)values, key, len, v)
    {
        int r = check_key(map, key, len, ':', err);
        if (r < 0)
            return r;
        json_t *copy = json_deep_copy(v);
        if (!copy && v)
            return ddb_oom(err);
        char where[REF_MAX + 1];
        snprintf(where, sizeof(where), "%.*s", (int)len, key);
        r = td_ddb_value_check(copy, where, err);
        if (r < 0) {
            json_decref(copy);
            return r;
        }
        if (json_object_setn_new(s->values, key, len, copy) < 0 ||
            json_object_setn(s->used_values, key, len, json_false()) < 0)
            return ddb_oom(err);
    }
    return 0;
}

int td_ddb_subst_new(const json_t *names, const json_t *values, struct td_ddb_subst **ret,
                     struct td_err *err)
{
    *ret = NULL;
    struct td_ddb_subst *s = calloc(1, sizeof(*s));
    if (!s)
        return ddb_oom(err);
    s->names = json_object();
    s->values = json_object();
    s->used_names = json_object();
    s->used_values = json_object();
    int r = 0;
    if (!s->names || !s->values || !s->used_names || !s->used_values)
        r = ddb_oom(err);
    if (r == 0 && names)
        r = add_names(s, names, err);
    if (r == 0 && values)
        r = add_values(s, values, err);
    if (r < 0) {
        td_ddb_subst_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void td_ddb_subst_free(struct td_ddb_subst *s)
{
    if (!s)
        return;
    json_decref(s->names);
    json_decref(s->values);
    json_decref(s->used_names);
    json_decref(s->used_values);
    free(s);
}

/* "{#a, #b}": the unused keys, in the order the request gave them (cut short past the cap). */
static bool unused_keys(const json_t *used, char *out, size_t cap)
{
    size_t o = 0;
    bool any = false;
    const char *key;
    size_t len;
    json_t *flag;
    o += (size_t)snprintf(out, cap, "{");
    json_object_keylen_foreach((json_t *)used, key, len, flag)
    {
        if (json_is_true(flag))
            continue;
        if (o < cap)
            o += (size_t)snprintf(out + o, cap - o, "%s%.*s", any ? ", " : "", (int)len, key);
        any = true;
    }
    if (o < cap)
        snprintf(out + o, cap - o, "}");
    return any;
}

int td_ddb_subst_check(const struct td_ddb_subst *s, struct td_err *err)
{
    char keys[TD_ERR_MSG_MAX - 80];
    if (!s)
        return 0;
    if (unused_keys(s->used_names, keys, sizeof(keys)))
        return ddb_invalid(err,
                           "Value provided in ExpressionAttributeNames unused in expressions: "
                           "keys: %s",
                           keys);
    if (unused_keys(s->used_values, keys, sizeof(keys)))
        return ddb_invalid(err,
                           "Value provided in ExpressionAttributeValues unused in expressions: "
                           "keys: %s",
                           keys);
    return 0;
}

const char *ddb_subst_name(struct td_ddb_subst *s, const char *ref, size_t len, size_t *name_len)
{
    const json_t *v = s ? json_object_getn(s->names, ref, len) : NULL;
    if (!v)
        return NULL;
    /* the key exists in used_names: replacing its value does not allocate */
    json_object_setn(s->used_names, ref, len, json_true());
    *name_len = json_string_length(v);
    return json_string_value(v);
}

const json_t *ddb_subst_value(struct td_ddb_subst *s, const char *ref, size_t len)
{
    const json_t *v = s ? json_object_getn(s->values, ref, len) : NULL;
    if (v)
        json_object_setn(s->used_values, ref, len, json_true());
    return v;
}
