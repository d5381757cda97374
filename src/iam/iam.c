/* The node's roles: in memory and in the store; the roles file; the tenancy lint of a role. */
#include "iam_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tenantd/cleanup.h"
#include "tenantd/log.h"
#include "tenantd/map.h"
#include "tenantd/policy.h"
#include "tenantd/store.h"
#include "tenantd/util.h"

static int load_role(const char *name, const char *doc, void *userdata)
{
    struct td_iam *iam = userdata;
    struct td_role *role = NULL;
    int r = iam_role_from_json(doc, &role);
    if (r < 0) {
        /* Keep serving: a role that no longer parses (an older engine accepted it) allows
         * nothing until it is put again. */
        td_log_warn("iam: stored role %s cannot be loaded (%s); it is left out", name,
                    strerror(-r));
        return 0;
    }
    r = td_map_put(iam->roles, role->name, strlen(role->name), role, NULL);
    if (r < 0)
        td_role_unref(role);
    return r;
}

static bool unref_visit(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    (void)userdata;
    td_role_unref(value);
    return true;
}

static bool unref_policy_visit(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    (void)userdata;
    td_managed_policy_unref(value);
    return true;
}

/* ---- managed policies ---- */

void td_managed_policy_unref(struct td_managed_policy *p)
{
    if (!p || --p->refs > 0)
        return;
    free(p->description);
    free(p->text);
    td_policy_free(p->parsed);
    free(p);
}

struct td_managed_policy *td_iam_policy(struct td_iam *iam, const char *arn)
{
    struct td_managed_policy *p = td_map_gets(iam->policies, arn);
    if (p)
        p->refs++;
    return p;
}

char *iam_policy_to_json(const struct td_managed_policy *p)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "PolicyName", p->name, "PolicyId",
                          p->id, "Arn", p->arn, "Path", p->path, "PolicyDocument", p->text,
                          "CreateDateMs", (json_int_t)p->created_ms);
    if (o && p->description)
        json_object_set_new(o, "Description", json_string(p->description));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

static int load_policy(const char *arn, const char *doc, void *userdata)
{
    struct td_iam *iam = userdata;
    json_t *o = json_loads(doc, JSON_REJECT_DUPLICATES, NULL);
    struct td_managed_policy *p = o ? calloc(1, sizeof(*p)) : NULL;
    const char *name = json_string_value(json_object_get(o, "PolicyName"));
    const char *id = json_string_value(json_object_get(o, "PolicyId"));
    const char *path = json_string_value(json_object_get(o, "Path"));
    const char *text = json_string_value(json_object_get(o, "PolicyDocument"));
    const char *desc = json_string_value(json_object_get(o, "Description"));
    struct td_err err;
    int r = p && name && id && path && text && strlen(name) < sizeof(p->name) &&
                    strlen(id) < sizeof(p->id) && strlen(arn) < sizeof(p->arn) &&
                    strlen(path) < sizeof(p->path)
                ? 0
                : -EBADMSG;
    if (r == 0) {
        p->refs = 1;
        snprintf(p->name, sizeof(p->name), "%s", name);
        snprintf(p->id, sizeof(p->id), "%s", id);
        snprintf(p->arn, sizeof(p->arn), "%s", arn);
        snprintf(p->path, sizeof(p->path), "%s", path);
        p->created_ms = json_integer_value(json_object_get(o, "CreateDateMs"));
        p->text = strdup(text);
        p->description = desc ? strdup(desc) : NULL;
        r = p->text ? td_policy_parse(p->text, strlen(p->text), TD_POLICY_MAX_IDENTITY_CHARS,
                                      &p->parsed, &err)
                    : -ENOMEM;
    }
    json_decref(o);
    if (r == 0)
        r = td_map_put(iam->policies, p->arn, strlen(p->arn), p, NULL);
    if (r < 0) {
        td_log_warn("iam: stored policy %s cannot be loaded; it is left out", arn);
        td_managed_policy_unref(p);
    }
    return 0;
}

int iam_policy_install(struct td_iam *iam, struct td_managed_policy *p)
{
    _cleanup_free_ char *doc = iam_policy_to_json(p);
    if (!doc)
        return -ENOMEM;
    if (td_map_size(iam->policies) >= TD_IAM_MAX_POLICIES)
        return -E2BIG;
    int r = iam->store ? td_store_policy_put(iam->store, p->arn, doc) : 0;
    if (r == 0)
        r = td_map_put(iam->policies, p->arn, strlen(p->arn), p, NULL);
    return r;
}

int iam_policy_remove(struct td_iam *iam, const char *arn)
{
    int r = iam->store ? td_store_policy_delete(iam->store, arn) : 0;
    if (r < 0 && r != -ENOENT)
        return r;
    struct td_managed_policy *old = td_map_remove(iam->policies, arn, strlen(arn));
    if (!old)
        return -ENOENT;
    td_managed_policy_unref(old);
    return 0;
}

