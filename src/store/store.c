#include "tenantd/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "tenantd/cleanup.h"
#include "tenantd/sqlite.h"
#include "tenantd/util.h"

struct td_store {
    sqlite3 *db;
};

#define SCHEMA_VERSION 1

static const char schema_sql[] = "CREATE TABLE IF NOT EXISTS access_keys ("
                                 "  access_key_id TEXT PRIMARY KEY,"
                                 "  secret TEXT NOT NULL,"
                                 "  principal TEXT NOT NULL,"
                                 "  created_ms INTEGER NOT NULL);"
                                 "CREATE TABLE IF NOT EXISTS code ("
                                 "  sha256 TEXT PRIMARY KEY,"
                                 "  size INTEGER NOT NULL,"
                                 "  zip BLOB NOT NULL);"
                                 "CREATE TABLE IF NOT EXISTS functions ("
                                 "  name TEXT PRIMARY KEY,"
                                 "  config TEXT NOT NULL,"
                                 "  code_sha256 TEXT NOT NULL REFERENCES code(sha256));"
                                 "CREATE TABLE IF NOT EXISTS roles ("
                                 "  name TEXT PRIMARY KEY,"
                                 "  doc TEXT NOT NULL);"
                                 "CREATE TABLE IF NOT EXISTS policies ("
                                 "  arn TEXT PRIMARY KEY,"
                                 "  doc TEXT NOT NULL);";

static int prepare(struct td_store *s, const char *sql, sqlite3_stmt **ret)
{
    return td_sqlite_errno(sqlite3_prepare_v2(s->db, sql, -1, ret, NULL));
}

static int exec_sql(struct td_store *s, const char *sql)
{
    return td_sqlite_errno(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

static int migrate(struct td_store *s)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, "PRAGMA user_version", &st);
    if (r < 0)
        return r;
    if (sqlite3_step(st) != SQLITE_ROW)
        return -EIO;
    int version = sqlite3_column_int(st, 0);
    if (version > SCHEMA_VERSION)
        return -EPROTO; /* written by a newer tenantd */
    r = exec_sql(s, schema_sql);
    if (r < 0)
        return r;
    return exec_sql(s, "PRAGMA user_version = 1");
}

int td_store_open(const char *path, struct td_store **ret)
{
    struct td_store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    int r = td_sqlite_errno(rc & 0xff);
    if (r == 0)
        r = exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;");
    if (r == 0)
        r = migrate(s);
    if (r < 0) {
        td_store_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

void td_store_close(struct td_store *s)
{
    if (!s)
        return;
    sqlite3_close_v2(s->db);
    free(s);
}

int td_store_begin(struct td_store *s)
{
    return exec_sql(s, "BEGIN IMMEDIATE");
}

int td_store_commit(struct td_store *s)
{
    return exec_sql(s, "COMMIT");
}

void td_store_rollback(struct td_store *s)
{
    (void)exec_sql(s, "ROLLBACK");
}

static int bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    return td_sqlite_errno(sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC));
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : td_sqlite_errno(rc);
}

int td_store_key_add(struct td_store *s, const char *access_key_id, const char *secret,
                     const char *principal)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s,
                    "INSERT INTO access_keys(access_key_id, secret, principal, created_ms) "
                    "VALUES (?1, ?2, ?3, ?4)",
                    &st);
    if (r < 0)
        return r;
    if ((r = bind_text(st, 1, access_key_id)) < 0 || (r = bind_text(st, 2, secret)) < 0 ||
        (r = bind_text(st, 3, principal)) < 0)
        return r;
    if ((r = td_sqlite_errno(sqlite3_bind_int64(st, 4, td_wall_ms()))) < 0)
        return r;
    return step_done(st);
}

int td_store_keys_load(struct td_store *s, td_store_key_fn fn, void *userdata)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r =
        prepare(s, "SELECT access_key_id, secret, principal FROM access_keys ORDER BY rowid", &st);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r = fn((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2), userdata);
        if (r < 0)
            return r;
    }
    return rc == SQLITE_DONE ? 0 : td_sqlite_errno(rc);
}

int td_store_code_put(struct td_store *s, const char *sha256_hex, const void *zip, size_t len)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, "INSERT OR IGNORE INTO code(sha256, size, zip) VALUES (?1, ?2, ?3)", &st);
    if (r < 0)
        return r;
    if ((r = bind_text(st, 1, sha256_hex)) < 0)
        return r;
    if ((r = td_sqlite_errno(sqlite3_bind_int64(st, 2, (sqlite3_int64)len))) < 0)
        return r;
    if ((r = td_sqlite_errno(sqlite3_bind_blob64(st, 3, zip, len, SQLITE_STATIC))) < 0)
        return r;
    return step_done(st);
}

