/* The table service's JSON 1.0 API: dispatch on X-Amz-Target, errors in DynamoDB's shape,
 * the table operations, and the authorization every operation goes through. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tables_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/util.h"

#define TARGET_PREFIX "DynamoDB_20120810."

/* ---- errors ---- */

int validation(struct call *c, const char *fmt, ...)
{
    char msg[TD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return td_err_set(&c->err, 400, "ValidationException", "%s", msg);
}

int not_found(struct call *c, const char *table)
{
    return td_err_set(&c->err, 400, "ResourceNotFoundException",
                      "Requested resource not found: Table: %.255s not found", table);
}

int internal_error(struct call *c, int r)
{
    if (c->err.status)
        return r < 0 ? r : -EIO;
    return td_err_set(&c->err, 500, "InternalServerError", "Internal server error (%s)",
                      strerror(r < 0 ? -r : EIO));
}

/* The "__type" of an error: the namespace DynamoDB gives it. */
static void error_type(const char *type, char *out, size_t size)
{
    static const char *const coral[] = {"AccessDeniedException", "SerializationException",
                                        "UnknownOperationException", "UnrecognizedClientException",
                                        "InternalFailure"};
    if (strcmp(type, "ValidationException") == 0) {
        snprintf(out, size, "com.amazon.coral.validate#%s", type);
        return;
    }
    for (size_t i = 0; i < TD_ARRAY_SIZE(coral); i++)
        if (strcmp(type, coral[i]) == 0) {
            snprintf(out, size, "com.amazon.coral.service#%s", type);
            return;
        }
    snprintf(out, size, "com.amazonaws.dynamodb.v20120810#%s", type);
}

/* ---- request members ---- */

int member_string(struct call *c, const json_t *o, const char *name, const char **ret)
{
    json_t *v = json_object_get(o, name);
    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return td_err_set(&c->err, 400, "SerializationException",
                          "Unexpected value type in payload for %s", name);
    *ret = json_string_value(v);
    return 0;
}

int required_string(struct call *c, const json_t *o, const char *name, const char **ret)
{
    int r = member_string(c, o, name, ret);
    if (r == 0 && !*ret)
        r = validation(c,
                       "1 validation error detected: Value null at '%c%s' failed to satisfy "
                       "constraint: Member must not be null",
                       name[0] + 32, name + 1);
    return r;
}

static bool valid_table_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > TD_TABLE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("_.-", s[i])))
            return false;
    return true;
}

static int table_name_param(struct call *c, const json_t *o, const char **ret)
{
    int r = required_string(c, o, "TableName", ret);
    if (r == 0 && !valid_table_name(*ret))
        r = validation(c,
                       "1 validation error detected: Value '%.255s' at 'tableName' failed to "
                       "satisfy constraint: Member must satisfy regular expression pattern: "
                       "[a-zA-Z0-9_.-]+",
                       *ret);
    return r;
}

int table_by_name(struct call *c, const char *name, struct td_table *t)
{
    if (!valid_table_name(name))
        return validation(c,
                          "1 validation error detected: Value '%.255s' at 'tableName' failed to "
                          "satisfy constraint: Member must satisfy regular expression pattern: "
                          "[a-zA-Z0-9_.-]+",
                          name);
    int r = c->t->store->ops->get_table(c->t->store, name, t);
    if (r == -ENOENT)
        return not_found(c, name);
    return r < 0 ? internal_error(c, r) : 0;
}

void table_arn(const struct call *c, const struct td_table *t, char *out, size_t size)
{
    snprintf(out, size, "arn:aws:dynamodb:%s:%s:table/%s", c->t->region, c->t->account, t->name);
}

int no_legacy(struct call *c, const json_t *o, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (json_object_get(o, names[i]))
            return validation(c,
                              "The legacy parameter %s is not supported by tenantd; use the "
                              "expression parameters instead",
                              names[i]);
    return 0;
}

/* ---- authorization ---- */

