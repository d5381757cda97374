/* The table service's data model and expressions (pure library, no I/O): DynamoDB
 * AttributeValues, numbers, keys in an order-preserving encoding, item sizes, and the five
 * expression languages (condition, key condition, filter, projection, update).
 *
 * Values are kept in DynamoDB's own JSON form, as jansson values: {"S":"x"}, {"N":"1.50"},
 * {"B":"<base64>"}, {"BOOL":true}, {"NULL":true}, {"M":{...}}, {"L":[...]}, {"SS":[...]},
 * {"NS":[...]}, {"BS":[...]}. An item is a JSON object from attribute names to values.
 * Numbers are decimals of up to 38 significant digits, magnitudes 1E-130 to 9.99..E+125
 * (exact arithmetic with GMP); they are stored and returned in a canonical text form (plain
 * notation, no leading or trailing zeros: "1.5E2" -> "150") and compared numerically.
 *
 * Errors fill a struct td_err with status 400 and type "ValidationException" and DynamoDB's
 * wording, unless noted ("SerializationException" for JSON of the wrong shape; status 500
 * "InternalServerError" with -ENOMEM when memory runs out).
 *
 * Lifetimes: a parsed td_ddb_expr borrows values from its td_ddb_subst: free the expressions
 * before the substitutions. Nothing here is shared between threads. */
#ifndef TENANTD_DDB_H
#define TENANTD_DDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"

#define TD_DDB_ITEM_MAX_BYTES (400 * 1024)
#define TD_DDB_MAX_DEPTH      32 /* levels: a scalar inside at most 31 M or L */
#define TD_DDB_EXPR_MAX_BYTES 4096
#define TD_DDB_HASH_KEY_MAX   2048
#define TD_DDB_RANGE_KEY_MAX  1024

enum td_ddb_type {
    TD_DDB_S = 1,
    TD_DDB_N,
    TD_DDB_B,
    TD_DDB_BOOL,
    TD_DDB_NULL,
    TD_DDB_M,
    TD_DDB_L,
    TD_DDB_SS,
    TD_DDB_NS,
    TD_DDB_BS,
};

/* ---- values ---- */

/* The type of a well-formed AttributeValue, or 0. */
enum td_ddb_type td_ddb_type_of(const json_t *value);
const char *td_ddb_type_name(enum td_ddb_type t); /* "S", "N", ... */

/* Check an AttributeValue as a request carries it and put it in canonical form in place
 * (numbers normalised, e.g. "01.50" -> "1.5"; sets keep their order; unknown and null members
 * dropped, as DynamoDB's deserializer ignores them). Refused as DynamoDB refuses them: no or
 * several type members, a number that is not one or out of range, an empty set, duplicates in
 * a set, bad base64, NULL other than true, nesting past TD_DDB_MAX_DEPTH levels. `where` is
 * NULL for a value of an item or key, or the ExpressionAttributeValues key (":v") the value
 * stands for: the message is then DynamoDB's "ExpressionAttributeValues contains invalid value:
 * <reason> for key :v". Empty S and B are accepted (only keys refuse them: the caller's check). */
int td_ddb_value_check(json_t *value, const char *where, struct td_err *err);
/* The same for every attribute of an item (an empty attribute name is refused). */
int td_ddb_item_check(json_t *item, struct td_err *err);

/* DynamoDB's item size: attribute name lengths plus value sizes (UTF-8 bytes of S, raw bytes
 * of B, numbers by their significant digits as DynamoDB counts them, 1 for BOOL and NULL,
 * 3 + 1 per element for M and L), for the 400 KB limit and the 1 MB page rule. */
size_t td_ddb_item_size(const json_t *item);

/* Equality as DynamoDB compares values (numbers numerically, sets as sets). */
bool td_ddb_value_equal(const json_t *a, const json_t *b);
/* Order of two scalars of the same type S, N or B (<0, 0, >0); -2 when not comparable. */
int td_ddb_value_compare(const json_t *a, const json_t *b);

/* ---- keys ---- */

/* A key attribute value (S, N or B) encoded so that memcmp order is DynamoDB's sort order:
 * S bytewise UTF-8, B bytewise, N numeric (equal numbers encode identically). Appended to out.
 * -EINVAL for another type. The S and B encodings are the raw bytes, not self-delimiting:
 * keep hash and range keys in separate columns (begins_with on S or B is then a prefix test
 * on the raw bytes). The N encoding is self-delimiting, at most 22 bytes. */
