/* Tenancy lint: statements that could let one tenant reach another tenant's DynamoDB data.
 * Findings and their rationale are documented in docs/tenancy-policies.md.
 *
 * Only Allow statements matter (a Deny can only take access away). A statement is looked at
 * when it allows some DynamoDB data action on something that can be a table. It is safe when
 * it has a dynamodb:LeadingKeys condition bound to the tenant, or when each of its table
 * resources names the tenant in the table name (one table per tenant).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"
#include "tenantd/cleanup.h"

#define ID_UNBOUND       "TENANCY001"
#define ID_SCAN_NO_GUARD "TENANCY002"
#define ID_SCAN_WILDCARD "TENANCY003"
#define ID_LITERAL       "TENANCY004"
#define ID_NOT_ELEMENT   "TENANCY005"
#define ID_NO_GUARD      "TENANCY006"

#define LEADING_KEYS "dynamodb:LeadingKeys"
#define TENANT_TAG   "aws:PrincipalTag/" TD_POLICY_TENANT_TAG
#define SHORTHAND    "tenant"
#define PROBE_TABLE  "arn:aws:dynamodb:us-east-1:123456789012:table/probe"

/* The DynamoDB actions that read or write items; the last two can run without leading keys. */
static const char *const DATA_ACTIONS[] = {
    "dynamodb:GetItem",        "dynamodb:BatchGetItem",       "dynamodb:Query",
    "dynamodb:PutItem",        "dynamodb:UpdateItem",         "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",  "dynamodb:PartiQLDelete",      "dynamodb:PartiQLSelect",
    "dynamodb:Scan",
};
#define N_DATA_ACTIONS (sizeof(DATA_ACTIONS) / sizeof(DATA_ACTIONS[0]))
#define FIRST_KEYLESS  (N_DATA_ACTIONS - 2) /* PartiQLSelect (a full scan), Scan */
#define SCAN_ACTION    "dynamodb:Scan"

struct stmt_view {
    const struct td_policy *p;
    const struct pol_statement *st;
    size_t idx;
    bool covered[N_DATA_ACTIONS];
    bool any_covered;
    bool keyless_covered;
};

/* ---- findings ------------------------------------------------------------------------------ */

static int add_finding(struct td_policy_lint *out, const struct stmt_view *v, const char *id,
                       enum td_policy_severity sev, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int add_finding(struct td_policy_lint *out, const struct stmt_view *v, const char *id,
                       enum td_policy_severity sev, const char *fmt, ...)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 8;
        struct td_policy_finding *items = realloc(out->items, cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        out->items = items;
        out->cap = cap;
    }
    struct td_policy_finding *f = &out->items[out->n++];
    f->id = id;
    f->severity = sev;
    f->statement = v->idx;
    f->sid = v->st->sid;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
    return 0;
}

void td_policy_lint_release(struct td_policy_lint *l)
{
    if (!l)
        return;
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* ---- what a statement reaches -------------------------------------------------------------- */

static bool listed(const struct pol_statement *st, const char *action)
{
    for (size_t i = 0; i < st->actions.n; i++)
        if (pol_action_matches(st->actions.items[i], action))
            return true;
    return false;
}

static void cover_actions(struct stmt_view *v)
{
    for (size_t i = 0; i < N_DATA_ACTIONS; i++) {
        v->covered[i] = listed(v->st, DATA_ACTIONS[i]) != v->st->not_action;
        v->any_covered |= v->covered[i];
        v->keyless_covered |= v->covered[i] && i >= FIRST_KEYLESS;
    }
}

/* Length of the text before the first wildcard or variable. */
static size_t literal_prefix(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != '*' && s[i] != '?' && s[i] != '$')
        i++;
    return i;
}

static bool entry_reaches_table(const char *r)
{
    struct pol_arn a;
    size_t n = pol_arn_split(r, strlen(r), &a);
    if (n == 1)
        return pol_glob(r, strlen(r), PROBE_TABLE, strlen(PROBE_TABLE), false, false, NULL);
    if (n < POL_ARN_PARTS || !pol_glob(a.part[2], a.len[2], "dynamodb", 8, false, false, NULL))
        return false;
    size_t lit = literal_prefix(a.part[5], a.len[5]);
    return memcmp(a.part[5], "table/", lit < 6 ? lit : 6) == 0;
}

/* ---- is a value tied to the tenant? -------------------------------------------------------- */

