/* What an environment's own listener serves besides the Runtime API: its credentials (a
 * session of the function's role tagged with the environment's tenant, bound to the
 * environment) and the platform services its code calls with them (STS now). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/iam.h"
#include "tenantd/log.h"
#include "tenantd/policy.h"
#include "tenantd/tables.h"
#include "tenantd/util.h"

#define CREDENTIALS_LIFETIME_S 3600
/* The SDKs refresh with less than 5 minutes left; a document is served again while more than
 * this remains, so every environment mints about once per 45 minutes. */
#define CREDENTIALS_REUSE_S 900

static void reply_code(struct td_http_request *req, unsigned status, const char *code,
                       const char *message)
{
    json_t *doc = json_pack("{s:s, s:s}", "Code", code, "Message", message);
    td_http_reply_json(req, status, NULL, 0, doc);
    json_decref(doc);
}

/* RoleSessionName allows [\w+=,.@-]: a tenant id's other characters become '-'. */
static void session_name_for(const char *tenant, const char *fallback, char *out, size_t size)
{
    const char *src = tenant ? tenant : fallback;
    size_t n = 0;
    for (; src[n] && n + 1 < size && n < TD_SESSION_NAME_MAX; n++)
        out[n] = isalnum((unsigned char)src[n]) || strchr("_+=,.@-", src[n]) ? src[n] : '-';
    out[n] = '\0';
    while (n < 2 && n + 1 < size) /* at least two characters */
        out[n++] = '-';
    out[n] = '\0';
}

/* The role's name and id; a function whose role does not exist (created before roles did) gets
 * a session of that name that no policy allows anything. */
static void session_role(struct td_daemon *d, const char *role_arn, struct td_session *s)
{
    struct td_role *role = td_iam_role_by_arn(d->svc.iam, role_arn);
    if (role) {
        snprintf(s->role_name, sizeof(s->role_name), "%s", role->name);
        snprintf(s->role_id, sizeof(s->role_id), "%s", role->id);
        td_role_unref(role);
        return;
    }
    const char *slash = strrchr(role_arn, '/');
    snprintf(s->role_name, sizeof(s->role_name), "%s", slash ? slash + 1 : "none");
    snprintf(s->role_id, sizeof(s->role_id), "AROANOSUCHROLE");
}

static char *mint(struct td_daemon *d, struct td_env *env, int64_t *expires)
{
    const struct td_function *fn = td_env_function(env);
    const char *tenant = td_env_tenant(env);
    struct td_session *s = td_session_new();
    if (!s)
        return NULL;
    snprintf(s->account, sizeof(s->account), "%.12s", d->cfg->account_id);
    session_role(d, fn->cfg.role, s);
    session_name_for(tenant, fn->cfg.name, s->session_name, sizeof(s->session_name));
    snprintf(s->env, sizeof(s->env), "%s", td_env_binding(env));
    s->expires = td_wall_ms() / 1000 + CREDENTIALS_LIFETIME_S;
    _cleanup_buf_ struct td_buf token = TD_BUF_INIT(TD_SESSION_TOKEN_MAX);
    char secret[TD_SESSION_SECRET_LEN + 1], expiration[25];
    char *doc = NULL;
    if ((!tenant || td_session_set_tag(s, TD_POLICY_TENANT_TAG, tenant) == 0) &&
        td_session_issue(&d->session_keys, s, &token, secret) == 0) {
        td_format_iso_ms(s->expires * 1000, expiration);
        expiration[19] = 'Z';
        expiration[20] = '\0';
        char arn[512];
        snprintf(arn, sizeof(arn), "arn:aws:iam::%s:role/%s", s->account, s->role_name);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "AccessKeyId", s->access_key_id,
                              "SecretAccessKey", secret, "Token", token.data, "Expiration",
                              expiration, "RoleArn", arn, "AccountId", s->account);
        doc = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        *expires = s->expires;
    }
    explicit_bzero(secret, sizeof(secret));
    td_session_free(s);
    return doc;
}