int td_ddb_key_encode(const json_t *value, struct td_buf *out);
/* And back, given the type. */
int td_ddb_key_decode(enum td_ddb_type type, const void *data, size_t len, json_t **ret);

/* ---- expressions ---- */

enum td_ddb_expr_kind {
    TD_DDB_EXPR_CONDITION,     /* ConditionExpression */
    TD_DDB_EXPR_KEY_CONDITION, /* KeyConditionExpression */
    TD_DDB_EXPR_FILTER,        /* FilterExpression (same grammar as a condition) */
    TD_DDB_EXPR_PROJECTION,    /* ProjectionExpression */
    TD_DDB_EXPR_UPDATE,        /* UpdateExpression */
};

struct td_ddb_expr;

/* Substitutions of a request: ExpressionAttributeNames ("#n" -> "name") and
 * ExpressionAttributeValues (":v" -> AttributeValue), shared by all the expressions of one
 * request; each parse marks what it used, so that td_ddb_subst_check can refuse unused ones
 * as DynamoDB does ("Value provided in ExpressionAttributeValues unused in expressions:
 * keys: {:v}"). */
struct td_ddb_subst;
int td_ddb_subst_new(const json_t *names, const json_t *values, struct td_ddb_subst **ret,
                     struct td_err *err);
void td_ddb_subst_free(struct td_ddb_subst *s);
int td_ddb_subst_check(const struct td_ddb_subst *s, struct td_err *err);

int td_ddb_expr_parse(enum td_ddb_expr_kind kind, const char *text, struct td_ddb_subst *s,
                      struct td_ddb_expr **ret, struct td_err *err);
void td_ddb_expr_free(struct td_ddb_expr *e);

/* A condition or filter against an item (NULL: no such item). *ret is the outcome; an
 * expression that cannot be evaluated (a function on a wrong type, say) is false, as in
 * DynamoDB, except the errors DynamoDB reports (returned with err). */
int td_ddb_condition_eval(const struct td_ddb_expr *e, const json_t *item, bool *ret,
                          struct td_err *err);

/* A projection of an item: a new item with only the projected paths. */
int td_ddb_projection_apply(const struct td_ddb_expr *e, const json_t *item, json_t **ret,
                            struct td_err *err);

/* Apply an update to an item in place (created empty by the caller for a new item). Key
 * attributes may not be changed: key_names lists them (NULL-terminated). All or nothing: on
 * error the item is unchanged. Runtime errors are DynamoDB's unprefixed messages ("The
 * provided expression refers to an attribute that does not exist in the item", ...). */
int td_ddb_update_apply(const struct td_ddb_expr *e, json_t *item, const char *const *key_names,
                        struct td_err *err);

/* For ReturnValues UPDATED_OLD / UPDATED_NEW: the item (before or after the update) projected
 * on the paths the update writes, as a new item ({} when none of them exists). */
int td_ddb_update_project(const struct td_ddb_expr *e, const json_t *item, json_t **ret,
                          struct td_err *err);

/* What a key condition says, for a table's key schema: the partition key's value, and an
 * optional condition on the sort key (":v < sk" is returned as sk > :v). range_name is NULL
 * for a hash-only table. Refused with DynamoDB's messages ("Query condition missed key schema
 * element: pk", "Query key condition not supported", ...). The values' types are not checked
 * against the schema: that is the caller's "One or more parameter values were invalid:
 * Condition parameter type does not match schema type". */
enum td_ddb_range_op {
    TD_DDB_RANGE_NONE = 0,
    TD_DDB_RANGE_EQ,
    TD_DDB_RANGE_LT,
    TD_DDB_RANGE_LE,
    TD_DDB_RANGE_GT,
    TD_DDB_RANGE_GE,
    TD_DDB_RANGE_BETWEEN,
    TD_DDB_RANGE_BEGINS_WITH,
};

struct td_ddb_key_condition {
    const json_t *hash_value; /* borrowed from the substitutions */
    enum td_ddb_range_op op;
    const json_t *range_values[2]; /* one, or two for BETWEEN */
};

int td_ddb_key_condition_get(const struct td_ddb_expr *e, const char *hash_name,
                             const char *range_name, struct td_ddb_key_condition *ret,
                             struct td_err *err);

/* The top-level attribute names an expression reads or writes (for dynamodb:Attributes),
 * added to the JSON array `names` without duplicates. */
int td_ddb_expr_attributes(const struct td_ddb_expr *e, json_t *names);

#endif
