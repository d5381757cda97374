/* Writes of many items: BatchWriteItem and TransactWriteItems. Every item is validated and
 * authorized before anything is written, and all the writes of a request commit together, so a
 * refused request changes nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tables_internal.h"
#include "tenantd/cleanup.h"

enum write_kind { W_PUT, W_DELETE, W_UPDATE, W_CHECK };

struct write {
    enum write_kind kind;
    struct td_table t;
    struct key k;
    json_t *item; /* Put */
    json_t *spec; /* the request member */
    struct exprs e;
    const char *rvcf;
};

static void writes_release(struct write *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        key_release(&w[i].k);
        exprs_release(&w[i].e);
    }
    free(w);
}

/* A text that identifies an item (table and encoded key), for duplicate detection. */
static int item_id(const struct write *w, json_t *seen, bool *dup)
{
    _cleanup_buf_ struct td_buf id = TD_BUF_INIT(16384);
    if (td_buf_printf(&id, "%lld:%zu:", (long long)w->t.id, w->k.hk.len) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < w->k.hk.len; i++)
        (void)td_buf_printf(&id, "%02x", (unsigned char)w->k.hk.data[i]);
    (void)td_buf_puts(&id, ":");
    for (size_t i = 0; i < w->k.rk.len; i++)
        (void)td_buf_printf(&id, "%02x", (unsigned char)w->k.rk.data[i]);
    *dup = json_object_get(seen, id.data) != NULL;
    return json_object_set_new(seen, id.data, json_true());
}

static int write_attributes(const struct write *w, json_t **ret)
{
    json_t *names = json_array();
    int r = names ? 0 : -ENOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(w->item ? w->item : w->k.value, k, v) if (r == 0) r =
        json_array_append_new(names, json_string(k));
    const struct td_ddb_expr *ex[] = {w->e.condition, w->e.update};
    for (size_t i = 0; r == 0 && i < 2; i++)
        if (ex[i])
            r = td_ddb_expr_attributes(ex[i], names);
    if (r < 0)
        json_decref(names);
    else
        *ret = names;
    return r;
}

/* Apply one write, its condition already checked; `old` is the item before. */
static int apply(struct call *c, struct write *w, const json_t *old)
{
    if (w->kind == W_CHECK)
        return 0;
    if (w->kind == W_PUT)
        return item_store(c, &w->t, &w->k, w->item);
    if (w->kind == W_DELETE) {
        int r = old ? c->t->store->ops->delete_item(c->t->store, &w->t, w->k.hk.data, w->k.hk.len,
                                                    w->k.rk.data, w->k.rk.len)
                    : 0;
        return r < 0 ? internal_error(c, r) : 0;
    }
    const char *key_names[] = {w->t.hash_name, w->t.range_name[0] ? w->t.range_name : NULL, NULL};
    json_t *item = old ? json_deep_copy(old) : json_deep_copy(w->k.value);
    int r = item ? td_ddb_update_apply(w->e.update, item, key_names, &c->err) : -ENOMEM;
    if (r == 0)
        r = item_store(c, &w->t, &w->k, item);
    json_decref(item);
    return r;
}

/* ---- BatchWriteItem ---- */

static int batch_entry(struct call *c, const char *table, json_t *entry, struct write *w)
{
    json_t *put = json_object_get(entry, "PutRequest");
    json_t *del = json_object_get(entry, "DeleteRequest");
    key_init(&w->k);
    int r = table_by_name(c, table, &w->t);
    if (r < 0)
        return r;
    if ((put != NULL) == (del != NULL))
        return validation(c, "Supplied AttributeValue has more than one datatypes set, must "
                             "contain exactly one of the supported datatypes");
    if (put) {
        w->kind = W_PUT;
        w->item = json_object_get(put, "Item");
        r = json_is_object(w->item) ? td_ddb_item_check(w->item, &c->err)
                                    : validation(c, "1 validation error detected: Value null at "
                                                    "'item' failed to satisfy constraint: Member "
                                                    "must not be null");
        return r == 0 ? key_from_item(c, &w->t, w->item, &w->k) : r;
    }
    w->kind = W_DELETE;
    return key_from_key(c, &w->t, json_object_get(del, "Key"), &w->k);
}