void td_iam_free(struct td_iam *iam)
{
    if (!iam)
        return;
    if (iam->roles) {
        td_map_foreach(iam->roles, unref_visit, NULL);
        td_map_free(iam->roles);
    }
    if (iam->policies) {
        td_map_foreach(iam->policies, unref_policy_visit, NULL);
        td_map_free(iam->policies);
    }
    free(iam);
}

int td_iam_new(struct td_store *store, const struct td_iam_options *opts, struct td_iam **ret)
{
    struct td_iam *iam = calloc(1, sizeof(*iam));
    if (!iam || !(iam->roles = td_map_new()) || !(iam->policies = td_map_new())) {
        td_iam_free(iam);
        return -ENOMEM;
    }
    iam->store = store;
    iam->strict = opts->strict_tenancy;
    snprintf(iam->account, sizeof(iam->account), "%s", opts->account);
    int r = store ? td_store_roles_load(store, load_role, iam) : 0;
    if (r == 0 && store)
        r = td_store_policies_load(store, load_policy, iam);
    if (r < 0) {
        td_iam_free(iam);
        return r;
    }
    *ret = iam;
    return 0;
}

const char *td_iam_account(const struct td_iam *iam)
{
    return iam->account;
}

bool td_iam_strict(const struct td_iam *iam)
{
    return iam->strict;
}

struct td_role *td_iam_role(struct td_iam *iam, const char *name)
{
    struct td_role *role = td_map_gets(iam->roles, name);
    return role ? iam_role_ref(role) : NULL;
}

struct td_role *td_iam_role_by_arn(struct td_iam *iam, const char *arn)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "arn:aws:iam::%s:role/", iam->account);
    size_t plen = strlen(prefix);
    if (strncmp(arn, prefix, plen) != 0)
        return NULL;
    const char *name = strrchr(arn, '/') + 1; /* the path sits between "role" and the name */
    struct td_role *role = td_map_gets(iam->roles, name);
    return role && strcmp(role->arn, arn) == 0 ? iam_role_ref(role) : NULL;
}

int iam_install(struct td_iam *iam, struct td_role *role)
{
    _cleanup_free_ char *doc = iam_role_to_json(role);
    if (!doc)
        return -ENOMEM;
    if (!td_map_gets(iam->roles, role->name) && td_map_size(iam->roles) >= TD_IAM_MAX_ROLES)
        return -E2BIG;
    int r = iam->store ? td_store_role_put(iam->store, role->name, doc) : 0;
    if (r < 0)
        return r;
    void *old = NULL;
    r = td_map_put(iam->roles, role->name, strlen(role->name), role, &old);
    if (r < 0)
        return r;
    td_role_unref(old);
    return 0;
}

int iam_remove(struct td_iam *iam, const char *name)
{
    int r = iam->store ? td_store_role_delete(iam->store, name) : 0;
    if (r < 0 && r != -ENOENT)
        return r;
    struct td_role *old = td_map_remove(iam->roles, name, strlen(name));
    if (!old)
        return -ENOENT;
    td_role_unref(old);
    return 0;
}

/* ---- lint ---- */

int iam_lint_policy(const struct td_policy *p, const char *what, struct td_buf *out)
{
    _cleanup_policy_lint_ struct td_policy_lint lint = {0};
    int errors = td_policy_lint(p, &lint);
    if (errors < 0)
        return errors;
    for (size_t i = 0; out && i < lint.n; i++) {
        const struct td_policy_finding *f = &lint.items[i];
        (void)td_buf_printf(out, "%s%s (%s) %s statement %zu%s%s%s: %s", out->len ? "\n" : "",
                            f->id, f->severity == TD_POLICY_ERROR ? "error" : "warning", what,
                            f->statement + 1, f->sid ? " (" : "", f->sid ? f->sid : "",
                            f->sid ? ")" : "", f->message);
    }
    return errors;
}

int td_iam_lint_role(const struct td_role *role, struct td_buf *out)
{
    if (role->tenant_template_parsed)
        return iam_lint_policy(role->tenant_template_parsed, "tenant policy template", out);
    int errors = 0;
    for (size_t i = 0; i < role->n_policies; i++) {
        char what[TD_ROLE_POLICY_NAME_MAX + 16];
        snprintf(what, sizeof(what), "policy '%s'", role->policies[i].name);
        int r = iam_lint_policy(role->policies[i].parsed, what, out);
        if (r < 0)
            return r;
        errors += r;
    }
    return errors;
}

/* ---- the roles file ----
 *
 * {"Roles": [{"RoleName": "orders", "Path": "/", "Description": "...",
 *             "MaxSessionDuration": 3600,
 *             "Policies": {"data": {...policy...}},
 *             "TenantPolicyTemplate": {...policy with ${tenant}...}
 *               or "TenantPolicyLayout": {"Layout": "leading-key" | "key-prefix",
 *                                         "Table": "arn:aws:dynamodb:...:table/T"}}]} */

static int text_of(json_t *v, char **out, struct td_err *err, const char *what)
{
    if (json_is_string(v))
        *out = strdup(json_string_value(v));
    else if (json_is_object(v))
        *out = json_dumps(v, JSON_COMPACT);
    else
        return td_err_set(err, 400, "ValidationError", "%s must be a policy document", what);
    return *out ? 0 : -ENOMEM;
}

