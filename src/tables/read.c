/* Reads of many items: Query, Scan (pages of at most 1 MB read and Limit items evaluated),
 * BatchGetItem and TransactGetItems. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tables_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/util.h"

/* ---- pages ---- */

struct page {
    struct call *c;
    const struct td_table *t;
    const struct td_ddb_expr *filter;
    const struct td_ddb_expr *projection;
    bool count_only;
    size_t limit; /* 0: none */
    /* begins_with: items past the prefix end the walk (bytes, decoded for B) */
    struct td_buf prefix;
    bool has_prefix;
    bool prefix_binary;
    /* Scan segments */
    uint32_t segment, total_segments;
    json_t *items;
    size_t count, scanned, bytes;
    json_t *last_key; /* set when the page stopped early */
    int error;
};

static json_t *key_of(const struct td_table *t, const json_t *item)
{
    json_t *k = json_object();
    if (!k)
        return NULL;
    json_object_set(k, t->hash_name, json_object_get(item, t->hash_name));
    if (t->range_name[0])
        json_object_set(k, t->range_name, json_object_get(item, t->range_name));
    return k;
}

/* The bytes of an S or B value (B decoded) appended to out. */
static int scalar_bytes(const json_t *v, bool binary, struct td_buf *out)
{
    const char *s = json_string_value(json_object_get(v, binary ? "B" : "S"));
    if (!s)
        return -EINVAL;
    return binary ? td_base64_decode(s, strlen(s), out) : td_buf_puts(out, s);
}

static bool past_prefix(const struct page *p, const json_t *item)
{
    struct td_buf b = TD_BUF_INIT(TD_DDB_RANGE_KEY_MAX + 16);
    bool past = scalar_bytes(json_object_get(item, p->t->range_name), p->prefix_binary, &b) < 0 ||
                b.len < p->prefix.len ||
                (p->prefix.len && memcmp(b.data, p->prefix.data, p->prefix.len) != 0);
    td_buf_release(&b);
    return past;
}

/* A parallel Scan's segment of an item. Unkeyed on purpose (not td_hash): a client's segments
 * must keep the same items across requests and daemon restarts. */
