/* The IAM query API (2010-05-08) for roles and their inline policies, plus tenantd's tenant
 * session-policy templates (PutRoleTenantPolicy, GetRoleTenantPolicy, DeleteRoleTenantPolicy).
 * Shapes, codes and messages follow IAM's. */
#include "iam_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uriparser/Uri.h>

#include "tenantd/awsquery.h"
#include "tenantd/cleanup.h"
#include "tenantd/log.h"
#include "tenantd/map.h"
#include "tenantd/policy.h"
#include "tenantd/util.h"

#define LIST_MAX_ITEMS 1000

struct call {
    struct td_iam *iam;
    struct td_query *q;
    const char *action;
    const char *request_id;
    td_iam_authorize_fn authorize;
    void *userdata;
    struct td_err err;
    struct td_xml *x; /* the response, once the call succeeded */
    unsigned status;
};

/* ---- errors ---- */

__attribute__((format(printf, 2, 3))) static int validation(struct call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[TD_ERR_MSG_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return td_err_set(&c->err, 400, "ValidationError", "%s", msg);
}

static int no_such_role(struct call *c, const char *name)
{
    return td_err_set(&c->err, 404, "NoSuchEntity", "The role with name %s cannot be found.", name);
}

/* ---- parameters ---- */

static int required(struct call *c, const char *name, const char **out)
{
    *out = td_query_get(c->q, name);
    if (!*out || !**out)
        return td_err_set(&c->err, 400, "ValidationError",
                          "1 validation error detected: Value null at '%c%s' failed to satisfy "
                          "constraint: Member must not be null",
                          name[0] + 32, name + 1);
    return 0;
}

static int role_name_param(struct call *c, const char **out)
{
    int r = required(c, "RoleName", out);
    if (r == 0 && !iam_valid_role_name(*out))
        r = validation(c,
                       "1 validation error detected: Value '%.64s' at 'roleName' failed to "
                       "satisfy constraint: Member must satisfy regular expression pattern: "
                       "[\\w+=,.@-]+ and have length 1-64",
                       *out);
    return r;
}

static int policy_name_param(struct call *c, const char **out)
{
    int r = required(c, "PolicyName", out);
    if (r == 0 && !iam_valid_policy_name(*out))
        r = validation(c,
                       "1 validation error detected: Value '%.128s' at 'policyName' failed to "
                       "satisfy constraint: Member must satisfy regular expression pattern: "
                       "[\\w+=,.@-]+ and have length 1-128",
                       *out);
    return r;
}

static int authorize(struct call *c, const char *resource)
{
    char action[64];
    snprintf(action, sizeof(action), "iam:%s", c->action);
    return c->authorize ? c->authorize(c->userdata, action, resource, &c->err) : 0;
}

/* The role named by RoleName, checked and authorized. */
static int find_role(struct call *c, struct td_role **ret)
{
    const char *name;
    int r = role_name_param(c, &name);
    if (r < 0)
        return r;
    struct td_role *role = td_iam_role(c->iam, name);
    char arn[TD_ROLE_ARN_MAX + 1];
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:role/%s", c->iam->account, name);
    r = authorize(c, role ? role->arn : arn);
    if (r == 0 && !role)
        r = no_such_role(c, name);
    if (r < 0) {
        td_role_unref(role);
        return r;
    }
    *ret = role;
    return 0;
}

/* ---- responses ---- */

static int begin(struct call *c)
{
    char root[96];
    snprintf(root, sizeof(root), "%sResponse", c->action);
    int r = td_xml_new(root, TD_IAM_NS, &c->x);
    if (r == 0) {
        snprintf(root, sizeof(root), "%sResult", c->action);
        r = td_xml_open(c->x, root);
    }
    return r;
}

/* Documents come back URL-encoded, as IAM returns them. */
static int encoded(struct td_xml *x, const char *name, const char *text)
{
    size_t len = strlen(text);
    _cleanup_free_ char *enc = malloc(len * 6 + 1);
    if (!enc)
        return -ENOMEM;
    uriEscapeExA(text, text + len, enc, URI_FALSE, URI_FALSE);
    return td_xml_text(x, name, enc);
}

static int write_role_fields(struct td_xml *x, const struct td_role *role)
{
    char created[25];
    td_format_iso_ms(role->created_ms, created);
    created[19] = 'Z'; /* IAM gives seconds: "2026-11-26T10:00:49Z" */
    created[20] = '\0';
    int r;
    if (((r = td_xml_text(x, "Path", role->path)) < 0 ||
         (r = td_xml_text(x, "RoleName", role->name)) < 0 ||
         (r = td_xml_text(x, "RoleId", role->id)) < 0 ||
         (r = td_xml_text(x, "Arn", role->arn)) < 0 ||
         (r = td_xml_text(x, "CreateDate", created)) < 0 ||
         (role->trust_policy &&
          (r = encoded(x, "AssumeRolePolicyDocument", role->trust_policy)) < 0) ||
         (role->description && (r = td_xml_text(x, "Description", role->description)) < 0) ||
         (r = td_xml_textf(x, "MaxSessionDuration", "%d", role->max_session_s)) < 0))
        return r;
    return 0;
}

static int write_role(struct td_xml *x, const struct td_role *role)
{
    int r = td_xml_open(x, "Role");
    if (r == 0)
        r = write_role_fields(x, role);
    return r == 0 ? td_xml_close(x) : r;
}

static bool is_json_object(const char *text)
{
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(o);
    json_decref(o);
    return ok;
}

/* The tenancy lint of a policy being saved: findings go to the log and, under
 * --strict-tenancy, errors refuse the policy. */
static int lint_gate(struct call *c, const struct td_policy *p, const char *role, const char *what)
{
    _cleanup_buf_ struct td_buf text = TD_BUF_INIT(16384);
    int errors = iam_lint_policy(p, what, &text);
    if (errors < 0)
        return td_err_set(&c->err, 500, "ServiceFailure", "The policy could not be checked");
    if (text.len)
        td_log_warn("iam: role %s, %s: tenancy lint:\n%s", role, what, text.data);
    if (errors > 0 && c->iam->strict)
        return td_err_set(&c->err, 400, "MalformedPolicyDocument",
                          "The policy would let a tenant reach other tenants' data "
                          "(--strict-tenancy): %.900s",
                          text.data);
    return 0;
}

/* ---- actions ---- */

static int create_role(struct call *c)
{
    const char *name, *trust;
    const char *path = td_query_get(c->q, "Path");
    const char *desc = td_query_get(c->q, "Description");
    const char *max = td_query_get(c->q, "MaxSessionDuration");
    int64_t max_s = 3600;
    int r;
    if ((r = role_name_param(c, &name)) < 0 ||
        (r = required(c, "AssumeRolePolicyDocument", &trust)) < 0)
        return r;
    if (path && !iam_valid_path(path))
        return validation(c,
                          "1 validation error detected: Value '%.512s' at 'path' failed to satisfy "
                          "constraint: Member must satisfy regular expression pattern: "
                          "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
                          path);
    if (desc && strlen(desc) > TD_ROLE_DESCRIPTION_MAX)
        return validation(c, "%s", "Description must be at most 1000 characters");
    if (max && td_parse_int64(max, 3600, 43200, &max_s) < 0)
        return validation(c,
                          "1 validation error detected: Value '%.20s' at 'maxSessionDuration' "
                          "failed to satisfy constraint: Member must have value between 3600 and "
                          "43200",
                          max);
    if (strlen(trust) > 2048 || !is_json_object(trust))
        return td_err_set(&c->err, 400, "MalformedPolicyDocument", "Syntax errors in policy.");
    char arn[TD_ROLE_ARN_MAX + 1];
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:role%s%s", c->iam->account, path ? path : "/",
             name);
    if ((r = authorize(c, arn)) < 0)
        return r;
    if (td_map_gets(c->iam->roles, name))
        return td_err_set(&c->err, 409, "EntityAlreadyExists", "Role with name %s already exists.",
                          name);
    struct td_role *role = iam_role_new();
    if (!role)
        return -ENOMEM;
    snprintf(role->name, sizeof(role->name), "%s", name);
    snprintf(role->path, sizeof(role->path), "%s", path ? path : "/");
    snprintf(role->arn, sizeof(role->arn), "%s", arn);
    role->created_ms = td_wall_ms();
    role->max_session_s = (int)max_s;
    if ((r = iam_new_role_id(role->id)) < 0 || !(role->trust_policy = strdup(trust)) ||
        (desc && !(role->description = strdup(desc))) || (r = iam_install(c->iam, role)) < 0) {
        td_role_unref(role);
        if (r == -E2BIG)
            return td_err_set(&c->err, 409, "LimitExceeded",
                              "Cannot exceed quota for RolesPerAccount: %d", TD_IAM_MAX_ROLES);
        return r < 0 ? r : -ENOMEM;
    }
    if ((r = begin(c)) == 0)
        r = write_role(c->x, role);
    return r;
}