int td_store_code_get(struct td_store *s, const char *sha256_hex, struct td_buf *out)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, "SELECT zip FROM code WHERE sha256 = ?1", &st);
    if (r < 0)
        return r;
    if ((r = bind_text(st, 1, sha256_hex)) < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return td_sqlite_errno(rc);
    const void *blob = sqlite3_column_blob(st, 0);
    int n = sqlite3_column_bytes(st, 0);
    return td_buf_append(out, blob, (size_t)n);
}

int td_store_code_gc(struct td_store *s)
{
    int r = exec_sql(s, "DELETE FROM code WHERE sha256 NOT IN (SELECT code_sha256 FROM functions)");
    return r < 0 ? r : sqlite3_changes(s->db);
}

static int function_write(struct td_store *s, const char *sql, const char *name,
                          const char *config_json, const char *code_sha256_hex)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, sql, &st);
    if (r < 0)
        return r;
    if ((r = bind_text(st, 1, name)) < 0 || (r = bind_text(st, 2, config_json)) < 0 ||
        (r = bind_text(st, 3, code_sha256_hex)) < 0)
        return r;
    r = step_done(st);
    if (r == 0 && sqlite3_changes(s->db) == 0)
        return -ENOENT;
    return r;
}

int td_store_function_insert(struct td_store *s, const char *name, const char *config_json,
                             const char *code_sha256_hex)
{
    return function_write(s, "INSERT INTO functions(name, config, code_sha256) VALUES (?1, ?2, ?3)",
                          name, config_json, code_sha256_hex);
}

int td_store_function_update(struct td_store *s, const char *name, const char *config_json,
                             const char *code_sha256_hex)
{
    return function_write(s, "UPDATE functions SET config = ?2, code_sha256 = ?3 WHERE name = ?1",
                          name, config_json, code_sha256_hex);
}

int td_store_function_delete(struct td_store *s, const char *name)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, "DELETE FROM functions WHERE name = ?1", &st);
    if (r < 0)
        return r;
    if ((r = bind_text(st, 1, name)) < 0)
        return r;
    r = step_done(st);
    if (r == 0 && sqlite3_changes(s->db) == 0)
        return -ENOENT;
    return r;
}

int td_store_functions_load(struct td_store *s, td_store_function_fn fn, void *userdata)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, "SELECT name, config, code_sha256 FROM functions ORDER BY name", &st);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r = fn((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2), userdata);
        if (r < 0)
            return r;
    }
    return rc == SQLITE_DONE ? 0 : td_sqlite_errno(rc);
}

/* ---- documents keyed by text: roles by name, managed policies by ARN ---- */

static int doc_put(struct td_store *s, const char *sql, const char *key, const char *doc_json)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, sql, &st);
    if (r < 0)
        return r;
    if ((r = bind_text(st, 1, key)) < 0 || (r = bind_text(st, 2, doc_json)) < 0)
        return r;
    return step_done(st);
}

static int doc_delete(struct td_store *s, const char *sql, const char *key)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, sql, &st);
    if (r < 0)
        return r;
    if ((r = bind_text(st, 1, key)) < 0)
        return r;
    r = step_done(st);
    if (r == 0 && sqlite3_changes(s->db) == 0)
        return -ENOENT;
    return r;
}

static int docs_load(struct td_store *s, const char *sql, td_store_role_fn fn, void *userdata)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(s, sql, &st);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r = fn((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
               userdata);
        if (r < 0)
            return r;
    }
    return td_sqlite_errno(rc);
}

int td_store_role_put(struct td_store *s, const char *name, const char *doc_json)
{
    return doc_put(s,
                   "INSERT INTO roles(name, doc) VALUES (?1, ?2) "
                   "ON CONFLICT(name) DO UPDATE SET doc = excluded.doc",
                   name, doc_json);
}

int td_store_role_delete(struct td_store *s, const char *name)
{
    return doc_delete(s, "DELETE FROM roles WHERE name = ?1", name);
}

int td_store_roles_load(struct td_store *s, td_store_role_fn fn, void *userdata)
{
    return docs_load(s, "SELECT name, doc FROM roles ORDER BY name", fn, userdata);
}

int td_store_policy_put(struct td_store *s, const char *arn, const char *doc_json)
{
    return doc_put(s,
                   "INSERT INTO policies(arn, doc) VALUES (?1, ?2) "
                   "ON CONFLICT(arn) DO UPDATE SET doc = excluded.doc",
                   arn, doc_json);
}

int td_store_policy_delete(struct td_store *s, const char *arn)
{
    return doc_delete(s, "DELETE FROM policies WHERE arn = ?1", arn);
}

int td_store_policies_load(struct td_store *s, td_store_role_fn fn, void *userdata)
{
    return docs_load(s, "SELECT arn, doc FROM policies ORDER BY arn", fn, userdata);
}
