/* STS AssumeRole and GetCallerIdentity (query protocol, 2011-06-15). */
#include "tenantd/sts.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tenantd/awsquery.h"
#include "tenantd/cleanup.h"
#include "tenantd/iam.h"
#include "tenantd/policy.h"
#include "tenantd/util.h"

#define MAX_POLICY_ARNS 10
#define CHAINED_MAX_S   3600

struct call {
    struct td_iam *iam;
    const struct td_session_keys *keys;
    const struct td_sts_caller *caller;
    struct td_query *q;
    const char *action;
    td_sts_authorize_fn authorize;
    void *userdata;
    struct td_err err;
    struct td_xml *x;
};

__attribute__((format(printf, 2, 3))) static int validation(struct call *c, const char *fmt, ...)
{
    char msg[TD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return td_err_set(&c->err, 400, "ValidationError", "%s", msg);
}

static int begin(struct call *c)
{
    char name[64];
    snprintf(name, sizeof(name), "%sResponse", c->action);
    int r = td_xml_new(name, TD_STS_NS, &c->x);
    snprintf(name, sizeof(name), "%sResult", c->action);
    return r == 0 ? td_xml_open(c->x, name) : r;
}

/* ---- GetCallerIdentity ---- */

static int get_caller_identity(struct call *c)
{
    char user_id[TD_SESSION_ROLE_ID_LEN + TD_SESSION_NAME_MAX + 2];
    if (c->caller->session)
        td_session_user_id(c->caller->session, user_id, sizeof(user_id));
    else
        snprintf(user_id, sizeof(user_id), "%s", c->caller->account);
    int r = begin(c);
    if (r == 0 && ((r = td_xml_text(c->x, "UserId", user_id)) < 0 ||
                   (r = td_xml_text(c->x, "Account", c->caller->account)) < 0))
        return r;
    return r == 0 ? td_xml_text(c->x, "Arn", c->caller->arn) : r;
}

/* ---- AssumeRole ---- */

/* [\w+=,.@-]{2,64} */
static bool valid_session_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > TD_SESSION_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_+=,.@-", s[i]))
            return false;
    return true;
}

/* Tag keys and values: letters, digits, spaces and _.:/=+-@ (ASCII here; IAM also allows
 * other Unicode letters, which tenantd refuses). */
static bool valid_tag_text(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(" _.:/=+-@", s[i]))
            return false;
    return true;
}

static int apply_tags(struct call *c, struct td_session *s)
{
    int n = td_query_list_len(c->q, "Tags.member", ".Key");
    if (n < 0 || n > TD_SESSION_MAX_TAGS)
        return validation(c, "1 validation error detected: Value at 'tags' failed to satisfy "
                             "constraint: Member must have length less than or equal to 50");
    for (int i = 1; i <= n; i++) {
        const char *key = td_query_member(c->q, "Tags.member", (size_t)i, ".Key");
        const char *value = td_query_member(c->q, "Tags.member", (size_t)i, ".Value");
        if (!value)
            value = "";
        if (!valid_tag_text(key, 1, TD_SESSION_TAG_KEY_MAX) ||
            !valid_tag_text(value, 0, TD_SESSION_TAG_VALUE_MAX))
            return validation(c,
                              "1 validation error detected: Value at 'tags.%d.member' failed "
                              "to satisfy constraint",
                              i);
        /* The tenant tag scopes the session through the role's tenant template: it must be
         * a tenant id that template can hold. */
        if (strcasecmp(key, TD_POLICY_TENANT_TAG) == 0 && !td_policy_tenant_id_valid(value))
            return validation(c,
                              "1 validation error detected: Value at 'tags.%d.member.value' "
                              "failed to satisfy constraint: a TenantId tag must be a tenant id "
                              "(1-256 characters of [a-zA-Z0-9._:/=+-@ ])",
                              i);
        if (td_session_tag(s, key))
            return td_err_set(&c->err, 400, "InvalidParameterValue",
                              "Duplicate tag keys found. Please note that Tag keys are case "
                              "insensitive.");
        int r = td_session_set_tag(s, key, value);
        if (r < 0)
            return r;
    }
    return 0;
}

