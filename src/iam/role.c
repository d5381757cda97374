/* A role: validation of its parts, its stored JSON document, its policies parsed. */
#include "iam_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tenantd/cleanup.h"
#include "tenantd/map.h"
#include "tenantd/policy.h"
#include "tenantd/util.h"

/* ---- names ---- */

/* IAM's [\w+=,.@-] */
static bool name_char(char c)
{
    return isalnum((unsigned char)c) || strchr("_+=,.@-", c) != NULL;
}

static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

bool iam_valid_role_name(const char *s)
{
    return valid_name(s, TD_ROLE_NAME_MAX);
}

bool iam_valid_policy_name(const char *s)
{
    return valid_name(s, TD_ROLE_POLICY_NAME_MAX);
}

/* "/" or "/a/b/": 1-512 characters of U+0021-U+007E, starting and ending with '/'. */
bool iam_valid_path(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TD_ROLE_PATH_MAX || s[0] != '/' || s[n - 1] != '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

int iam_new_role_id(char out[TD_ROLE_ID_LEN + 1])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t raw[TD_ROLE_ID_LEN - 4];
    int r = td_random(raw, sizeof(raw));
    if (r < 0)
        return r;
    memcpy(out, "AROA", 4);
    for (size_t i = 0; i < sizeof(raw); i++)
        out[4 + i] = alphabet[raw[i] & 31];
    out[TD_ROLE_ID_LEN] = '\0';
    return 0;
}

/* ---- the tenant template, resolved per tenant ---- */

/* Direct-mapped by the keyed hash of the tenant id: a tenant whose slot is taken replaces its
 * holder. */
#define TENANT_CACHE_SLOTS 256

struct td_role_tenant_cache {
    struct {
        char *tenant;
        struct td_policy *policy;
    } slot[TENANT_CACHE_SLOTS];
};

static void tenant_cache_free(struct td_role_tenant_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < TENANT_CACHE_SLOTS; i++) {
        free(c->slot[i].tenant);
        td_policy_free(c->slot[i].policy);
    }
    free(c);
}

static size_t tenant_slot(const char *tenant)
{
    return td_hash(tenant, strlen(tenant)) % TENANT_CACHE_SLOTS;
}

int td_role_tenant_policy(struct td_role *role, const char *tenant, const struct td_policy **ret)
{
    if (!role->tenant_template)
        return -ENOENT;
    if (!role->tenant_cache && !(role->tenant_cache = calloc(1, sizeof(*role->tenant_cache))))
        return -ENOMEM;
    size_t i = tenant_slot(tenant);
    typeof(role->tenant_cache->slot[0]) *slot = &role->tenant_cache->slot[i];
    if (slot->tenant && strcmp(slot->tenant, tenant) == 0) {
        *ret = slot->policy;
        return 0;
    }
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    struct td_policy *p = NULL;
    struct td_err err;
    int r = td_policy_template_instantiate(role->tenant_template, strlen(role->tenant_template),
                                           tenant, &text, &len);
    if (r == 0)
        r = td_policy_parse(text, len, TD_POLICY_MAX_CHARS_LIMIT, &p, &err);
    char *key = r == 0 ? strdup(tenant) : NULL;
    if (r == 0 && !key)
        r = -ENOMEM;
    if (r < 0) {
        td_policy_free(p);
        return r;
    }
    free(slot->tenant);
    td_policy_free(slot->policy);
    slot->tenant = key;
    slot->policy = p;
    *ret = p;
    return 0;
}

/* ---- lifetime ---- */

struct td_role *iam_role_new(void)
{
    struct td_role *r = calloc(1, sizeof(*r));
    if (r)
        r->refs = 1;
    return r;
}

static void role_free(struct td_role *role)
{
    for (size_t i = 0; i < role->n_policies; i++) {
        free(role->policies[i].text);
        td_policy_free(role->policies[i].parsed);
    }
    free(role->policies);
    free(role->description);
    free(role->trust_policy);
    free(role->tenant_template);
    td_policy_free(role->tenant_template_parsed);
    tenant_cache_free(role->tenant_cache);
    free(role);
}

void td_role_unref(struct td_role *role)
{
    if (role && --role->refs == 0)
        role_free(role);
}

struct td_role *iam_role_ref(struct td_role *role)
{
    role->refs++;
    return role;
}