static int file_template(json_t *spec, char **out, struct td_err *err)
{
    json_t *layout = json_object_get(spec, "TenantPolicyLayout");
    json_t *tmpl = json_object_get(spec, "TenantPolicyTemplate");
    *out = NULL;
    if (tmpl)
        return text_of(tmpl, out, err, "TenantPolicyTemplate");
    if (!layout)
        return 0;
    const char *kind = json_string_value(json_object_get(layout, "Layout"));
    const char *table = json_string_value(json_object_get(layout, "Table"));
    enum td_policy_layout l;
    if (kind && strcmp(kind, "leading-key") == 0)
        l = TD_POLICY_LAYOUT_LEADING_KEY;
    else if (kind && strcmp(kind, "key-prefix") == 0)
        l = TD_POLICY_LAYOUT_KEY_PREFIX;
    else
        return td_err_set(err, 400, "ValidationError",
                          "TenantPolicyLayout.Layout must be leading-key or key-prefix");
    if (!table || td_policy_template_builtin(l, table, out) < 0)
        return td_err_set(err, 400, "ValidationError",
                          "TenantPolicyLayout.Table must be a DynamoDB table ARN");
    return 0;
}

static int file_role(struct td_iam *iam, json_t *spec, struct td_err *err)
{
    const char *name = json_string_value(json_object_get(spec, "RoleName"));
    const char *path = json_string_value(json_object_get(spec, "Path"));
    const char *desc = json_string_value(json_object_get(spec, "Description"));
    json_t *max = json_object_get(spec, "MaxSessionDuration");
    if (!name || !iam_valid_role_name(name))
        return td_err_set(err, 400, "ValidationError", "a role has no valid RoleName");
    if (path && !iam_valid_path(path))
        return td_err_set(err, 400, "ValidationError", "role %s: invalid Path", name);
    struct td_role *old = td_map_gets(iam->roles, name);
    struct td_role *role = iam_role_new();
    if (!role)
        return -ENOMEM;
    int r = 0;
    snprintf(role->name, sizeof(role->name), "%s", name);
    snprintf(role->path, sizeof(role->path), "%s", path ? path : "/");
    snprintf(role->arn, sizeof(role->arn), "arn:aws:iam::%s:role%s%s", iam->account, role->path,
             name);
    if (old) { /* the same role, re-declared: keep its identity */
        memcpy(role->id, old->id, sizeof(role->id));
        role->created_ms = old->created_ms;
    } else {
        r = iam_new_role_id(role->id);
        role->created_ms = td_wall_ms();
    }
    role->max_session_s = max ? (int)json_integer_value(max) : 3600;
    if (role->max_session_s < 3600 || role->max_session_s > 43200)
        r = td_err_set(err, 400, "ValidationError",
                       "role %s: MaxSessionDuration must be 3600-43200", name);
    if (r == 0 && desc && !(role->description = strdup(desc)))
        r = -ENOMEM;
    if (r == 0 && !(role->trust_policy = strdup("{\"Version\":\"2012-10-17\",\"Statement\":[]}")))
        r = -ENOMEM;
    if (r == 0)
        r = file_template(spec, &role->tenant_template, err);
    if (r == 0 && role->tenant_template &&
        (r = iam_parse_template(role->tenant_template, &role->tenant_template_parsed, err)) < 0)
        td_err_set(err, err->status, err->type, "role %s, tenant template: %.900s", name,
                   err->message);
    const char *pname;
    json_t *pdoc;
    json_object_foreach(json_object_get(spec, "Policies"), pname, pdoc)
    {
        if (r < 0)
            break;
        char *text = NULL;
        struct td_policy *p = NULL;
        if (!iam_valid_policy_name(pname))
            r = td_err_set(err, 400, "ValidationError", "role %s: invalid policy name", name);
        else if ((r = text_of(pdoc, &text, err, "a policy")) == 0 &&
                 (r = iam_parse_identity_policy(text, &p, err)) < 0)
            td_err_set(err, err->status, err->type, "role %s, policy %s: %.900s", name, pname,
                       err->message);
        if (r == 0)
            r = iam_role_put_policy(role, pname, text, p);
        if (r < 0) {
            free(text);
            td_policy_free(p);
        }
    }
    if (r == 0)
        r = iam_install(iam, role);
    if (r < 0)
        td_role_unref(role);
    return r;
}

int td_iam_apply_roles_file(struct td_iam *iam, const char *path, struct td_err *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return td_err_set(err, 400, "ValidationError", "%s: %s (line %d)", path, jerr.text,
                          jerr.line);
    json_t *roles = json_object_get(doc, "Roles");
    int r = json_is_array(roles) ? 0
                                 : td_err_set(err, 400, "ValidationError",
                                              "%s: a \"Roles\" array is expected", path);
    size_t i;
    json_t *spec;
    json_array_foreach(roles, i, spec)
    {
        if (r < 0)
            break;
        r = file_role(iam, spec, err);
    }
    json_decref(doc);
    return r;
}
