/* The SQLite table store: items in key order per partition, range bounds and direction, and a
 * Query that seeks its partition instead of reading the table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tenantd/tables.h"

struct walked {
    size_t n;
    char rks[64][16];
};

static bool collect(const struct td_stored_item *it, void *userdata)
{
    struct walked *w = userdata;
    if (w->n < 64)
        snprintf(w->rks[w->n], sizeof(w->rks[0]), "%.*s", (int)it->rk_len, (const char *)it->rk);
    w->n++;
    return true;
}

static struct td_table_store *store;
static struct td_table table;
static char dir[] = "/tmp/tenantd-test-tables-XXXXXX";

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    char path[sizeof(dir) + 16];
    snprintf(path, sizeof(path), "%s/t.db", dir);
    if (td_table_store_sqlite_open(path, &store) < 0)
        return -1;
    snprintf(table.name, sizeof(table.name), "orders");
    snprintf(table.uuid, sizeof(table.uuid), "00000000-0000-0000-0000-000000000000");
    snprintf(table.hash_name, sizeof(table.hash_name), "pk");
    table.hash_type = TD_DDB_S;
    snprintf(table.range_name, sizeof(table.range_name), "sk");
    table.range_type = TD_DDB_S;
    return store->ops->create_table(store, &table);
}

static int teardown(void **state)
{
    (void)state;
    store->ops->close(store);
    char cmd[sizeof(dir) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *hk, const char *rk)
{
    assert_int_equal(store->ops->put_item(store, &table, hk, strlen(hk), rk, strlen(rk), "{}", 2),
                     0);
}

static uint64_t query(const char *hk, const struct td_key_range *range, bool forward,
                      struct walked *w)
{
    memset(w, 0, sizeof(*w));
    uint64_t before = td_table_store_sqlite_steps(store);
    assert_int_equal(
        store->ops->query(store, &table, hk, strlen(hk), range, forward, NULL, 0, collect, w), 0);
    return td_table_store_sqlite_steps(store) - before;
}

static void test_order_and_ranges(void **state)
{
    (void)state;
    const char *rks[] = {"c", "a", "e", "b", "d"};
    for (size_t i = 0; i < 5; i++)
        put("p1", rks[i]);
    put("p0", "z");
    put("p2", "a");
    struct walked w;
    struct td_key_range all = {0};
    query("p1", &all, true, &w);
    assert_int_equal(w.n, 5);
    assert_string_equal(w.rks[0], "a");
    assert_string_equal(w.rks[4], "e");
    query("p1", &all, false, &w);
    assert_string_equal(w.rks[0], "e");
    struct td_key_range r = {.lo = "b",
                             .lo_len = 1,
                             .lo_inclusive = false,
                             .hi = "d",
                             .hi_len = 1,
                             .hi_inclusive = true};
    query("p1", &r, true, &w);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.rks[0], "c");
    assert_string_equal(w.rks[1], "d");
}

/* The work of a Query depends on its partition's items, not on the table's size. */
static void test_query_seeks(void **state)
{
    (void)state;
    for (int i = 0; i < 10; i++) {
        char rk[8];
        snprintf(rk, sizeof(rk), "%02d", i);
        put("target", rk);
    }
    struct walked w;
    struct td_key_range all = {0};
    uint64_t small = query("target", &all, true, &w);
    assert_int_equal(w.n, 10);

    assert_int_equal(store->ops->begin(store), 0);
    for (int i = 0; i < 20000; i++) {
        char hk[16], rk[8];
        snprintf(hk, sizeof(hk), "other-%05d", i % 2000);
        snprintf(rk, sizeof(rk), "%02d", i / 2000);
        put(hk, rk);
    }
    assert_int_equal(store->ops->commit(store), 0);
    uint64_t big = query("target", &all, true, &w);
    assert_int_equal(w.n, 10);
    print_message("query of 10 items: %llu steps in a small table, %llu with 20000 more items\n",
                  (unsigned long long)small, (unsigned long long)big);
    assert_true(big <= small + small / 2);

    /* a Scan does read them all, as the step count shows */
    memset(&w, 0, sizeof(w));
    uint64_t before = td_table_store_sqlite_steps(store);
    assert_int_equal(store->ops->scan(store, &table, NULL, 0, NULL, 0, collect, &w), 0);
    assert_true(w.n > 20000);
    assert_true(td_table_store_sqlite_steps(store) - before > 100 * big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_ranges),
        cmocka_unit_test(test_query_seeks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
