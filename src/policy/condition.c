/* Condition operators and their evaluation against a request context.
 *
 * Combining rules (IAM): several operators in a block, and several keys under one operator, are
 * ANDed (the caller loops over pol_condition entries); several values for one key are ORed,
 * except that a negated operator with several values requires the request value to match none.
 * A missing key makes a positive operator false and a negated one true; ...IfExists makes a
 * missing key true; Null tests presence. ForAllValues is true for a missing key or an empty set,
 * ForAnyValue false. A plain (unqualified) operator on a multivalued key is true when any
 * request value matches (tenantd's reading; IAM says to use a set operator there).
 */
#include <errno.h>
#include <string.h>

#include "policy_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/util.h"

static const struct pol_op OPS[] = {
    {"StringEquals", FAM_STRING, TEST_EQ, false},
    {"StringNotEquals", FAM_STRING, TEST_EQ, true},
    {"StringEqualsIgnoreCase", FAM_STRING, TEST_EQ_IC, false},
    {"StringNotEqualsIgnoreCase", FAM_STRING, TEST_EQ_IC, true},
    {"StringLike", FAM_STRING, TEST_LIKE, false},
    {"StringNotLike", FAM_STRING, TEST_LIKE, true},
    {"NumericEquals", FAM_NUMERIC, TEST_EQ, false},
    {"NumericNotEquals", FAM_NUMERIC, TEST_EQ, true},
    {"NumericLessThan", FAM_NUMERIC, TEST_LT, false},
    {"NumericLessThanEquals", FAM_NUMERIC, TEST_LE, false},
    {"NumericGreaterThan", FAM_NUMERIC, TEST_GT, false},
    {"NumericGreaterThanEquals", FAM_NUMERIC, TEST_GE, false},
    {"DateEquals", FAM_DATE, TEST_EQ, false},
    {"DateNotEquals", FAM_DATE, TEST_EQ, true},
    {"DateLessThan", FAM_DATE, TEST_LT, false},
    {"DateLessThanEquals", FAM_DATE, TEST_LE, false},
    {"DateGreaterThan", FAM_DATE, TEST_GT, false},
    {"DateGreaterThanEquals", FAM_DATE, TEST_GE, false},
    {"Bool", FAM_BOOL, TEST_EQ, false},
    {"BinaryEquals", FAM_BINARY, TEST_EQ, false},
    {"IpAddress", FAM_IP, TEST_IN_NET, false},
    {"NotIpAddress", FAM_IP, TEST_IN_NET, true},
    {"ArnEquals", FAM_ARN, TEST_LIKE, false},
    {"ArnLike", FAM_ARN, TEST_LIKE, false},
    {"ArnNotEquals", FAM_ARN, TEST_LIKE, true},
    {"ArnNotLike", FAM_ARN, TEST_LIKE, true},
    {"Null", FAM_NULL, TEST_NULL, false},
};

#define PREFIX_ALL "ForAllValues:"
#define PREFIX_ANY "ForAnyValue:"
#define SUFFIX_IFX "IfExists"

static bool strip_prefix(const char **s, size_t *n, const char *prefix)
{
    size_t pn = strlen(prefix);
    if (*n < pn || memcmp(*s, prefix, pn) != 0)
        return false;
    *s += pn;
    *n -= pn;
    return true;
}

const struct pol_op *pol_op_lookup(const char *name, enum pol_set *set, bool *if_exists)
{
    const char *s = name;
    size_t n = strlen(name);
    *set = SET_NONE;
    if (strip_prefix(&s, &n, PREFIX_ALL))
        *set = SET_ALL;
    else if (strip_prefix(&s, &n, PREFIX_ANY))
        *set = SET_ANY;
    size_t sn = strlen(SUFFIX_IFX);
    *if_exists = n > sn && memcmp(s + n - sn, SUFFIX_IFX, sn) == 0;
    if (*if_exists)
        n -= sn;
    for (size_t i = 0; i < TD_ARRAY_SIZE(OPS); i++)
        if (strlen(OPS[i].name) == n && memcmp(OPS[i].name, s, n) == 0)
            return &OPS[i];
    return NULL;
}

void pol_eval_init(struct pol_eval *ev, const struct td_policy *p, const struct td_policy_ctx *ctx)
{
    memset(ev, 0, sizeof(*ev));
    ev->ctx = ctx;
    ev->variables = p ? p->variables : false;
    td_buf_init(&ev->scratch, POL_PATTERN_MAX);
    td_buf_init(&ev->bytes, TD_POLICY_CTX_MAX_VALUE_LEN);
    ev->budget = TD_POLICY_EVAL_MAX_STEPS;
}

