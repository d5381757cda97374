#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenantd/buf.h"

static void test_append_and_cap(void **state)
{
    (void)state;
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(8);
    assert_int_equal(td_buf_puts(&b, "abcd"), 0);
    assert_int_equal(td_buf_puts(&b, "efgh"), 0);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "abcdefgh");
    /* One byte past the cap fails and leaves the content alone. */
    assert_int_equal(td_buf_puts(&b, "i"), -E2BIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "abcdefgh");
}

static void test_printf_and_steal(void **state)
{
    (void)state;
    struct td_buf b = TD_BUF_INIT(1024);
    assert_int_equal(td_buf_printf(&b, "%s-%d", "x", 42), 0);
    assert_string_equal(b.data, "x-42");
    size_t len = 0;
    char *p = td_buf_steal(&b, &len);
    assert_int_equal(len, 4);
    assert_string_equal(p, "x-42");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(p);
}

static void test_printf_over_cap(void **state)
{
    (void)state;
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(4);
    assert_int_equal(td_buf_printf(&b, "%s", "12345"), -E2BIG);
    assert_int_equal(b.len, 0);
}

/* td_buf_vprintf formats in place when the text fits, and again into more room when not;
 * either way the content, its NUL and the cap hold. */
static void test_printf_in_place_and_growing(void **state)
{
    (void)state;
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(100);
    assert_int_equal(td_buf_puts(&b, "ab"), 0); /* capacity 64 now */
    assert_int_equal(td_buf_printf(&b, "%d", 12345), 0);
    assert_string_equal(b.data, "ab12345");
    char big[80];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(td_buf_printf(&b, "%s", big), 0); /* past 64: grows */
    assert_int_equal(b.len, 7 + 79);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(memcmp(b.data, "ab12345xxx", 10), 0);
    /* Past the cap: refused, content and NUL as before. */
    assert_int_equal(td_buf_printf(&b, "%s", "0123456789abcdef"), -E2BIG);
    assert_int_equal(b.len, 86);
    assert_int_equal(b.data[86], '\0');
    assert_int_equal(td_buf_printf(&b, "%s", "0123456789ab"), 0); /* exactly to the cap */
    assert_int_equal(b.len, 98);
}

static void test_append_u64(void **state)
{
    (void)state;
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(64);
    assert_int_equal(td_buf_append_u64(&b, 0), 0);
    assert_int_equal(td_buf_puts(&b, " "), 0);
    assert_int_equal(td_buf_append_u64(&b, 18446744073709551615ULL), 0);
    assert_string_equal(b.data, "0 18446744073709551615");
    _cleanup_buf_ struct td_buf small = TD_BUF_INIT(2);
    assert_int_equal(td_buf_append_u64(&small, 123), -E2BIG);
    assert_int_equal(small.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_cap),  cmocka_unit_test(test_printf_and_steal),
        cmocka_unit_test(test_printf_over_cap), cmocka_unit_test(test_printf_in_place_and_growing),
        cmocka_unit_test(test_append_u64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
