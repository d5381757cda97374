/* Routing of the Lambda API and the Runtime API (td_route_lambda, td_route_runtime) and the
 * percent-decoder behind their path parameters (td_http_percent_decode). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenantd/buf.h"
#include "tenantd/cleanup.h"
#include "tenantd/http.h"
#include "tenantd/route.h"

#define FN "/2015-03-31/functions"
#define RT "/2018-06-01/runtime"

/* Route and expect success with the given id, operation and decoded parameter. */
static void expect_route(int (*router)(const char *, const char *, struct td_route_match *),
                         const char *method, const char *path, enum td_route_id id,
                         const char *operation, const char *param)
{
    struct td_route_match m;
    memset(&m, 0xa5, sizeof(m));
    int r = router(method, path, &m);
    if (r != 0 || m.id != id)
        print_message("%s %s: r=%d id=%d, expected id=%d\n", method, path, r, (int)m.id, (int)id);
    assert_int_equal(r, 0);
    assert_int_equal(m.id, id);
    if (operation) {
        assert_non_null(m.operation);
        assert_string_equal(m.operation, operation);
    } else {
        assert_null(m.operation);
    }
    /* The parameter is always a NUL-terminated string, empty for routes without one. */
    assert_true(memchr(m.param, '\0', sizeof(m.param)) != NULL);
    assert_string_equal(m.param, param ? param : "");
}

static void expect_lambda(const char *method, const char *path, enum td_route_id id,
                          const char *operation, const char *param)
{
    expect_route(td_route_lambda, method, path, id, operation, param);
}

