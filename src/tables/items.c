/* Single-item operations (PutItem, GetItem, UpdateItem, DeleteItem) and what they share with
 * the batch and transaction operations: expressions, loading and storing items, conditions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tables_internal.h"
#include "tenantd/cleanup.h"

/* ---- expressions ---- */

void exprs_release(struct exprs *e)
{
    td_ddb_expr_free(e->condition);
    td_ddb_expr_free(e->projection);
    td_ddb_expr_free(e->update);
    td_ddb_expr_free(e->filter);
    td_ddb_expr_free(e->key_condition);
    td_ddb_subst_free(e->subst);
    memset(e, 0, sizeof(*e));
}

static int parse_one(struct call *c, const json_t *o, const char *member,
                     enum td_ddb_expr_kind kind, struct exprs *e, struct td_ddb_expr **out)
{
    const char *text;
    int r = member_string(c, o, member, &text);
    if (r < 0 || !text)
        return r;
    return td_ddb_expr_parse(kind, text, e->subst, out, &c->err);
}

int exprs_parse(struct call *c, const json_t *o, struct exprs *e, bool condition, bool projection,
                bool update, bool filter, bool key_condition)
{
    memset(e, 0, sizeof(*e));
    int r = td_ddb_subst_new(json_object_get(o, "ExpressionAttributeNames"),
                             json_object_get(o, "ExpressionAttributeValues"), &e->subst, &c->err);
    if (r == 0 && condition)
        r = parse_one(c, o, "ConditionExpression", TD_DDB_EXPR_CONDITION, e, &e->condition);
    if (r == 0 && projection)
        r = parse_one(c, o, "ProjectionExpression", TD_DDB_EXPR_PROJECTION, e, &e->projection);
    if (r == 0 && update)
        r = parse_one(c, o, "UpdateExpression", TD_DDB_EXPR_UPDATE, e, &e->update);
    if (r == 0 && filter)
        r = parse_one(c, o, "FilterExpression", TD_DDB_EXPR_FILTER, e, &e->filter);
    if (r == 0 && key_condition)
        r = parse_one(c, o, "KeyConditionExpression", TD_DDB_EXPR_KEY_CONDITION, e,
                      &e->key_condition);
    if (r == 0)
        r = td_ddb_subst_check(e->subst, &c->err);
    return r;
}

/* ---- items ---- */

int item_load(struct call *c, const struct td_table *t, const struct key *k, json_t **ret)
{
    _cleanup_free_ char *text = NULL;
    *ret = NULL;
    int r = c->t->store->ops->get_item(c->t->store, t, k->hk.data, k->hk.len, k->rk.data, k->rk.len,
                                       &text);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return internal_error(c, r);
    *ret = json_loads(text, 0, NULL);
    return *ret ? 0 : internal_error(c, -EIO);
}

int item_store(struct call *c, const struct td_table *t, const struct key *k, json_t *item)
{
    size_t size = td_ddb_item_size(item);
    if (size > TD_DDB_ITEM_MAX_BYTES)
        return validation(c, "Item size has exceeded the maximum allowed size");
    _cleanup_free_ char *text = json_dumps(item, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    int r = c->t->store->ops->put_item(c->t->store, t, k->hk.data, k->hk.len, k->rk.data, k->rk.len,
                                       text, size);
    return r < 0 ? internal_error(c, r) : 0;
}

int check_condition(struct call *c, const struct td_ddb_expr *cond, const json_t *item,
                    const char *rvcf)
{
    if (!cond)
        return 0;
    bool ok = false;
    int r = td_ddb_condition_eval(cond, item, &ok, &c->err);
    if (r < 0)
        return r;
    if (ok)
        return 0;
    if (rvcf && strcmp(rvcf, "ALL_OLD") == 0 && item)
        c->err_extra = json_pack("{s:O}", "Item", item);
    return td_err_set(&c->err, 400, "ConditionalCheckFailedException",
                      "The conditional request failed");
}

static int return_values_param(struct call *c, const char *const *allowed, const char **ret)
{
    int r = member_string(c, c->req, "ReturnValues", ret);
    if (r < 0)
        return r;
    if (!*ret) {
        *ret = "NONE";
        return 0;
    }
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(*ret, allowed[i]) == 0)
            return 0;
    return validation(c, "Return values set to invalid value");
}

static int rvcf_param(struct call *c, const char **ret)
{
    int r = member_string(c, c->req, "ReturnValuesOnConditionCheckFailure", ret);
    if (r == 0 && *ret && strcmp(*ret, "ALL_OLD") != 0 && strcmp(*ret, "NONE") != 0)
        r = validation(c,
                       "1 validation error detected: Value '%.32s' at "
                       "'returnValuesOnConditionCheckFailure' failed to satisfy constraint: "
                       "Member must satisfy enum value set: [ALL_OLD, NONE]",
                       *ret);
    return r;
}