bool pol_eval_glob(struct pol_eval *ev, const char *pat, size_t pn, const char *s, size_t sn)
{
    bool m = pol_glob(pat, pn, s, sn, false, true, &ev->budget);
    if (ev->budget == 0 && ev->error == 0)
        ev->error = -E2BIG;
    return m && ev->error == 0;
}

void pol_eval_release(struct pol_eval *ev)
{
    td_buf_release(&ev->scratch);
    td_buf_release(&ev->bytes);
}

/* Resolve a policy value into ev->scratch; false (and maybe ev->error) if it cannot match. */
static bool resolve_value(struct pol_eval *ev, const char *s, size_t n, enum pol_resolve_mode mode)
{
    td_buf_reset(&ev->scratch);
    int r = pol_resolve(s, n, ev->variables, mode, ev->ctx, &ev->scratch);
    if (r < 0 && ev->error == 0)
        ev->error = r;
    return r == 1;
}

static const char *scratch_text(const struct pol_eval *ev)
{
    return ev->scratch.data ? ev->scratch.data : "";
}

static bool cmp_holds(enum pol_test test, int cmp)
{
    switch (test) {
    case TEST_EQ:
        return cmp == 0;
    case TEST_LT:
        return cmp < 0;
    case TEST_LE:
        return cmp <= 0;
    case TEST_GT:
        return cmp > 0;
    case TEST_GE:
        return cmp >= 0;
    default:
        return false;
    }
}

static bool string_matches(struct pol_eval *ev, enum pol_test test, const struct pol_value *v,
                           const char *req, size_t rn)
{
    enum pol_resolve_mode mode = test == TEST_LIKE ? RESOLVE_GLOB : RESOLVE_PLAIN;
    if (!resolve_value(ev, v->text, v->len, mode))
        return false;
    const char *pat = scratch_text(ev);
    size_t pn = ev->scratch.len;
    if (test == TEST_LIKE)
        return pol_eval_glob(ev, pat, pn, req, rn);
    if (test == TEST_EQ_IC)
        return pol_ascii_caseeq(pat, pn, req, rn);
    return pn == rn && memcmp(pat, req, rn) == 0;
}

static bool bool_matches(struct pol_eval *ev, const struct pol_value *v, const char *req, size_t rn)
{
    if (!resolve_value(ev, v->text, v->len, RESOLVE_PLAIN))
        return false;
    return pol_ascii_caseeq(scratch_text(ev), ev->scratch.len, req, rn);
}

static bool binary_matches(struct pol_eval *ev, const struct pol_value *v, const char *req,
                           size_t rn)
{
    /* Request values of binary keys are given base64-encoded, like the policy's. */
    td_buf_reset(&ev->bytes);
    if (td_base64_decode(req, rn, &ev->bytes) < 0)
        return false;
    return ev->bytes.len == v->as.bin.len &&
           (v->as.bin.len == 0 || memcmp(ev->bytes.data, v->as.bin.data, v->as.bin.len) == 0);
}

/* Whether one request value matches one policy value, for the positive form of the operator. */
static bool value_matches(struct pol_eval *ev, const struct pol_condition *c,
                          const struct pol_value *v, const char *req)
{
    size_t rn = strlen(req);
    switch (c->op->family) {
    case FAM_STRING:
        return string_matches(ev, c->op->test, v, req, rn);
    case FAM_ARN:
        return pol_arn_matches(ev, v->text, v->len, req, rn);
    case FAM_BOOL:
        return bool_matches(ev, v, req, rn);
    case FAM_NUMERIC: {
        struct pol_decimal d;
        return pol_parse_decimal(req, rn, &d) == 0 &&
               cmp_holds(c->op->test, pol_decimal_cmp(&d, &v->as.num));
    }
    case FAM_DATE: {
        struct pol_time t;
        return pol_parse_date(req, rn, &t) == 0 &&
               cmp_holds(c->op->test, pol_time_cmp(&t, &v->as.time));
    }
    case FAM_IP: {
        struct pol_net addr;
        return pol_parse_net(req, rn, false, &addr) == 0 && pol_net_contains(&v->as.net, &addr);
    }
    case FAM_BINARY:
        return binary_matches(ev, v, req, rn);
    case FAM_NULL:
    default:
        return false;
    }
}