static void expect_runtime(const char *method, const char *path, enum td_route_id id,
                           const char *operation, const char *param)
{
    expect_route(td_route_runtime, method, path, id, operation, param);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static char *concat3(const char *a, const char *b, const char *c)
{
    _cleanup_buf_ struct td_buf b1 = TD_BUF_INIT(1 << 20);
    assert_int_equal(td_buf_printf(&b1, "%s%s%s", a, b, c), 0);
    return td_buf_steal(&b1, NULL);
}

/* ---- the Lambda API table ---------------------------------------------------------------- */

static void test_lambda_collection_routes(void **state)
{
    (void)state;
    expect_lambda("GET", FN, TD_ROUTE_LIST_FUNCTIONS, "ListFunctions", NULL);
    expect_lambda("GET", FN "/", TD_ROUTE_LIST_FUNCTIONS, "ListFunctions", NULL);
    expect_lambda("POST", FN, TD_ROUTE_CREATE_FUNCTION, "CreateFunction", NULL);
    expect_lambda("POST", FN "/", TD_ROUTE_CREATE_FUNCTION, "CreateFunction", NULL);
}

static void test_lambda_function_routes(void **state)
{
    (void)state;
    expect_lambda("GET", FN "/my-fn", TD_ROUTE_GET_FUNCTION, "GetFunction", "my-fn");
    expect_lambda("DELETE", FN "/my-fn", TD_ROUTE_DELETE_FUNCTION, "DeleteFunction", "my-fn");
    expect_lambda("GET", FN "/my-fn/configuration", TD_ROUTE_GET_FUNCTION_CONFIGURATION,
                  "GetFunctionConfiguration", "my-fn");
    expect_lambda("PUT", FN "/my-fn/configuration", TD_ROUTE_UPDATE_FUNCTION_CONFIGURATION,
                  "UpdateFunctionConfiguration", "my-fn");
    expect_lambda("PUT", FN "/my_fn.2/code", TD_ROUTE_UPDATE_FUNCTION_CODE, "UpdateFunctionCode",
                  "my_fn.2");
    expect_lambda("POST", FN "/f/invocations", TD_ROUTE_INVOKE, "Invoke", "f");
    expect_lambda("GET", "/tenantd/code/abc.DEF-123", TD_ROUTE_CODE_DOWNLOAD, "GetCodePackage",
                  "abc.DEF-123");
}

static void test_lambda_method_not_allowed(void **state)
{
    (void)state;
    /* Known paths, wrong methods. */
    expect_lambda("PUT", FN, TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("DELETE", FN "/", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("POST", FN "/f", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("PUT", FN "/f", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("POST", FN "/f/configuration", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("DELETE", FN "/f/configuration", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("GET", FN "/f/code", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("POST", FN "/f/code", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("GET", FN "/f/invocations", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("PUT", FN "/f/invocations", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("POST", "/tenantd/code/t", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("GET", "/tenantd/audit", TD_ROUTE_AUDIT, "GetAuditEvents", NULL);
    expect_lambda("POST", "/tenantd/audit", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("HEAD", FN, TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    /* Methods are case-sensitive. */
    expect_lambda("get", FN, TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_lambda("", FN "/f", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    /* A method that is refused leaves no parameter behind, even when the segment is bad. */
    expect_lambda("PUT", FN "/%ZZ", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
}

static void test_lambda_not_found(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "",
        "/",
        "/2015-03-31",
        "/2015-03-31/",
        "/2015-03-31/function",
        "/2015-03-31/functionsx",
        FN "//",
        FN "//configuration", /* empty {name} segment */
        FN "//invocations",
        FN "/f/",
        FN "/f/configuration/",
        FN "/f/configurations",
        FN "/f/config",
        FN "/f/invocations/x",
        FN "/f/g",
        FN "/a/b/code",
        "/2015-03-31/FUNCTIONS",
        "/2015-03-30/functions",
        "2015-03-31/functions",
        "//2015-03-31/functions",
        "/2015-03-31/functions?x=1/",
        "/tenantd/code",
        "/tenantd/code/",
        "/tenantd/code/a/b",
        RT "/invocation/next", /* runtime routes are not on the main listener */
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(paths); i++) {
        expect_lambda("GET", paths[i], TD_ROUTE_NOT_FOUND, NULL, NULL);
        expect_lambda("POST", paths[i], TD_ROUTE_NOT_FOUND, NULL, NULL);
        expect_lambda("DELETE", paths[i], TD_ROUTE_NOT_FOUND, NULL, NULL);
    }
}

static void test_lambda_encoded_names(void **state)
{
    (void)state;
    expect_lambda("GET", FN "/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Amy-fn",
                  TD_ROUTE_GET_FUNCTION, "GetFunction",
                  "arn:aws:lambda:us-east-1:000000000000:function:my-fn");
    expect_lambda("POST",
                  FN "/arn%3aaws%3alambda%3aus-east-1%3a000000000000%3afunction%3af%3a%24LATEST"
                     "/invocations",
                  TD_ROUTE_INVOKE, "Invoke",
                  "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST");
    /* Raw ':' is fine too (SDKs differ). */
    expect_lambda("GET", FN "/000000000000:function:f/configuration",
                  TD_ROUTE_GET_FUNCTION_CONFIGURATION, "GetFunctionConfiguration",
                  "000000000000:function:f");
    /* An encoded '/' stays inside the segment; '+' is not a space. */
    expect_lambda("DELETE", FN "/a%2Fb", TD_ROUTE_DELETE_FUNCTION, "DeleteFunction", "a/b");
    expect_lambda("DELETE", FN "/a+b%20c", TD_ROUTE_DELETE_FUNCTION, "DeleteFunction", "a+b c");
    /* Non-ASCII bytes are passed through. */
    expect_lambda("GET", FN "/%C3%A9t%C3%A9", TD_ROUTE_GET_FUNCTION, "GetFunction",
                  "\xc3\xa9t\xc3\xa9");
}

static void expect_einval(int (*router)(const char *, const char *, struct td_route_match *),
                          const char *method, const char *path)
{
    struct td_route_match m;
    int r = router(method, path, &m);
    if (r != -EINVAL)
        print_message("%s %s: r=%d (expected -EINVAL)\n", method, path, r);
    assert_int_equal(r, -EINVAL);
}

static void test_lambda_bad_escapes(void **state)
{
    (void)state;
    static const char *const segs[] = {
        "%G1", "%1G", "%", "f%", "f%4", "%00", "a%00b", "%0", "%%41", "%-1", "% 41", "%+1",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(segs); i++) {
        _cleanup_free_ char *p1 = concat3(FN "/", segs[i], "");
        _cleanup_free_ char *p2 = concat3(FN "/", segs[i], "/invocations");
        _cleanup_free_ char *p3 = concat3("/tenantd/code/", segs[i], "");
        expect_einval(td_route_lambda, "GET", p1);
        expect_einval(td_route_lambda, "DELETE", p1);
        expect_einval(td_route_lambda, "POST", p2);
        expect_einval(td_route_lambda, "GET", p3);
    }
}

static void test_lambda_param_length(void **state)
{
    (void)state;
    struct td_route_match m;

    /* Exactly TD_ROUTE_PARAM_MAX bytes: accepted whole. */
    _cleanup_free_ char *name = repeat('a', TD_ROUTE_PARAM_MAX);
    _cleanup_free_ char *path = concat3(FN "/", name, "/configuration");
    assert_int_equal(td_route_lambda("GET", path, &m), 0);
    assert_int_equal(m.id, TD_ROUTE_GET_FUNCTION_CONFIGURATION);
    assert_int_equal(strlen(m.param), TD_ROUTE_PARAM_MAX);
    assert_string_equal(m.param, name);

    /* TD_ROUTE_PARAM_MAX bytes, all percent-encoded (3 * MAX raw characters). */
    _cleanup_buf_ struct td_buf enc = TD_BUF_INIT(4096);
    for (int i = 0; i < TD_ROUTE_PARAM_MAX; i++)
        assert_int_equal(td_buf_puts(&enc, "%41"), 0);
    _cleanup_free_ char *path_enc = concat3(FN "/", enc.data, "");
    assert_int_equal(td_route_lambda("GET", path_enc, &m), 0);
    assert_int_equal(m.id, TD_ROUTE_GET_FUNCTION);
    assert_int_equal(strlen(m.param), TD_ROUTE_PARAM_MAX);
    assert_int_equal(strspn(m.param, "A"), TD_ROUTE_PARAM_MAX);

    /* One byte more is refused, raw or encoded, however long. */
    _cleanup_free_ char *long_name = repeat('a', TD_ROUTE_PARAM_MAX + 1);
    _cleanup_free_ char *p_long = concat3(FN "/", long_name, "");
    assert_true(td_route_lambda("GET", p_long, &m) < 0);
    assert_int_equal(td_buf_puts(&enc, "%41"), 0);
    _cleanup_free_ char *p_long_enc = concat3(FN "/", enc.data, "/invocations");
    assert_true(td_route_lambda("POST", p_long_enc, &m) < 0);
    _cleanup_free_ char *huge = repeat('b', 100000);
    _cleanup_free_ char *p_huge = concat3(FN "/", huge, "/code");
    assert_true(td_route_lambda("PUT", p_huge, &m) < 0);
}

/* route.h: "-EINVAL when a path parameter is malformed (bad percent-encoding, too long)". */
static void test_lambda_param_too_long_is_einval(void **state)
{
    (void)state;
    _cleanup_free_ char *long_name = repeat('a', TD_ROUTE_PARAM_MAX + 1);
    _cleanup_free_ char *p = concat3(FN "/", long_name, "");
    expect_einval(td_route_lambda, "GET", p);
    _cleanup_free_ char *rid = repeat('r', TD_ROUTE_PARAM_MAX + 1);
    _cleanup_free_ char *p2 = concat3(RT "/invocation/", rid, "/response");
    expect_einval(td_route_runtime, "POST", p2);
}

/* ---- the Runtime API table --------------------------------------------------------------- */

static void test_runtime_routes(void **state)
{
    (void)state;
    const char *id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
    _cleanup_free_ char *resp = concat3(RT "/invocation/", id, "/response");
    _cleanup_free_ char *error = concat3(RT "/invocation/", id, "/error");

    expect_runtime("GET", RT "/invocation/next", TD_ROUTE_RUNTIME_NEXT, "Next", NULL);
    expect_runtime("POST", resp, TD_ROUTE_RUNTIME_RESPONSE, "Response", id);
    expect_runtime("POST", error, TD_ROUTE_RUNTIME_ERROR, "Error", id);
    expect_runtime("POST", RT "/init/error", TD_ROUTE_RUNTIME_INIT_ERROR, "InitError", NULL);
    expect_runtime("POST", RT "/invocation/a%2Db/response", TD_ROUTE_RUNTIME_RESPONSE, "Response",
                   "a-b");
    /* "next" as a request id is just a request id for the response route. */
    expect_runtime("POST", RT "/invocation/next/response", TD_ROUTE_RUNTIME_RESPONSE, "Response",
                   "next");
}

static void test_runtime_methods(void **state)
{
    (void)state;
    expect_runtime("POST", RT "/invocation/next", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_runtime("PUT", RT "/invocation/next", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_runtime("GET", RT "/invocation/x/response", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_runtime("PUT", RT "/invocation/x/error", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_runtime("GET", RT "/init/error", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
    expect_runtime("DELETE", RT "/init/error", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
}

static void test_runtime_not_found(void **state)
{
    (void)state;
    static const char *const paths[] = {
        RT,
        RT "/",
        RT "/invocation",
        RT "/invocation/",
        RT "/invocation/next/",
        RT "/invocation//response", /* empty request id */
        RT "/invocation//error",
        RT "/invocation/x/response/",
        RT "/invocation/x/y/response",
        RT "/invocation/x/result",
        RT "/init",
        RT "/init/error/",
        RT "/init/x/error",
        "/2018-06-01/runtime/invocation/nextx",
        "/2018-06-02/runtime/invocation/next",
        FN, /* Lambda routes are not on an environment's listener */
        FN "/f/invocations",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(paths); i++) {
        expect_runtime("GET", paths[i], TD_ROUTE_NOT_FOUND, NULL, NULL);
        expect_runtime("POST", paths[i], TD_ROUTE_NOT_FOUND, NULL, NULL);
    }
}

static void test_runtime_bad_escapes(void **state)
{
    (void)state;
    expect_einval(td_route_runtime, "POST", RT "/invocation/%G1/response");
    expect_einval(td_route_runtime, "POST", RT "/invocation/abc%/error");
    expect_einval(td_route_runtime, "POST", RT "/invocation/%00/response");
    /* A bad id behind a refused method is not decoded: the method decides first. */
    expect_runtime("GET", RT "/invocation/%G1/response", TD_ROUTE_METHOD_NOT_ALLOWED, NULL, NULL);
}

/* ---- td_http_percent_decode --------------------------------------------------------------- */

static int decode(const char *in, char *out, size_t out_size)
{
    return td_http_percent_decode(in, strlen(in), out, out_size);
}

static void test_percent_decode_valid(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(decode("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(decode("abc", out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(decode("%41%62%3a%3A", out, sizeof(out)), 4);
    assert_string_equal(out, "Ab::");
    assert_int_equal(decode("a+b", out, sizeof(out)), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(decode("%2B%20%25", out, sizeof(out)), 3);
    assert_string_equal(out, "+ %");
    assert_int_equal(decode("%ff%FE%80", out, sizeof(out)), 3);
    assert_memory_equal(out, "\xff\xfe\x80", 4);
    /* "%2541" decodes once: "%41", not "A". */
    assert_int_equal(decode("%2541", out, sizeof(out)), 3);
    assert_string_equal(out, "%41");
    /* Only len bytes are read. */
    assert_int_equal(td_http_percent_decode("ab%41zz", 5, out, sizeof(out)), 3);
    assert_string_equal(out, "abA");
    assert_int_equal(td_http_percent_decode("ab%41", 4, out, sizeof(out)), -EINVAL);
}

static void test_percent_decode_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "%", "%4", "a%", "a%4", "%G1", "%1G", "%g0", "%xx", "% 1", "%%", "%00", "a%00", "%0%",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++) {
        char out[16];
        int r = decode(bad[i], out, sizeof(out));
        if (r != -EINVAL)
            print_message("decode(\"%s\") = %d\n", bad[i], r);
        assert_int_equal(r, -EINVAL);
    }
    /* An embedded raw NUL byte within len is refused as well. */
    char out[16];
    assert_int_equal(td_http_percent_decode("a\0b", 3, out, sizeof(out)), -EINVAL);
}

static void test_percent_decode_capacity(void **state)
{
    (void)state;
    char out[4];
    memset(out, 'X', sizeof(out));
    assert_int_equal(decode("abc", out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(decode("%61%62%63", out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(decode("abcd", out, sizeof(out)), -E2BIG);
    assert_int_equal(decode("%61%62%63%64", out, sizeof(out)), -E2BIG);
    /* Never writes past out_size. */
    char guard[8];
    memset(guard, 'G', sizeof(guard));
    assert_true(decode("abcdefgh", guard, 3) < 0);
    assert_memory_equal(guard + 3, "GGGGG", 5);
    assert_int_equal(decode("a", guard, 2), 1);
    assert_memory_equal(guard, "a\0", 2);
    assert_true(decode("a", guard, 1) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lambda_collection_routes),
        cmocka_unit_test(test_lambda_function_routes),
        cmocka_unit_test(test_lambda_method_not_allowed),
        cmocka_unit_test(test_lambda_not_found),
        cmocka_unit_test(test_lambda_encoded_names),
        cmocka_unit_test(test_lambda_bad_escapes),
        cmocka_unit_test(test_lambda_param_length),
        cmocka_unit_test(test_lambda_param_too_long_is_einval),
        cmocka_unit_test(test_runtime_routes),
        cmocka_unit_test(test_runtime_methods),
        cmocka_unit_test(test_runtime_not_found),
        cmocka_unit_test(test_runtime_bad_escapes),
        cmocka_unit_test(test_percent_decode_valid),
        cmocka_unit_test(test_percent_decode_invalid),
        cmocka_unit_test(test_percent_decode_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
