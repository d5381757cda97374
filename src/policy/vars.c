/* Policy variables: ${key}, ${key, 'default'}, ${*}, ${?}, ${$}.
 *
 * A variable is substituted only in a policy with Version 2012-10-17. Its value comes from a
 * single-valued key of the request context (a multivalued key cannot be a variable); ${tenant}
 * (tenantd's shorthand) reads aws:PrincipalTag/TenantId. A value is
 * always literal text: when the result is used as a glob, '*' and '?' coming from a value (or
 * from ${*} and ${?}) are escaped, so a principal tag cannot smuggle a wildcard in.
 */
#include <errno.h>
#include <string.h>

#include "policy_internal.h"

/* ${tenant}, tenantd's shorthand, is an alias of the session's TenantId tag. */
#define SHORTHAND_NAME "tenant"
#define TENANT_TAG_KEY "aws:PrincipalTag/" TD_POLICY_TENANT_TAG

/* Bounds on a reference, so that scanning text full of unterminated "${" stays linear. */
#define VAR_NAME_MAX    512
#define VAR_DEFAULT_MAX 512

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Characters that end a variable name. */
static bool ends_name(char c)
{
    return c == '}' || c == ',' || c == '\'' || c == '$' || c == '{';
}

/* Parse ", 'default'" up to and including the closing brace; *pos is just after the comma. */
static bool parse_default(const char *s, size_t n, size_t *pos, struct pol_var *out)
{
    size_t i = *pos;
    while (i < n && is_space(s[i]))
        i++;
    if (i >= n || s[i] != '\'')
        return false;
    size_t def = ++i;
    while (i < n && s[i] != '\'' && i - def <= VAR_DEFAULT_MAX)
        i++;
    if (i >= n || s[i] != '\'')
        return false;
    out->has_default = true;
    out->def = s + def;
    out->def_len = i - def;
    i++;
    while (i < n && is_space(s[i]))
        i++;
    if (i >= n || s[i] != '}')
        return false;
    *pos = i + 1;
    return true;
}

static void classify(struct pol_var *v)
{
    v->kind = VAR_KEY;
    if (v->name_len == 1 && !v->has_default) {
        if (v->name[0] == '*')
            v->kind = VAR_STAR;
        else if (v->name[0] == '?')
            v->kind = VAR_QMARK;
        else if (v->name[0] == '$')
            v->kind = VAR_DOLLAR;
    }
}

bool pol_var_at(const char *s, size_t n, size_t at, struct pol_var *out)
{
    if (at + 1 >= n || s[at] != '$' || s[at + 1] != '{')
        return false;
    size_t i = at + 2;
    memset(out, 0, sizeof(*out));
    out->start = at;
    /* ${$} names the dollar itself, which otherwise ends a name. */
    if (i + 1 < n && s[i] == '$' && s[i + 1] == '}') {
        out->name = s + i;
        out->name_len = 1;
        out->end = i + 2;
        classify(out);
        return true;
    }
    while (i < n && is_space(s[i]))
        i++;
    size_t name = i;
    while (i < n && !ends_name(s[i]) && i - name <= VAR_NAME_MAX)
        i++;
    size_t name_end = i;
    while (name_end > name && is_space(s[name_end - 1]))
        name_end--;
    if (i >= n || name_end == name)
        return false;
    out->name = s + name;
    out->name_len = name_end - name;
    if (s[i] == '}') {
        out->end = i + 1;
    } else if (s[i] == ',') {
        i++;
        if (!parse_default(s, n, &i, out))
            return false;
        out->end = i;
    } else {
        return false;
    }
    classify(out);
    return true;
}

bool pol_var_next(const char *s, size_t n, size_t from, struct pol_var *out)
{
    for (size_t i = from; i + 1 < n; i++)
        if (s[i] == '$' && s[i + 1] == '{' && pol_var_at(s, n, i, out))
            return true;
    return false;
}

/* Append literal text; in glob mode the characters a glob treats specially become literal. */
static int append_literal(struct td_buf *out, const char *s, size_t n, enum pol_resolve_mode mode)
{
    if (mode == RESOLVE_PLAIN)
        return td_buf_append(out, s, n);
    for (size_t i = 0; i < n; i++) {
        int r = 0;
        if (s[i] == '*' || s[i] == '?' || s[i] == '\\')
            r = td_buf_append(out, "\\", 1);
        if (r == 0)
            r = td_buf_append(out, s + i, 1);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Policy text outside variables: its '*' and '?' stay wildcards, a backslash is literal. */
static int append_policy_text(struct td_buf *out, const char *s, size_t n,
                              enum pol_resolve_mode mode)
{
    if (mode == RESOLVE_PLAIN)
        return td_buf_append(out, s, n);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\')
            continue;
        int r = td_buf_append(out, s + start, i - start);
        if (r == 0)
            r = td_buf_append(out, "\\\\", 2);
        if (r < 0)
            return r;
        start = i + 1;
    }
    return td_buf_append(out, s + start, n - start);
}

/* Append the value of one variable; 1 when it resolved, 0 when not. */
static int append_variable(struct td_buf *out, const struct pol_var *v, enum pol_resolve_mode mode,
                           const struct td_policy_ctx *ctx)
{
    static const char specials[] = {'*', '?', '$'};
    int r;
    if (v->kind != VAR_KEY) {
        r = append_literal(out, &specials[v->kind - VAR_STAR], 1, mode);
        return r < 0 ? r : 1;
    }
    const char *name = v->name;
    size_t len = v->name_len;
    if (len == strlen(SHORTHAND_NAME) && memcmp(name, SHORTHAND_NAME, len) == 0) {
        name = TENANT_TAG_KEY;
        len = strlen(TENANT_TAG_KEY);
    }
    const char *value = ctx ? pol_ctx_single(ctx, name, len) : NULL;
    if (value)
        r = append_literal(out, value, strlen(value), mode);
    else if (v->has_default)
        r = append_literal(out, v->def, v->def_len, mode);
    else
        return 0;
    return r < 0 ? r : 1;
}

int pol_resolve(const char *s, size_t n, bool variables, enum pol_resolve_mode mode,
                const struct td_policy_ctx *ctx, struct td_buf *out)
{
    if (!variables) {
        int r = append_policy_text(out, s, n, mode);
        return r < 0 ? r : 1;
    }
    size_t at = 0;
    struct pol_var v;
    int resolved = 1;
    while (pol_var_next(s, n, at, &v)) {
        int r = append_policy_text(out, s + at, v.start - at, mode);
        if (r < 0)
            return r;
        r = append_variable(out, &v, mode, ctx);
        if (r < 0)
            return r;
        if (r == 0)
            resolved = 0;
        at = v.end;
    }
    int r = append_policy_text(out, s + at, n - at, mode);
    return r < 0 ? r : resolved;
}
