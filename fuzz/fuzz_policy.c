/* Fuzz the policy engine: parse a document, evaluate it against a few fixed request contexts,
 * authorize with it as identity and as session policy, lint it; then instantiate the input as
 * a tenant template and do the same with the result.
 *
 * Input: a policy document as is. Checked invariants: a refused document explains itself
 * (status, type, message) and yields no policy; evaluation of a parsed policy never fails on
 * these small contexts; td_policy_authorize agrees with td_policy_evaluate; lint findings are
 * well-formed and the error count adds up. With FUZZ_POLICY_VERBOSE set in the environment,
 * the outcome is printed (handy when adding seeds to fuzz/corpus/policy/).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"
#include "tenantd/policy.h"

#define FUZZ_MAX_INPUT (64 * 1024)
#define TABLE          "arn:aws:dynamodb:us-east-1:123456789012:table/Items"
#define PRINCIPAL      "arn:aws:sts::123456789012:assumed-role/R/S"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct request {
    const char *action;
    const char *resource;
    /* "key=value" sets, "key+=value" adds to a multivalued key, "key[]" an empty set */
    const char *keys[16];
};

static const struct request REQUESTS[] = {
    {"dynamodb:GetItem",
     TABLE,
     {"aws:PrincipalTag/TenantId=t1", "dynamodb:LeadingKeys+=t1", "dynamodb:LeadingKeys+=t2#x",
      "aws:SourceIp=203.0.113.7", "aws:CurrentTime=2024-05-01T12:00:00Z",
      "aws:EpochTime=1714564800", "aws:SecureTransport=true", "aws:username=david",
      "s3:max-keys=10", "key=QmluYXJ5VmFsdWVJbkJhc2U2NA==", "aws:TagKeys[]",
      "aws:SourceArn=arn:aws:sns:us-east-1:123456789012:topic", NULL}},
    {"dynamodb:Scan", TABLE, {"aws:PrincipalTag/TenantId=t1", "aws:SourceIp=2001:db8::1", NULL}},
    {"s3:GetObject",
     "arn:aws:s3:::BUCKET-NAME/home/david/x",
     {"aws:username=david", "s3:prefix=home/david/", "aws:PrincipalTag/team=*", NULL}},
    {"", "*", {NULL}},
};

static void verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void verbose(const char *fmt, ...)
{
    static int on = -1;
    if (on < 0)
        on = getenv("FUZZ_POLICY_VERBOSE") != NULL;
    if (!on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static struct td_policy_ctx *make_context(const struct request *rq)
{
    struct td_policy_ctx *ctx = td_policy_ctx_new();
    if (!ctx || td_policy_ctx_set_request(ctx, rq->action, rq->resource) < 0)
        abort();
    for (size_t i = 0; rq->keys[i]; i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", rq->keys[i]);
        char *eq = strchr(buf, '=');
        size_t n = strlen(buf);
        int r;
        if (!eq && n > 2) {
            buf[n - 2] = '\0';
            r = td_policy_ctx_add(ctx, buf, NULL);
        } else if (eq && eq > buf && eq[-1] == '+') {
            eq[-1] = '\0';
            r = td_policy_ctx_add(ctx, buf, eq + 1);
        } else {
            *eq = '\0';
            r = td_policy_ctx_set(ctx, buf, eq + 1);
        }
        if (r < 0)
            abort();
    }
    return ctx;
}

static void check_authorize(const struct td_policy *p, const struct td_policy_ctx *ctx,
                            enum td_policy_effect effect)
{
    const struct td_policy *set[] = {p};
    struct td_policy_decision d;
    if (td_policy_authorize(set, 1, set, 1, ctx, &d) < 0)
        abort();
    /* The same policy as identity and session: allowed exactly when it allows. */
    if (d.allowed != (effect == TD_POLICY_ALLOW))
        abort();
    if (effect == TD_POLICY_DENY && d.reason != TD_POLICY_DENY_IDENTITY_EXPLICIT)
        abort();
    if (!d.allowed) {
        struct td_buf msg = TD_BUF_INIT(4096);
        if (td_policy_format_denied(&d, PRINCIPAL, td_policy_ctx_action(ctx),
                                    td_policy_ctx_resource(ctx), &msg) < 0 ||
            strncmp(msg.data, "User: ", 6) != 0)
            abort();
        td_buf_release(&msg);
    }
}

static void evaluate_all(const struct td_policy *p)
{
    for (size_t i = 0; i < sizeof(REQUESTS) / sizeof(REQUESTS[0]); i++) {
        struct td_policy_ctx *ctx = make_context(&REQUESTS[i]);
        struct td_policy_result res;
        if (td_policy_evaluate(p, ctx, &res) < 0)
            abort();
        if (res.effect != TD_POLICY_NO_MATCH && res.statement >= td_policy_statement_count(p))
            abort();
        verbose("  %s: %d\n", REQUESTS[i].action, (int)res.effect);
        check_authorize(p, ctx, res.effect);
        td_policy_ctx_free(ctx);
    }
}

static void lint(const struct td_policy *p)
{
    struct td_policy_lint l = {0};
    int errors = td_policy_lint(p, &l);
    if (errors < 0)
        abort();
    int counted = 0;
    for (size_t i = 0; i < l.n; i++) {
        const struct td_policy_finding *f = &l.items[i];
        if (!f->id || strncmp(f->id, "TENANCY", 7) != 0 || f->message[0] == '\0' ||
            f->statement >= td_policy_statement_count(p))
            abort();
        counted += f->severity == TD_POLICY_ERROR;
        verbose("  %s %s\n", f->id, f->message);
    }
    if (counted != errors)
        abort();
    td_policy_lint_release(&l);
}

static void exercise(const char *text, size_t len)
{
    struct td_err err = {0};
    struct td_policy *p = NULL;
    int r = td_policy_parse(text, len, TD_POLICY_MAX_CHARS_LIMIT, &p, &err);
    verbose("parse: %s%s%s\n", r < 0 ? err.type : "ok", r < 0 ? ": " : "",
            r < 0 ? err.message : "");
    if (r < 0) {
        /* A refusal always explains itself and leaves nothing behind. */
        if (p || err.status == 0 || err.type[0] == '\0' || err.message[0] == '\0')
            abort();
        if (r == -EINVAL && (err.status != 400 || strcmp(err.type, TD_POLICY_ERR_TYPE) != 0))
            abort();
        return;
    }
    if (!p || td_policy_statement_count(p) == 0)
        abort();
    evaluate_all(p);
    lint(p);
    td_policy_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    exercise((const char *)data, size);

    char *text = NULL;
    size_t len = 0;
    if (td_policy_template_instantiate((const char *)data, size, "t1", &text, &len) == 0) {
        if (!text)
            abort();
        exercise(text, len);
        free(text);
    }
    return 0;
}