static uint32_t fnv1a(const void *data, size_t len)
{
    const unsigned char *b = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static bool visit(const struct td_stored_item *it, void *userdata)
{
    struct page *p = userdata;
    if (p->total_segments && fnv1a(it->hk, it->hk_len) % p->total_segments != p->segment)
        return true;
    json_t *item = json_loadb(it->json, it->json_len, 0, NULL);
    if (!item) {
        p->error = -EIO;
        return false;
    }
    if (p->has_prefix && past_prefix(p, item)) {
        json_decref(item);
        return false;
    }
    p->scanned++;
    p->bytes += td_ddb_item_size(item);
    bool keep = true;
    if (p->filter && td_ddb_condition_eval(p->filter, item, &keep, &p->c->err) < 0) {
        p->error = -EINVAL;
        json_decref(item);
        return false;
    }
    if (keep) {
        p->count++;
        json_t *out = item;
        if (!p->count_only && p->projection &&
            td_ddb_projection_apply(p->projection, item, &out, &p->c->err) < 0) {
            p->error = -EINVAL;
            json_decref(item);
            return false;
        }
        if (!p->count_only)
            json_array_append(p->items, out);
        if (out != item)
            json_decref(out);
    }
    bool more = !((p->limit && p->scanned >= p->limit) || p->bytes >= PAGE_MAX_BYTES);
    if (!more)
        p->last_key = key_of(p->t, item);
    json_decref(item);
    return more;
}

static int page_result(struct call *c, struct page *p)
{
    if (p->error)
        return c->err.status ? p->error : internal_error(c, p->error);
    c->resp = json_pack("{s:I, s:I}", "Count", (json_int_t)p->count, "ScannedCount",
                        (json_int_t)p->scanned);
    if (!c->resp)
        return -ENOMEM;
    if (!p->count_only)
        json_object_set(c->resp, "Items", p->items);
    if (p->last_key)
        json_object_set(c->resp, "LastEvaluatedKey", p->last_key);
    return 0;
}

static void page_release(struct page *p)
{
    td_buf_release(&p->prefix);
    json_decref(p->items);
    json_decref(p->last_key);
}

/* Select, Limit and the projection, as Query and Scan share them. */
static int page_params(struct call *c, const struct exprs *e, struct page *p, const char **select)
{
    json_t *limit = json_object_get(c->req, "Limit");
    int r = member_string(c, c->req, "Select", select);
    if (r < 0)
        return r;
    if (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1))
        return validation(c,
                          "1 validation error detected: Value '%lld' at 'limit' failed to "
                          "satisfy constraint: Member must have value greater than or equal "
                          "to 1",
                          (long long)json_integer_value(limit));
    p->limit = limit ? (size_t)json_integer_value(limit) : 0;
    if (!*select)
        *select = e->projection ? "SPECIFIC_ATTRIBUTES" : "ALL_ATTRIBUTES";
    else if (strcmp(*select, "COUNT") == 0)
        p->count_only = true;
    else if (strcmp(*select, "ALL_PROJECTED_ATTRIBUTES") == 0)
        return validation(c, "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an "
                             "IndexName");
    else if (strcmp(*select, "SPECIFIC_ATTRIBUTES") == 0 && !e->projection)
        return validation(c, "1 validation error detected: SPECIFIC_ATTRIBUTES requires a "
                             "ProjectionExpression");
    else if (strcmp(*select, "ALL_ATTRIBUTES") != 0 && strcmp(*select, "SPECIFIC_ATTRIBUTES") != 0)
        return validation(c,
                          "1 validation error detected: Value '%.32s' at 'select' failed to "
                          "satisfy constraint: Member must satisfy enum value set: "
                          "[SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, "
                          "ALL_PROJECTED_ATTRIBUTES]",
                          *select);
    if ((p->count_only || strcmp(*select, "ALL_ATTRIBUTES") == 0) && e->projection)
        return validation(c, "Cannot specify the ProjectionExpression when choosing to get %s",
                          *select);
    p->c = c;
    p->filter = e->filter;
    p->projection = e->projection;
    p->items = json_array();
    return p->items ? 0 : -ENOMEM;
}

static int no_index(struct call *c)
{
    const char *index;
    int r = member_string(c, c->req, "IndexName", &index);
    if (r == 0 && index)
        r = validation(c,
                       "The table does not have the specified index: %.255s (secondary "
                       "indexes are not supported yet)",
                       index);
    return r;
}

static int attributes_of(const struct exprs *e, json_t **ret)
{
    json_t *names = json_array();
    const struct td_ddb_expr *all[] = {e->projection, e->filter, e->key_condition};
    int r = names ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < 3; i++)
        if (all[i])
            r = td_ddb_expr_attributes(all[i], names);
    if (r < 0)
        json_decref(names);
    else
        *ret = names;
    return r;
}

/* ---- Query ---- */

static int filter_without_keys(struct call *c, const struct td_table *t, const struct exprs *e)
{
    if (!e->filter)
        return 0;
    json_t *names = json_array();
    int r = names ? td_ddb_expr_attributes(e->filter, names) : -ENOMEM;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
    {
        const char *s = json_string_value(n);
        if (r == 0 && (strcmp(s, t->hash_name) == 0 || strcmp(s, t->range_name) == 0))
            r = validation(c,
                           "Filter Expression can only contain non-primary key attributes: "
                           "Primary key attribute: %.255s",
                           s);
    }
    json_decref(names);
    return r;
}

struct bounds {
    struct td_buf lo, hi;
    struct td_key_range range;
};

