#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenantd/map.h"
#include "tenantd/util.h"

static void check_decode(const char *text, const char *expect, size_t expect_len)
{
    _cleanup_buf_ struct td_buf out = TD_BUF_INIT(1024);
    assert_int_equal(td_base64_decode(text, strlen(text), &out), 0);
    assert_int_equal(out.len, expect_len);
    if (expect_len)
        assert_memory_equal(out.data, expect, expect_len);
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    check_decode("", "", 0);
    check_decode("YQ==", "a", 1);
    check_decode("YWI=", "ab", 2);
    check_decode("YWJj", "abc", 3);
    check_decode("AAEC/w==", "\x00\x01\x02\xff", 4);
    for (size_t n = 0; n < 300; n++) {
        uint8_t data[300];
        for (size_t i = 0; i < n; i++)
            data[i] = (uint8_t)(i * 7 + n);
        _cleanup_buf_ struct td_buf enc = TD_BUF_INIT(1024);
        _cleanup_buf_ struct td_buf dec = TD_BUF_INIT(300);
        assert_int_equal(td_base64_encode(data, n, &enc), 0);
        assert_int_equal(enc.len, 4 * ((n + 2) / 3));
        assert_int_equal(td_base64_decode(enc.data ? enc.data : "", enc.len, &dec), 0);
        assert_int_equal(dec.len, n);
        if (n)
            assert_memory_equal(dec.data, data, n);
    }
}

static void test_base64_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Y", "YQ", "YQ=", "Y===", "YQ=a", "Y Q==", "YQ==\n", "YW-j", "YW_j", "=YWJ", "YQ==YQ=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        _cleanup_buf_ struct td_buf out = TD_BUF_INIT(64);
        assert_int_equal(td_base64_decode(bad[i], strlen(bad[i]), &out), -EINVAL);
    }
}

/* The cap applies to the decoded bytes, padding excluded: a buffer capped at N takes exactly
 * N decoded bytes whatever the padding. */
static void test_base64_cap(void **state)
{
    (void)state;
    struct {
        const char *text;
        size_t cap;
        int expect;
    } cases[] = {
        {"YQ==", 1, 0},          {"YWI=", 2, 0},      {"YWJj", 3, 0},     {"YWJjZA==", 4, 0},
        {"YWJjZA==", 3, -E2BIG}, {"YWJj", 2, -E2BIG}, {"YWJjZGU=", 5, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_buf_ struct td_buf out = TD_BUF_INIT(cases[i].cap);
        assert_int_equal(td_base64_decode(cases[i].text, strlen(cases[i].text), &out),
                         cases[i].expect);
    }
}

static void test_parse_int64(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(td_parse_int64("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(td_parse_int64("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(td_parse_int64("9223372036854775807", 0, INT64_MAX, &v), 0);
    assert_int_equal(td_parse_int64("9223372036854775808", 0, INT64_MAX, &v), -ERANGE);
    assert_int_equal(td_parse_int64("11", 0, 10, &v), -ERANGE);
    static const char *const bad[] = {"", "-", "+1", " 1", "1 ", "0x10", "1e3", "12a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(td_parse_int64(bad[i], INT64_MIN, INT64_MAX, &v), -EINVAL);
}

static void test_uuid_and_time(void **state)
{
    (void)state;
    char a[TD_UUID_LEN + 1], b[TD_UUID_LEN + 1];
    assert_int_equal(td_uuid4(a), 0);
    assert_int_equal(td_uuid4(b), 0);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_true(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    assert_true(a[14] == '4');
    assert_non_null(strchr("89ab", a[19]));
    char lambda[29], iso[25];
    td_format_lambda_time(1700000000123, lambda);
    assert_string_equal(lambda, "2023-11-14T22:13:20.123+0000");
    td_format_iso_ms(1700000000123, iso);
    assert_string_equal(iso, "2023-11-14T22:13:20.123Z");
}

static void test_strlcpy_strlcat(void **state)
{
    (void)state;
    char s[8];
    assert_int_equal(td_strlcpy(s, "abc", sizeof(s)), 3);
    assert_string_equal(s, "abc");
    assert_int_equal(td_strlcat(s, "defgh", sizeof(s)), 8); /* truncated: 8 >= 8 */
    assert_string_equal(s, "abcdefg");
    assert_int_equal(td_strlcpy(s, "0123456789", sizeof(s)), 10);
    assert_string_equal(s, "0123456");
    assert_int_equal(td_strlcat(s, "x", sizeof(s)), 8);
    assert_string_equal(s, "0123456");
    char one[1] = {'z'};
    assert_int_equal(td_strlcpy(one, "abc", 0), 3); /* size 0: nothing written */
    assert_int_equal(one[0], 'z');
}

static bool count_entries(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    (void)value;
    (*(size_t *)userdata)++;
    return true;
}

static void test_map(void **state)
{
    (void)state;
    struct td_map *m = td_map_new();
    assert_non_null(m);
    static int values[1000];
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "tenant-%d", i);
        assert_int_equal(td_map_put(m, key, strlen(key), &values[i], NULL), 0);
    }
    assert_int_equal(td_map_size(m), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "tenant-%d", i);
        assert_ptr_equal(td_map_gets(m, key), &values[i]);
    }
    /* Keys are byte strings: an embedded NUL is part of the key. */
    assert_int_equal(td_map_put(m, "a\0b", 3, &values[0], NULL), 0);
    assert_null(td_map_get(m, "a\0c", 3));
    assert_ptr_equal(td_map_get(m, "a\0b", 3), &values[0]);
    void *old = NULL;
    assert_int_equal(td_map_put(m, "tenant-5", 8, &values[6], &old), 0);
    assert_ptr_equal(old, &values[5]);
    assert_ptr_equal(td_map_remove(m, "tenant-5", 8), &values[6]);
    assert_null(td_map_remove(m, "tenant-5", 8));
    size_t n = 0;
    td_map_foreach(m, count_entries, &n);
    assert_int_equal(n, td_map_size(m));
    td_map_free(m);
}

/* The fingerprint shares the maps' key, made once whichever comes first: taking one must not
 * change the key under maps that already hold entries (it once did: every lookup after the first
 * signed request missed). Runs first, before anything else in this process has hashed. */
static void test_fingerprint(void **state)
{
    (void)state;
    uint8_t a[TD_FINGERPRINT_LEN], a2[TD_FINGERPRINT_LEN], b[TD_FINGERPRINT_LEN];
    td_fingerprint128("secret-1", 8, a);
    struct td_map *m = td_map_new();
    assert_non_null(m);
    int v = 1;
    assert_int_equal(td_map_put(m, "role-a", 6, &v, NULL), 0);
    uint64_t before = td_hash("role-a", 6);
    td_fingerprint128("secret-1", 8, a2);
    td_fingerprint128("secret-2", 8, b);
    assert_int_equal(td_hash("role-a", 6), before);
    assert_ptr_equal(td_map_get(m, "role-a", 6), &v);
    assert_memory_equal(a, a2, sizeof(a));
    assert_memory_not_equal(a, b, sizeof(a));
    td_map_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint), /* first: see there */
        cmocka_unit_test(test_base64_round_trip), cmocka_unit_test(test_base64_strict),
        cmocka_unit_test(test_base64_cap),        cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_uuid_and_time),     cmocka_unit_test(test_map),
        cmocka_unit_test(test_strlcpy_strlcat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
