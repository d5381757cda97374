/* Keys: the key attributes of a request, checked against the table's schema and encoded for
 * the store; the partition key as the policy engine sees it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tables_internal.h"

void key_init(struct key *k)
{
    td_buf_init(&k->hk, TD_DDB_HASH_KEY_MAX * 2 + 64);
    td_buf_init(&k->rk, TD_DDB_RANGE_KEY_MAX * 2 + 64);
    k->value = NULL;
}

void key_release(struct key *k)
{
    td_buf_release(&k->hk);
    td_buf_release(&k->rk);
    json_decref(k->value);
    k->value = NULL;
}

static int schema_mismatch(struct call *c)
{
    return validation(c, "The provided key element does not match the schema");
}

/* Size of a key value in bytes, as DynamoDB limits it. */
static size_t key_value_size(const json_t *v, enum td_ddb_type type)
{
    const char *s = json_string_value(json_object_get(v, td_ddb_type_name(type)));
    if (!s)
        return 0;
    if (type == TD_DDB_B)
        return strlen(s) / 4 * 3; /* about the decoded size */
    return strlen(s);
}

static int one_key(struct call *c, const json_t *holder, const char *name, enum td_ddb_type type,
                   size_t max, bool range, struct td_buf *out, json_t *key_map)
{
    json_t *v = json_object_get(holder, name);
    if (!v)
        return schema_mismatch(c);
    if (td_ddb_type_of(v) != type)
        return schema_mismatch(c);
    const char *s = json_string_value(json_object_get(v, td_ddb_type_name(type)));
    if ((type == TD_DDB_S || type == TD_DDB_B) && s && !*s)
        return validation(c,
                          "One or more parameter values are not valid. The AttributeValue for a "
                          "key attribute cannot contain an empty %s value. Key: %.255s",
                          type == TD_DDB_S ? "string" : "binary", name);
    if (key_value_size(v, type) > max)
        return validation(c,
                          "One or more parameter values were invalid: Size of %s has exceeded the "
                          "maximum allowed size of %zu bytes",
                          range ? "range key" : "hashkey", max);
    int r = td_ddb_key_encode(v, out);
    if (r < 0)
        return r == -ENOMEM ? -ENOMEM : schema_mismatch(c);
    return json_object_set(key_map, name, v) < 0 ? -ENOMEM : 0;
}

static int extract(struct call *c, const struct td_table *t, const json_t *holder, struct key *k)
{
    key_init(k);
    if (!json_is_object(holder))
        return schema_mismatch(c);
    k->value = json_object();
    if (!k->value)
        return -ENOMEM;
    int r = one_key(c, holder, t->hash_name, t->hash_type, TD_DDB_HASH_KEY_MAX, false, &k->hk,
                    k->value);
    if (r == 0 && t->range_name[0])
        r = one_key(c, holder, t->range_name, t->range_type, TD_DDB_RANGE_KEY_MAX, true, &k->rk,
                    k->value);
    return r;
}

int key_from_key(struct call *c, const struct td_table *t, json_t *key, struct key *ret)
{
    int r = json_is_object(key) ? td_ddb_item_check(key, &c->err) : schema_mismatch(c);
    if (r == 0)
        r = extract(c, t, key, ret);
    /* A Key holds the key attributes and nothing else. */
    if (r == 0 && json_object_size(key) != (t->range_name[0] ? 2u : 1u))
        r = schema_mismatch(c);
    return r;
}

int key_from_item(struct call *c, const struct td_table *t, const json_t *item, struct key *ret)
{
    int r = extract(c, t, item, ret);
    if (r < 0 && c->err.status && strstr(c->err.message, "does not match the schema"))
        /* PutItem words a missing key attribute differently */
        r = validation(c,
                       "One or more parameter values were invalid: Missing the key %.255s in "
                       "the item",
                       json_object_get(item, t->hash_name) ? t->range_name : t->hash_name);
    return r;
}

int leading_key_text(const json_t *key_map, const struct td_table *t, json_t *out_array)
{
    json_t *v = json_object_get(key_map, t->hash_name);
    const char *s = json_string_value(json_object_get(v, td_ddb_type_name(t->hash_type)));
    if (!s)
        return -EINVAL;
    /* once per value */
    size_t i;
    json_t *e;
    json_array_foreach(out_array, i, e) if (strcmp(json_string_value(e), s) == 0) return 0;
    return json_array_append_new(out_array, json_string(s)) < 0 ? -ENOMEM : 0;
}