static int range_bounds(struct call *c, const struct td_table *t,
                        const struct td_ddb_key_condition *kc, struct bounds *b, struct page *p)
{
    memset(&b->range, 0, sizeof(b->range));
    if (kc->op == TD_DDB_RANGE_NONE)
        return 0;
    for (int i = 0; i < (kc->op == TD_DDB_RANGE_BETWEEN ? 2 : 1); i++)
        if (td_ddb_type_of(kc->range_values[i]) != t->range_type)
            return validation(c, "One or more parameter values were invalid: Condition parameter "
                                 "type does not match schema type");
    if (kc->op == TD_DDB_RANGE_BETWEEN &&
        td_ddb_value_compare(kc->range_values[0], kc->range_values[1]) > 0)
        return validation(c, "Invalid KeyConditionExpression: The BETWEEN operator requires "
                             "upper bound to be greater than or equal to lower bound");
    int r = td_ddb_key_encode(kc->range_values[0], &b->lo);
    if (r == 0 && kc->op == TD_DDB_RANGE_BETWEEN)
        r = td_ddb_key_encode(kc->range_values[1], &b->hi);
    if (r < 0)
        return r;
    switch (kc->op) {
    case TD_DDB_RANGE_EQ:
        b->range = (struct td_key_range){b->lo.data, b->lo.len, true, b->lo.data, b->lo.len, true};
        break;
    case TD_DDB_RANGE_LT:
    case TD_DDB_RANGE_LE:
        b->range.hi = b->lo.data;
        b->range.hi_len = b->lo.len;
        b->range.hi_inclusive = kc->op == TD_DDB_RANGE_LE;
        break;
    case TD_DDB_RANGE_GT:
    case TD_DDB_RANGE_GE:
    case TD_DDB_RANGE_BEGINS_WITH:
        b->range.lo = b->lo.data;
        b->range.lo_len = b->lo.len;
        b->range.lo_inclusive = kc->op != TD_DDB_RANGE_GT;
        break;
    case TD_DDB_RANGE_BETWEEN:
        b->range = (struct td_key_range){b->lo.data, b->lo.len, true, b->hi.data, b->hi.len, true};
        break;
    default:
        break;
    }
    if (kc->op == TD_DDB_RANGE_BEGINS_WITH) {
        if (t->range_type == TD_DDB_N)
            return validation(c, "Invalid KeyConditionExpression: Incorrect operand type for "
                                 "operator or function; operator or function: begins_with, "
                                 "operand type: N");
        p->prefix_binary = t->range_type == TD_DDB_B;
        p->has_prefix = true;
        td_buf_init(&p->prefix, TD_DDB_RANGE_KEY_MAX + 16);
        if (scalar_bytes(kc->range_values[0], p->prefix_binary, &p->prefix) < 0)
            return validation(c, "Invalid KeyConditionExpression: Incorrect operand type for "
                                 "operator or function; operator or function: begins_with");
    }
    return 0;
}