static bool is_tenant_var(const struct td_policy *p, const struct pol_var *v)
{
    if (v->kind != VAR_KEY || v->has_default)
        return false;
    if (v->name_len == strlen(SHORTHAND) && memcmp(v->name, SHORTHAND, v->name_len) == 0)
        return true; /* replaced by td_policy_template_instantiate, whatever the Version */
    return p->variables && pol_ascii_caseeq(v->name, v->name_len, TENANT_TAG, strlen(TENANT_TAG));
}

enum tok_kind {
    TOK_CHAR,   /* a literal character */
    TOK_WILD,   /* '*' or '?' under a glob */
    TOK_TENANT, /* the tenant variable */
    TOK_OTHER,  /* any other variable: some principal's value */
};

struct tok {
    enum tok_kind kind;
    char c;
    size_t next;
};

static struct tok next_token(const struct td_policy *p, const char *s, size_t n, size_t at,
                             bool glob)
{
    struct pol_var v;
    if (pol_var_at(s, n, at, &v)) {
        if (is_tenant_var(p, &v))
            return (struct tok){TOK_TENANT, 0, v.end};
        if (p->variables && v.kind == VAR_KEY)
            return (struct tok){TOK_OTHER, 0, v.end};
        if (p->variables)
            return (struct tok){TOK_CHAR,
                                v.kind == VAR_STAR    ? '*'
                                : v.kind == VAR_QMARK ? '?'
                                                      : '$',
                                v.end};
    }
    bool wild = glob && (s[at] == '*' || s[at] == '?');
    return (struct tok){wild ? TOK_WILD : TOK_CHAR, s[at], at + 1};
}

/* Whether the rest of the text (from `at`) is fixed for a session: literal characters and the
 * tenant variable, no wildcard and no other variable. */
static bool fixed_from(const struct td_policy *p, const char *s, size_t n, size_t at, bool glob)
{
    while (at < n) {
        struct tok t = next_token(p, s, n, at, glob);
        if (t.kind != TOK_CHAR && t.kind != TOK_TENANT)
            return false;
        at = t.next;
    }
    return true;
}

/* A value gives each tenant a disjoint set of keys when it is: a fixed prefix, the tenant
 * variable, then either a fixed suffix or (under a glob) a separator that cannot occur in a
 * tenant id ('#', '|', ...) before anything else. "${tenant}*" is not tied: tenant "a" would
 * match the keys of tenant "ab". */
static bool value_tied_to_tenant(const struct td_policy *p, const char *s, size_t n, bool glob)
{
    size_t at = 0;
    struct tok t = {TOK_CHAR, 0, 0};
    while (at < n) {
        t = next_token(p, s, n, at, glob);
        at = t.next;
        if (t.kind != TOK_CHAR)
            break;
    }
    if (t.kind != TOK_TENANT)
        return false;
    if (fixed_from(p, s, n, at, glob))
        return true;
    if (!glob)
        return false;
    struct tok sep = next_token(p, s, n, at, glob);
    return sep.kind == TOK_CHAR && !pol_is_tenant_char(sep.c);
}

/* A value with no variable at all (a hard-coded key). */
static bool value_is_literal(const struct td_policy *p, const char *s, size_t n)
{
    for (size_t at = 0; at < n;) {
        struct tok t = next_token(p, s, n, at, false);
        if (t.kind == TOK_TENANT || t.kind == TOK_OTHER)
            return false;
        at = t.next;
    }
    return true;
}

/* One table per tenant: every table resource names the tenant in the table name. */
static bool tables_per_tenant(const struct stmt_view *v)
{
    if (v->st->not_resource)
        return false;
    bool any = false;
    for (size_t i = 0; i < v->st->resources.n; i++) {
        const char *r = v->st->resources.items[i];
        if (!entry_reaches_table(r))
            continue;
        struct pol_arn a;
        if (pol_arn_split(r, strlen(r), &a) < POL_ARN_PARTS || a.len[5] <= 6 ||
            !value_tied_to_tenant(v->p, a.part[5] + 6, a.len[5] - 6, true))
            return false;
        any = true;
    }
    return any;
}

/* ---- LeadingKeys conditions ---------------------------------------------------------------- */

struct keys_view {
    bool bound;
    bool guarded;
    const struct pol_condition *unbound; /* first LeadingKeys condition that does not bind */
    const char *why;
    const struct pol_value *bad_value;
};