int authorize(struct call *c, const char *action, const struct td_table *t,
              const struct authz_extra *x)
{
    if (!c->authorize)
        return 0;
    char arn[512];
    if (t)
        table_arn(c, t, arn, sizeof(arn));
    struct td_tables_authz a = {
        .action = action,
        .resource = t ? arn : "*",
        .leading_keys = x ? x->leading_keys : NULL,
        .attributes = x ? x->attributes : NULL,
        .select = x ? x->select : NULL,
        .return_values = x ? x->return_values : NULL,
        .return_consumed_capacity =
            json_string_value(json_object_get(c->req, "ReturnConsumedCapacity")),
        .enclosing_operation = x ? x->enclosing_operation : NULL,
    };
    return c->authorize(c->userdata, &a, &c->err);
}

/* ---- tables ---- */

static json_t *describe(struct call *c, const struct td_table *t, const char *status)
{
    char arn[512];
    table_arn(c, t, arn, sizeof(arn));
    int64_t items = 0, bytes = 0;
    (void)c->t->store->ops->table_stats(c->t->store, t, &items, &bytes);
    json_t *keys = json_pack("[{s:s, s:s}]", "AttributeName", t->hash_name, "KeyType", "HASH");
    json_t *defs = json_pack("[{s:s, s:s}]", "AttributeName", t->hash_name, "AttributeType",
                             td_ddb_type_name(t->hash_type));
    if (t->range_name[0]) {
        json_array_append_new(
            keys, json_pack("{s:s, s:s}", "AttributeName", t->range_name, "KeyType", "RANGE"));
        json_array_append_new(defs, json_pack("{s:s, s:s}", "AttributeName", t->range_name,
                                              "AttributeType", td_ddb_type_name(t->range_type)));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:f, s:I, s:I, s:{s:s, s:f}, "
                     "s:{s:i, s:i, s:i}}",
                     "TableName", t->name, "TableArn", arn, "TableId", t->uuid, "TableStatus",
                     status, "KeySchema", keys, "AttributeDefinitions", defs, "CreationDateTime",
                     (double)t->created_ms / 1000.0, "ItemCount", (json_int_t)items,
                     "TableSizeBytes", (json_int_t)bytes, "BillingModeSummary", "BillingMode",
                     "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime",
                     (double)t->created_ms / 1000.0, "ProvisionedThroughput",
                     "NumberOfDecreasesToday", 0, "ReadCapacityUnits", 0, "WriteCapacityUnits", 0);
}

static int key_type(struct call *c, const json_t *defs, const char *name, enum td_ddb_type *ret)
{
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d)
    {
        const char *n = json_string_value(json_object_get(d, "AttributeName"));
        const char *type = json_string_value(json_object_get(d, "AttributeType"));
        if (!n || strcmp(n, name) != 0)
            continue;
        if (type && strcmp(type, "S") == 0)
            *ret = TD_DDB_S;
        else if (type && strcmp(type, "N") == 0)
            *ret = TD_DDB_N;
        else if (type && strcmp(type, "B") == 0)
            *ret = TD_DDB_B;
        else
            return validation(c,
                              "1 validation error detected: Value '%s' at "
                              "'attributeDefinitions.%zu.member.attributeType' failed to "
                              "satisfy constraint: Member must satisfy enum value set: [B, N, S]",
                              type ? type : "null", i + 1);
        return 0;
    }
    return validation(c,
                      "One or more parameter values were invalid: Some index key attributes "
                      "are not defined in AttributeDefinitions. Keys: [%.255s], "
                      "AttributeDefinitions: []",
                      name);
}