static int get_role(struct call *c)
{
    struct td_role *role = NULL;
    int r = find_role(c, &role);
    if (r == 0 && (r = begin(c)) == 0)
        r = write_role(c->x, role);
    td_role_unref(role);
    return r;
}

static int delete_role(struct call *c)
{
    struct td_role *role = NULL;
    int r = find_role(c, &role);
    if (r < 0)
        return r;
    if (role->n_policies > 0)
        r = td_err_set(&c->err, 409, "DeleteConflict",
                       "Cannot delete entity, must delete policies first.");
    else if ((r = iam_remove(c->iam, role->name)) == 0)
        r = begin(c);
    td_role_unref(role);
    return r;
}

struct role_list {
    const struct td_role **items;
    size_t n;
    const char *prefix;
};

static bool collect_role(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    struct role_list *l = userdata;
    const struct td_role *role = value;
    if (!l->prefix || strncmp(role->path, l->prefix, strlen(l->prefix)) == 0)
        l->items[l->n++] = role;
    return true;
}

static int role_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct td_role *const *)a)->name,
                  (*(const struct td_role *const *)b)->name);
}

/* Pagination: the marker is the name of the last role returned. */
static int list_roles(struct call *c)
{
    const char *marker = td_query_get(c->q, "Marker");
    const char *max_items = td_query_get(c->q, "MaxItems");
    int64_t max = 100;
    if (max_items && td_parse_int64(max_items, 1, LIST_MAX_ITEMS, &max) < 0)
        return validation(c,
                          "1 validation error detected: Value '%.20s' at 'maxItems' failed to "
                          "satisfy constraint: Member must have value between 1 and 1000",
                          max_items);
    int r = authorize(c, "*");
    if (r < 0)
        return r;
    struct role_list l = {.prefix = td_query_get(c->q, "PathPrefix")};
    l.items = calloc(td_map_size(c->iam->roles) + 1, sizeof(*l.items));
    if (!l.items)
        return -ENOMEM;
    td_map_foreach(c->iam->roles, collect_role, &l);
    qsort(l.items, l.n, sizeof(*l.items), role_cmp);
    size_t i = 0;
    while (marker && i < l.n && strcmp(l.items[i]->name, marker) <= 0)
        i++;
    if ((r = begin(c)) == 0)
        r = td_xml_open(c->x, "Roles");
    size_t shown = 0;
    for (; r == 0 && i < l.n && shown < (size_t)max; i++, shown++) {
        if ((r = td_xml_open(c->x, "member")) == 0) /* a member holds the fields directly */
            r = write_role_fields(c->x, l.items[i]);
        if (r == 0)
            r = td_xml_close(c->x);
    }
    if (r == 0)
        r = td_xml_close(c->x);
    if (r == 0)
        r = td_xml_text(c->x, "IsTruncated", i < l.n ? "true" : "false");
    if (r == 0 && i < l.n)
        r = td_xml_text(c->x, "Marker", l.items[i - 1]->name);
    free(l.items);
    return r;
}