int op_query(struct call *c)
{
    static const char *const legacy[] = {"KeyConditions", "QueryFilter", "AttributesToGet",
                                         "ConditionalOperator", NULL};
    const char *name, *select;
    struct td_table t;
    struct exprs e = {0};
    struct page p = {0};
    struct td_ddb_key_condition kc;
    struct bounds b;
    struct key start;
    json_t *forward = json_object_get(c->req, "ScanIndexForward");
    td_buf_init(&b.lo, TD_DDB_RANGE_KEY_MAX * 2 + 64);
    td_buf_init(&b.hi, TD_DDB_RANGE_KEY_MAX * 2 + 64);
    key_init(&start);
    _cleanup_buf_ struct td_buf hk = TD_BUF_INIT(TD_DDB_HASH_KEY_MAX * 2 + 64);
    int r = required_string(c, c->req, "TableName", &name);
    if (r == 0 && (r = no_legacy(c, c->req, legacy)) == 0 && (r = no_index(c)) == 0 &&
        (r = table_by_name(c, name, &t)) == 0 &&
        (r = exprs_parse(c, c->req, &e, false, true, false, true, true)) == 0)
        r = e.key_condition
                ? td_ddb_key_condition_get(e.key_condition, t.hash_name, t.range_name, &kc, &c->err)
                : validation(c, "Either the KeyConditions or KeyConditionExpression parameter "
                                "must be specified in the request.");
    if (r == 0 && td_ddb_type_of(kc.hash_value) != t.hash_type)
        r = validation(c, "One or more parameter values were invalid: Condition parameter type "
                          "does not match schema type");
    if (r == 0 && (r = filter_without_keys(c, &t, &e)) == 0 &&
        (r = page_params(c, &e, &p, &select)) == 0 && (r = range_bounds(c, &t, &kc, &b, &p)) == 0)
        r = td_ddb_key_encode(kc.hash_value, &hk);
    json_t *esk = json_object_get(c->req, "ExclusiveStartKey");
    if (r == 0 && esk && (r = key_from_key(c, &t, esk, &start)) == 0 &&
        !td_ddb_value_equal(json_object_get(esk, t.hash_name), kc.hash_value))
        r = validation(c, "The provided starting key is invalid: The provided key element does "
                          "not match the schema");
    struct authz_extra x = {.select = select};
    if (r == 0 && (x.leading_keys = json_array()) && (r = attributes_of(&e, &x.attributes)) == 0) {
        json_array_append_new(x.leading_keys, json_string(json_string_value(json_object_get(
                                                  kc.hash_value, td_ddb_type_name(t.hash_type)))));
        r = authorize(c, "dynamodb:Query", &t, &x);
    }
    if (r == 0) {
        p.t = &t;
        r = c->t->store->ops->query(
            c->t->store, &t, hk.data, hk.len, &b.range, !forward || json_is_true(forward),
            esk && start.rk.len ? start.rk.data : NULL, start.rk.len, visit, &p);
        r = r < 0 ? internal_error(c, r) : page_result(c, &p);
    }
    json_decref(x.leading_keys);
    json_decref(x.attributes);
    page_release(&p);
    key_release(&start);
    td_buf_release(&b.lo);
    td_buf_release(&b.hi);
    exprs_release(&e);
    return r;
}

/* ---- Scan ---- */

static int segments(struct call *c, struct page *p)
{
    json_t *seg = json_object_get(c->req, "Segment");
    json_t *total = json_object_get(c->req, "TotalSegments");
    if (!seg && !total)
        return 0;
    if (!seg || !total || !json_is_integer(seg) || !json_is_integer(total) ||
        json_integer_value(total) < 1 || json_integer_value(total) > 1000000 ||
        json_integer_value(seg) < 0 || json_integer_value(seg) >= json_integer_value(total))
        return validation(c, "The Segment parameter is required but was not present in the "
                             "request when parameter TotalSegments is present, and it must be "
                             "less than TotalSegments");
    p->segment = (uint32_t)json_integer_value(seg);
    p->total_segments = (uint32_t)json_integer_value(total);
    return 0;
}

int op_scan(struct call *c)
{
    static const char *const legacy[] = {"ScanFilter", "AttributesToGet", "ConditionalOperator",
                                         NULL};
    const char *name, *select;
    struct td_table t;
    struct exprs e = {0};
    struct page p = {0};
    struct key start;
    key_init(&start);
    int r = required_string(c, c->req, "TableName", &name);
    if (r == 0 && (r = no_legacy(c, c->req, legacy)) == 0 && (r = no_index(c)) == 0 &&
        (r = table_by_name(c, name, &t)) == 0 &&
        (r = exprs_parse(c, c->req, &e, false, true, false, true, false)) == 0 &&
        (r = page_params(c, &e, &p, &select)) == 0)
        r = segments(c, &p);
    json_t *esk = json_object_get(c->req, "ExclusiveStartKey");
    if (r == 0 && esk)
        r = key_from_key(c, &t, esk, &start);
    /* Scan has no dynamodb:LeadingKeys: it reads every partition. */
    struct authz_extra x = {.select = select};
    if (r == 0 && (r = attributes_of(&e, &x.attributes)) == 0)
        r = authorize(c, "dynamodb:Scan", &t, &x);
    if (r == 0) {
        p.t = &t;
        r = c->t->store->ops->scan(c->t->store, &t, esk ? start.hk.data : NULL, start.hk.len,
                                   start.rk.data, start.rk.len, visit, &p);
        r = r < 0 ? internal_error(c, r) : page_result(c, &p);
    }
    json_decref(x.attributes);
    page_release(&p);
    key_release(&start);
    exprs_release(&e);
    return r;
}