/* One authorization per table: the set of its partition keys the request touches. */
static int authorize_batch(struct call *c, struct write *w, size_t n)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (w[j].t.id == w[i].t.id)
                first = false;
        if (!first)
            continue;
        struct authz_extra x = {.leading_keys = json_array(), .attributes = json_array()};
        for (size_t j = i; r == 0 && j < n; j++) {
            if (w[j].t.id != w[i].t.id)
                continue;
            json_t *names = NULL;
            r = leading_key_text(w[j].k.value, &w[j].t, x.leading_keys);
            if (r == 0 && (r = write_attributes(&w[j], &names)) == 0) {
                json_array_extend(x.attributes, names);
                json_decref(names);
            }
        }
        if (r == 0)
            r = authorize(c, "dynamodb:BatchWriteItem", &w[i].t, &x);
        json_decref(x.leading_keys);
        json_decref(x.attributes);
    }
    return r;
}

int op_batch_write_item(struct call *c)
{
    json_t *items = json_object_get(c->req, "RequestItems");
    size_t n = 0;
    const char *table;
    json_t *list;
    if (!json_is_object(items) || json_object_size(items) == 0)
        return validation(c, "1 validation error detected: Value null at 'requestItems' failed to "
                             "satisfy constraint: Member must have length greater than or equal "
                             "to 1");
    json_object_foreach(items, table, list) n += json_array_size(list);
    if (n == 0 || n > BATCH_WRITE_MAX)
        return validation(c, "1 validation error detected: Value at 'requestItems' failed to "
                             "satisfy constraint: Map value must satisfy constraint: [Member must "
                             "have length less than or equal to 25, Member must have length "
                             "greater than or equal to 1]");
    struct write *w = calloc(n, sizeof(*w));
    json_t *seen = json_object();
    if (!w || !seen) {
        free(w);
        json_decref(seen);
        return -ENOMEM;
    }
    size_t i = 0;
    int r = 0;
    json_object_foreach(items, table, list)
    {
        size_t k;
        json_t *entry;
        json_array_foreach(list, k, entry)
        {
            bool dup = false;
            if (r == 0 && (r = batch_entry(c, table, entry, &w[i])) == 0 &&
                (r = item_id(&w[i], seen, &dup)) == 0 && dup)
                r = validation(c, "Provided list of item keys contains duplicates");
            i++;
        }
    }
    json_decref(seen);
    if (r == 0)
        r = authorize_batch(c, w, n);
    if (r == 0 && (r = c->t->store->ops->begin(c->t->store)) == 0) {
        for (i = 0; r == 0 && i < n; i++) {
            json_t *old = NULL;
            if (w[i].kind == W_DELETE)
                r = item_load(c, &w[i].t, &w[i].k, &old);
            if (r == 0)
                r = apply(c, &w[i], old);
            json_decref(old);
        }
        if (r == 0)
            r = c->t->store->ops->commit(c->t->store);
        if (r < 0)
            c->t->store->ops->rollback(c->t->store);
    }
    if (r == 0)
        c->resp = json_pack("{s:{}}", "UnprocessedItems");
    writes_release(w, n);
    return r;
}

/* ---- TransactWriteItems ---- */

static const char *const kinds[] = {"Put", "Delete", "Update", "ConditionCheck"};

static int transact_entry(struct call *c, json_t *entry, struct write *w)
{
    key_init(&w->k);
    int found = -1;
    for (int i = 0; i < 4; i++)
        if (json_object_get(entry, kinds[i])) {
            if (found >= 0)
                found = -2;
            else
                found = i;
        }
    if (found < 0 || json_object_size(entry) != 1)
        return validation(c, "TransactItems can only contain one of Check, Put, Update or Delete");
    w->kind = (enum write_kind)found;
    w->spec = json_object_get(entry, kinds[found]);
    const char *name;
    int r = required_string(c, w->spec, "TableName", &name);
    if (r == 0)
        r = table_by_name(c, name, &w->t);
    if (r == 0 && w->kind == W_PUT) {
        w->item = json_object_get(w->spec, "Item");
        r = json_is_object(w->item) ? td_ddb_item_check(w->item, &c->err)
                                    : validation(c, "1 validation error detected: Value null at "
                                                    "'transactItems.member.put.item' failed to "
                                                    "satisfy constraint: Member must not be null");
        if (r == 0)
            r = key_from_item(c, &w->t, w->item, &w->k);
    } else if (r == 0) {
        r = key_from_key(c, &w->t, json_object_get(w->spec, "Key"), &w->k);
    }
    if (r == 0)
        r = exprs_parse(c, w->spec, &w->e, true, false, w->kind == W_UPDATE, false, false);
    if (r == 0 && w->kind == W_UPDATE && !w->e.update)
        r = validation(c, "1 validation error detected: Value null at 'updateExpression' failed "
                          "to satisfy constraint: Member must not be null");
    if (r == 0 && w->kind == W_CHECK && !w->e.condition)
        r = validation(c, "1 validation error detected: Value null at 'conditionExpression' "
                          "failed to satisfy constraint: Member must not be null");
    if (r == 0)
        r = member_string(c, w->spec, "ReturnValuesOnConditionCheckFailure", &w->rvcf);
    return r;
}

