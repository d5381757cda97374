/* Evaluation of statements and policies, IAM's authorization decision, and its messages. */
#include <errno.h>
#include <string.h>

#include "policy_internal.h"

static bool action_listed(const struct pol_statement *st, const char *action)
{
    for (size_t i = 0; i < st->actions.n; i++)
        if (pol_action_matches(st->actions.items[i], action))
            return true;
    return false;
}

/* A Resource entry whose variable does not resolve matches nothing (for NotResource this means
 * it excludes nothing). */
static bool resource_listed(struct pol_eval *ev, const struct pol_statement *st,
                            const char *resource)
{
    size_t rn = strlen(resource);
    for (size_t i = 0; i < st->resources.n && ev->error == 0; i++) {
        const char *pattern = st->resources.items[i];
        if (pol_arn_matches(ev, pattern, strlen(pattern), resource, rn))
            return true;
    }
    return false;
}

static bool conditions_hold(struct pol_eval *ev, const struct pol_statement *st)
{
    for (size_t i = 0; i < st->n_conditions; i++)
        if (!pol_condition_holds(ev, &st->conditions[i]))
            return false;
    return true;
}

static bool statement_applies(struct pol_eval *ev, const struct pol_statement *st)
{
    const char *action = td_policy_ctx_action(ev->ctx);
    const char *resource = td_policy_ctx_resource(ev->ctx);
    if (action_listed(st, action) == st->not_action)
        return false;
    bool listed = resource_listed(ev, st, resource);
    if (ev->error != 0 || listed == st->not_resource)
        return false;
    return conditions_hold(ev, st);
}

int td_policy_evaluate(const struct td_policy *p, const struct td_policy_ctx *ctx,
                       struct td_policy_result *ret)
{
    if (!ret)
        return -EINVAL;
    ret->effect = TD_POLICY_NO_MATCH;
    ret->statement = 0;
    if (!p || !ctx)
        return -EINVAL;
    struct pol_eval ev;
    pol_eval_init(&ev, p, ctx);
    bool allowed = false;
    size_t allow_at = 0;
    for (size_t i = 0; i < p->n_statements && ev.error == 0; i++) {
        const struct pol_statement *st = &p->statements[i];
        /* A matching Deny decides at once; an Allow must wait for every Deny. */
        if ((st->deny || !allowed) && statement_applies(&ev, st) && ev.error == 0) {
            if (st->deny) {
                ret->effect = TD_POLICY_DENY;
                ret->statement = i;
                break;
            }
            allowed = true;
            allow_at = i;
        }
    }
    int error = ev.error;
    pol_eval_release(&ev);
    if (error < 0) {
        ret->effect = TD_POLICY_NO_MATCH;
        return error;
    }
    if (ret->effect != TD_POLICY_DENY && allowed) {
        ret->effect = TD_POLICY_ALLOW;
        ret->statement = allow_at;
    }
    return 0;
}

/* Evaluate a set of policies: an explicit deny (first one found), else whether any allows. */
static int evaluate_set(const struct td_policy *const *set, size_t n,
                        const struct td_policy_ctx *ctx, bool *any_allow, size_t *deny_policy,
                        size_t *deny_statement, bool *denied)
{
    *any_allow = false;
    *denied = false;
    for (size_t i = 0; i < n; i++) {
        struct td_policy_result res;
        int r = td_policy_evaluate(set[i], ctx, &res);
        if (r < 0)
            return r;
        if (res.effect == TD_POLICY_DENY) {
            *denied = true;
            *deny_policy = i;
            *deny_statement = res.statement;
            return 0;
        }
        if (res.effect == TD_POLICY_ALLOW)
            *any_allow = true;
    }
    return 0;
}

static void decide(struct td_policy_decision *d, enum td_policy_reason reason, size_t policy,
                   size_t statement)
{
    d->allowed = reason == TD_POLICY_ALLOWED;
    d->reason = reason;
    d->policy = policy;
    d->statement = statement;
}

int td_policy_authorize(const struct td_policy *const *identity, size_t n_identity,
                        const struct td_policy *const *session, size_t n_session,
                        const struct td_policy_ctx *ctx, struct td_policy_decision *ret)
{
    if (!ret)
        return -EINVAL;
    decide(ret, TD_POLICY_DENY_NO_IDENTITY_ALLOW, 0, 0);
    if (!ctx || (n_identity > 0 && !identity) || (n_session > 0 && !session))
        return -EINVAL;
    bool id_allow, id_deny, s_allow, s_deny;
    size_t id_pol = 0, id_st = 0, s_pol = 0, s_st = 0;
    int r = evaluate_set(identity, n_identity, ctx, &id_allow, &id_pol, &id_st, &id_deny);
    if (r == 0)
        r = evaluate_set(session, n_session, ctx, &s_allow, &s_pol, &s_st, &s_deny);
    if (r < 0)
        return r;
    if (id_deny)
        decide(ret, TD_POLICY_DENY_IDENTITY_EXPLICIT, id_pol, id_st);
    else if (s_deny)
        decide(ret, TD_POLICY_DENY_SESSION_EXPLICIT, s_pol, s_st);
    else if (!id_allow)
        decide(ret, TD_POLICY_DENY_NO_IDENTITY_ALLOW, 0, 0);
    else if (n_session > 0 && !s_allow)
        decide(ret, TD_POLICY_DENY_NO_SESSION_ALLOW, 0, 0);
    else
        decide(ret, TD_POLICY_ALLOWED, 0, 0);
    return 0;
}

const char *td_policy_reason_str(enum td_policy_reason reason)
{
    switch (reason) {
    case TD_POLICY_ALLOWED:
        return "allowed";
    case TD_POLICY_DENY_NO_IDENTITY_ALLOW:
        return "no identity-based policy allows";
    case TD_POLICY_DENY_IDENTITY_EXPLICIT:
        return "explicit deny in an identity-based policy";
    case TD_POLICY_DENY_NO_SESSION_ALLOW:
        return "no session policy allows";
    case TD_POLICY_DENY_SESSION_EXPLICIT:
        return "explicit deny in a session policy";
    default:
        return "denied";
    }
}

int td_policy_format_denied(const struct td_policy_decision *d, const char *principal_arn,
                            const char *action, const char *resource, struct td_buf *out)
{
    if (!d || d->allowed || !principal_arn || !action || !resource || !out)
        return -EINVAL;
    int r = td_buf_printf(out, "User: %s is not authorized to perform: %s on resource: %s ",
                          principal_arn, action, resource);
    if (r < 0)
        return r;
    switch (d->reason) {
    case TD_POLICY_DENY_IDENTITY_EXPLICIT:
    case TD_POLICY_DENY_SESSION_EXPLICIT:
        return td_buf_printf(out, "with an %s", td_policy_reason_str(d->reason));
    case TD_POLICY_DENY_NO_IDENTITY_ALLOW:
    case TD_POLICY_DENY_NO_SESSION_ALLOW:
        return td_buf_printf(out, "because %s the %s action", td_policy_reason_str(d->reason),
                             action);
    default:
        return -EINVAL;
    }
}
