/* The SQLite store (src/store/store.c): schema, access keys, content-addressed code packages,
 * function rows, garbage collection, transactions and persistence across reopen. Every test
 * works in its own database under a temporary directory removed at the end. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tenantd/buf.h"
#include "tenantd/cleanup.h"
#include "tenantd/function.h"
#include "tenantd/store.h"
#include "tenantd/util.h"

static char g_dir[] = "/tmp/td-store-test-XXXXXX";
static int g_seq;

static const struct td_service_identity ID = {.region = "us-east-1", .account_id = "000000000000"};

/* ---- fixtures ----------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct fixture {
    char path[128];
    struct td_store *s;
};

/* A fresh database for each test. */
static int test_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/state-%d.db", g_dir, ++g_seq);
    if (td_store_open(f->path, &f->s) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int test_teardown(void **state)
{
    struct fixture *f = *state;
    td_store_close(f->s);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    td_store_close(f->s);
    f->s = NULL;
    assert_int_equal(td_store_open(f->path, &f->s), 0);
    assert_non_null(f->s);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void sha_of(const void *data, size_t len, char hex[TD_SHA256_HEX_LEN + 1])
{
    uint8_t d[TD_SHA256_LEN];
    td_sha256(data, len, d);
    td_hex(d, sizeof(d), hex);
}

/* Put a package and return its address. */
static void put_code(struct td_store *s, const char *bytes, size_t len,
                     char hex[TD_SHA256_HEX_LEN + 1])
{
    sha_of(bytes, len, hex);
    assert_int_equal(td_store_code_put(s, hex, bytes, len), 0);
}

static bool code_exists(struct td_store *s, const char *hex)
{
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(1 << 20);
    int r = td_store_code_get(s, hex, &b);
    if (r == -ENOENT)
        return false;
    assert_int_equal(r, 0);
    return true;
}

/* A real stored configuration document for name with the given package. */
static char *config_doc(const char *name, const char *sha_hex, int timeout)
{
    struct td_function_config cfg;
    td_function_config_init(&cfg);
    snprintf(cfg.name, sizeof(cfg.name), "%s", name);
    cfg.runtime = TD_RUNTIME_PROVIDED_AL2023;
    snprintf(cfg.role, sizeof(cfg.role), "arn:aws:iam::123456789012:role/r");
    cfg.timeout = timeout;
    snprintf(cfg.code_sha256_hex, sizeof(cfg.code_sha256_hex), "%s", sha_hex);
    assert_int_equal(td_function_touch(&cfg), 0);
    char *doc = td_function_to_storage(&cfg, &ID);
    td_function_config_release(&cfg);
    assert_non_null(doc);
    return doc;
}

#define MAX_ROWS 16

struct rows {
    size_t n;
    char *a[MAX_ROWS], *b[MAX_ROWS], *c[MAX_ROWS];
    int fail_at; /* return an error from the callback at this row (1-based), 0: never */
};

static int collect(const char *a, const char *b, const char *c, void *userdata)
{
    struct rows *r = userdata;
    if (r->fail_at && (int)r->n + 1 == r->fail_at)
        return -ECANCELED;
    assert_true(r->n < MAX_ROWS);
    r->a[r->n] = strdup(a);
    r->b[r->n] = strdup(b);
    r->c[r->n] = strdup(c);
    r->n++;
    return 0;
}

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->a[i]);
        free(r->b[i]);
        free(r->c[i]);
    }
    memset(r, 0, sizeof(*r));
}

static size_t count_functions(struct td_store *s)
{
    struct rows r = {0};
    assert_int_equal(td_store_functions_load(s, collect, &r), 0);
    size_t n = r.n;
    rows_free(&r);
    return n;
}

static bool function_exists(struct td_store *s, const char *name)
{
    struct rows r = {0};
    bool found = false;
    assert_int_equal(td_store_functions_load(s, collect, &r), 0);
    for (size_t i = 0; i < r.n; i++)
        found = found || strcmp(r.a[i], name) == 0;
    rows_free(&r);
    return found;
}

