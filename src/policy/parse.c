/* Parsing and validation of policy documents.
 *
 * The checks run in IAM's order, so that a document with several problems gets the message
 * IAM would give (as far as public sources show it, e.g. the validator of moto, which mirrors
 * IAM's answers):
 *   1. size and character set of the raw text;
 *   2. JSON syntax and structure: element names and types, Effect, condition operators and the
 *      values they can read -> "Syntax errors in policy." (+ detail), or the principal error;
 *   3. "legacy parsing": Effect's exact case, date values, "::" in short resources;
 *   4. Sids: alphanumeric, then unique;
 *   5. every statement has actions, then every statement has resources;
 *   6. resource ARN formats, then action formats.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/util.h"

#define MSG_SYNTAX     "Syntax errors in policy."
#define MSG_PRINCIPAL  "Policy document should not specify a principal."
#define MSG_LEGACY     "The policy failed legacy parsing"
#define MSG_SID_UNIQUE "Statement IDs (SID) in a single policy must be unique."
#define MSG_SID_ALNUM                                                                              \
    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular "      \
    "expression [0-9A-Za-z]*"
#define MSG_NO_ACTIONS   "Policy statement must contain actions."
#define MSG_NO_RESOURCES "Policy statement must contain resources."
#define MSG_NO_VENDOR    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
#define MSG_ONE_COLON    "Actions/Condition can contain only one colon."
#define MSG_RES_VENDOR   "Resource vendor must be fully qualified and cannot contain regexes."

/* ---- error helpers ------------------------------------------------------------------------- */