static int authorize_transact(struct call *c, struct write *w)
{
    static const char *const actions[] = {"dynamodb:PutItem", "dynamodb:DeleteItem",
                                          "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"};
    struct authz_extra x = {.enclosing_operation = "TransactWriteItems",
                            .leading_keys = json_array()};
    int r = x.leading_keys ? leading_key_text(w->k.value, &w->t, x.leading_keys) : -ENOMEM;
    if (r == 0)
        r = write_attributes(w, &x.attributes);
    if (r == 0)
        r = authorize(c, actions[w->kind], &w->t, &x);
    json_decref(x.leading_keys);
    json_decref(x.attributes);
    return r;
}

/* Conditions are all evaluated before anything is written: a failure cancels with one reason
 * per item, in request order. */
static int check_all(struct call *c, struct write *w, size_t n, json_t **olds)
{
    json_t *reasons = json_array();
    bool failed = false;
    int r = reasons ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++) {
        if ((r = item_load(c, &w[i].t, &w[i].k, &olds[i])) < 0)
            break;
        bool ok = true;
        if (w[i].e.condition &&
            (r = td_ddb_condition_eval(w[i].e.condition, olds[i], &ok, &c->err)) < 0)
            break;
        json_t *reason = ok ? json_pack("{s:s}", "Code", "None")
                            : json_pack("{s:s, s:s}", "Code", "ConditionalCheckFailed", "Message",
                                        "The conditional request failed");
        if (!ok && olds[i] && w[i].rvcf && strcmp(w[i].rvcf, "ALL_OLD") == 0)
            json_object_set(reason, "Item", olds[i]);
        json_array_append_new(reasons, reason);
        failed |= !ok;
    }
    if (r == 0 && failed) {
        _cleanup_buf_ struct td_buf codes = TD_BUF_INIT(4096);
        size_t i;
        json_t *reason;
        json_array_foreach(reasons, i, reason)(void) td_buf_printf(
            &codes, "%s%s", i ? ", " : "", json_string_value(json_object_get(reason, "Code")));
        c->err_extra = json_pack("{s:O}", "CancellationReasons", reasons);
        r = td_err_set(&c->err, 400, "TransactionCanceledException",
                       "Transaction cancelled, please refer cancellation reasons for specific "
                       "reasons [%s]",
                       codes.data ? codes.data : "");
    }
    json_decref(reasons);
    return r;
}

int op_transact_write_items(struct call *c)
{
    json_t *list = json_object_get(c->req, "TransactItems");
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > TRANSACT_MAX_ITEMS)
        return validation(c, "1 validation error detected: Value at 'transactItems' failed to "
                             "satisfy constraint: Member must have length less than or equal to "
                             "100");
    const char *token;
    int r = member_string(c, c->req, "ClientRequestToken", &token);
    if (r == 0 && token && (strlen(token) < 1 || strlen(token) > 36))
        r = validation(c, "1 validation error detected: Value at 'clientRequestToken' failed to "
                          "satisfy constraint: Member must have length less than or equal to 36");
    if (r < 0)
        return r;
    struct write *w = calloc(n, sizeof(*w));
    json_t **olds = calloc(n, sizeof(*olds));
    json_t *seen = json_object();
    if (!w || !olds || !seen) {
        free(w);
        free(olds);
        json_decref(seen);
        return -ENOMEM;
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        bool dup = false;
        if ((r = transact_entry(c, json_array_get(list, i), &w[i])) == 0 &&
            (r = item_id(&w[i], seen, &dup)) == 0 && dup)
            r = validation(c, "Transaction request cannot include multiple operations on one "
                              "item");
    }
    json_decref(seen);
    for (size_t i = 0; r == 0 && i < n; i++)
        r = authorize_transact(c, &w[i]);
    if (r == 0 && (r = c->t->store->ops->begin(c->t->store)) == 0) {
        r = check_all(c, w, n, olds);
        for (size_t i = 0; r == 0 && i < n; i++)
            r = apply(c, &w[i], olds[i]);
        if (r == 0)
            r = c->t->store->ops->commit(c->t->store);
        if (r < 0)
            c->t->store->ops->rollback(c->t->store);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(olds[i]);
    free(olds);
    writes_release(w, n);
    return r;
}