/* Replace a role by a modified copy (a role is never changed while others may hold it). */
static int modify_role(struct call *c, struct td_role *role,
                       int (*change)(struct call *c, struct td_role *copy, void *arg), void *arg)
{
    struct td_role *copy = NULL;
    int r = iam_role_copy(role, &copy);
    if (r == 0)
        r = change(c, copy, arg);
    if (r == 0 && (r = iam_install(c->iam, copy)) == 0)
        return begin(c);
    td_role_unref(copy);
    return r;
}

struct put_policy {
    const char *name;
    char *text;
    struct td_policy *parsed;
};

static int put_policy_change(struct call *c, struct td_role *copy, void *arg)
{
    struct put_policy *p = arg;
    int r = iam_role_put_policy(copy, p->name, p->text, p->parsed);
    if (r == -E2BIG)
        return td_err_set(&c->err, 409, "LimitExceeded",
                          "Cannot exceed quota for PoliciesPerRole: %d", TD_ROLE_MAX_POLICIES);
    if (r == 0)
        p->text = NULL, p->parsed = NULL; /* the copy owns them now */
    return r;
}

static int put_role_policy(struct call *c)
{
    struct td_role *role = NULL;
    struct put_policy p = {0};
    const char *doc;
    int r = find_role(c, &role);
    if (r == 0 && (r = policy_name_param(c, &p.name)) == 0 &&
        (r = required(c, "PolicyDocument", &doc)) == 0 &&
        (r = iam_parse_identity_policy(doc, &p.parsed, &c->err)) == 0) {
        char what[TD_ROLE_POLICY_NAME_MAX + 16];
        snprintf(what, sizeof(what), "policy '%s'", p.name);
        if ((r = role->tenant_template ? 0 : lint_gate(c, p.parsed, role->name, what)) == 0)
            r = (p.text = strdup(doc)) ? modify_role(c, role, put_policy_change, &p) : -ENOMEM;
    }
    free(p.text);
    td_policy_free(p.parsed);
    td_role_unref(role);
    return r;
}

