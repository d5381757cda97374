/* The table service: a DynamoDB-compatible store (JSON 1.0 protocol) whose every request is
 * authorized with the caller's credentials, DynamoDB condition keys included.
 *
 * Two layers: the storage interface (struct td_table_store: tables, and items by encoded key,
 * in key order; SQLite implements it, a PostgreSQL one can follow) and the API (src/tables/
 * api.c: validation, expressions, paging, transactions, authorization). */
#ifndef TENANTD_TABLES_H
#define TENANTD_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tenantd/buf.h"
#include "tenantd/ddb.h"
#include "tenantd/error.h"

#define TD_TABLE_NAME_MAX  255
#define TD_TABLES_BODY_MAX (16 * 1024 * 1024) /* BatchWriteItem's request limit */
#define TD_TABLE_ATTR_MAX  255

struct td_table {
    int64_t id; /* the store's own id; a table created again under a name gets another */
    char name[TD_TABLE_NAME_MAX + 1];
    char uuid[37];
    char hash_name[TD_TABLE_ATTR_MAX + 1];
    enum td_ddb_type hash_type;
    char range_name[TD_TABLE_ATTR_MAX + 1]; /* "" when the table has no sort key */
    enum td_ddb_type range_type;
    int64_t created_ms;
};

/* ---- storage ---- */

struct td_table_store;

/* A stored item as a scan or query returns it: encoded keys and the item's JSON text. */
struct td_stored_item {
    const void *hk;
    size_t hk_len;
    const void *rk;
    size_t rk_len;
    const char *json;
    size_t json_len;
};

/* Return false to stop the walk. */
typedef bool (*td_item_visit_fn)(const struct td_stored_item *item, void *userdata);

/* Bounds of a query on the sort key, as encoded keys; NULL data = unbounded. */
struct td_key_range {
    const void *lo;
    size_t lo_len;
    bool lo_inclusive;
    const void *hi;
    size_t hi_len;
    bool hi_inclusive;
};

struct td_table_store_ops {
    void (*close)(struct td_table_store *s);
    int (*create_table)(struct td_table_store *s, struct td_table *t); /* -EEXIST */
    int (*delete_table)(struct td_table_store *s, const char *name);   /* -ENOENT */
    int (*get_table)(struct td_table_store *s, const char *name, struct td_table *ret);
    /* Names after `after` (NULL: from the start), in order, at most limit. */
    int (*list_tables)(struct td_table_store *s, const char *after, size_t limit, json_t *names);
    int (*table_stats)(struct td_table_store *s, const struct td_table *t, int64_t *items,
                       int64_t *bytes);
    /* One write transaction at a time; reads outside one see committed data. */
    int (*begin)(struct td_table_store *s);
    int (*commit)(struct td_table_store *s);
    void (*rollback)(struct td_table_store *s);
    /* -ENOENT when absent; *json is malloc'd. */
    int (*get_item)(struct td_table_store *s, const struct td_table *t, const void *hk,
                    size_t hk_len, const void *rk, size_t rk_len, char **json);
    int (*put_item)(struct td_table_store *s, const struct td_table *t, const void *hk,
                    size_t hk_len, const void *rk, size_t rk_len, const char *json, size_t size);
    int (*delete_item)(struct td_table_store *s, const struct td_table *t, const void *hk,
                       size_t hk_len, const void *rk, size_t rk_len);
    /* The items of one partition within range, in sort-key order (or reverse), starting after
     * start_rk when given. */
    int (*query)(struct td_table_store *s, const struct td_table *t, const void *hk, size_t hk_len,
                 const struct td_key_range *range, bool forward, const void *start_rk,
                 size_t start_rk_len, td_item_visit_fn fn, void *userdata);
    /* Every item in key order, starting after (start_hk, start_rk) when start_hk is given. */
    int (*scan)(struct td_table_store *s, const struct td_table *t, const void *start_hk,
                size_t start_hk_len, const void *start_rk, size_t start_rk_len, td_item_visit_fn fn,
                void *userdata);
};

struct td_table_store {
    const struct td_table_store_ops *ops;
};

/* SQLite (WAL; one database file). */
int td_table_store_sqlite_open(const char *path, struct td_table_store **ret);
/* The virtual-machine steps SQLite took for every query and scan so far: proportional to the
 * index entries visited, so a test can tell a Query that seeks its partition from one that
 * reads the table. */
uint64_t td_table_store_sqlite_steps(struct td_table_store *s);

/* ---- the API ---- */

struct td_tables;

/* What a request asks to do, for the authorizer: the action, the table ARN, and the DynamoDB
 * condition keys (NULL: the key is absent from the request context). */
struct td_tables_authz {
    const char *action; /* "dynamodb:GetItem" */
    const char *resource;
    const json_t *leading_keys; /* array of strings */
    const json_t *attributes;   /* array of strings */
    const char *select;
    const char *return_values;
    const char *return_consumed_capacity;
    const char *enclosing_operation;
};

typedef int (*td_tables_authorize_fn)(void *userdata, const struct td_tables_authz *a,
                                      struct td_err *err);

struct td_tables_options {
    const char *region;
    const char *account;
};

int td_tables_new(struct td_table_store *store, const struct td_tables_options *opts,
                  struct td_tables **ret);
void td_tables_free(struct td_tables *t);

/* One request: target is the X-Amz-Target header, body the JSON body. The answer's JSON is
 * appended to out and its status set; on an error, err_type is the full "__type". */
void td_tables_handle(struct td_tables *t, const char *target, const char *body, size_t len,
                      td_tables_authorize_fn authorize, void *userdata, unsigned *status,
                      struct td_buf *out);

#endif