/* A session calling AssumeRole keeps what scopes it: its tenant and its environment. */
static int inherit_scope(struct call *c, struct td_session *s)
{
    const struct td_session *parent = c->caller->session;
    if (!parent)
        return 0;
    const char *tenant = td_session_tag(parent, TD_POLICY_TENANT_TAG);
    const char *asked = td_session_tag(s, TD_POLICY_TENANT_TAG);
    if (tenant && asked && strcmp(tenant, asked) != 0)
        return td_err_set(&c->err, 403, "AccessDenied",
                          "User: %s is not authorized to change the session tag %s", c->caller->arn,
                          TD_POLICY_TENANT_TAG);
    int r = tenant ? td_session_set_tag(s, TD_POLICY_TENANT_TAG, tenant) : 0;
    snprintf(s->env, sizeof(s->env), "%s", parent->env);
    return r;
}

static int policy_param(struct call *c, struct td_session *s, size_t *packed_percent)
{
    const char *text = td_query_get(c->q, "Policy");
    int n_arns = td_query_list_len(c->q, "PolicyArns.member", ".arn");
    if (n_arns < 0 || n_arns > MAX_POLICY_ARNS)
        return validation(c, "1 validation error detected: Value at 'policyArns' failed to "
                             "satisfy constraint: Member must have length less than or equal to "
                             "10");
    for (int i = 1; i <= n_arns; i++) {
        const char *arn = td_query_member(c->q, "PolicyArns.member", (size_t)i, ".arn");
        struct td_managed_policy *mp = arn ? td_iam_policy(c->iam, arn) : NULL;
        if (!mp)
            return td_err_set(&c->err, 400, "InvalidParameterValue",
                              "Policy %.300s does not exist or is not attachable.", arn ? arn : "");
        int r = td_session_add_policy_arn(s, arn);
        td_managed_policy_unref(mp);
        if (r < 0)
            return r;
    }
    *packed_percent = 0;
    if (!text)
        return 0;
    _cleanup_policy_ struct td_policy *p = NULL;
    int r = td_policy_parse(text, strlen(text), TD_POLICY_MAX_SESSION_CHARS, &p, &c->err);
    if (r == -E2BIG)
        return td_err_set(&c->err, 400, "PackedPolicyTooLarge",
                          "Packed size of the session policies and session tags exceeds the "
                          "maximum allowed size.");
    if (r < 0)
        return r;
    *packed_percent = strlen(text) * 100 / TD_SESSION_POLICY_MAX;
    return td_session_set_policy(s, text);
}

static int duration_param(struct call *c, const struct td_role *role, int64_t *ret)
{
    const char *v = td_query_get(c->q, "DurationSeconds");
    *ret = 3600;
    if (v && td_parse_int64(v, 900, 43200, ret) < 0)
        return validation(c,
                          "1 validation error detected: Value '%.20s' at 'durationSeconds' failed "
                          "to satisfy constraint: Member must have value between 900 and 43200",
                          v);
    if (*ret > role->max_session_s)
        return validation(c, "The requested DurationSeconds exceeds the MaxSessionDuration set "
                             "for this role.");
    if (c->caller->session && *ret > CHAINED_MAX_S)
        return validation(c, "The requested DurationSeconds exceeds the 1 hour session limit "
                             "for roles assumed by role chaining.");
    return 0;
}

static int write_credentials(struct call *c, const struct td_session *s, const char *token,
                             const char *secret, size_t packed)
{
    char arn[512], id[128], expires[25];
    td_session_arn(s, arn, sizeof(arn));
    td_session_user_id(s, id, sizeof(id));
    td_format_iso_ms(s->expires * 1000, expires);
    expires[19] = 'Z';
    expires[20] = '\0';
    int r = begin(c);
    if (r == 0 &&
        ((r = td_xml_open(c->x, "AssumedRoleUser")) < 0 ||
         (r = td_xml_text(c->x, "Arn", arn)) < 0 ||
         (r = td_xml_text(c->x, "AssumedRoleId", id)) < 0 || (r = td_xml_close(c->x)) < 0 ||
         (r = td_xml_open(c->x, "Credentials")) < 0 ||
         (r = td_xml_text(c->x, "AccessKeyId", s->access_key_id)) < 0 ||
         (r = td_xml_text(c->x, "SecretAccessKey", secret)) < 0 ||
         (r = td_xml_text(c->x, "SessionToken", token)) < 0 ||
         (r = td_xml_text(c->x, "Expiration", expires)) < 0 || (r = td_xml_close(c->x)) < 0))
        return r;
    return r == 0 ? td_xml_textf(c->x, "PackedPolicySize", "%zu", packed) : r;
}