static int parse_key_schema(struct call *c, struct td_table *t)
{
    json_t *schema = json_object_get(c->req, "KeySchema");
    json_t *defs = json_object_get(c->req, "AttributeDefinitions");
    size_t n = json_array_size(schema);
    if (!json_is_array(schema) || n < 1 || n > 2)
        return validation(c, "1 validation error detected: Value at 'keySchema' failed to satisfy "
                             "constraint: Member must have length less than or equal to 2");
    if (!json_is_array(defs))
        return validation(c, "1 validation error detected: Value null at 'attributeDefinitions' "
                             "failed to satisfy constraint: Member must not be null");
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_array_get(schema, i);
        const char *name = json_string_value(json_object_get(k, "AttributeName"));
        const char *kind = json_string_value(json_object_get(k, "KeyType"));
        bool hash = kind && strcmp(kind, "HASH") == 0;
        bool range = kind && strcmp(kind, "RANGE") == 0;
        if (!name || !*name || strlen(name) > TD_TABLE_ATTR_MAX || (!hash && !range) ||
            (hash != (i == 0)))
            return validation(c, "Invalid KeySchema: The first KeySchemaElement is not a HASH "
                                 "key type");
        char *dst = hash ? t->hash_name : t->range_name;
        snprintf(dst, TD_TABLE_ATTR_MAX + 1, "%s", name);
        int r = key_type(c, defs, name, hash ? &t->hash_type : &t->range_type);
        if (r < 0)
            return r;
    }
    if (t->range_name[0] && strcmp(t->range_name, t->hash_name) == 0)
        return validation(c, "Both the Hash Key and the Range Key element in the KeySchema have "
                             "the same name");
    if (json_array_size(defs) != n)
        return validation(c, "One or more parameter values were invalid: Number of attributes in "
                             "KeySchema does not exactly match number of attributes defined in "
                             "AttributeDefinitions");
    return 0;
}

static int op_create_table(struct call *c)
{
    static const char *const unsupported[] = {"GlobalSecondaryIndexes", "LocalSecondaryIndexes",
                                              "StreamSpecification", NULL};
    const char *name;
    struct td_table t = {0};
    int r = table_name_param(c, c->req, &name);
    if (r == 0)
        r = no_legacy(c, c->req, unsupported); /* "not supported yet": the docs list them */
    if (r < 0)
        return r;
    snprintf(t.name, sizeof(t.name), "%s", name);
    if ((r = authorize(c, "dynamodb:CreateTable", &t, NULL)) < 0)
        return r;
    if ((r = parse_key_schema(c, &t)) < 0)
        return r;
    if ((r = td_uuid4(t.uuid)) < 0)
        return internal_error(c, r);
    t.created_ms = td_wall_ms();
    r = c->t->store->ops->create_table(c->t->store, &t);
    if (r == -EEXIST)
        return td_err_set(&c->err, 400, "ResourceInUseException", "Table already exists: %.255s",
                          name);
    if (r < 0)
        return internal_error(c, r);
    c->resp = json_pack("{s:o}", "TableDescription", describe(c, &t, "ACTIVE"));
    return c->resp ? 0 : -ENOMEM;
}

static int op_describe_table(struct call *c)
{
    const char *name;
    struct td_table t;
    int r = table_name_param(c, c->req, &name);
    if (r == 0)
        r = table_by_name(c, name, &t);
    if (r == 0)
        r = authorize(c, "dynamodb:DescribeTable", &t, NULL);
    if (r < 0)
        return r;
    c->resp = json_pack("{s:o}", "Table", describe(c, &t, "ACTIVE"));
    return c->resp ? 0 : -ENOMEM;
}

static int op_delete_table(struct call *c)
{
    const char *name;
    struct td_table t;
    int r = table_name_param(c, c->req, &name);
    if (r == 0)
        r = table_by_name(c, name, &t);
    if (r == 0)
        r = authorize(c, "dynamodb:DeleteTable", &t, NULL);
    if (r < 0)
        return r;
    json_t *desc = describe(c, &t, "DELETING");
    r = c->t->store->ops->delete_table(c->t->store, name);
    if (r < 0) {
        json_decref(desc);
        return r == -ENOENT ? not_found(c, name) : internal_error(c, r);
    }
    c->resp = json_pack("{s:o}", "TableDescription", desc);
    return c->resp ? 0 : -ENOMEM;
}

