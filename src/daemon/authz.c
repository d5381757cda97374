/* Who is calling (SigV4 with the node's key or a role session's credentials) and what they may
 * do (the role's identity policies, intersected with the session's policies), with an audit
 * line for every refusal. */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/iam.h"
#include "tenantd/log.h"
#include "tenantd/policy.h"
#include "tenantd/util.h"

/* ---- authentication ---- */

static void sigv4_request(struct td_http_request *req, struct td_http_header *headers,
                          size_t max_headers, struct td_sigv4_request *out, bool with_body)
{
    size_t n = td_http_headers(req, headers, max_headers);
    memset(out, 0, sizeof(*out));
    out->method = td_http_method(req);
    out->path = td_http_path(req);
    out->query = td_http_query(req);
    out->headers = headers;
    out->n_headers = n > max_headers ? max_headers : n;
    if (with_body)
        out->body = td_http_body(req, &out->body_len);
}

static void sigv4_options(struct td_daemon *d, struct td_sigv4_options *o)
{
    memset(o, 0, sizeof(*o));
    o->service = NULL; /* lambda, iam or sts: the caller dispatches on it */
    o->region = d->cfg->region;
    o->now_ms = td_wall_ms();
    o->max_skew_ms = TD_SIGV4_DEFAULT_SKEW_MS;
    o->normalize_path = true;
    o->error_status = 403;
    o->key_cache = &d->key_cache;
}

/* Every x-amz-* header the request carries must be covered by the signature, or a header such
 * as X-Amz-Tenant-Id could be added to a signed request. (X-Amz-Security-Token is checked
 * against its key instead, as some clients add it after signing.) */
static bool amz_header_unsigned(const struct td_sigv4_request *req,
                                const struct td_sigv4_auth *auth)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct td_http_header *h = &req->headers[i];
        if (h->name_len < 6 || strncasecmp(h->name, "x-amz-", 6) != 0 ||
            (h->name_len == 20 && strncasecmp(h->name, "x-amz-security-token", 20) == 0))
            continue;
        bool found = false;
        const char *p = auth->signed_headers;
        while (*p && !found) {
            size_t len = strcspn(p, ";");
            found = len == h->name_len && strncasecmp(p, h->name, len) == 0;
            p += len + (p[len] == ';');
        }
        if (!found)
            return true;
    }
    return false;
}

void daemon_principal_release(struct td_principal *p)
{
    td_session_free(p->session);
    p->session = NULL;
}

static int unrecognized(struct td_err *err)
{
    return td_err_set(err, 403, "UnrecognizedClientException",
                      "The security token included in the request is invalid.");
}

/* The secret of the request's key: the node's long-term keys, or a role session's. */
static int principal_secret(struct td_daemon *d, const struct td_sigv4_auth *auth,
                            const char *env_binding, struct td_principal *p,
                            char secret[TD_SESSION_SECRET_LEN + 1], const char **long_term,
                            struct td_err *err)
{
    td_strlcpy(p->access_key_id, auth->access_key_id, sizeof(p->access_key_id));
    if (!auth->has_session_token) {
        /* Long-term keys are the operator's; inside an environment only its own session
         * credentials are accepted. */
        *long_term = env_binding ? NULL : td_keys_secret(&d->keys, auth->access_key_id);
        if (!*long_term)
            return unrecognized(err);
        p->root = true;
        td_strlcpy(p->arn, "arn:aws:iam::", sizeof(p->arn));
        td_strlcat(p->arn, d->cfg->account_id, sizeof(p->arn));
        td_strlcat(p->arn, ":root", sizeof(p->arn));
        return 0;
    }
    int r = td_session_open_cached(d->session_cache, &d->session_keys, auth->session_token.data,
                                   auth->session_token.len, auth->access_key_id,
                                   td_wall_ms() / 1000, &p->session, secret, err);
    if (r < 0)
        return r;
    /* An environment's credentials work through its own listener only, and nothing else's
     * work there. */
    if (strcmp(p->session->env, env_binding ? env_binding : "") != 0) {
        daemon_principal_release(p);
        return unrecognized(err);
    }
    td_session_arn(p->session, p->arn, sizeof(p->arn));
    return 0;
}