static void serve_credentials(struct td_http_request *req, struct td_env *env, void *userdata)
{
    struct td_daemon *d = userdata;
    const char *auth = td_http_header(req, "Authorization");
    const char *want = td_env_api_token(env);
    if (!auth || strlen(auth) != strlen(want) || !td_const_eq(auth, want, strlen(want))) {
        reply_code(req, 401, "AccessDenied", "The authorization token is not valid");
        return;
    }
    const struct td_function *fn = td_env_function(env);
    if (fn->cfg.per_tenant && !td_env_tenant(env)) {
        /* Prewarmed, not yet given to a tenant: there is no tenant to scope credentials to. */
        reply_code(req, 403, "EnvironmentNotBound",
                   "This execution environment is not bound to a tenant yet: credentials are "
                   "available from its first invocation on");
        return;
    }
    int64_t now = td_wall_ms() / 1000;
    const char *doc = td_env_credentials(env, now, CREDENTIALS_REUSE_S);
    if (!doc) {
        int64_t expires = 0;
        char *fresh = mint(d, env, &expires);
        if (!fresh) {
            reply_code(req, 500, "InternalError", "Credentials could not be issued");
            return;
        }
        td_env_set_credentials(env, fresh, expires);
        doc = fresh;
    }
    static const struct td_http_out_header h[] = {{"Content-Type", "application/json"}};
    td_http_reply(req, 200, h, 1, doc, strlen(doc), NULL, NULL);
}

/* ---- signed requests: the services an environment reaches with its credentials ---- */

static bool env_service(const char *service)
{
    return strcmp(service, "sts") == 0 || strcmp(service, "dynamodb") == 0;
}

static void reply_auth_error(struct td_http_request *req, const char *service,
                             const struct td_err *err, const char *request_id)
{
    if (strcmp(service, "dynamodb") == 0 || td_http_header(req, "X-Amz-Target"))
        daemon_tables_error(req, err, request_id);
    else
        daemon_query_error(req, "sts", err, request_id);
}

static void signed_headers(struct td_http_request *req, struct td_env *env, void *userdata)
{
    struct td_daemon *d = userdata;
    struct td_err err = {0};
    _cleanup_principal_ struct td_principal p = {0};
    char service[TD_SIGV4_MAX_SCOPE_PART + 1] = "";
    if (daemon_authenticate(d, req, false, td_env_binding(env), &p, service, sizeof(service),
                            &err) < 0) {
        reply_auth_error(req, service, &err, NULL);
        return;
    }
    if (!env_service(service) || strcmp(td_http_method(req), "POST") != 0 ||
        strcmp(td_http_path(req), "/") != 0) {
        td_err_set(&err, 400, "UnknownOperationException",
                   "The %s service is not available to execution environments", service);
        td_http_reply_aws_error(req, &err, NULL);
        return;
    }
    td_http_set_body_max(req, strcmp(service, "dynamodb") == 0 ? TD_TABLES_BODY_MAX : 256 * 1024);
}

static void signed_request(struct td_http_request *req, struct td_env *env, void *userdata)
{
    struct td_daemon *d = userdata;
    struct td_err err = {0};
    char request_id[TD_UUID_LEN + 1];
    _cleanup_principal_ struct td_principal p = {0};
    char service[TD_SIGV4_MAX_SCOPE_PART + 1] = "";
    if (td_uuid4(request_id) < 0) {
        td_http_drop(req);
        return;
    }
    if (daemon_authenticate(d, req, true, td_env_binding(env), &p, service, sizeof(service), &err) <
        0) {
        reply_auth_error(req, service, &err, request_id);
        return;
    }
    if (strcmp(service, "dynamodb") == 0)
        daemon_tables_api(d, req, &p, request_id);
    else
        daemon_query_api(d, req, &p, service, request_id);
}

void daemon_env_services(struct td_daemon *d, struct td_envapi *api)
{
    api->sched = d->svc.sched;
    api->credentials = serve_credentials;
    api->signed_headers = signed_headers;
    api->signed_request = signed_request;
    api->userdata = d;
}