/* ---- policies ---- */

int iam_parse_identity_policy(const char *text, struct td_policy **ret, struct td_err *err)
{
    return td_policy_parse(text, strlen(text), TD_POLICY_MAX_IDENTITY_CHARS, ret, err);
}

/* A template is checked the way it will be used: instantiated for a sample tenant, then parsed
 * as a session policy (but without the session cap on size, which depends on the tenant). */
int iam_parse_template(const char *text, struct td_policy **ret, struct td_err *err)
{
    _cleanup_free_ char *sample = NULL;
    if (td_policy_template_instantiate(text, strlen(text), "sample-tenant", &sample, NULL) < 0)
        return td_err_set(err, 400, TD_POLICY_ERR_TYPE, "Syntax errors in policy.");
    _cleanup_policy_ struct td_policy *check = NULL;
    int r = td_policy_parse(sample, strlen(sample), TD_POLICY_MAX_IDENTITY_CHARS, &check, err);
    if (r < 0)
        return r;
    /* The lint looks at the template itself (variables unresolved). */
    r = td_policy_parse(text, strlen(text), TD_POLICY_MAX_IDENTITY_CHARS, ret, err);
    if (r == 0 && !td_policy_uses_variables(*ret)) {
        /* Without Version 2012-10-17 a ${...} would be literal text, matching a key literally
         * named so instead of the session's tenant. */
        td_policy_free(*ret);
        *ret = NULL;
        return td_err_set(err, 400, TD_POLICY_ERR_TYPE,
                          "A tenant policy template must have \"Version\": \"2012-10-17\" "
                          "(its variables are literal text otherwise).");
    }
    return r;
}

static int policy_cmp(const void *a, const void *b)
{
    return strcmp(((const struct td_role_policy *)a)->name,
                  ((const struct td_role_policy *)b)->name);
}

struct td_role_policy *iam_role_policy(const struct td_role *role, const char *name)
{
    struct td_role_policy key;
    if (role->n_policies == 0 || strlen(name) > TD_ROLE_POLICY_NAME_MAX)
        return NULL;
    snprintf(key.name, sizeof(key.name), "%s", name);
    return bsearch(&key, role->policies, role->n_policies, sizeof(key), policy_cmp);
}

