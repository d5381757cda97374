/* The query protocol: form decoding, lists, refusals; XML responses and errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenantd/awsquery.h"

static struct td_query *parse_ok(const char *body)
{
    struct td_query *q = NULL;
    struct td_err err = {0};
    assert_int_equal(td_query_parse(body, strlen(body), &q, &err), 0);
    assert_non_null(q);
    return q;
}

static void parse_refused(const char *body, size_t len, const char *type)
{
    struct td_query *q = NULL;
    struct td_err err = {0};
    assert_true(td_query_parse(body, len, &q, &err) < 0);
    assert_null(q);
    assert_string_equal(err.type, type);
}

static void test_decoding(void **state)
{
    (void)state;
    /* as @aws-sdk/client-sts sends it */
    struct td_query *q = parse_ok(
        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%"
        "2Fdemo&RoleSessionName=s1&Policy=%7B%22Version%22%3A%222012-10-17%22%7D&Tags.member.1."
        "Key=TenantID&Tags.member.1.Value=t-1&Tags.member.2.Key=Team&Tags.member.2.Value=x%20y&"
        "Plus=a+b&Empty=&Bare");
    assert_string_equal(td_query_get(q, "Action"), "AssumeRole");
    assert_string_equal(td_query_get(q, "RoleArn"), "arn:aws:iam::123456789012:role/demo");
    assert_string_equal(td_query_get(q, "Policy"), "{\"Version\":\"2012-10-17\"}");
    assert_string_equal(td_query_get(q, "Plus"), "a b");
    assert_string_equal(td_query_get(q, "Empty"), "");
    assert_string_equal(td_query_get(q, "Bare"), "");
    assert_null(td_query_get(q, "Missing"));
    assert_int_equal(td_query_list_len(q, "Tags.member", ".Key"), 2);
    assert_string_equal(td_query_member(q, "Tags.member", 2, ".Value"), "x y");
    assert_int_equal(td_query_list_len(q, "PolicyArns.member", ".arn"), 0);
    td_query_free(q);

    q = parse_ok("");
    assert_null(td_query_get(q, "Action"));
    td_query_free(q);
}

static void test_refusals(void **state)
{
    (void)state;
    parse_refused("Action=A&Action=B", 17, "MalformedQueryString");
    parse_refused("Name=a%00b", 10, "MalformedQueryString");
    parse_refused("Name=a\0b", 8, "MalformedQueryString");
    struct td_query *q = parse_ok("L.member.1=a&L.member.3=c");
    assert_int_equal(td_query_list_len(q, "L.member", ""), -EINVAL); /* a gap */
    td_query_free(q);
    char *many = malloc(20 * (TD_QUERY_MAX_PARAMS + 2));
    assert_non_null(many);
    size_t len = 0;
    for (int i = 0; i <= TD_QUERY_MAX_PARAMS; i++)
        len += (size_t)sprintf(many + len, "p%d=v&", i);
    parse_refused(many, len, "MalformedQueryString");
    free(many);
}

static void test_xml(void **state)
{
    (void)state;
    struct td_xml *x = NULL;
    assert_int_equal(td_xml_new("GetRoleResponse", "https://iam.amazonaws.com/doc/2010-05-08/", &x),
                     0);
    assert_int_equal(td_xml_open(x, "GetRoleResult"), 0);
    assert_int_equal(td_xml_text(x, "RoleName", "a<b>&\"c\""), 0);
    assert_int_equal(td_xml_textf(x, "MaxSessionDuration", "%d", 3600), 0);
    assert_int_equal(td_xml_close(x), 0);
    struct td_buf out = TD_BUF_INIT(65536);
    assert_int_equal(td_xml_finish(x, "req-1", &out), 0);
    td_xml_free(x);
    assert_non_null(strstr(out.data, "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/"
                                     "2010-05-08/\"><GetRoleResult><RoleName>a&lt;b&gt;&amp;"
                                     "&quot;c&quot;</RoleName><MaxSessionDuration>3600</"
                                     "MaxSessionDuration></GetRoleResult><ResponseMetadata><"
                                     "RequestId>req-1</RequestId></ResponseMetadata></"
                                     "GetRoleResponse>"));
    td_buf_release(&out);

    struct td_err err;
    td_err_set(&err, 404, "NoSuchEntity", "The role with name r cannot be found.");
    assert_int_equal(
        td_query_error_xml(&err, "https://iam.amazonaws.com/doc/2010-05-08/", "r-2", &out), 0);
    assert_non_null(strstr(out.data, "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/"
                                     "2010-05-08/\"><Error><Type>Sender</Type><Code>NoSuchEntity</"
                                     "Code><Message>The role with name r cannot be found.</"
                                     "Message></Error><RequestId>r-2</RequestId></"
                                     "ErrorResponse>"));
    td_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_xml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
