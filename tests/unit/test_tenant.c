/* X-Amz-Tenant-Id validation (td_tenant_id_validate): 1-256 characters of
 * [a-zA-Z0-9._:/=+\-@ ] (the '-' is literal: no '+'..'@' range). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenantd/api.h"
#include "tenantd/cleanup.h"
#include "tenantd/error.h"

#define TENANT_MAX 256

static void accepted(const char *tenant)
{
    struct td_err err = {0};
    int r = td_tenant_id_validate(tenant, &err);
    if (r != 0)
        print_message("refused tenant id \"%s\": %s\n", tenant, err.message);
    assert_int_equal(r, 0);
    assert_int_equal(err.status, 0); /* untouched on success */
}

static void refused(const char *tenant)
{
    struct td_err err = {0};
    int r = td_tenant_id_validate(tenant, &err);
    if (r >= 0)
        print_message("accepted tenant id \"%s\"\n", tenant);
    assert_int_equal(r, -EINVAL);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, "InvalidParameterValueException");
    assert_non_null(strstr(err.message, "tenantId"));
    /* The refused value is not echoed back (it may hold anything). */
    if (strlen(tenant) >= 3)
        assert_null(strstr(err.message, tenant));
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_lengths(void **state)
{
    (void)state;
    refused("");
    accepted("a");
    accepted("0");
    accepted(" ");
    _cleanup_free_ char *t255 = repeat('t', TENANT_MAX - 1);
    _cleanup_free_ char *t256 = repeat('t', TENANT_MAX);
    _cleanup_free_ char *t257 = repeat('t', TENANT_MAX + 1);
    _cleanup_free_ char *t4096 = repeat('t', 4096);
    accepted(t255);
    accepted(t256);
    refused(t257);
    refused(t4096);
    /* 256 allowed characters of every kind. */
    _cleanup_free_ char *mixed = repeat('x', TENANT_MAX);
    const char *alphabet = "aZ9._:/=+-@ ";
    for (size_t i = 0; i < TENANT_MAX; i++)
        mixed[i] = alphabet[i % strlen(alphabet)];
    accepted(mixed);
    mixed[TENANT_MAX - 1] = ';';
    refused(mixed);
}

static void test_alphanumerics(void **state)
{
    (void)state;
    accepted("abcdefghijklmnopqrstuvwxyz");
    accepted("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    accepted("0123456789");
    accepted("tenant-42");
    accepted("Org_1.example.com");
}

static void test_each_punctuation(void **state)
{
    (void)state;
    const char *allowed = "._:/=+-@ ";
    for (const char *p = allowed; *p; p++) {
        char alone[2] = {*p, '\0'};
        char inside[4] = {'a', *p, 'b', '\0'};
        accepted(alone);
        accepted(inside);
    }
    accepted("user@example.com");
    accepted("org/team:dev=1+2");
    accepted("  leading and trailing  ");
}

/* Every byte value 1..255 on its own: accepted exactly when the rule says so. */
static void test_every_byte(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '/' || c == '=' || c == '+' ||
                  c == '-' || c == '@' || c == ' ';
        char s[4] = {'x', (char)c, 'y', '\0'};
        struct td_err err = {0};
        int r = td_tenant_id_validate(s, &err);
        if ((r == 0) != ok)
            print_message("byte 0x%02x: r=%d, expected %s\n", c, r, ok ? "accepted" : "refused");
        assert_int_equal(r == 0, ok);
    }
}

static void test_disallowed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        ";",
        "a;b",
        ",",
        "a,b",
        "#",
        "tenant#1",
        "\t",
        "a\tb",
        "a\nb",
        "a\rb",
        "\x7f",
        /* Characters inside the ASCII range '+'..'@' that a careless "+-@" would let in. */
        "<",
        ">",
        "?",
        "a<b",
        "x?y",
        /* Non-ASCII UTF-8. */
        "\xc3\xa9",
        "caf\xc3\xa9",
        "\xe6\x97\xa5\xe6\x9c\xac",
        "\xf0\x9f\x98\x80",
        "\xc2\xa0",
        /* Invalid UTF-8 and stray high bytes. */
        "\xff",
        "a\x80",
        "\xc3",
        /* Other punctuation. */
        "a*b",
        "a%20b",
        "a\\b",
        "a\"b",
        "a'b",
        "a|b",
        "a&b",
        "a!b",
        "a$b",
        "(a)",
        "[a]",
        "{a}",
        "a~b",
        "a^b",
        "a`b",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++)
        refused(bad[i]);
}

static void test_err_optional(void **state)
{
    (void)state;
    /* A NULL err is allowed (td_err_set tolerates it). */
    assert_int_equal(td_tenant_id_validate("ok", NULL), 0);
    assert_int_equal(td_tenant_id_validate("", NULL), -EINVAL);
    assert_int_equal(td_tenant_id_validate("a;b", NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lengths),          cmocka_unit_test(test_alphanumerics),
        cmocka_unit_test(test_each_punctuation), cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_disallowed),       cmocka_unit_test(test_err_optional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