/* ---- BatchGetItem ---- */

static int duplicate_keys(struct call *c, json_t *seen, const struct key *k)
{
    char tag[8];
    snprintf(tag, sizeof(tag), "%zu:", k->hk.len);
    _cleanup_buf_ struct td_buf id = TD_BUF_INIT(8192);
    if (td_buf_puts(&id, tag) < 0 || td_buf_append(&id, k->hk.data, k->hk.len) < 0 ||
        td_buf_append(&id, k->rk.data, k->rk.len) < 0)
        return -ENOMEM;
    /* keys are binary: index them by their hex */
    _cleanup_free_ char *hex = malloc(id.len * 2 + 1);
    if (!hex)
        return -ENOMEM;
    for (size_t i = 0; i < id.len; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)id.data[i]);
    if (json_object_get(seen, hex))
        return validation(c, "Provided list of item keys contains duplicates");
    return json_object_set_new(seen, hex, json_true());
}

struct table_batch {
    struct td_table t;
    json_t *spec;
    struct exprs e;
    struct key *keys;
    size_t n_keys;
};

static void batches_release(struct table_batch *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        exprs_release(&b[i].e);
        for (size_t k = 0; k < b[i].n_keys; k++)
            key_release(&b[i].keys[k]);
        free(b[i].keys);
    }
    free(b);
}

static int batch_get_table(struct call *c, const char *name, json_t *spec, struct table_batch *b,
                           size_t *total)
{
    json_t *keys = json_object_get(spec, "Keys");
    b->spec = spec;
    int r = table_by_name(c, name, &b->t);
    if (r == 0 && (!json_is_array(keys) || json_array_size(keys) == 0))
        r = validation(c,
                       "1 validation error detected: Value at 'requestItems.%.255s.member.keys' "
                       "failed to satisfy constraint: Member must have length greater than or "
                       "equal to 1",
                       name);
    if (r == 0)
        r = no_legacy(c, spec, (const char *const[]){"AttributesToGet", NULL});
    if (r == 0 && (*total += json_array_size(keys)) > BATCH_GET_MAX_KEYS)
        r = validation(c, "Too many items requested for the BatchGetItem call");
    if (r == 0)
        r = exprs_parse(c, spec, &b->e, false, true, false, false, false);
    if (r < 0)
        return r;
    b->keys = calloc(json_array_size(keys), sizeof(*b->keys));
    json_t *seen = json_object();
    if (!b->keys || !seen) {
        json_decref(seen);
        return -ENOMEM;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (r < 0)
            break;
        key_init(&b->keys[i]);
        b->n_keys++;
        if ((r = key_from_key(c, &b->t, k, &b->keys[i])) == 0)
            r = duplicate_keys(c, seen, &b->keys[i]);
    }
    json_decref(seen);
    return r;
}