static int get_role_policy(struct call *c)
{
    struct td_role *role = NULL;
    const char *name;
    int r = find_role(c, &role);
    if (r == 0 && (r = policy_name_param(c, &name)) == 0) {
        const struct td_role_policy *p = iam_role_policy(role, name);
        if (!p)
            r = td_err_set(&c->err, 404, "NoSuchEntity",
                           "The role policy with name %s cannot be found.", name);
        else if ((r = begin(c)) == 0 && (r = td_xml_text(c->x, "RoleName", role->name)) == 0 &&
                 (r = td_xml_text(c->x, "PolicyName", p->name)) == 0)
            r = encoded(c->x, "PolicyDocument", p->text);
    }
    td_role_unref(role);
    return r;
}

static int delete_policy_change(struct call *c, struct td_role *copy, void *arg)
{
    const char *name = arg;
    if (iam_role_delete_policy(copy, name) < 0)
        return td_err_set(&c->err, 404, "NoSuchEntity",
                          "The role policy with name %s cannot be found.", name);
    return 0;
}

static int delete_role_policy(struct call *c)
{
    struct td_role *role = NULL;
    const char *name;
    int r = find_role(c, &role);
    if (r == 0 && (r = policy_name_param(c, &name)) == 0)
        r = modify_role(c, role, delete_policy_change, (void *)name);
    td_role_unref(role);
    return r;
}

static int list_role_policies(struct call *c)
{
    struct td_role *role = NULL;
    int r = find_role(c, &role);
    if (r == 0 && (r = begin(c)) == 0 && (r = td_xml_open(c->x, "PolicyNames")) == 0) {
        for (size_t i = 0; r == 0 && i < role->n_policies; i++)
            r = td_xml_text(c->x, "member", role->policies[i].name);
        if (r == 0 && (r = td_xml_close(c->x)) == 0)
            r = td_xml_text(c->x, "IsTruncated", "false");
    }
    td_role_unref(role);
    return r;
}

/* ---- tenantd's tenant templates ---- */

struct put_template {
    char *text;
    struct td_policy *parsed;
};

static int put_template_change(struct call *c, struct td_role *copy, void *arg)
{
    (void)c;
    struct put_template *t = arg;
    free(copy->tenant_template);
    td_policy_free(copy->tenant_template_parsed);
    copy->tenant_template = t->text;
    copy->tenant_template_parsed = t->parsed;
    t->text = NULL;
    t->parsed = NULL;
    return 0;
}

static int put_role_tenant_policy(struct call *c)
{
    struct td_role *role = NULL;
    struct put_template t = {0};
    const char *doc;
    int r = find_role(c, &role);
    if (r == 0 && (r = required(c, "PolicyDocument", &doc)) == 0 &&
        (r = iam_parse_template(doc, &t.parsed, &c->err)) == 0 &&
        (r = lint_gate(c, t.parsed, role->name, "tenant policy template")) == 0)
        r = (t.text = strdup(doc)) ? modify_role(c, role, put_template_change, &t) : -ENOMEM;
    free(t.text);
    td_policy_free(t.parsed);
    td_role_unref(role);
    return r;
}