int daemon_authenticate(struct td_daemon *d, struct td_http_request *req, bool with_body,
                        const char *env_binding, struct td_principal *p, char *service,
                        size_t service_size, struct td_err *err)
{
    struct td_http_header headers[TD_SIGV4_MAX_HEADERS];
    struct td_sigv4_request sreq;
    struct td_sigv4_options opts;
    _cleanup_sigv4_auth_ struct td_sigv4_auth auth = TD_SIGV4_AUTH_INIT;

    memset(p, 0, sizeof(*p));
    if (td_http_headers(req, headers, TD_SIGV4_MAX_HEADERS) > TD_SIGV4_MAX_HEADERS)
        return td_err_set(err, 400, "InvalidRequestContentException", "Too many headers");
    sigv4_request(req, headers, TD_SIGV4_MAX_HEADERS, &sreq, with_body);
    sigv4_options(d, &opts);
    int r = td_sigv4_parse(&sreq, &opts, &auth, err);
    if (r < 0)
        return r;
    td_strlcpy(service, auth.service, service_size);
    if (amz_header_unsigned(&sreq, &auth))
        return td_err_set(err, 403, "InvalidSignatureException",
                          "The request signature we calculated does not match the signature you "
                          "provided: every x-amz-* header must be signed.");
    char session_secret[TD_SESSION_SECRET_LEN + 1];
    const char *long_term = NULL;
    if ((r = principal_secret(d, &auth, env_binding, p, session_secret, &long_term, err)) < 0)
        return r;
    if (with_body)
        r = td_sigv4_verify(&sreq, &auth, long_term ? long_term : session_secret, &opts, err);
    explicit_bzero(session_secret, sizeof(session_secret));
    if (r < 0)
        daemon_principal_release(p);
    return r;
}

/* ---- authorization ---- */

/* The request context IAM gives a role session's request. */
static int session_context(struct td_daemon *d, const struct td_session *s, const char *action,
                           const char *resource, struct td_policy_ctx *ctx)
{
    char buf[512], now[25];
    int r = td_policy_ctx_set_request(ctx, action, resource);
    for (size_t i = 0; r == 0 && i < s->n_tags; i++)
        r = td_policy_ctx_set_principal_tag(ctx, s->tags[i].key, s->tags[i].value);
    snprintf(buf, sizeof(buf), "arn:aws:iam::%s:role/%s", s->account, s->role_name);
    if (r == 0)
        r = td_policy_ctx_set(ctx, "aws:PrincipalArn", buf);
    td_session_user_id(s, buf, sizeof(buf));
    if (r == 0)
        r = td_policy_ctx_set(ctx, "aws:userid", buf);
    if (r == 0)
        r = td_policy_ctx_set(ctx, "aws:PrincipalAccount", s->account);
    if (r == 0)
        r = td_policy_ctx_set(ctx, "aws:PrincipalType", "AssumedRole");
    if (r == 0)
        r = td_policy_ctx_set(ctx, "aws:RequestedRegion", d->cfg->region);
    if (r == 0)
        r = td_policy_ctx_set(ctx, "aws:SecureTransport", "false");
    /* aws:CurrentTime and aws:EpochTime change once a second: formatted once a second */
    int64_t ms = td_wall_ms();
    if (ms / 1000 != d->ctx_time_s) {
        d->ctx_time_s = ms / 1000;
        td_format_iso_ms(ms, now);
        snprintf(d->ctx_current_time, sizeof(d->ctx_current_time), "%.19sZ", now);
        snprintf(d->ctx_epoch_time, sizeof(d->ctx_epoch_time), "%lld", (long long)(ms / 1000));
    }
    if (r == 0)
        r = td_policy_ctx_set(ctx, "aws:CurrentTime", d->ctx_current_time);
    if (r == 0)
        r = td_policy_ctx_set(ctx, "aws:EpochTime", d->ctx_epoch_time);
    return r;
}

/* The session policies of a role session: the inline policy it was given (AssumeRole), and the
 * role's tenant template (resolved for the session's TenantId tag; a session without one gets
 * the template unresolved, whose ${tenant} matches nothing). Each is a gate of its own. */
struct session_policies {
    /* AssumeRole's: the inline policy, then the managed ones it named (a deleted one is
     * missing and allows nothing); together one gate, as IAM evaluates session policies */
    const struct td_policy *given[11];
    size_t n_given;
    struct td_policy *inline_policy;
    struct td_managed_policy *managed[10];
    size_t n_managed;
    const struct td_policy *tenant_policy; /* the role's: valid while we hold the role */
};

static void session_policies_release(struct session_policies *sp)
{
    td_policy_free(sp->inline_policy);
    for (size_t i = 0; i < sp->n_managed; i++)
        td_managed_policy_unref(sp->managed[i]);
}

static int load_session_policies(struct td_iam *iam, const struct td_session *s,
                                 struct td_role *role, struct session_policies *sp)
{
    struct td_err err;
    memset(sp, 0, sizeof(*sp));
    if (s->policy && td_policy_parse(s->policy, strlen(s->policy), TD_POLICY_MAX_SESSION_CHARS,
                                     &sp->inline_policy, &err) < 0)
        return -EINVAL; /* it was checked when issued: only a changed engine gets here */
    if (sp->inline_policy)
        sp->given[sp->n_given++] = sp->inline_policy;
    for (size_t i = 0; i < s->n_policy_arns && i < 10; i++) {
        struct td_managed_policy *mp = td_iam_policy(iam, s->policy_arns[i]);
        if (!mp)
            continue;
        sp->managed[sp->n_managed++] = mp;
        sp->given[sp->n_given++] = mp->parsed;
    }
    /* Named policies that are all gone still make the session a session with policies. */
    if (s->n_policy_arns && sp->n_given == 0)
        sp->n_given = SIZE_MAX;
    if (!role->tenant_template)
        return 0;
    const char *tenant = td_session_tag(s, TD_POLICY_TENANT_TAG);
    if (!tenant) {
        sp->tenant_policy = role->tenant_template_parsed;
        return 0;
    }
    return td_role_tenant_policy(role, tenant, &sp->tenant_policy);
}

