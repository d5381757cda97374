/* The table store on SQLite: one database file in WAL mode, written by the daemon's one
 * thread. Items are rows (table, encoded partition key, encoded sort key) -> JSON text, in a
 * WITHOUT ROWID table whose primary key is that triple: keys compare with memcmp (BLOB), which
 * the encodings make DynamoDB's order, so a Query is an index range and never a table scan.
 *
 * Durability: WAL with synchronous=NORMAL survives the daemon being killed (every committed
 * transaction is in the WAL file); a power loss may lose the last transactions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "tenantd/cleanup.h"
#include "tenantd/sqlite.h"
#include "tenantd/tables.h"
#include "tenantd/util.h"

struct sqlite_store {
    struct td_table_store base;
    sqlite3 *db;
    /* the statements of every request, prepared once */
    sqlite3_stmt *table_stmt;
    sqlite3_stmt *get_stmt;
    sqlite3_stmt *put_stmt;
    sqlite3_stmt *delete_stmt;
    uint64_t walk_steps; /* virtual machine steps of every query and scan so far */
};

static const char schema_sql[] = "PRAGMA journal_mode=WAL;"
                                 "PRAGMA synchronous=NORMAL;"
                                 "CREATE TABLE IF NOT EXISTS ddb_tables ("
                                 "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
                                 "  name TEXT NOT NULL UNIQUE,"
                                 "  uuid TEXT NOT NULL,"
                                 "  hash_name TEXT NOT NULL, hash_type INTEGER NOT NULL,"
                                 "  range_name TEXT NOT NULL, range_type INTEGER NOT NULL,"
                                 "  created_ms INTEGER NOT NULL);"
                                 "CREATE TABLE IF NOT EXISTS ddb_items ("
                                 "  table_id INTEGER NOT NULL,"
                                 "  hk BLOB NOT NULL,"
                                 "  rk BLOB NOT NULL,"
                                 "  size INTEGER NOT NULL,"
                                 "  item TEXT NOT NULL,"
                                 "  PRIMARY KEY (table_id, hk, rk)) WITHOUT ROWID;";

static struct sqlite_store *S(struct td_table_store *s)
{
    return (struct sqlite_store *)s;
}

static int prepare(struct sqlite_store *s, const char *sql, sqlite3_stmt **st)
{
    return td_sqlite_errno(sqlite3_prepare_v2(s->db, sql, -1, st, NULL));
}

/* Bind a BLOB; an empty key (no sort key) is a zero-length blob, never NULL. */
static int bind_blob(sqlite3_stmt *st, int i, const void *p, size_t len)
{
    static const char none = 0;
    return td_sqlite_errno(sqlite3_bind_blob(st, i, len ? p : &none, (int)len, SQLITE_TRANSIENT));
}

/* ---- tables ---- */

static int create_table(struct td_table_store *base, struct td_table *t)
{
    struct sqlite_store *s = S(base);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s,
                    "INSERT INTO ddb_tables(name, uuid, hash_name, hash_type, range_name, "
                    "range_type, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, t->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, t->uuid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, t->hash_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, (int)t->hash_type);
    sqlite3_bind_text(st, 5, t->range_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 6, (int)t->range_type);
    sqlite3_bind_int64(st, 7, t->created_ms);
    if ((r = td_sqlite_errno(sqlite3_step(st))) < 0)
        return r;
    t->id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int delete_table(struct td_table_store *base, const char *name)
{
    struct sqlite_store *s = S(base);
    struct td_table t;
    int r = base->ops->get_table(base, name, &t);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *items = NULL;
    _cleanup_stmt_ sqlite3_stmt *table = NULL;
    if ((r = prepare(s, "DELETE FROM ddb_items WHERE table_id = ?1", &items)) < 0 ||
        (r = prepare(s, "DELETE FROM ddb_tables WHERE id = ?1", &table)) < 0)
        return r;
    sqlite3_bind_int64(items, 1, t.id);
    sqlite3_bind_int64(table, 1, t.id);
    if ((r = td_sqlite_errno(sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL))) < 0)
        return r;
    if ((r = td_sqlite_errno(sqlite3_step(items))) == 0 &&
        (r = td_sqlite_errno(sqlite3_step(table))) == 0)
        return td_sqlite_errno(sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL));
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
    snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static int get_table(struct td_table_store *base, const char *name, struct td_table *ret)
{
    _cleanup_reset_ sqlite3_stmt *st = S(base)->table_stmt;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return td_sqlite_errno(rc);
    memset(ret, 0, sizeof(*ret));
    ret->id = sqlite3_column_int64(st, 0);
    copy_text(ret->name, sizeof(ret->name), sqlite3_column_text(st, 1));
    copy_text(ret->uuid, sizeof(ret->uuid), sqlite3_column_text(st, 2));
    copy_text(ret->hash_name, sizeof(ret->hash_name), sqlite3_column_text(st, 3));
    ret->hash_type = (enum td_ddb_type)sqlite3_column_int(st, 4);
    copy_text(ret->range_name, sizeof(ret->range_name), sqlite3_column_text(st, 5));
    ret->range_type = (enum td_ddb_type)sqlite3_column_int(st, 6);
    ret->created_ms = sqlite3_column_int64(st, 7);
    return 0;
}