static int malformed(struct td_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int malformed(struct td_err *err, const char *fmt, ...)
{
    char msg[TD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return td_err_set(err, 400, TD_POLICY_ERR_TYPE, "%s", msg);
}

/* "Syntax errors in policy. (<detail>)": IAM's sentence, then what tenantd found. */
static int syntax_error(struct td_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int syntax_error(struct td_err *err, const char *fmt, ...)
{
    char detail[TD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return td_err_set(err, 400, TD_POLICY_ERR_TYPE, "%s (%s)", MSG_SYNTAX, detail);
}

static const char *echo_str(struct pol_echo *e, const char *s)
{
    return pol_echo(e, s, strlen(s));
}

/* ---- step 1: the raw text ------------------------------------------------------------------ */

static int check_raw_text(const char *text, size_t len, size_t max_chars, struct td_err *err)
{
    if (max_chars == 0)
        max_chars = TD_POLICY_MAX_IDENTITY_CHARS;
    if (max_chars > TD_POLICY_MAX_CHARS_LIMIT)
        max_chars = TD_POLICY_MAX_CHARS_LIMIT;
    if (len > TD_POLICY_MAX_TEXT_BYTES || pol_count_chars(text, len) > max_chars)
        return td_err_setc(err, -E2BIG, 409, TD_POLICY_LIMIT_TYPE,
                           "Maximum policy size of %zu characters exceeded.", max_chars);
    uint32_t cp;
    if (pol_text_allowed(text, len, &cp))
        return 0;
    if (cp == UINT32_MAX)
        return syntax_error(err, "the policy is not valid UTF-8");
    return syntax_error(err,
                        "character U+%04X is not allowed; a policy may hold TAB, LF, CR and "
                        "U+0020 to U+00FF",
                        cp);
}

/* The same character set for a decoded string (JSON escapes can spell any character). */
static int check_string_chars(const char *s, size_t n, const char *where, struct td_err *err)
{
    uint32_t cp;
    if (pol_text_allowed(s, n, &cp))
        return 0;
    return syntax_error(err, "%s holds character U+%04X, which a policy may not contain", where,
                        cp);
}

/* ---- step 2: structure --------------------------------------------------------------------- */

enum element {
    EL_SID,
    EL_EFFECT,
    EL_ACTION,
    EL_NOT_ACTION,
    EL_RESOURCE,
    EL_NOT_RESOURCE,
    EL_CONDITION,
    EL_COUNT,
};

static const char *const ELEMENT_NAMES[EL_COUNT] = {
    "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition",
};

static int build_strings(json_t *v, const char *element, size_t idx, struct pol_strings *out,
                         struct td_err *err)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !json_is_array(v))
        return syntax_error(err, "Statement[%zu].%s must be a string or an array of strings", idx,
                            element);
    out->items = calloc(n ? n : 1, sizeof(*out->items));
    if (!out->items)
        return td_err_setc(err, -ENOMEM, 500, "ServiceException", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(item))
            return syntax_error(err, "Statement[%zu].%s[%zu] is not a string", idx, element, i);
        int r = check_string_chars(json_string_value(item), json_string_length(item), element, err);
        if (r < 0)
            return r;
        out->items[out->n++] = json_string_value(item);
    }
    return 0;
}

/* A JSON real as decimal text: integral values without exponent, others in the shortest "%g"
 * form that reads back the same (which may use an exponent: Numeric then refuses it). */
static void real_text(double d, char *out, size_t cap)
{
    if (d > -1e15 && d < 1e15 && (double)(long long)d == d) {
        snprintf(out, cap, "%lld", (long long)d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* The text of a condition value: strings as they are, numbers and booleans as JSON writes
 * them (a real in its shortest form that reads back the same). */
static int value_text(json_t *v, struct pol_value *out)
{
    if (json_is_string(v)) {
        out->text = json_string_value(v);
        out->len = json_string_length(v);
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(out->scalar, sizeof(out->scalar), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        real_text(json_real_value(v), out->scalar, sizeof(out->scalar));
    } else if (json_is_boolean(v)) {
        snprintf(out->scalar, sizeof(out->scalar), "%s", json_is_true(v) ? "true" : "false");
    } else {
        return -EINVAL;
    }
    out->text = out->scalar;
    out->len = strlen(out->scalar);
    return 0;
}

/* Read what the operator compares, where the policy fixes it (dates wait for step 3). */
static int read_typed_value(struct pol_condition *c, struct pol_value *v, struct td_err *err)
{
    struct pol_echo e;
    const char *shown = pol_echo(&e, v->text, v->len);
    switch (c->op->family) {
    case FAM_NUMERIC:
        if (pol_parse_decimal(v->text, v->len, &v->as.num) < 0)
            return syntax_error(err, "%s: \"%s\" is not a number", c->op_name, shown);
        return 0;
    case FAM_IP:
        if (pol_parse_net(v->text, v->len, true, &v->as.net) < 0)
            return syntax_error(err, "%s: \"%s\" is not an IP address or CIDR block", c->op_name,
                                shown);
        return 0;
    case FAM_NULL:
        if (!pol_ascii_caseeq(v->text, v->len, "true", 4) &&
            !pol_ascii_caseeq(v->text, v->len, "false", 5))
            return syntax_error(err, "Null: \"%s\" is not true or false", shown);
        v->as.is_null = pol_ascii_caseeq(v->text, v->len, "true", 4);
        return 0;
    case FAM_BINARY: {
        _cleanup_buf_ struct td_buf b = TD_BUF_INIT(TD_POLICY_MAX_TEXT_BYTES);
        int r = td_base64_decode(v->text, v->len, &b);
        if (r == -ENOMEM)
            return td_err_setc(err, r, 500, "ServiceException", "out of memory");
        if (r < 0)
            return syntax_error(err, "BinaryEquals: \"%s\" is not base64", shown);
        v->as.bin.len = b.len;
        v->as.bin.data = (uint8_t *)td_buf_steal(&b, NULL);
        return 0;
    }
    default:
        return 0;
    }
}

static int build_condition(struct pol_condition *c, const char *key, json_t *values,
                           struct td_err *err)
{
    c->key = key;
    size_t n = json_is_array(values) ? json_array_size(values) : 1;
    c->values = calloc(n ? n : 1, sizeof(*c->values));
    if (!c->values)
        return td_err_setc(err, -ENOMEM, 500, "ServiceException", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_is_array(values) ? json_array_get(values, i) : values;
        struct pol_value *v = &c->values[c->n_values++];
        struct pol_echo e;
        if (value_text(item, v) < 0)
            return syntax_error(err, "%s: the values of %s must be strings, numbers or booleans",
                                c->op_name, echo_str(&e, key));
        int r = check_string_chars(v->text, v->len, "a Condition value", err);
        if (r == 0)
            r = read_typed_value(c, v, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int check_operator(const char *name, json_t *block, size_t idx, struct td_err *err)
{
    struct pol_echo e;
    enum pol_set set;
    bool if_exists;
    const struct pol_op *op = pol_op_lookup(name, &set, &if_exists);
    if (!op)
        return syntax_error(err, "Statement[%zu]: invalid Condition operator: %s", idx,
                            echo_str(&e, name));
    if (op->family == FAM_NULL && (if_exists || set != SET_NONE))
        return syntax_error(err, "Statement[%zu]: %s: Null takes no IfExists and no set operator",
                            idx, echo_str(&e, name));
    if (!json_is_object(block))
        return syntax_error(err,
                            "Statement[%zu]: the Condition operator %s must map keys to values",
                            idx, echo_str(&e, name));
    return 0;
}

/* Count the (operator, key) pairs so that the conditions can live in one array. */
static int count_conditions(json_t *cond, size_t idx, size_t *ret, struct td_err *err)
{
    const char *name;
    json_t *block;
    size_t n = 0;
    if (!json_is_object(cond))
        return syntax_error(err, "Statement[%zu].Condition must be an object", idx);
    json_object_foreach(cond, name, block)
    {
        int r = check_operator(name, block, idx, err);
        if (r < 0)
            return r;
        n += json_object_size(block);
    }
    *ret = n;
    return 0;
}

static int build_conditions(struct pol_statement *st, json_t *cond, size_t idx, struct td_err *err)
{
    size_t total = 0;
    int r = count_conditions(cond, idx, &total, err);
    if (r < 0 || total == 0)
        return r;
    st->conditions = calloc(total, sizeof(*st->conditions));
    if (!st->conditions)
        return td_err_setc(err, -ENOMEM, 500, "ServiceException", "out of memory");
    const char *name, *key;
    json_t *block, *values;
    json_object_foreach(cond, name, block)
    {
        json_object_foreach(block, key, values)
        {
            struct pol_condition *c = &st->conditions[st->n_conditions++];
            c->op = pol_op_lookup(name, &c->set, &c->if_exists);
            c->op_name = name;
            r = check_string_chars(key, strlen(key), "a Condition key", err);
            if (r == 0 && *key == '\0')
                r = syntax_error(err, "Statement[%zu]: empty Condition key", idx);
            if (r == 0)
                r = build_condition(c, key, values, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* Sort a statement's members into el[], refusing unknown ones and principals. */
static int collect_elements(json_t *js, size_t idx, json_t *el[EL_COUNT], struct td_err *err)
{
    const char *name;
    json_t *v;
    struct pol_echo e;
    json_object_foreach(js, name, v)
    {
        size_t i = 0;
        while (i < EL_COUNT && strcmp(name, ELEMENT_NAMES[i]) != 0)
            i++;
        if (i < EL_COUNT) {
            el[i] = v;
        } else if (strcmp(name, "Principal") == 0 || strcmp(name, "NotPrincipal") == 0) {
            return malformed(err, MSG_PRINCIPAL);
        } else {
            return syntax_error(err, "Statement[%zu]: unknown element \"%s\"", idx,
                                echo_str(&e, name));
        }
    }
    if (el[EL_ACTION] && el[EL_NOT_ACTION])
        return syntax_error(err, "Statement[%zu] has both Action and NotAction", idx);
    if (el[EL_RESOURCE] && el[EL_NOT_RESOURCE])
        return syntax_error(err, "Statement[%zu] has both Resource and NotResource", idx);
    return 0;
}

static int build_effect(struct pol_statement *st, json_t *effect, size_t idx, struct td_err *err)
{
    if (!effect)
        return syntax_error(err, "Statement[%zu] has no Effect", idx);
    const char *s = json_string_value(effect);
    size_t n = json_string_length(effect);
    if (!s || (!pol_ascii_caseeq(s, n, "Allow", 5) && !pol_ascii_caseeq(s, n, "Deny", 4))) {
        struct pol_echo e;
        return syntax_error(err, "Statement[%zu]: Effect must be \"Allow\" or \"Deny\", not \"%s\"",
                            idx, s ? pol_echo(&e, s, n) : "(not a string)");
    }
    st->effect = s;
    st->deny = pol_ascii_caseeq(s, n, "Deny", 4);
    return 0;
}

static int build_statement(struct pol_statement *st, json_t *js, size_t idx, struct td_err *err)
{
    json_t *el[EL_COUNT] = {0};
    if (!json_is_object(js))
        return syntax_error(err, "Statement[%zu] is not an object", idx);
    int r = collect_elements(js, idx, el, err);
    if (r == 0)
        r = build_effect(st, el[EL_EFFECT], idx, err);
    if (r == 0 && el[EL_SID]) {
        if (!json_is_string(el[EL_SID]))
            return syntax_error(err, "Statement[%zu].Sid must be a string", idx);
        st->sid = json_string_value(el[EL_SID]);
        r = check_string_chars(st->sid, strlen(st->sid), "Sid", err);
    }
    st->not_action = el[EL_NOT_ACTION] != NULL;
    json_t *actions = st->not_action ? el[EL_NOT_ACTION] : el[EL_ACTION];
    if (r == 0 && actions)
        r = build_strings(actions, st->not_action ? "NotAction" : "Action", idx, &st->actions, err);
    st->not_resource = el[EL_NOT_RESOURCE] != NULL;
    json_t *resources = st->not_resource ? el[EL_NOT_RESOURCE] : el[EL_RESOURCE];
    if (r == 0 && resources)
        r = build_strings(resources, st->not_resource ? "NotResource" : "Resource", idx,
                          &st->resources, err);
    if (r == 0 && el[EL_CONDITION])
        r = build_conditions(st, el[EL_CONDITION], idx, err);
    return r;
}

static int read_version(struct td_policy *p, json_t *version, struct td_err *err)
{
    if (!version)
        return 0; /* absent: the 2008 language, variables are literal text */
    const char *v = json_string_value(version);
    if (v && strcmp(v, TD_POLICY_VERSION_2012) == 0) {
        p->variables = true;
        return 0;
    }
    if (v && strcmp(v, TD_POLICY_VERSION_2008) == 0)
        return 0;
    struct pol_echo e;
    return syntax_error(err, "Version must be \"2012-10-17\" or \"2008-10-17\", not \"%s\"",
                        v ? echo_str(&e, v) : "(not a string)");
}

/* The top level: Version, Id, Statement and nothing else. */
static int read_top(struct td_policy *p, json_t **ret_statement, struct td_err *err)
{
    const char *name;
    json_t *v, *version = NULL, *id = NULL, *statement = NULL;
    struct pol_echo e;
    if (!json_is_object(p->doc))
        return syntax_error(err, "the policy must be a JSON object");
    json_object_foreach(p->doc, name, v)
    {
        if (strcmp(name, "Version") == 0)
            version = v;
        else if (strcmp(name, "Id") == 0)
            id = v;
        else if (strcmp(name, "Statement") == 0)
            statement = v;
        else
            return syntax_error(err, "unknown top-level element \"%s\"", echo_str(&e, name));
    }
    if (id && !json_is_string(id))
        return syntax_error(err, "Id must be a string");
    if (id && check_string_chars(json_string_value(id), json_string_length(id), "Id", err) < 0)
        return -EINVAL;
    if (!statement)
        return syntax_error(err, "the policy has no Statement");
    *ret_statement = statement;
    return read_version(p, version, err);
}

static int build_policy(struct td_policy *p, struct td_err *err)
{
    json_t *statement = NULL;
    int r = read_top(p, &statement, err);
    if (r < 0)
        return r;
    bool list = json_is_array(statement);
    if (!list && !json_is_object(statement))
        return syntax_error(err, "Statement must be an object or an array of objects");
    size_t n = list ? json_array_size(statement) : 1;
    if (n == 0)
        return syntax_error(err, "Statement is an empty array");
    p->statements = calloc(n, sizeof(*p->statements));
    if (!p->statements)
        return td_err_setc(err, -ENOMEM, 500, "ServiceException", "out of memory");
    p->n_statements = n;
    for (size_t i = 0; i < n && r == 0; i++)
        r = build_statement(&p->statements[i], list ? json_array_get(statement, i) : statement, i,
                            err);
    return r;
}

/* ---- step 3: legacy parsing ---------------------------------------------------------------- */

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* Short resources with an empty part ("arn:aws:s3::bucket") and ARNs whose service part is
 * empty fail IAM's legacy parser. */
static bool resource_legacy_ok(const char *r)
{
    if (strcmp(r, "*") == 0 || !strchr(r, ':'))
        return true;
    if (count_char(r, ':') < POL_ARN_PARTS - 1 && strstr(r, "::"))
        return false;
    struct pol_arn arn;
    return pol_arn_split(r, strlen(r), &arn) < 3 || arn.len[2] > 0;
}

static bool statement_legacy_ok(struct pol_statement *st)
{
    if (strcmp(st->effect, "Allow") != 0 && strcmp(st->effect, "Deny") != 0)
        return false;
    for (size_t i = 0; i < st->resources.n; i++)
        if (!resource_legacy_ok(st->resources.items[i]))
            return false;
    for (size_t i = 0; i < st->n_conditions; i++) {
        struct pol_condition *c = &st->conditions[i];
        if (c->op->family != FAM_DATE)
            continue;
        for (size_t k = 0; k < c->n_values; k++)
            if (pol_parse_date(c->values[k].text, c->values[k].len, &c->values[k].as.time) < 0)
                return false;
    }
    return true;
}

/* ---- step 4: Sids -------------------------------------------------------------------------- */

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int check_sids(const struct td_policy *p, struct td_err *err)
{
    for (size_t i = 0; i < p->n_statements; i++)
        for (const char *s = p->statements[i].sid; s && *s; s++)
            if (!is_alnum(*s))
                return malformed(err, MSG_SID_ALNUM);
    for (size_t i = 0; i < p->n_statements; i++) {
        const char *a = p->statements[i].sid;
        for (size_t k = 0; a && *a && k < i; k++) {
            const char *b = p->statements[k].sid;
            if (b && strcmp(a, b) == 0)
                return malformed(err, MSG_SID_UNIQUE);
        }
    }
    return 0;
}

/* ---- step 6: resource and action formats --------------------------------------------------- */

static bool known_partition(const char *s, size_t n)
{
    static const char *const partitions[] = {
        "aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(partitions); i++)
        if (strlen(partitions[i]) == n && memcmp(partitions[i], s, n) == 0)
            return true;
    return false;
}

static int check_resource(const char *r, struct td_err *err)
{
    struct pol_echo e, e2;
    if (strcmp(r, "*") == 0)
        return 0;
    struct pol_arn arn;
    pol_arn_split(r, strlen(r), &arn);
    if (arn.n < 2 || arn.len[0] != 3 || memcmp(arn.part[0], "arn", 3) != 0)
        return malformed(err, "Resource %s must be in ARN format or \"*\".", echo_str(&e, r));
    if (!known_partition(arn.part[1], arn.len[1]))
        return malformed(err, "Partition \"%s\" is not valid for resource \"%s\".",
                         pol_echo(&e2, arn.part[1], arn.len[1]), echo_str(&e, r));
    if (arn.n < 3 || arn.len[2] == 0 || memchr(arn.part[2], '*', arn.len[2]) ||
        memchr(arn.part[2], '?', arn.len[2]))
        return malformed(err, MSG_RES_VENDOR);
    bool has_region = arn.n > 3 && arn.len[3] > 0;
    if (has_region && arn.len[2] == 3 && memcmp(arn.part[2], "iam", 3) == 0)
        return malformed(err, "IAM resource %s cannot contain region information.",
                         echo_str(&e, r));
    if (has_region && arn.len[2] == 2 && memcmp(arn.part[2], "s3", 2) == 0)
        return malformed(err, "Resource %s can not contain region information.", echo_str(&e, r));
    return 0;
}

static bool is_vendor_char(char c)
{
    return is_alnum(c) || c == '-' || c == '.';
}

static int check_action(const char *a, struct td_err *err)
{
    if (strcmp(a, "*") == 0)
        return 0;
    const char *colon = strchr(a, ':');
    if (!colon)
        return malformed(err, MSG_NO_VENDOR);
    if (strchr(colon + 1, ':'))
        return malformed(err, MSG_ONE_COLON);
    bool ok = colon > a;
    for (const char *s = a; s < colon && ok; s++)
        ok = is_vendor_char(*s);
    struct pol_echo e;
    if (!ok)
        return malformed(err, "Vendor %s is not valid", pol_echo(&e, a, (size_t)(colon - a)));
    return 0;
}

/* ---- steps 3 to 6 in IAM's order ----------------------------------------------------------- */

static int validate_policy(const struct td_policy *p, struct td_err *err)
{
    for (size_t i = 0; i < p->n_statements; i++)
        if (!statement_legacy_ok(&p->statements[i]))
            return malformed(err, MSG_LEGACY);
    int r = check_sids(p, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < p->n_statements; i++)
        if (p->statements[i].actions.n == 0)
            return malformed(err, MSG_NO_ACTIONS);
    for (size_t i = 0; i < p->n_statements; i++)
        if (p->statements[i].resources.n == 0)
            return malformed(err, MSG_NO_RESOURCES);
    for (size_t i = 0; i < p->n_statements; i++)
        for (size_t k = 0; k < p->statements[i].resources.n && r == 0; k++)
            r = check_resource(p->statements[i].resources.items[k], err);
    for (size_t i = 0; i < p->n_statements; i++)
        for (size_t k = 0; k < p->statements[i].actions.n && r == 0; k++)
            r = check_action(p->statements[i].actions.items[k], err);
    return r;
}

/* ---- public -------------------------------------------------------------------------------- */

int td_policy_parse(const char *text, size_t len, size_t max_chars, struct td_policy **ret,
                    struct td_err *err)
{
    if (!ret)
        return -EINVAL;
    *ret = NULL;
    if (!text)
        return syntax_error(err, "no policy text");
    int r = check_raw_text(text, len, max_chars, err);
    if (r < 0)
        return r;
    _cleanup_policy_ struct td_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return td_err_setc(err, -ENOMEM, 500, "ServiceException", "out of memory");
    json_error_t jerr;
    p->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!p->doc) {
        struct pol_echo e;
        return syntax_error(err, "JSON: %s at line %d column %d", echo_str(&e, jerr.text),
                            jerr.line, jerr.column);
    }
    r = build_policy(p, err);
    if (r == 0)
        r = validate_policy(p, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(p);
    return 0;
}

static void statement_release(struct pol_statement *st)
{
    for (size_t i = 0; i < st->n_conditions; i++) {
        struct pol_condition *c = &st->conditions[i];
        for (size_t k = 0; c->op && c->op->family == FAM_BINARY && k < c->n_values; k++)
            free(c->values[k].as.bin.data);
        free(c->values);
    }
    free(st->conditions);
    free(st->actions.items);
    free(st->resources.items);
}

void td_policy_free(struct td_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_statements; i++)
        statement_release(&p->statements[i]);
    free(p->statements);
    json_decref(p->doc);
    free(p);
}

size_t td_policy_statement_count(const struct td_policy *p)
{
    return p ? p->n_statements : 0;
}

bool td_policy_uses_variables(const struct td_policy *p)
{
    return p && p->variables;
}