static int op_list_tables(struct call *c)
{
    const char *start;
    json_t *limit_v = json_object_get(c->req, "Limit");
    json_int_t limit = limit_v ? json_integer_value(limit_v) : LIST_TABLES_MAX;
    int r = member_string(c, c->req, "ExclusiveStartTableName", &start);
    if (r < 0)
        return r;
    if (limit_v && (!json_is_integer(limit_v) || limit < 1 || limit > LIST_TABLES_MAX))
        return validation(c,
                          "1 validation error detected: Value '%lld' at 'limit' failed to "
                          "satisfy constraint: Member must have value less than or equal to "
                          "100",
                          (long long)limit);
    if ((r = authorize(c, "dynamodb:ListTables", NULL, NULL)) < 0)
        return r;
    json_t *names = json_array();
    /* one more than asked: whether there is a next page */
    r = names ? c->t->store->ops->list_tables(c->t->store, start, (size_t)limit + 1, names)
              : -ENOMEM;
    if (r < 0) {
        json_decref(names);
        return internal_error(c, r);
    }
    bool more = json_array_size(names) > (size_t)limit;
    if (more)
        json_array_remove(names, (size_t)limit);
    c->resp = json_pack("{s:o}", "TableNames", names);
    if (c->resp && more)
        json_object_set(c->resp, "LastEvaluatedTableName",
                        json_array_get(names, (size_t)limit - 1));
    return c->resp ? 0 : -ENOMEM;
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    int (*fn)(struct call *c);
} ops[] = {
    {"CreateTable", op_create_table},
    {"DescribeTable", op_describe_table},
    {"DeleteTable", op_delete_table},
    {"ListTables", op_list_tables},
    {"PutItem", op_put_item},
    {"GetItem", op_get_item},
    {"UpdateItem", op_update_item},
    {"DeleteItem", op_delete_item},
    {"Query", op_query},
    {"Scan", op_scan},
    {"BatchGetItem", op_batch_get_item},
    {"BatchWriteItem", op_batch_write_item},
    {"TransactGetItems", op_transact_get_items},
    {"TransactWriteItems", op_transact_write_items},
};

static int dispatch(struct call *c, const char *target, const char *body, size_t len)
{
    if (!target || strncmp(target, TARGET_PREFIX, strlen(TARGET_PREFIX)) != 0)
        return td_err_set(&c->err, 400, "UnknownOperationException", "%s", "");
    const char *name = target + strlen(TARGET_PREFIX);
    for (size_t i = 0; i < TD_ARRAY_SIZE(ops); i++) {
        if (strcmp(name, ops[i].name) != 0)
            continue;
        c->op = ops[i].name;
        json_error_t jerr;
        c->req = json_loadb(len ? body : "{}", len ? len : 2, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(c->req))
            return td_err_set(&c->err, 400, "SerializationException",
                              "Start of structure or map found where not expected.");
        return ops[i].fn(c);
    }
    return td_err_set(&c->err, 400, "UnknownOperationException", "%s", "");
}

int td_tables_new(struct td_table_store *store, const struct td_tables_options *opts,
                  struct td_tables **ret)
{
    struct td_tables *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->store = store;
    snprintf(t->region, sizeof(t->region), "%s", opts->region);
    snprintf(t->account, sizeof(t->account), "%.12s", opts->account);
    *ret = t;
    return 0;
}

void td_tables_free(struct td_tables *t)
{
    if (!t)
        return;
    if (t->store)
        t->store->ops->close(t->store);
    free(t);
}

void td_tables_handle(struct td_tables *t, const char *target, const char *body, size_t len,
                      td_tables_authorize_fn authorize_fn, void *userdata, unsigned *status,
                      struct td_buf *out)
{
    struct call c = {.t = t, .authorize = authorize_fn, .userdata = userdata};
    int r = dispatch(&c, target, body, len);
    json_t *doc = c.resp;
    if (r == 0 && !doc)
        doc = c.resp = json_object();
    if (r < 0 || !doc) {
        if (!c.err.status)
            internal_error(&c, r);
        char type[160];
        error_type(c.err.type, type, sizeof(type));
        doc = json_pack("{s:s, s:s}", "__type", type, "message", c.err.message);
        if (doc && c.err_extra)
            json_object_update(doc, c.err_extra);
        *status = (unsigned)c.err.status;
    } else {
        json_incref(doc);
        *status = 200;
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!text || td_buf_puts(out, text) < 0) {
        td_buf_reset(out);
        (void)td_buf_puts(out, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                               "InternalServerError\",\"message\":\"Internal server error\"}");
        *status = 500;
    }
    free(text);
    json_decref(doc);
    json_decref(c.resp);
    json_decref(c.req);
    json_decref(c.err_extra);
}