static int list_tables(struct td_table_store *base, const char *after, size_t limit, json_t *names)
{
    struct sqlite_store *s = S(base);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, "SELECT name FROM ddb_tables WHERE name > ?1 ORDER BY name LIMIT ?2", &st);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(names, json_string((const char *)sqlite3_column_text(st, 0))) < 0)
            return -ENOMEM;
    return td_sqlite_errno(rc);
}

static int table_stats(struct td_table_store *base, const struct td_table *t, int64_t *items,
                       int64_t *bytes)
{
    struct sqlite_store *s = S(base);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, "SELECT count(*), coalesce(sum(size), 0) FROM ddb_items WHERE table_id = ?1",
                    &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, t->id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return td_sqlite_errno(rc);
    *items = sqlite3_column_int64(st, 0);
    *bytes = sqlite3_column_int64(st, 1);
    return 0;
}

/* ---- transactions ---- */

static int begin(struct td_table_store *base)
{
    return td_sqlite_errno(sqlite3_exec(S(base)->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
}

static int commit(struct td_table_store *base)
{
    return td_sqlite_errno(sqlite3_exec(S(base)->db, "COMMIT", NULL, NULL, NULL));
}

static void rollback(struct td_table_store *base)
{
    sqlite3_exec(S(base)->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- items ---- */

static int bind_key(sqlite3_stmt *st, const struct td_table *t, const void *hk, size_t hk_len,
                    const void *rk, size_t rk_len)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    int r = td_sqlite_errno(sqlite3_bind_int64(st, 1, t->id));
    if (r == 0)
        r = bind_blob(st, 2, hk, hk_len);
    if (r == 0)
        r = bind_blob(st, 3, rk, rk_len);
    return r;
}

static int get_item(struct td_table_store *base, const struct td_table *t, const void *hk,
                    size_t hk_len, const void *rk, size_t rk_len, char **json)
{
    struct sqlite_store *s = S(base);
    int r = bind_key(s->get_stmt, t, hk, hk_len, rk, rk_len);
    if (r < 0)
        return r;
    int rc = sqlite3_step(s->get_stmt);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s->get_stmt);
        return -ENOENT;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s->get_stmt);
        return td_sqlite_errno(rc);
    }
    const char *text = (const char *)sqlite3_column_text(s->get_stmt, 0);
    *json = text ? strdup(text) : NULL;
    sqlite3_reset(s->get_stmt);
    return *json ? 0 : -ENOMEM;
}

static int put_item(struct td_table_store *base, const struct td_table *t, const void *hk,
                    size_t hk_len, const void *rk, size_t rk_len, const char *json, size_t size)
{
    struct sqlite_store *s = S(base);
    int r = bind_key(s->put_stmt, t, hk, hk_len, rk, rk_len);
    if (r == 0)
        r = td_sqlite_errno(sqlite3_bind_int64(s->put_stmt, 4, (sqlite3_int64)size));
    if (r == 0)
        r = td_sqlite_errno(sqlite3_bind_text(s->put_stmt, 5, json, -1, SQLITE_STATIC));
    if (r == 0)
        r = td_sqlite_errno(sqlite3_step(s->put_stmt));
    sqlite3_reset(s->put_stmt);
    sqlite3_clear_bindings(s->put_stmt);
    return r;
}

static int delete_item(struct td_table_store *base, const struct td_table *t, const void *hk,
                       size_t hk_len, const void *rk, size_t rk_len)
{
    struct sqlite_store *s = S(base);
    int r = bind_key(s->delete_stmt, t, hk, hk_len, rk, rk_len);
    if (r == 0)
        r = td_sqlite_errno(sqlite3_step(s->delete_stmt));
    sqlite3_reset(s->delete_stmt);
    return r;
}

static int walk_rows(sqlite3_stmt *st, int key_columns, td_item_visit_fn fn, void *userdata)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct td_stored_item it = {0};
        int c = 0;
        if (key_columns == 2) {
            it.hk = sqlite3_column_blob(st, c);
            it.hk_len = (size_t)sqlite3_column_bytes(st, c++);
        }
        it.rk = sqlite3_column_blob(st, c);
        it.rk_len = (size_t)sqlite3_column_bytes(st, c++);
        it.json = (const char *)sqlite3_column_text(st, c);
        it.json_len = (size_t)sqlite3_column_bytes(st, c);
        if (!it.json)
            return -EIO;
        if (!fn(&it, userdata))
            return 0;
    }
    return td_sqlite_errno(rc);
}

/* The rows of a query or scan, counting the work SQLite did for them (see
 * td_table_store_sqlite_steps). */