static int get_role_tenant_policy(struct call *c)
{
    struct td_role *role = NULL;
    int r = find_role(c, &role);
    if (r == 0 && !role->tenant_template)
        r = td_err_set(&c->err, 404, "NoSuchEntity",
                       "The role with name %s has no tenant policy template.", role->name);
    if (r == 0 && (r = begin(c)) == 0 && (r = td_xml_text(c->x, "RoleName", role->name)) == 0)
        r = encoded(c->x, "PolicyDocument", role->tenant_template);
    td_role_unref(role);
    return r;
}

static int delete_role_tenant_policy(struct call *c)
{
    struct td_role *role = NULL;
    struct put_template none = {0};
    int r = find_role(c, &role);
    if (r == 0 && !role->tenant_template)
        r = td_err_set(&c->err, 404, "NoSuchEntity",
                       "The role with name %s has no tenant policy template.", role->name);
    if (r == 0)
        r = modify_role(c, role, put_template_change, &none);
    td_role_unref(role);
    return r;
}

/* ---- managed policies (for AssumeRole's PolicyArns) ---- */

static int write_policy(struct td_xml *x, const struct td_managed_policy *p)
{
    char created[25];
    td_format_iso_ms(p->created_ms, created);
    created[19] = 'Z';
    created[20] = '\0';
    int r = td_xml_open(x, "Policy");
    if (r == 0 &&
        ((r = td_xml_text(x, "PolicyName", p->name)) < 0 ||
         (r = td_xml_text(x, "PolicyId", p->id)) < 0 || (r = td_xml_text(x, "Arn", p->arn)) < 0 ||
         (r = td_xml_text(x, "Path", p->path)) < 0 ||
         (r = td_xml_text(x, "DefaultVersionId", "v1")) < 0 ||
         (r = td_xml_text(x, "AttachmentCount", "0")) < 0 ||
         (r = td_xml_text(x, "PermissionsBoundaryUsageCount", "0")) < 0 ||
         (r = td_xml_text(x, "IsAttachable", "true")) < 0 ||
         (p->description && (r = td_xml_text(x, "Description", p->description)) < 0) ||
         (r = td_xml_text(x, "CreateDate", created)) < 0 ||
         (r = td_xml_text(x, "UpdateDate", created)) < 0))
        return r;
    return r == 0 ? td_xml_close(x) : r;
}

static int no_such_policy(struct call *c, const char *arn)
{
    return td_err_set(&c->err, 404, "NoSuchEntity",
                      "Policy %.400s does not exist or is not attachable.", arn);
}

static int find_policy(struct call *c, struct td_managed_policy **ret)
{
    const char *arn;
    int r = required(c, "PolicyArn", &arn);
    if (r == 0 && strlen(arn) > TD_ROLE_ARN_MAX)
        r = validation(c, "%s", "PolicyArn is too long");
    if (r == 0)
        r = authorize(c, arn);
    if (r < 0)
        return r;
    *ret = td_iam_policy(c->iam, arn);
    return *ret ? 0 : no_such_policy(c, arn);
}

static int new_policy_id(char out[TD_ROLE_ID_LEN + 1])
{
    int r = iam_new_role_id(out);
    if (r == 0)
        memcpy(out, "ANPA", 4);
    return r;
}