/* Add or replace an inline policy (text and parsed policy are taken over). */
int iam_role_put_policy(struct td_role *role, const char *name, char *text, struct td_policy *p)
{
    struct td_role_policy *old = iam_role_policy(role, name);
    if (old) {
        free(old->text);
        td_policy_free(old->parsed);
        old->text = text;
        old->parsed = p;
        return 0;
    }
    if (role->n_policies >= TD_ROLE_MAX_POLICIES)
        return -E2BIG;
    struct td_role_policy *grown = realloc(role->policies, (role->n_policies + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    role->policies = grown;
    struct td_role_policy *slot = &role->policies[role->n_policies++];
    snprintf(slot->name, sizeof(slot->name), "%s", name);
    slot->text = text;
    slot->parsed = p;
    qsort(role->policies, role->n_policies, sizeof(*grown), policy_cmp);
    return 0;
}

int iam_role_delete_policy(struct td_role *role, const char *name)
{
    struct td_role_policy *p = iam_role_policy(role, name);
    if (!p)
        return -ENOENT;
    free(p->text);
    td_policy_free(p->parsed);
    size_t i = (size_t)(p - role->policies);
    memmove(p, p + 1, (role->n_policies - i - 1) * sizeof(*p));
    role->n_policies--;
    return 0;
}

/* ---- copies (a role is replaced, never changed in place, while references exist) ---- */

static int dup_str(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    return (*out = strdup(s)) ? 0 : -ENOMEM;
}

int iam_role_copy(const struct td_role *src, struct td_role **ret)
{
    struct td_role *r = iam_role_new();
    if (!r)
        return -ENOMEM;
    memcpy(r->name, src->name, sizeof(r->name));
    memcpy(r->id, src->id, sizeof(r->id));
    memcpy(r->arn, src->arn, sizeof(r->arn));
    memcpy(r->path, src->path, sizeof(r->path));
    r->created_ms = src->created_ms;
    r->max_session_s = src->max_session_s;
    struct td_err err;
    int rc = dup_str(src->description, &r->description);
    if (rc == 0)
        rc = dup_str(src->trust_policy, &r->trust_policy);
    if (rc == 0)
        rc = dup_str(src->tenant_template, &r->tenant_template);
    if (rc == 0 && r->tenant_template)
        rc = iam_parse_template(r->tenant_template, &r->tenant_template_parsed, &err);
    for (size_t i = 0; rc == 0 && i < src->n_policies; i++) {
        char *text = strdup(src->policies[i].text);
        struct td_policy *p = NULL;
        rc = text ? iam_parse_identity_policy(text, &p, &err) : -ENOMEM;
        if (rc == 0)
            rc = iam_role_put_policy(r, src->policies[i].name, text, p);
        if (rc < 0) {
            free(text);
            td_policy_free(p);
        }
    }
    if (rc < 0) {
        td_role_unref(r);
        return rc;
    }
    *ret = r;
    return 0;
}

/* ---- the stored document ---- */

char *iam_role_to_json(const struct td_role *role)
{
    json_t *policies = json_array();
    for (size_t i = 0; policies && i < role->n_policies; i++)
        json_array_append_new(policies,
                              json_pack("{s:s, s:s}", "PolicyName", role->policies[i].name,
                                        "PolicyDocument", role->policies[i].text));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:o}", "RoleName", role->name,
                          "RoleId", role->id, "Arn", role->arn, "Path", role->path,
                          "AssumeRolePolicyDocument", role->trust_policy ? role->trust_policy : "",
                          "CreateDateMs", (json_int_t)role->created_ms, "MaxSessionDuration",
                          role->max_session_s, "Policies", policies);
    if (o && role->description)
        json_object_set_new(o, "Description", json_string(role->description));
    if (o && role->tenant_template)
        json_object_set_new(o, "TenantPolicyTemplate", json_string(role->tenant_template));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

static int str_member(json_t *o, const char *name, char *out, size_t size)
{
    const char *v = json_string_value(json_object_get(o, name));
    if (!v || strlen(v) >= size)
        return -EBADMSG;
    snprintf(out, size, "%s", v);
    return 0;
}

static int opt_str_member(json_t *o, const char *name, char **out)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return -EBADMSG;
    return dup_str(json_string_value(v), out);
}

int iam_role_from_json(const char *text, struct td_role **ret)
{
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    struct td_role *role = o ? iam_role_new() : NULL;
    int r = role ? 0 : -EBADMSG;
    struct td_err err;
    if (r == 0 && ((r = str_member(o, "RoleName", role->name, sizeof(role->name))) < 0 ||
                   (r = str_member(o, "RoleId", role->id, sizeof(role->id))) < 0 ||
                   (r = str_member(o, "Arn", role->arn, sizeof(role->arn))) < 0 ||
                   (r = str_member(o, "Path", role->path, sizeof(role->path))) < 0 ||
                   (r = opt_str_member(o, "AssumeRolePolicyDocument", &role->trust_policy)) < 0 ||
                   (r = opt_str_member(o, "Description", &role->description)) < 0 ||
                   (r = opt_str_member(o, "TenantPolicyTemplate", &role->tenant_template)) < 0))
        r = -EBADMSG;
    if (r == 0) {
        role->created_ms = json_integer_value(json_object_get(o, "CreateDateMs"));
        role->max_session_s = (int)json_integer_value(json_object_get(o, "MaxSessionDuration"));
        if (role->tenant_template)
            r = iam_parse_template(role->tenant_template, &role->tenant_template_parsed, &err);
    }
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(o, "Policies"), i, p)
    {
        if (r < 0)
            break;
        const char *name = json_string_value(json_object_get(p, "PolicyName"));
        const char *doc = json_string_value(json_object_get(p, "PolicyDocument"));
        char *copy = doc ? strdup(doc) : NULL;
        struct td_policy *parsed = NULL;
        r = name && copy ? iam_parse_identity_policy(copy, &parsed, &err) : -EBADMSG;
        if (r == 0)
            r = iam_role_put_policy(role, name, copy, parsed);
        if (r < 0) {
            free(copy);
            td_policy_free(parsed);
        }
    }
    json_decref(o);
    if (r < 0) {
        td_role_unref(role);
        return r;
    }
    *ret = role;
    return 0;
}