static bool is_leading_keys(const struct pol_condition *c)
{
    return pol_ascii_caseeq(c->key, strlen(c->key), LEADING_KEYS, strlen(LEADING_KEYS));
}

/* Why a condition on LeadingKeys does not bind the key to the tenant; NULL if it does. */
static const char *unbound_reason(const struct td_policy *p, const struct pol_condition *c,
                                  const struct pol_value **bad)
{
    *bad = NULL;
    if (c->op->family != FAM_STRING || c->op->negated)
        return "only StringEquals or StringLike can bind the key";
    if (c->op->test == TEST_EQ_IC)
        return "IgnoreCase lets tenant ids that differ in case reach each other's items";
    if (c->set != SET_ALL)
        return "dynamodb:LeadingKeys is multivalued, so it needs ForAllValues: with "
               "ForAnyValue or no set operator one matching key lets other keys through";
    if (c->if_exists)
        return "IfExists is true when the key is missing (Scan)";
    if (c->n_values == 0)
        return "it lists no value";
    for (size_t i = 0; i < c->n_values; i++) {
        if (!value_tied_to_tenant(p, c->values[i].text, c->values[i].len,
                                  c->op->test == TEST_LIKE)) {
            *bad = &c->values[i];
            return "a value must be " TD_POLICY_TENANT_VARIABLE " (or " TD_POLICY_TEMPLATE_SHORTHAND
                   "), possibly with a fixed prefix, and under StringLike followed by a "
                   "separator that cannot occur in a tenant id (such as '#') before any wildcard";
        }
    }
    return NULL;
}

static bool is_guard(const struct pol_condition *c)
{
    if (c->op->family != FAM_NULL || c->n_values == 0)
        return false;
    for (size_t i = 0; i < c->n_values; i++)
        if (c->values[i].as.is_null)
            return false;
    return true;
}

static void inspect_keys(const struct stmt_view *v, struct keys_view *k)
{
    memset(k, 0, sizeof(*k));
    for (size_t i = 0; i < v->st->n_conditions; i++) {
        const struct pol_condition *c = &v->st->conditions[i];
        if (!is_leading_keys(c))
            continue;
        if (c->op->family == FAM_NULL) {
            k->guarded |= is_guard(c);
            continue;
        }
        const struct pol_value *bad;
        const char *why = unbound_reason(v->p, c, &bad);
        if (!why) {
            k->bound = true; /* conditions are ANDed: one binding condition is enough */
        } else if (!k->unbound) {
            k->unbound = c;
            k->why = why;
            k->bad_value = bad;
        }
    }
}

/* ---- the checks ---------------------------------------------------------------------------- */

static int check_not_elements(struct td_policy_lint *out, const struct stmt_view *v)
{
    if (!v->st->not_action && !v->st->not_resource)
        return 0;
    return add_finding(out, v, ID_NOT_ELEMENT, TD_POLICY_ERROR,
                       "Statement[%zu]: %s in an Allow reaches DynamoDB data actions on tables "
                       "of every tenant; list the actions and the table ARNs explicitly",
                       v->idx, v->st->not_action ? "NotAction" : "NotResource");
}

static int check_scan_wildcard(struct td_policy_lint *out, const struct stmt_view *v)
{
    if (v->st->not_action)
        return 0; /* reported as TENANCY005 */
    for (size_t i = 0; i < v->st->actions.n; i++) {
        const char *a = v->st->actions.items[i];
        if (!strpbrk(a, "*?") || !pol_action_matches(a, SCAN_ACTION))
            continue;
        struct pol_echo e;
        return add_finding(out, v, ID_SCAN_WILDCARD, TD_POLICY_ERROR,
                           "Statement[%zu]: the action \"%s\" covers dynamodb:Scan, which reads "
                           "every tenant's items whatever the leading keys; list the item actions "
                           "instead",
                           v->idx, pol_echo(&e, a, strlen(a)));
    }
    return 0;
}

