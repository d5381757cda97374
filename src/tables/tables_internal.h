/* Shared by the table service's files: one request's context, errors, keys, authorization. */
#ifndef TENANTD_TABLES_INTERNAL_H
#define TENANTD_TABLES_INTERNAL_H

#include <stdbool.h>

#include "tenantd/tables.h"

#define PAGE_MAX_BYTES     (1024 * 1024)
#define BATCH_GET_MAX_KEYS 100
#define BATCH_WRITE_MAX    25
#define TRANSACT_MAX_ITEMS 100
#define LIST_TABLES_MAX    100

struct td_tables {
    struct td_table_store *store;
    char region[64];
    char account[16];
};

/* One request. */
struct call {
    struct td_tables *t;
    const char *op; /* "GetItem" */
    json_t *req;    /* the request body */
    json_t *resp;   /* the answer, built by the operation */
    td_tables_authorize_fn authorize;
    void *userdata;
    struct td_err err;
    json_t *err_extra; /* members added to an error body (Item, CancellationReasons) */
};

/* ---- errors (api.c) ---- */
int validation(struct call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int not_found(struct call *c, const char *table);
int internal_error(struct call *c, int r);

/* ---- request members (api.c) ---- */
/* A string member; NULL when absent. A present member of another type is an error. */
int member_string(struct call *c, const json_t *o, const char *name, const char **ret);
int required_string(struct call *c, const json_t *o, const char *name, const char **ret);
int table_by_name(struct call *c, const char *name, struct td_table *t);
void table_arn(const struct call *c, const struct td_table *t, char *out, size_t size);
/* Refuse legacy parameters (Expected, AttributesToGet, ...) that tenantd does not implement. */
int no_legacy(struct call *c, const json_t *o, const char *const *names);

/* ---- keys (keys.c) ---- */
struct key {
    struct td_buf hk;
    struct td_buf rk;
    json_t *value; /* the key attributes as a map, for LastEvaluatedKey and responses */
};
void key_init(struct key *k);
void key_release(struct key *k);
/* The key of a Key map (exactly the key attributes) or of an Item (key attributes present). */
int key_from_key(struct call *c, const struct td_table *t, json_t *key, struct key *ret);
int key_from_item(struct call *c, const struct td_table *t, const json_t *item, struct key *ret);
/* The partition key value as the policy sees it (dynamodb:LeadingKeys). */
int leading_key_text(const json_t *key_map, const struct td_table *t, json_t *out_array);

/* ---- authorization (api.c) ---- */
struct authz_extra {
    json_t *leading_keys;
    json_t *attributes;
    const char *select;
    const char *return_values;
    const char *enclosing_operation;
};
int authorize(struct call *c, const char *action, const struct td_table *t,
              const struct authz_extra *x);

/* ---- expressions (items.c) ---- */
struct exprs {
    struct td_ddb_subst *subst;
    struct td_ddb_expr *condition;
    struct td_ddb_expr *projection;
    struct td_ddb_expr *update;
    struct td_ddb_expr *filter;
    struct td_ddb_expr *key_condition;
};
void exprs_release(struct exprs *e);
/* Parse the expressions of o named in `which` (ConditionExpression, ...), then refuse unused
 * names and values. */
int exprs_parse(struct call *c, const json_t *o, struct exprs *e, bool condition, bool projection,
                bool update, bool filter, bool key_condition);
int item_load(struct call *c, const struct td_table *t, const struct key *k, json_t **ret);
int item_store(struct call *c, const struct td_table *t, const struct key *k, json_t *item);
int check_condition(struct call *c, const struct td_ddb_expr *cond, const json_t *item,
                    const char *rvcf);

/* ---- operations ---- */
int op_put_item(struct call *c);
int op_get_item(struct call *c);
int op_update_item(struct call *c);
int op_delete_item(struct call *c);
int op_query(struct call *c);
int op_scan(struct call *c);
int op_batch_get_item(struct call *c);
int op_batch_write_item(struct call *c);
int op_transact_get_items(struct call *c);
int op_transact_write_items(struct call *c);

#endif