static int create_policy(struct call *c)
{
    const char *name, *doc;
    const char *path = td_query_get(c->q, "Path");
    const char *desc = td_query_get(c->q, "Description");
    int r = required(c, "PolicyName", &name);
    if (r == 0 && !iam_valid_policy_name(name))
        r = validation(c,
                       "1 validation error detected: Value '%.128s' at 'policyName' failed to "
                       "satisfy constraint: Member must satisfy regular expression pattern: "
                       "[\\w+=,.@-]+",
                       name);
    if (r == 0)
        r = required(c, "PolicyDocument", &doc);
    if (r == 0 && path && !iam_valid_path(path))
        r = validation(c, "%s", "Path must begin and end with '/'");
    if (r == 0 && desc && strlen(desc) > TD_ROLE_DESCRIPTION_MAX)
        r = validation(c, "%s", "Description must be at most 1000 characters");
    if (r < 0)
        return r;
    struct td_managed_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->refs = 1;
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->path, sizeof(p->path), "%s", path ? path : "/");
    snprintf(p->arn, sizeof(p->arn), "arn:aws:iam::%s:policy%s%s", c->iam->account, p->path, name);
    p->created_ms = td_wall_ms();
    if ((r = authorize(c, p->arn)) == 0 && td_map_gets(c->iam->policies, p->arn))
        r = td_err_set(&c->err, 409, "EntityAlreadyExists",
                       "A policy called %s already exists. Duplicate names are not allowed.", name);
    if (r == 0 && (r = iam_parse_identity_policy(doc, &p->parsed, &c->err)) == 0 &&
        (r = new_policy_id(p->id)) == 0) {
        p->text = strdup(doc);
        p->description = desc ? strdup(desc) : NULL;
        r = !p->text || (desc && !p->description) ? -ENOMEM : iam_policy_install(c->iam, p);
        if (r == -E2BIG)
            r = td_err_set(&c->err, 409, "LimitExceeded",
                           "Cannot exceed quota for PoliciesPerAccount: %d", TD_IAM_MAX_POLICIES);
    }
    if (r < 0) {
        td_managed_policy_unref(p);
        return r;
    }
    if ((r = begin(c)) == 0)
        r = write_policy(c->x, p);
    return r;
}

static int get_policy(struct call *c)
{
    struct td_managed_policy *p = NULL;
    int r = find_policy(c, &p);
    if (r == 0 && (r = begin(c)) == 0)
        r = write_policy(c->x, p);
    td_managed_policy_unref(p);
    return r;
}

static int get_policy_version(struct call *c)
{
    struct td_managed_policy *p = NULL;
    const char *version;
    int r = find_policy(c, &p);
    if (r == 0 && (r = required(c, "VersionId", &version)) == 0 && strcmp(version, "v1") != 0)
        r = td_err_set(&c->err, 404, "NoSuchEntity",
                       "Policy %s version %.32s does not exist or is not attachable.", p->arn,
                       version);
    if (r == 0) {
        char created[25];
        td_format_iso_ms(p->created_ms, created);
        created[19] = 'Z';
        created[20] = '\0';
        if ((r = begin(c)) == 0 && (r = td_xml_open(c->x, "PolicyVersion")) == 0 &&
            (r = encoded(c->x, "Document", p->text)) == 0 &&
            (r = td_xml_text(c->x, "VersionId", "v1")) == 0 &&
            (r = td_xml_text(c->x, "IsDefaultVersion", "true")) == 0 &&
            (r = td_xml_text(c->x, "CreateDate", created)) == 0)
            r = td_xml_close(c->x);
    }
    td_managed_policy_unref(p);
    return r;
}

static int delete_policy(struct call *c)
{
    struct td_managed_policy *p = NULL;
    int r = find_policy(c, &p);
    if (r == 0 && (r = iam_policy_remove(c->iam, p->arn)) == 0)
        r = begin(c);
    td_managed_policy_unref(p);
    return r;
}

struct policy_list {
    const struct td_managed_policy **items;
    size_t n;
    const char *prefix;
};

static bool collect_policy(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    struct policy_list *l = userdata;
    const struct td_managed_policy *p = value;
    if (!l->prefix || strncmp(p->path, l->prefix, strlen(l->prefix)) == 0)
        l->items[l->n++] = p;
    return true;
}

static int policy_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct td_managed_policy *const *)a)->arn,
                  (*(const struct td_managed_policy *const *)b)->arn);
}

