/* Fuzz the two Invoke inputs judged before any function runs: the X-Amz-Tenant-Id header
 * (td_tenant_id_validate) and the FunctionName path parameter (td_function_name_resolve).
 *
 * Input: any bytes, used as a C string (up to the first NUL) by both; the text after the first
 * newline is also resolved on its own, so one input can carry a tenant line and a name line.
 * Invariants, each checked independently of the code under test:
 *   - a tenant id is accepted exactly when it has 1-256 characters of [a-zA-Z0-9._:/=+\-@ ];
 *   - a resolved name is 1-64 characters of [a-zA-Z0-9._-] and occurs in the input; a qualifier
 *     is empty, "$LATEST" or 1-128 characters of [a-zA-Z0-9_-]; without ':' in the input the
 *     name is the input itself;
 *   - refusals carry 400 InvalidParameterValueException or 404 ResourceNotFoundException (the
 *     latter only for an ARN naming another region or account).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantd/api.h"
#include "tenantd/error.h"
#include "tenantd/function.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 4096

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_invoke_request: check failed at line %d: %s\n", __LINE__,        \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const struct td_service_identity ID = {.region = "us-east-1", .account_id = "000000000000"};

static bool alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool tenant_rule(const char *s)
{
    size_t len = strlen(s);
    if (len < 1 || len > 256)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!alnum(c) && c != '.' && c != '_' && c != ':' && c != '/' && c != '=' && c != '+' &&
            c != '-' && c != '@' && c != ' ')
            return false;
    }
    return true;
}

static void check_tenant(const char *s)
{
    struct td_err err;
    memset(&err, 0, sizeof(err));
    int r = td_tenant_id_validate(s, &err);
    bool want = tenant_rule(s);
    CHECK((r == 0) == want);
    if (r < 0) {
        CHECK(r == -EINVAL);
        CHECK(err.status == 400);
        CHECK(strcmp(err.type, "InvalidParameterValueException") == 0);
    } else {
        CHECK(err.status == 0);
    }
}

static bool all_of(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!alnum((unsigned char)*s) && !strchr(extra, *s))
            return false;
    return true;
}

static void check_resolve(const char *s)
{
    char name[TD_FUNCTION_NAME_MAX + 1], qualifier[129];
    struct td_err err;
    memset(&err, 0, sizeof(err));
    memset(name, 0x41, sizeof(name));
    memset(qualifier, 0x41, sizeof(qualifier));
    int r = td_function_name_resolve(s, &ID, name, qualifier, &err);
    if (r < 0) {
        CHECK(r == -EINVAL);
        CHECK((err.status == 400 && strcmp(err.type, "InvalidParameterValueException") == 0) ||
              (err.status == 404 && strcmp(err.type, "ResourceNotFoundException") == 0));
        /* Not found only for a region or an account that is not ours. */
        if (err.status == 404)
            CHECK(strchr(s, ':') != NULL);
        return;
    }
    CHECK(r == 0);
    CHECK(memchr(name, '\0', sizeof(name)) != NULL);
    CHECK(memchr(qualifier, '\0', sizeof(qualifier)) != NULL);
    size_t nlen = strlen(name), qlen = strlen(qualifier);
    CHECK(nlen >= 1 && nlen <= TD_FUNCTION_NAME_MAX);
    CHECK(all_of(name, "._-"));
    CHECK(strstr(s, name) != NULL);
    CHECK(qlen <= 128);
    if (qlen > 0) {
        CHECK(strcmp(qualifier, "$LATEST") == 0 || all_of(qualifier, "_-"));
        /* The qualifier is the end of the input, after a ':' (longer ones are refused). */
        size_t slen = strlen(s);
        const char *colon = strrchr(s, ':');
        CHECK(colon != NULL);
        CHECK(strncmp(colon + 1, qualifier, qlen) == 0);
        CHECK(slen - (size_t)(colon + 1 - s) == qlen);
    }
    if (!strchr(s, ':')) {
        CHECK(strcmp(name, s) == 0);
        CHECK(qlen == 0);
    }
    /* A resolved name resolves to itself. */
    char name2[TD_FUNCTION_NAME_MAX + 1], qualifier2[129];
    CHECK(td_function_name_resolve(name, &ID, name2, qualifier2, NULL) == 0);
    CHECK(strcmp(name2, name) == 0 && qualifier2[0] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    check_tenant(s);
    check_resolve(s);
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        check_tenant(s);
        check_resolve(s);
        check_tenant(nl + 1);
        check_resolve(nl + 1);
    }
    free(s);
    return 0;
}
