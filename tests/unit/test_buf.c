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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_cap),
        cmocka_unit_test(test_printf_and_steal),
        cmocka_unit_test(test_printf_over_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
