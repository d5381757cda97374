/* The table service's floor: the same GetItem and PutItem statements the SQLite store runs
 * (same schema, same prepared statements, items as JSON text), called directly in a loop.
 *
 *   sqlite_kv DB-PATH SECONDS   prints {"get_per_s":N,"put_per_s":N}
 *
 * bench/run.mjs compares tenantd's GetItem and PutItem throughput (HTTP, SigV4, policy
 * evaluation) with these. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check(int rc, sqlite3 *db, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "sqlite_kv: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sqlite_kv DB-PATH SECONDS\n");
        return 2;
    }
    double seconds = atof(argv[2]);
    sqlite3 *db;
    check(sqlite3_open(argv[1], &db), db, "open");
    check(sqlite3_exec(db,
                       "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                       "CREATE TABLE IF NOT EXISTS ddb_items (table_id INTEGER NOT NULL, hk BLOB "
                       "NOT NULL, rk BLOB NOT NULL, size INTEGER NOT NULL, item TEXT NOT NULL, "
                       "PRIMARY KEY (table_id, hk, rk)) WITHOUT ROWID;",
                       NULL, NULL, NULL),
          db, "schema");
    sqlite3_stmt *put, *get;
    check(sqlite3_prepare_v2(db,
                             "INSERT INTO ddb_items(table_id, hk, rk, size, item) VALUES (?1, ?2, "
                             "?3, ?4, ?5) ON CONFLICT(table_id, hk, rk) DO UPDATE SET size = "
                             "excluded.size, item = excluded.item",
                             -1, &put, NULL),
          db, "prepare put");
    check(sqlite3_prepare_v2(
              db, "SELECT item FROM ddb_items WHERE table_id = ?1 AND hk = ?2 AND rk = ?3", -1,
              &get, NULL),
          db, "prepare get");
    static const char item[] = "{\"pk\":{\"S\":\"t1\"},\"sk\":{\"S\":\"item-1\"},\"v\":{\"S\":"
                               "\"bench value\"},\"n\":{\"N\":\"42\"}}";
    double rates[2];
    for (int phase = 0; phase < 2; phase++) {
        sqlite3_stmt *st = phase == 0 ? get : put;
        long n = 0;
        double start = now_s(), end = start + seconds;
        while ((n & 255) || now_s() < end) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, 1);
            sqlite3_bind_blob(st, 2, "t1", 2, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, "item-1", 6, SQLITE_STATIC);
            if (phase == 1) {
                sqlite3_bind_int64(st, 4, (sqlite3_int64)sizeof(item));
                sqlite3_bind_text(st, 5, item, -1, SQLITE_STATIC);
                check(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), db, "begin");
            }
            int rc = sqlite3_step(st);
            check(rc, db, "step");
            if (phase == 0 && rc == SQLITE_ROW)
                (void)sqlite3_column_text(st, 0);
            if (phase == 1)
                check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
            n++;
            if (phase == 0 && n == 1 && rc != SQLITE_ROW) { /* nothing to read yet: write once */
                sqlite3_reset(put);
                sqlite3_bind_int64(put, 1, 1);
                sqlite3_bind_blob(put, 2, "t1", 2, SQLITE_STATIC);
                sqlite3_bind_blob(put, 3, "item-1", 6, SQLITE_STATIC);
                sqlite3_bind_int64(put, 4, (sqlite3_int64)sizeof(item));
                sqlite3_bind_text(put, 5, item, -1, SQLITE_STATIC);
                check(sqlite3_step(put), db, "seed");
            }
        }
        rates[phase] = (double)n / (now_s() - start);
    }
    printf("{\"get_per_s\":%.0f,\"put_per_s\":%.0f}\n", rates[0], rates[1]);
    sqlite3_finalize(put);
    sqlite3_finalize(get);
    sqlite3_close(db);
    return 0;
}