/* ---- open --------------------------------------------------------------------------------- */

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_open_creates_schema(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 1);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                      "AND name IN ('access_keys', 'code', 'functions')"),
                     3);
    /* WAL mode is a property of the file. */
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);

    /* An empty database has nothing to load. */
    struct rows r = {0};
    assert_int_equal(td_store_keys_load(f->s, collect, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(td_store_functions_load(f->s, collect, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(td_store_code_gc(f->s), 0);

    /* Opening again keeps the schema (CREATE IF NOT EXISTS) and works. */
    reopen(f);
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 1);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct td_store *s = (struct td_store *)(uintptr_t)0x1;
    char path[256];
    snprintf(path, sizeof(path), "%s/no/such/dir/x.db", g_dir);
    assert_true(td_store_open(path, &s) < 0);
    assert_ptr_equal(s, (struct td_store *)(uintptr_t)0x1); /* untouched on failure */

    /* Not a database. */
    snprintf(path, sizeof(path), "%s/garbage.db", g_dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 256; i++)
        fputs("this is not an SQLite database file\n", fp);
    fclose(fp);
    assert_true(td_store_open(path, &s) < 0);

    /* Written by a newer tenantd. */
    snprintf(path, sizeof(path), "%s/newer.db", g_dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(td_store_open(path, &s), -EPROTO);

    td_store_close(NULL); /* a no-op */
}

/* ---- access keys -------------------------------------------------------------------------- */

static void test_keys(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(td_store_key_add(f->s, "AKIDSECOND", "s2", "admin"), 0);
    assert_int_equal(td_store_key_add(f->s, "AKIDFIRST", "s1/+=", "user:alice"), 0);

    struct rows r = {0};
    assert_int_equal(td_store_keys_load(f->s, collect, &r), 0);
    assert_int_equal(r.n, 2);
    /* In insertion order. */
    assert_string_equal(r.a[0], "AKIDSECOND");
    assert_string_equal(r.b[0], "s2");
    assert_string_equal(r.c[0], "admin");
    assert_string_equal(r.a[1], "AKIDFIRST");
    assert_string_equal(r.b[1], "s1/+=");
    assert_string_equal(r.c[1], "user:alice");
    rows_free(&r);

    /* The callback's error stops the walk and is returned. */
    r.fail_at = 2;
    assert_int_equal(td_store_keys_load(f->s, collect, &r), -ECANCELED);
    assert_int_equal(r.n, 1);
    rows_free(&r);
}

static void test_key_duplicate(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(td_store_key_add(f->s, "AKIDDUP", "s", "p"), 0);
    assert_int_equal(td_store_key_add(f->s, "AKIDDUP", "other", "q"), -EEXIST);
    struct rows r = {0};
    assert_int_equal(td_store_keys_load(f->s, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.b[0], "s");
    rows_free(&r);
}

/* ---- code packages ------------------------------------------------------------------------ */

static void test_code_put_get(void **state)
{
    struct fixture *f = *state;
    static const char zip[] = "PK\x03\x04\0\0binary\0with\xffNULs";
    char hex[TD_SHA256_HEX_LEN + 1];
    put_code(f->s, zip, sizeof(zip), hex);

    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(1024);
    assert_int_equal(td_store_code_get(f->s, hex, &b), 0);
    assert_int_equal(b.len, sizeof(zip));
    assert_memory_equal(b.data, zip, sizeof(zip));

    /* Putting the same package again is a no-op, not an error. */
    assert_int_equal(td_store_code_put(f->s, hex, zip, sizeof(zip)), 0);
    assert_int_equal(td_store_code_put(f->s, hex, zip, sizeof(zip)), 0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM code"), 1);
    td_buf_reset(&b);
    assert_int_equal(td_store_code_get(f->s, hex, &b), 0);
    assert_memory_equal(b.data, zip, sizeof(zip));

    /* Unknown address. */
    char other[TD_SHA256_HEX_LEN + 1];
    sha_of("x", 1, other);
    td_buf_reset(&b);
    assert_int_equal(td_store_code_get(f->s, other, &b), -ENOENT);
    assert_int_equal(b.len, 0);

    /* A buffer too small for the package. */
    struct td_buf small = TD_BUF_INIT(4);
    assert_int_equal(td_store_code_get(f->s, hex, &small), -E2BIG);
    td_buf_release(&small);

    /* A larger package. */
    size_t big_len = 3 * 1024 * 1024 + 7;
    _cleanup_free_ char *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 31 + 7);
    char big_hex[TD_SHA256_HEX_LEN + 1];
    put_code(f->s, big, big_len, big_hex);
    struct td_buf bb = TD_BUF_INIT(8 * 1024 * 1024);
    assert_int_equal(td_store_code_get(f->s, big_hex, &bb), 0);
    assert_int_equal(bb.len, big_len);
    assert_memory_equal(bb.data, big, big_len);
    td_buf_release(&bb);
}

/* ---- functions ---------------------------------------------------------------------------- */

static void test_functions(void **state)
{
    struct fixture *f = *state;
    char a[TD_SHA256_HEX_LEN + 1], b[TD_SHA256_HEX_LEN + 1];
    put_code(f->s, "zip-a", 5, a);
    put_code(f->s, "zip-b", 5, b);
    _cleanup_free_ char *doc_f2 = config_doc("f2", a, 3);
    _cleanup_free_ char *doc_f1 = config_doc("f1", b, 3);
    _cleanup_free_ char *doc_f1_v2 = config_doc("f1", a, 60);

    assert_int_equal(td_store_function_insert(f->s, "f2", doc_f2, a), 0);
    assert_int_equal(td_store_function_insert(f->s, "f1", doc_f1, b), 0);

    struct rows r = {0};
    assert_int_equal(td_store_functions_load(f->s, collect, &r), 0);
    assert_int_equal(r.n, 2);
    /* By name. */
    assert_string_equal(r.a[0], "f1");
    assert_string_equal(r.b[0], doc_f1);
    assert_string_equal(r.c[0], b);
    assert_string_equal(r.a[1], "f2");
    assert_string_equal(r.b[1], doc_f2);
    assert_string_equal(r.c[1], a);
    /* The stored document is a configuration again. */
    struct td_function_config cfg;
    assert_int_equal(td_function_from_storage(r.b[0], &cfg), 0);
    assert_string_equal(cfg.name, "f1");
    assert_string_equal(cfg.code_sha256_hex, b);
    td_function_config_release(&cfg);
    rows_free(&r);

    /* Update replaces the document and the package reference. */
    assert_int_equal(td_store_function_update(f->s, "f1", doc_f1_v2, a), 0);
    assert_int_equal(td_store_functions_load(f->s, collect, &r), 0);
    assert_string_equal(r.b[0], doc_f1_v2);
    assert_string_equal(r.c[0], a);
    assert_string_equal(r.b[1], doc_f2); /* the other row did not move */
    rows_free(&r);

    /* Missing rows. */
    assert_int_equal(td_store_function_update(f->s, "nope", doc_f1, a), -ENOENT);
    assert_int_equal(td_store_function_delete(f->s, "nope"), -ENOENT);
    assert_int_equal(count_functions(f->s), 2);

    /* Delete. */
    assert_int_equal(td_store_function_delete(f->s, "f2"), 0);
    assert_false(function_exists(f->s, "f2"));
    assert_true(function_exists(f->s, "f1"));
    assert_int_equal(td_store_function_delete(f->s, "f2"), -ENOENT);

    /* The callback's error stops the walk. */
    r.fail_at = 1;
    assert_int_equal(td_store_functions_load(f->s, collect, &r), -ECANCELED);
    rows_free(&r);
}

static void test_function_duplicate_insert(void **state)
{
    struct fixture *f = *state;
    char a[TD_SHA256_HEX_LEN + 1];
    put_code(f->s, "zip-a", 5, a);
    _cleanup_free_ char *doc = config_doc("dup", a, 3);
    _cleanup_free_ char *doc2 = config_doc("dup", a, 9);
    assert_int_equal(td_store_function_insert(f->s, "dup", doc, a), 0);
    assert_int_equal(td_store_function_insert(f->s, "dup", doc2, a), -EEXIST);
    struct rows r = {0};
    assert_int_equal(td_store_functions_load(f->s, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.b[0], doc);
    rows_free(&r);
}

static void test_function_needs_code(void **state)
{
    struct fixture *f = *state;
    char missing[TD_SHA256_HEX_LEN + 1];
    sha_of("never stored", 12, missing);
    _cleanup_free_ char *doc = config_doc("orphan", missing, 3);
    /* The package must be stored first (foreign key). */
    assert_true(td_store_function_insert(f->s, "orphan", doc, missing) < 0);
    assert_int_equal(count_functions(f->s), 0);
}

/* ---- garbage collection ------------------------------------------------------------------- */

static void test_code_gc(void **state)
{
    struct fixture *f = *state;
    char a[TD_SHA256_HEX_LEN + 1], b[TD_SHA256_HEX_LEN + 1], c[TD_SHA256_HEX_LEN + 1];
    put_code(f->s, "zip-a", 5, a);
    put_code(f->s, "zip-b", 5, b);
    put_code(f->s, "zip-c", 5, c);
    _cleanup_free_ char *d1 = config_doc("one", a, 3);
    _cleanup_free_ char *d2 = config_doc("two", a, 3);
    _cleanup_free_ char *d3 = config_doc("three", b, 3);
    assert_int_equal(td_store_function_insert(f->s, "one", d1, a), 0);
    assert_int_equal(td_store_function_insert(f->s, "two", d2, a), 0);
    assert_int_equal(td_store_function_insert(f->s, "three", d3, b), 0);

    /* Only c is unreferenced. */
    assert_int_equal(td_store_code_gc(f->s), 1);
    assert_true(code_exists(f->s, a));
    assert_true(code_exists(f->s, b));
    assert_false(code_exists(f->s, c));
    assert_int_equal(td_store_code_gc(f->s), 0);

    /* a stays while "two" still uses it. */
    assert_int_equal(td_store_function_delete(f->s, "one"), 0);
    assert_int_equal(td_store_code_gc(f->s), 0);
    assert_true(code_exists(f->s, a));
    /* Moving "three" to a frees b. */
    assert_int_equal(td_store_function_update(f->s, "three", d3, a), 0);
    assert_int_equal(td_store_code_gc(f->s), 1);
    assert_false(code_exists(f->s, b));
    assert_true(code_exists(f->s, a));
    /* Deleting the last users frees a. */
    assert_int_equal(td_store_function_delete(f->s, "two"), 0);
    assert_int_equal(td_store_function_delete(f->s, "three"), 0);
    assert_int_equal(td_store_code_gc(f->s), 1);
    assert_false(code_exists(f->s, a));
}

/* ---- transactions ------------------------------------------------------------------------- */

static void test_transactions(void **state)
{
    struct fixture *f = *state;
    char a[TD_SHA256_HEX_LEN + 1];
    _cleanup_free_ char *doc = NULL;

    /* Rolled back: neither the package nor the function is there. */
    assert_int_equal(td_store_begin(f->s), 0);
    put_code(f->s, "zip-t", 5, a);
    doc = config_doc("tx", a, 3);
    assert_int_equal(td_store_function_insert(f->s, "tx", doc, a), 0);
    assert_true(function_exists(f->s, "tx")); /* visible inside the transaction */
    assert_true(td_store_begin(f->s) < 0);    /* no nesting */
    td_store_rollback(f->s);
    assert_false(function_exists(f->s, "tx"));
    assert_false(code_exists(f->s, a));

    /* Committed. */
    assert_int_equal(td_store_begin(f->s), 0);
    put_code(f->s, "zip-t", 5, a);
    assert_int_equal(td_store_function_insert(f->s, "tx", doc, a), 0);
    assert_int_equal(td_store_commit(f->s), 0);
    assert_true(function_exists(f->s, "tx"));

    /* A rolled-back delete and gc leave both in place. */
    assert_int_equal(td_store_begin(f->s), 0);
    assert_int_equal(td_store_function_delete(f->s, "tx"), 0);
    assert_int_equal(td_store_code_gc(f->s), 1);
    td_store_rollback(f->s);
    assert_true(function_exists(f->s, "tx"));
    assert_true(code_exists(f->s, a));

    /* Commit without a transaction is an error; rollback without one is harmless. */
    assert_true(td_store_commit(f->s) < 0);
    td_store_rollback(f->s);
    assert_true(function_exists(f->s, "tx"));

    /* Committed data is on disk for another connection. */
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM functions WHERE name = 'tx'"), 1);
}

/* ---- persistence -------------------------------------------------------------------------- */

static void test_reopen_persists(void **state)
{
    struct fixture *f = *state;
    char a[TD_SHA256_HEX_LEN + 1];
    assert_int_equal(td_store_key_add(f->s, "AKIDPERSIST", "secret", "root"), 0);
    put_code(f->s, "persisted zip", 13, a);
    _cleanup_free_ char *doc = config_doc("kept", a, 77);
    assert_int_equal(td_store_function_insert(f->s, "kept", doc, a), 0);

    reopen(f);

    struct rows r = {0};
    assert_int_equal(td_store_keys_load(f->s, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.a[0], "AKIDPERSIST");
    assert_string_equal(r.b[0], "secret");
    assert_string_equal(r.c[0], "root");
    rows_free(&r);

    assert_int_equal(td_store_functions_load(f->s, collect, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.a[0], "kept");
    assert_string_equal(r.b[0], doc);
    assert_string_equal(r.c[0], a);
    struct td_function_config cfg;
    assert_int_equal(td_function_from_storage(r.b[0], &cfg), 0);
    assert_int_equal(cfg.timeout, 77);
    td_function_config_release(&cfg);
    rows_free(&r);

    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(1024);
    assert_int_equal(td_store_code_get(f->s, a, &b), 0);
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data, "persisted zip", 13);

    /* A rolled-back change does not survive either. */
    assert_int_equal(td_store_begin(f->s), 0);
    assert_int_equal(td_store_function_delete(f->s, "kept"), 0);
    td_store_rollback(f->s);
    reopen(f);
    assert_true(function_exists(f->s, "kept"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_schema, test_setup, test_teardown),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test_setup_teardown(test_keys, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_key_duplicate, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_code_put_get, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_functions, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_function_duplicate_insert, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_function_needs_code, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_code_gc, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_transactions, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_reopen_persists, test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