static int walk(struct sqlite_store *s, sqlite3_stmt *st, int key_columns, td_item_visit_fn fn,
                void *userdata)
{
    int r = walk_rows(st, key_columns, fn, userdata);
    s->walk_steps += (uint64_t)sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    return r;
}

uint64_t td_table_store_sqlite_steps(struct td_table_store *base)
{
    return S(base)->walk_steps;
}

static int query(struct td_table_store *base, const struct td_table *t, const void *hk,
                 size_t hk_len, const struct td_key_range *range, bool forward,
                 const void *start_rk, size_t start_rk_len, td_item_visit_fn fn, void *userdata)
{
    struct sqlite_store *s = S(base);
    char sql[512];
    /* The start key continues in the walk's direction. */
    snprintf(sql, sizeof(sql),
             "SELECT rk, item FROM ddb_items WHERE table_id = ?1 AND hk = ?2%s%s%s ORDER BY rk "
             "%s",
             range->lo ? (range->lo_inclusive ? " AND rk >= ?3" : " AND rk > ?3") : "",
             range->hi ? (range->hi_inclusive ? " AND rk <= ?4" : " AND rk < ?4") : "",
             start_rk ? (forward ? " AND rk > ?5" : " AND rk < ?5") : "", forward ? "ASC" : "DESC");
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, sql, &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, t->id);
    if ((r = bind_blob(st, 2, hk, hk_len)) < 0 ||
        (range->lo && (r = bind_blob(st, 3, range->lo, range->lo_len)) < 0) ||
        (range->hi && (r = bind_blob(st, 4, range->hi, range->hi_len)) < 0) ||
        (start_rk && (r = bind_blob(st, 5, start_rk, start_rk_len)) < 0))
        return r;
    return walk(s, st, 1, fn, userdata);
}

static int scan(struct td_table_store *base, const struct td_table *t, const void *start_hk,
                size_t start_hk_len, const void *start_rk, size_t start_rk_len, td_item_visit_fn fn,
                void *userdata)
{
    struct sqlite_store *s = S(base);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s,
                    start_hk ? "SELECT hk, rk, item FROM ddb_items WHERE table_id = ?1 AND "
                               "(hk, rk) > (?2, ?3) ORDER BY hk, rk"
                             : "SELECT hk, rk, item FROM ddb_items WHERE table_id = ?1 ORDER BY "
                               "hk, rk",
                    &st);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, t->id);
    if (start_hk && ((r = bind_blob(st, 2, start_hk, start_hk_len)) < 0 ||
                     (r = bind_blob(st, 3, start_rk, start_rk_len)) < 0))
        return r;
    return walk(s, st, 2, fn, userdata);
}

static void store_close(struct td_table_store *base)
{
    struct sqlite_store *s = S(base);
    if (!s)
        return;
    sqlite3_finalize(s->table_stmt);
    sqlite3_finalize(s->get_stmt);
    sqlite3_finalize(s->put_stmt);
    sqlite3_finalize(s->delete_stmt);
    sqlite3_close_v2(s->db);
    free(s);
}

static const struct td_table_store_ops sqlite_ops = {
    .close = store_close,
    .create_table = create_table,
    .delete_table = delete_table,
    .get_table = get_table,
    .list_tables = list_tables,
    .table_stats = table_stats,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
    .get_item = get_item,
    .put_item = put_item,
    .delete_item = delete_item,
    .query = query,
    .scan = scan,
};

int td_table_store_sqlite_open(const char *path, struct td_table_store **ret)
{
    struct sqlite_store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->base.ops = &sqlite_ops;
    int r = td_sqlite_errno(sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL));
    if (r == 0)
        r = td_sqlite_errno(sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL));
    if (r == 0)
        r = td_sqlite_errno(sqlite3_busy_timeout(s->db, 5000));
    if (r == 0)
        r = prepare(s,
                    "SELECT id, name, uuid, hash_name, hash_type, range_name, range_type, "
                    "created_ms FROM ddb_tables WHERE name = ?1",
                    &s->table_stmt);
    if (r == 0)
        r = prepare(s, "SELECT item FROM ddb_items WHERE table_id = ?1 AND hk = ?2 AND rk = ?3",
                    &s->get_stmt);
    if (r == 0)
        r = prepare(s,
                    "INSERT INTO ddb_items(table_id, hk, rk, size, item) VALUES (?1, ?2, ?3, ?4, "
                    "?5) ON CONFLICT(table_id, hk, rk) DO UPDATE SET size = excluded.size, item "
                    "= excluded.item",
                    &s->put_stmt);
    if (r == 0)
        r = prepare(s, "DELETE FROM ddb_items WHERE table_id = ?1 AND hk = ?2 AND rk = ?3",
                    &s->delete_stmt);
    if (r < 0) {
        store_close(&s->base);
        return r;
    }
    *ret = &s->base;
    return 0;
}