/* dynamodb:Attributes: the top-level attribute names a request names. */
static int attribute_names(const json_t *item, const struct exprs *e, json_t **ret)
{
    json_t *names = json_array();
    const char *k;
    json_t *v;
    int r = names ? 0 : -ENOMEM;
    json_object_foreach((json_t *)item, k, v) if (r == 0) r =
        json_array_append_new(names, json_string(k));
    const struct td_ddb_expr *all[] = {e->condition, e->projection, e->update, e->filter,
                                       e->key_condition};
    for (size_t i = 0; r == 0 && i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i])
            r = td_ddb_expr_attributes(all[i], names);
    if (r < 0) {
        json_decref(names);
        return r;
    }
    *ret = names;
    return 0;
}

/* The authorization of a single-item operation on key k. */
static int authorize_item(struct call *c, const char *action, const struct td_table *t,
                          const struct key *k, const json_t *item, const struct exprs *e,
                          const char *return_values, const char *select)
{
    struct authz_extra x = {.return_values = return_values, .select = select};
    x.leading_keys = json_array();
    int r = x.leading_keys ? leading_key_text(k->value, t, x.leading_keys) : -ENOMEM;
    bool names = item || e->projection || e->update || e->condition;
    if (r == 0 && names)
        r = attribute_names(item ? item : json_object_get(c->req, "Key"), e, &x.attributes);
    if (r == 0)
        r = authorize(c, action, t, &x);
    json_decref(x.leading_keys);
    json_decref(x.attributes);
    return r;
}

static const char *const legacy_write[] = {"Expected", "ConditionalOperator", NULL};

int op_put_item(struct call *c)
{
    static const char *const rv[] = {"NONE", "ALL_OLD", NULL};
    const char *name, *return_values, *rvcf;
    struct td_table t;
    struct key k;
    struct exprs e = {0};
    json_t *item = json_object_get(c->req, "Item");
    json_t *old = NULL;
    key_init(&k);
    int r = required_string(c, c->req, "TableName", &name);
    if (r == 0 && (r = no_legacy(c, c->req, legacy_write)) == 0 &&
        (r = return_values_param(c, rv, &return_values)) == 0 && (r = rvcf_param(c, &rvcf)) == 0)
        r = json_is_object(item) ? td_ddb_item_check(item, &c->err)
                                 : validation(c, "1 validation error detected: Value null at "
                                                 "'item' failed to satisfy constraint: Member "
                                                 "must not be null");
    if (r == 0 && (r = table_by_name(c, name, &t)) == 0 &&
        (r = key_from_item(c, &t, item, &k)) == 0 &&
        (r = exprs_parse(c, c->req, &e, true, false, false, false, false)) == 0 &&
        (r = authorize_item(c, "dynamodb:PutItem", &t, &k, item, &e, return_values, NULL)) == 0 &&
        (r = c->t->store->ops->begin(c->t->store)) == 0) {
        if ((r = item_load(c, &t, &k, &old)) == 0 &&
            (r = check_condition(c, e.condition, old, rvcf)) == 0 &&
            (r = item_store(c, &t, &k, item)) == 0)
            r = c->t->store->ops->commit(c->t->store);
        if (r < 0)
            c->t->store->ops->rollback(c->t->store);
        if (r == 0 && old && strcmp(return_values, "ALL_OLD") == 0)
            c->resp = json_pack("{s:O}", "Attributes", old);
    }
    json_decref(old);
    exprs_release(&e);
    key_release(&k);
    return r;
}

int op_get_item(struct call *c)
{
    static const char *const legacy[] = {"AttributesToGet", NULL};
    const char *name;
    struct td_table t;
    struct key k;
    struct exprs e = {0};
    json_t *item = NULL;
    key_init(&k);
    int r = required_string(c, c->req, "TableName", &name);
    if (r == 0 && (r = no_legacy(c, c->req, legacy)) == 0 &&
        (r = table_by_name(c, name, &t)) == 0 &&
        (r = key_from_key(c, &t, json_object_get(c->req, "Key"), &k)) == 0 &&
        (r = exprs_parse(c, c->req, &e, false, true, false, false, false)) == 0 &&
        (r = authorize_item(c, "dynamodb:GetItem", &t, &k, NULL, &e, NULL,
                            e.projection ? "SPECIFIC_ATTRIBUTES" : "ALL_ATTRIBUTES")) == 0 &&
        (r = item_load(c, &t, &k, &item)) == 0 && item) {
        json_t *out = item;
        if (e.projection && (r = td_ddb_projection_apply(e.projection, item, &out, &c->err)) == 0)
            json_decref(item);
        if (r == 0) {
            c->resp = json_pack("{s:o}", "Item", out);
            item = NULL;
        }
    }
    json_decref(item);
    exprs_release(&e);
    key_release(&k);
    return r;
}