int op_batch_get_item(struct call *c)
{
    json_t *items = json_object_get(c->req, "RequestItems");
    size_t n = json_object_size(items), i = 0, total = 0;
    if (!json_is_object(items) || n == 0)
        return validation(c, "1 validation error detected: Value null at 'requestItems' failed to "
                             "satisfy constraint: Member must have length greater than or equal "
                             "to 1");
    struct table_batch *b = calloc(n, sizeof(*b));
    if (!b)
        return -ENOMEM;
    int r = 0;
    const char *name;
    json_t *spec;
    json_object_foreach(items, name, spec)
    {
        if (r == 0)
            r = batch_get_table(c, name, spec, &b[i], &total);
        i++;
    }
    /* Every table's keys are authorized before anything is read. */
    for (i = 0; r == 0 && i < n; i++) {
        struct authz_extra x = {.select =
                                    b[i].e.projection ? "SPECIFIC_ATTRIBUTES" : "ALL_ATTRIBUTES"};
        x.leading_keys = json_array();
        for (size_t k = 0; r == 0 && k < b[i].n_keys; k++)
            r = leading_key_text(b[i].keys[k].value, &b[i].t, x.leading_keys);
        if (r == 0 && b[i].e.projection && (r = attributes_of(&b[i].e, &x.attributes)) < 0)
            break;
        if (r == 0)
            r = authorize(c, "dynamodb:BatchGetItem", &b[i].t, &x);
        json_decref(x.leading_keys);
        json_decref(x.attributes);
    }
    json_t *responses = json_object();
    for (i = 0; r == 0 && i < n; i++) {
        json_t *list = json_array();
        for (size_t k = 0; r == 0 && k < b[i].n_keys; k++) {
            json_t *item = NULL, *out = NULL;
            if ((r = item_load(c, &b[i].t, &b[i].keys[k], &item)) < 0 || !item)
                continue;
            out = item;
            if (b[i].e.projection)
                r = td_ddb_projection_apply(b[i].e.projection, item, &out, &c->err);
            if (r == 0)
                json_array_append(list, out);
            if (out != item)
                json_decref(out);
            json_decref(item);
        }
        json_object_set_new(responses, b[i].t.name, list);
    }
    if (r == 0)
        c->resp = json_pack("{s:O, s:{}}", "Responses", responses, "UnprocessedKeys");
    json_decref(responses);
    batches_release(b, n);
    return r;
}

/* ---- TransactGetItems ---- */

int op_transact_get_items(struct call *c)
{
    json_t *list = json_object_get(c->req, "TransactItems");
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > TRANSACT_MAX_ITEMS)
        return validation(c, "1 validation error detected: Value at 'transactItems' failed to "
                             "satisfy constraint: Member must have length less than or equal to "
                             "100");
    struct table_batch *b = calloc(n, sizeof(*b));
    if (!b)
        return -ENOMEM;
    int r = 0;
    json_t *seen = json_object();
    for (size_t i = 0; r == 0 && i < n; i++) {
        json_t *get = json_object_get(json_array_get(list, i), "Get");
        const char *name;
        b[i].keys = calloc(1, sizeof(*b[i].keys));
        if (!b[i].keys || !seen) {
            r = -ENOMEM;
            break;
        }
        key_init(b[i].keys);
        b[i].n_keys = 1;
        if (!json_is_object(get))
            r = validation(c, "TransactItems can only contain Get actions");
        else if ((r = required_string(c, get, "TableName", &name)) == 0 &&
                 (r = table_by_name(c, name, &b[i].t)) == 0 &&
                 (r = key_from_key(c, &b[i].t, json_object_get(get, "Key"), b[i].keys)) == 0 &&
                 (r = exprs_parse(c, get, &b[i].e, false, true, false, false, false)) == 0)
            r = duplicate_keys(c, seen, b[i].keys);
        if (r == 0) {
            struct authz_extra x = {.enclosing_operation = "TransactGetItems",
                                    .select = b[i].e.projection ? "SPECIFIC_ATTRIBUTES"
                                                                : "ALL_ATTRIBUTES"};
            x.leading_keys = json_array();
            r = leading_key_text(b[i].keys->value, &b[i].t, x.leading_keys);
            if (r == 0 && b[i].e.projection)
                r = attributes_of(&b[i].e, &x.attributes);
            if (r == 0)
                r = authorize(c, "dynamodb:GetItem", &b[i].t, &x);
            json_decref(x.leading_keys);
            json_decref(x.attributes);
        }
    }
    json_decref(seen);
    json_t *responses = json_array();
    for (size_t i = 0; r == 0 && i < n; i++) {
        json_t *item = NULL, *out = NULL;
        if ((r = item_load(c, &b[i].t, b[i].keys, &item)) < 0)
            break;
        out = item;
        if (item && b[i].e.projection)
            r = td_ddb_projection_apply(b[i].e.projection, item, &out, &c->err);
        json_array_append_new(responses,
                              out && r == 0 ? json_pack("{s:O}", "Item", out) : json_object());
        if (out != item)
            json_decref(out);
        json_decref(item);
    }
    if (r == 0)
        c->resp = json_pack("{s:O}", "Responses", responses);
    json_decref(responses);
    batches_release(b, n);
    return r;
}