static int assume_role(struct call *c)
{
    const char *arn = td_query_get(c->q, "RoleArn");
    const char *name = td_query_get(c->q, "RoleSessionName");
    if (!arn || strlen(arn) < 20 || strlen(arn) > 2048)
        return validation(c, "1 validation error detected: Value at 'roleArn' failed to satisfy "
                             "constraint: Member must have length between 20 and 2048");
    if (!name || !valid_session_name(name))
        return validation(c, "1 validation error detected: Value at 'roleSessionName' failed to "
                             "satisfy constraint: Member must satisfy regular expression pattern: "
                             "[\\w+=,.@-]* and have length 2-64");
    int r = c->authorize ? c->authorize(c->userdata, "sts:AssumeRole", arn, &c->err) : 0;
    if (r < 0)
        return r;
    struct td_role *role = td_iam_role_by_arn(c->iam, arn);
    if (!role)
        return td_err_set(&c->err, 403, "AccessDenied",
                          "User: %s is not authorized to perform: sts:AssumeRole on resource: "
                          "%.400s",
                          c->caller->arn, arn);
    struct td_session *s = td_session_new();
    int64_t duration = 0;
    size_t packed = 0;
    r = s ? 0 : -ENOMEM;
    if (r == 0 && (r = duration_param(c, role, &duration)) == 0 && (r = apply_tags(c, s)) == 0 &&
        (r = inherit_scope(c, s)) == 0 && (r = policy_param(c, s, &packed)) == 0) {
        snprintf(s->account, sizeof(s->account), "%s", td_iam_account(c->iam));
        snprintf(s->role_name, sizeof(s->role_name), "%s", role->name);
        snprintf(s->role_id, sizeof(s->role_id), "%s", role->id);
        snprintf(s->session_name, sizeof(s->session_name), "%s", name);
        s->expires = td_wall_ms() / 1000 + duration;
        _cleanup_buf_ struct td_buf token = TD_BUF_INIT(TD_SESSION_TOKEN_MAX);
        char secret[TD_SESSION_SECRET_LEN + 1];
        if ((r = td_session_issue(c->keys, s, &token, secret)) == -E2BIG)
            r = td_err_set(&c->err, 400, "PackedPolicyTooLarge",
                           "Packed size of the session policies and session tags exceeds the "
                           "maximum allowed size.");
        if (r == 0)
            r = write_credentials(c, s, token.data, secret, packed);
        explicit_bzero(secret, sizeof(secret));
    }
    td_session_free(s);
    td_role_unref(role);
    return r;
}

/* ---- dispatch ---- */

static int dispatch(struct call *c, const char *body, size_t len)
{
    int r = td_query_parse(body, len, &c->q, &c->err);
    if (r < 0)
        return r;
    c->action = td_query_get(c->q, "Action");
    const char *version = td_query_get(c->q, "Version");
    if (!c->action)
        return td_err_set(&c->err, 400, "MissingAction", "Missing Action");
    if (version && strcmp(version, "2011-06-15") != 0)
        return td_err_set(&c->err, 400, "InvalidAction",
                          "Could not find operation %.64s for version %.32s", c->action, version);
    if (strcmp(c->action, "GetCallerIdentity") == 0)
        return get_caller_identity(c);
    if (strcmp(c->action, "AssumeRole") == 0)
        return assume_role(c);
    return td_err_set(&c->err, 400, "InvalidAction", "Could not find operation %.64s", c->action);
}

void td_sts_handle(struct td_iam *iam, const struct td_session_keys *keys,
                   const struct td_sts_caller *caller, const char *body, size_t len,
                   const char *request_id, td_sts_authorize_fn authorize, void *userdata,
                   unsigned *status, struct td_buf *out)
{
    struct call c = {
        .iam = iam, .keys = keys, .caller = caller, .authorize = authorize, .userdata = userdata};
    int r = dispatch(&c, body, len);
    td_query_respond(r, c.x, &c.err, TD_STS_NS, "InternalFailure", request_id, status, out);
    td_xml_free(c.x);
    td_query_free(c.q);
}