/* The top-level attributes that differ between two versions of an item, taken from `from`. */
static json_t *changed_attributes(const json_t *from, const json_t *other)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)from, k, v)
    {
        json_t *o = json_object_get(other, k);
        if (!o || !td_ddb_value_equal(v, o))
            json_object_set(out, k, v);
    }
    return out;
}

int op_update_item(struct call *c)
{
    static const char *const rv[] = {"NONE",    "ALL_OLD",     "UPDATED_OLD",
                                     "ALL_NEW", "UPDATED_NEW", NULL};
    static const char *const legacy[] = {"Expected", "ConditionalOperator", "AttributeUpdates",
                                         NULL};
    const char *name, *return_values, *rvcf;
    struct td_table t;
    struct key k;
    struct exprs e = {0};
    json_t *old = NULL, *item = NULL;
    key_init(&k);
    int r = required_string(c, c->req, "TableName", &name);
    if (r == 0 && (r = no_legacy(c, c->req, legacy)) == 0 &&
        (r = return_values_param(c, rv, &return_values)) == 0 && (r = rvcf_param(c, &rvcf)) == 0 &&
        (r = table_by_name(c, name, &t)) == 0 &&
        (r = key_from_key(c, &t, json_object_get(c->req, "Key"), &k)) == 0 &&
        (r = exprs_parse(c, c->req, &e, true, false, true, false, false)) == 0 &&
        (r = authorize_item(c, "dynamodb:UpdateItem", &t, &k, NULL, &e, return_values, NULL)) ==
            0 &&
        (r = c->t->store->ops->begin(c->t->store)) == 0) {
        const char *key_names[] = {t.hash_name, t.range_name[0] ? t.range_name : NULL, NULL};
        if ((r = item_load(c, &t, &k, &old)) == 0 &&
            (r = check_condition(c, e.condition, old, rvcf)) == 0) {
            item = old ? json_deep_copy(old) : json_deep_copy(k.value);
            r = item ? 0 : -ENOMEM;
            if (r == 0 && e.update)
                r = td_ddb_update_apply(e.update, item, key_names, &c->err);
            if (r == 0)
                r = item_store(c, &t, &k, item);
            if (r == 0)
                r = c->t->store->ops->commit(c->t->store);
        }
        if (r < 0)
            c->t->store->ops->rollback(c->t->store);
    }
    if (r == 0) {
        json_t *attrs = NULL;
        if (strcmp(return_values, "ALL_OLD") == 0 && old)
            attrs = json_incref(old);
        else if (strcmp(return_values, "ALL_NEW") == 0)
            attrs = json_incref(item);
        else if (strcmp(return_values, "UPDATED_OLD") == 0 && old)
            attrs = changed_attributes(old, item);
        else if (strcmp(return_values, "UPDATED_NEW") == 0)
            attrs = changed_attributes(item, old);
        if (attrs && json_object_size(attrs) > 0)
            c->resp = json_pack("{s:o}", "Attributes", attrs);
        else
            json_decref(attrs);
    }
    json_decref(old);
    json_decref(item);
    exprs_release(&e);
    key_release(&k);
    return r;
}

int op_delete_item(struct call *c)
{
    static const char *const rv[] = {"NONE", "ALL_OLD", NULL};
    const char *name, *return_values, *rvcf;
    struct td_table t;
    struct key k;
    struct exprs e = {0};
    json_t *old = NULL;
    key_init(&k);
    int r = required_string(c, c->req, "TableName", &name);
    if (r == 0 && (r = no_legacy(c, c->req, legacy_write)) == 0 &&
        (r = return_values_param(c, rv, &return_values)) == 0 && (r = rvcf_param(c, &rvcf)) == 0 &&
        (r = table_by_name(c, name, &t)) == 0 &&
        (r = key_from_key(c, &t, json_object_get(c->req, "Key"), &k)) == 0 &&
        (r = exprs_parse(c, c->req, &e, true, false, false, false, false)) == 0 &&
        (r = authorize_item(c, "dynamodb:DeleteItem", &t, &k, NULL, &e, return_values, NULL)) ==
            0 &&
        (r = c->t->store->ops->begin(c->t->store)) == 0) {
        if ((r = item_load(c, &t, &k, &old)) == 0 &&
            (r = check_condition(c, e.condition, old, rvcf)) == 0 && old) {
            r = c->t->store->ops->delete_item(c->t->store, &t, k.hk.data, k.hk.len, k.rk.data,
                                              k.rk.len);
            if (r < 0)
                r = internal_error(c, r);
        }
        if (r == 0)
            r = c->t->store->ops->commit(c->t->store);
        if (r < 0)
            c->t->store->ops->rollback(c->t->store);
        if (r == 0 && old && strcmp(return_values, "ALL_OLD") == 0)
            c->resp = json_pack("{s:O}", "Attributes", old);
    }
    json_decref(old);
    exprs_release(&e);
    key_release(&k);
    return r;
}