static int check_literals(struct td_policy_lint *out, const struct stmt_view *v)
{
    for (size_t i = 0; i < v->st->n_conditions; i++) {
        const struct pol_condition *c = &v->st->conditions[i];
        if (!is_leading_keys(c) || c->op->family != FAM_STRING || c->op->negated)
            continue;
        for (size_t k = 0; k < c->n_values; k++) {
            const struct pol_value *val = &c->values[k];
            if (!value_is_literal(v->p, val->text, val->len))
                continue;
            struct pol_echo e;
            int r = add_finding(
                out, v, ID_LITERAL, TD_POLICY_ERROR,
                "Statement[%zu]: the dynamodb:LeadingKeys value \"%s\" is a literal, not the "
                "tenant variable: every session gets that partition; use %s%s",
                v->idx, pol_echo(&e, val->text, val->len), TD_POLICY_TENANT_VARIABLE,
                v->p->variables ? "" : " (variables need \"Version\": \"2012-10-17\")");
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* "GetItem, Query, ..." for a message. */
static void covered_names(const struct stmt_view *v, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_DATA_ACTIONS && o < cap; i++) {
        if (!v->covered[i])
            continue;
        int w = snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", DATA_ACTIONS[i] + 9);
        if (w < 0)
            return;
        o += (size_t)w;
    }
}

static int report_unbound(struct td_policy_lint *out, const struct stmt_view *v,
                          const struct keys_view *k)
{
    char names[256];
    covered_names(v, names, sizeof(names));
    if (!k->unbound)
        return add_finding(out, v, ID_UNBOUND, TD_POLICY_ERROR,
                           "Statement[%zu]: allows DynamoDB data actions (%s) on a table without "
                           "a dynamodb:LeadingKeys condition bound to the tenant; add "
                           "\"ForAllValues:StringEquals\": {\"dynamodb:LeadingKeys\": \"%s\"}",
                           v->idx, names, TD_POLICY_TENANT_VARIABLE);
    struct pol_echo e, e2;
    const char *bad = k->bad_value ? pol_echo(&e2, k->bad_value->text, k->bad_value->len) : NULL;
    return add_finding(out, v, ID_UNBOUND, TD_POLICY_ERROR,
                       "Statement[%zu]: allows DynamoDB data actions (%s), but its %s condition "
                       "on dynamodb:LeadingKeys%s%s%s does not bind the key to the tenant: %s",
                       v->idx, names,
                       pol_echo(&e, k->unbound->op_name, strlen(k->unbound->op_name)),
                       bad ? " (value \"" : "", bad ? bad : "", bad ? "\")" : "", k->why);
}

static int check_guard(struct td_policy_lint *out, const struct stmt_view *v,
                       const struct keys_view *k)
{
    if (k->guarded)
        return 0;
    if (v->keyless_covered)
        return add_finding(out, v, ID_SCAN_NO_GUARD, TD_POLICY_ERROR,
                           "Statement[%zu]: ForAllValues on dynamodb:LeadingKeys is true when "
                           "the key is missing, and Scan (or a PartiQL full-table SELECT) has no "
                           "leading keys: this statement lets a tenant read every item; remove "
                           "Scan or add \"Null\": {\"dynamodb:LeadingKeys\": \"false\"}",
                           v->idx);
    return add_finding(out, v, ID_NO_GUARD, TD_POLICY_WARNING,
                       "Statement[%zu]: ForAllValues on dynamodb:LeadingKeys without the guard "
                       "\"Null\": {\"dynamodb:LeadingKeys\": \"false\"}: safe only while no "
                       "action without leading keys (Scan) is allowed",
                       v->idx);
}

static int lint_statement(struct td_policy_lint *out, struct stmt_view *v)
{
    if (v->st->deny)
        return 0;
    cover_actions(v);
    bool reaches = v->st->not_resource;
    for (size_t i = 0; i < v->st->resources.n && !v->st->not_resource; i++)
        reaches |= entry_reaches_table(v->st->resources.items[i]);
    if (!v->any_covered || !reaches || tables_per_tenant(v))
        return 0;
    struct keys_view k;
    inspect_keys(v, &k);
    int r = check_not_elements(out, v);
    if (r == 0)
        r = check_scan_wildcard(out, v);
    if (r == 0)
        r = check_literals(out, v);
    if (r == 0 && !k.bound)
        r = report_unbound(out, v, &k);
    if (r == 0 && k.bound)
        r = check_guard(out, v, &k);
    return r;
}

int td_policy_lint(const struct td_policy *p, struct td_policy_lint *out)
{
    if (!p || !out)
        return -EINVAL;
    for (size_t i = 0; i < p->n_statements; i++) {
        struct stmt_view v = {.p = p, .st = &p->statements[i], .idx = i};
        int r = lint_statement(out, &v);
        if (r < 0)
            return r;
    }
    int errors = 0;
    for (size_t i = 0; i < out->n; i++)
        errors += out->items[i].severity == TD_POLICY_ERROR;
    return errors;
}