static int list_policies(struct call *c)
{
    const char *marker = td_query_get(c->q, "Marker");
    const char *scope = td_query_get(c->q, "Scope");
    const char *max_items = td_query_get(c->q, "MaxItems");
    int64_t max = 100;
    if (max_items && td_parse_int64(max_items, 1, LIST_MAX_ITEMS, &max) < 0)
        return validation(c, "%s", "MaxItems must be between 1 and 1000");
    int r = authorize(c, "*");
    if (r < 0)
        return r;
    struct policy_list l = {.prefix = td_query_get(c->q, "PathPrefix")};
    l.items = calloc(td_map_size(c->iam->policies) + 1, sizeof(*l.items));
    if (!l.items)
        return -ENOMEM;
    if (!scope || strcmp(scope, "AWS") != 0) /* there are no AWS managed policies here */
        td_map_foreach(c->iam->policies, collect_policy, &l);
    if (l.n)
        qsort(l.items, l.n, sizeof(*l.items), policy_cmp);
    size_t i = 0;
    while (marker && i < l.n && strcmp(l.items[i]->arn, marker) <= 0)
        i++;
    if ((r = begin(c)) == 0)
        r = td_xml_open(c->x, "Policies");
    size_t shown = 0;
    for (; r == 0 && i < l.n && shown < (size_t)max; i++, shown++) {
        /* a member holds the policy's fields: write one and drop its wrapper */
        if ((r = td_xml_open(c->x, "member")) == 0) {
            char created[25];
            td_format_iso_ms(l.items[i]->created_ms, created);
            created[19] = 'Z';
            created[20] = '\0';
            const struct td_managed_policy *p = l.items[i];
            if ((r = td_xml_text(c->x, "PolicyName", p->name)) == 0 &&
                (r = td_xml_text(c->x, "PolicyId", p->id)) == 0 &&
                (r = td_xml_text(c->x, "Arn", p->arn)) == 0 &&
                (r = td_xml_text(c->x, "Path", p->path)) == 0 &&
                (r = td_xml_text(c->x, "DefaultVersionId", "v1")) == 0 &&
                (r = td_xml_text(c->x, "AttachmentCount", "0")) == 0 &&
                (r = td_xml_text(c->x, "IsAttachable", "true")) == 0 &&
                (r = td_xml_text(c->x, "CreateDate", created)) == 0)
                r = td_xml_close(c->x);
        }
    }
    if (r == 0 && (r = td_xml_close(c->x)) == 0)
        r = td_xml_text(c->x, "IsTruncated", i < l.n ? "true" : "false");
    if (r == 0 && i < l.n)
        r = td_xml_text(c->x, "Marker", l.items[i - 1]->arn);
    free(l.items);
    return r;
}

/* ---- dispatch ---- */

static const struct {
    const char *action;
    int (*fn)(struct call *c);
} actions[] = {
    {"CreateRole", create_role},
    {"GetRole", get_role},
    {"DeleteRole", delete_role},
    {"ListRoles", list_roles},
    {"PutRolePolicy", put_role_policy},
    {"GetRolePolicy", get_role_policy},
    {"DeleteRolePolicy", delete_role_policy},
    {"ListRolePolicies", list_role_policies},
    {"PutRoleTenantPolicy", put_role_tenant_policy},
    {"GetRoleTenantPolicy", get_role_tenant_policy},
    {"DeleteRoleTenantPolicy", delete_role_tenant_policy},
    {"CreatePolicy", create_policy},
    {"GetPolicy", get_policy},
    {"GetPolicyVersion", get_policy_version},
    {"DeletePolicy", delete_policy},
    {"ListPolicies", list_policies},
};

static int dispatch(struct call *c, const char *body, size_t len)
{
    int r = td_query_parse(body, len, &c->q, &c->err);
    if (r < 0)
        return r;
    c->action = td_query_get(c->q, "Action");
    const char *version = td_query_get(c->q, "Version");
    if (!c->action)
        return td_err_set(&c->err, 400, "MissingAction", "Missing Action");
    if (version && strcmp(version, "2010-05-08") != 0)
        return td_err_set(&c->err, 400, "InvalidParameterValue",
                          "Could not find operation %.64s for version %.32s", c->action, version);
    for (size_t i = 0; i < TD_ARRAY_SIZE(actions); i++)
        if (strcmp(c->action, actions[i].action) == 0)
            return actions[i].fn(c);
    return td_err_set(&c->err, 400, "InvalidAction", "Could not find operation %.64s", c->action);
}

void td_iam_handle(struct td_iam *iam, const char *body, size_t len, const char *request_id,
                   td_iam_authorize_fn authorize_fn, void *userdata, unsigned *status,
                   struct td_buf *out)
{
    struct call c = {
        .iam = iam, .request_id = request_id, .authorize = authorize_fn, .userdata = userdata};
    int r = dispatch(&c, body, len);
    td_query_respond(r, c.x, &c.err, TD_IAM_NS, "ServiceFailure", request_id, status, out);
    td_xml_free(c.x);
    td_query_free(c.q);
}