static void audit(struct td_daemon *d, const struct td_principal *p, const char *action,
                  const char *resource, const char *reason, const char *message,
                  const char *request_id)
{
    char now[25];
    td_format_iso_ms(td_wall_ms(), now);
    const char *tenant = p->session ? td_session_tag(p->session, TD_POLICY_TENANT_TAG) : NULL;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?}", "time", now, "event",
        "AccessDenied", "principal", p->arn, "action", action, "resource", resource, "reason",
        reason, "message", message, "tenant", tenant, "environment",
        p->session && p->session->env[0] ? p->session->env : NULL, "requestId", request_id);
    _cleanup_free_ char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    d->denied++;
    if (!line || d->audit_fd < 0)
        return;
    size_t len = strlen(line);
    line[len] = '\n'; /* one write per line: O_APPEND keeps lines whole */
    if (td_write_all(d->audit_fd, line, len + 1) < 0)
        td_log_warn("audit: cannot append to audit.log: %s", strerror(errno));
    line[len] = '\0';
}

static int deny(struct td_daemon *d, const struct td_principal *p,
                const struct td_policy_decision *dec, const char *action, const char *resource,
                const char *request_id, int status, const char *type, struct td_err *err)
{
    _cleanup_buf_ struct td_buf msg = TD_BUF_INIT(TD_ERR_MSG_MAX);
    if (td_policy_format_denied(dec, p->arn, action, resource, &msg) < 0)
        (void)td_buf_printf(&msg, "User: %s is not authorized to perform: %s", p->arn, action);
    audit(d, p, action, resource, td_policy_reason_str(dec->reason), msg.data ? msg.data : "",
          request_id);
    return td_err_setc(err, -EACCES, status, type, "%s", msg.data ? msg.data : "");
}

int daemon_authorize(struct td_daemon *d, const struct td_principal *p, const char *action,
                     const char *resource, const char *request_id, int deny_status,
                     const char *deny_type, struct td_err *err)
{
    return daemon_authorize_ctx(d, p, action, resource, NULL, NULL, request_id, deny_status,
                                deny_type, err);
}

int daemon_authorize_ctx(struct td_daemon *d, const struct td_principal *p, const char *action,
                         const char *resource, daemon_ctx_extend_fn extend, const void *arg,
                         const char *request_id, int deny_status, const char *deny_type,
                         struct td_err *err)
{
    if (p->root)
        return 0;
    struct td_policy_decision dec = {.allowed = false, .reason = TD_POLICY_DENY_NO_IDENTITY_ALLOW};
    struct td_role *role = td_iam_role(d->svc.iam, p->session->role_name);
    /* A role deleted (and perhaps created again under the same name) ends its sessions. */
    if (!role || strcmp(role->id, p->session->role_id) != 0) {
        td_role_unref(role);
        return deny(d, p, &dec, action, resource, request_id, deny_status, deny_type, err);
    }
    _cleanup_policy_ctx_ struct td_policy_ctx *ctx = td_policy_ctx_new();
    struct session_policies sp;
    int r = ctx ? session_context(d, p->session, action, resource, ctx) : -ENOMEM;
    if (r == 0 && extend)
        r = extend(ctx, arg);
    memset(&sp, 0, sizeof(sp));
    if (r == 0)
        r = load_session_policies(d->svc.iam, p->session, role, &sp);
    const struct td_policy *identity[TD_ROLE_MAX_POLICIES];
    for (size_t i = 0; i < role->n_policies; i++)
        identity[i] = role->policies[i].parsed;
    if (r == 0) {
        /* identity ∩ AssumeRole's session policies ∩ the tenant template: each a gate, and
         * each call checks the identity policies too (their denies first) */
        if (sp.n_given == SIZE_MAX || (sp.n_given == 0 && !sp.tenant_policy)) {
            r = td_policy_authorize(identity, role->n_policies, NULL, 0, ctx, &dec);
            if (r == 0 && dec.allowed && sp.n_given == SIZE_MAX) {
                dec.allowed = false;
                dec.reason = TD_POLICY_DENY_NO_SESSION_ALLOW;
            }
        } else if (sp.n_given) {
            r = td_policy_authorize(identity, role->n_policies, sp.given, sp.n_given, ctx, &dec);
        } else {
            dec.allowed = true;
        }
        if (r == 0 && dec.allowed && sp.tenant_policy) {
            const struct td_policy *gate = sp.tenant_policy;
            r = td_policy_authorize(identity, role->n_policies, &gate, 1, ctx, &dec);
        }
    }
    session_policies_release(&sp); /* what it took, also when it failed half-way */
    td_role_unref(role);
    if (r < 0)
        dec.allowed = false;
    if (dec.allowed)
        return 0;
    return deny(d, p, &dec, action, resource, request_id, deny_status, deny_type, err);
}