/* Whether one request value matches any of the policy values (positive form). */
static bool matches_any_value(struct pol_eval *ev, const struct pol_condition *c, const char *req)
{
    for (size_t i = 0; i < c->n_values && ev->error == 0; i++)
        if (value_matches(ev, c, &c->values[i], req))
            return true;
    return false;
}

/* The operator's verdict for one request value: a positive operator wants it to match some
 * policy value, a negated one wants it to match none. */
static bool request_value_ok(struct pol_eval *ev, const struct pol_condition *c, const char *req)
{
    bool any = matches_any_value(ev, c, req);
    return c->op->negated ? !any : any;
}

static bool null_holds(const struct pol_condition *c, const struct pol_ctx_key *key)
{
    bool is_null = !key || (key->multi && key->n == 0);
    for (size_t i = 0; i < c->n_values; i++)
        if (c->values[i].as.is_null == is_null)
            return true;
    return false;
}

static bool missing_key_holds(const struct pol_condition *c)
{
    if (c->if_exists)
        return true;
    if (c->set == SET_ALL)
        return true;
    if (c->set == SET_ANY)
        return false;
    return c->op->negated;
}

/* A plain operator: a positive one holds when some request value matches some policy value; a
 * negated one when no request value matches any policy value. */
static bool plain_holds(struct pol_eval *ev, const struct pol_condition *c,
                        const struct pol_ctx_key *key)
{
    bool matched = false;
    for (size_t i = 0; i < key->n && !matched; i++)
        matched = matches_any_value(ev, c, key->values[i]);
    return c->op->negated ? !matched : matched;
}

bool pol_condition_holds(struct pol_eval *ev, const struct pol_condition *c)
{
    const struct pol_ctx_key *key = pol_ctx_find(ev->ctx, c->key, strlen(c->key));
    if (c->op->family == FAM_NULL)
        return null_holds(c, key);
    if (!key)
        return missing_key_holds(c);
    bool result;
    if (c->set == SET_NONE) {
        result = plain_holds(ev, c, key);
    } else if (c->set == SET_ALL) {
        result = true;
        for (size_t i = 0; i < key->n && result; i++)
            result = request_value_ok(ev, c, key->values[i]);
    } else {
        result = false;
        for (size_t i = 0; i < key->n && !result; i++)
            result = request_value_ok(ev, c, key->values[i]);
    }
    return ev->error == 0 && result;
}

/* ---- ARN patterns -------------------------------------------------------------------------- */

/* Resolve the parts of an ARN pattern one by one into ev->scratch, recording where each ends,
 * so that a colon inside a substituted value never shifts the parts. */
static bool resolve_arn_parts(struct pol_eval *ev, const struct pol_arn *raw,
                              size_t end[POL_ARN_PARTS])
{
    td_buf_reset(&ev->scratch);
    for (size_t i = 0; i < raw->n; i++) {
        int r = pol_resolve(raw->part[i], raw->len[i], ev->variables, RESOLVE_GLOB, ev->ctx,
                            &ev->scratch);
        if (r < 0 && ev->error == 0)
            ev->error = r;
        if (r != 1)
            return false;
        end[i] = ev->scratch.len;
    }
    return true;
}

bool pol_arn_matches(struct pol_eval *ev, const char *pattern, size_t pn, const char *arn,
                     size_t an)
{
    struct pol_arn raw, req;
    pol_arn_split(pattern, pn, &raw);
    pol_arn_split(arn, an, &req);
    /* A pattern without a colon ("*") is matched against the whole value. */
    if (raw.n == 1) {
        size_t end[POL_ARN_PARTS];
        return resolve_arn_parts(ev, &raw, end) &&
               pol_eval_glob(ev, scratch_text(ev), end[0], arn, an);
    }
    if (raw.n != req.n)
        return false;
    /* Without variables (no '$') and escapes (no '\\'), the parts are globs as they are. */
    if (!memchr(pattern, '$', pn) && !memchr(pattern, '\\', pn)) {
        for (size_t i = 0; i < raw.n; i++)
            if (!pol_eval_glob(ev, raw.part[i], raw.len[i], req.part[i], req.len[i]))
                return false;
        return true;
    }
    size_t end[POL_ARN_PARTS];
    if (!resolve_arn_parts(ev, &raw, end))
        return false;
    const char *text = scratch_text(ev);
    for (size_t i = 0, start = 0; i < raw.n; start = end[i], i++)
        if (!pol_eval_glob(ev, text + start, end[i] - start, req.part[i], req.len[i]))
            return false;
    return true;
}
