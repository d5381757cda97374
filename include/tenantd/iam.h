/* IAM roles of one tenantd node: what a function's Role names, what an environment's
 * credentials are a session of, and what the data services authorize against.
 *
 * A role has a name, an id (AROA...), an ARN (arn:aws:iam::<account>:role<path><name>), a trust
 * policy (kept, not evaluated: see docs/tenancy-policies.md), inline identity policies, and
 * optionally a tenant session-policy template (a tenantd extension): the session policy every
 * tenant-bound session of the role gets, with ${tenant} resolved to the session's tenant.
 *
 * Roles live in memory (parsed policies ready for evaluation) and in the store; they are
 * managed through the IAM query API (src/iam/api.c) or declared in a roles file
 * (tenantd serve --roles FILE). */
#ifndef TENANTD_IAM_H
#define TENANTD_IAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"

struct td_policy;
struct td_store;
struct td_iam;

#define TD_ROLE_NAME_MAX        64
#define TD_ROLE_POLICY_NAME_MAX 128
#define TD_ROLE_PATH_MAX        512
#define TD_ROLE_DESCRIPTION_MAX 1000
#define TD_ROLE_ID_LEN          21
#define TD_ROLE_ARN_MAX         (32 + 12 + TD_ROLE_PATH_MAX + TD_ROLE_NAME_MAX)
#define TD_ROLE_MAX_POLICIES    20
#define TD_IAM_MAX_ROLES        5000
#define TD_IAM_NS               "https://iam.amazonaws.com/doc/2010-05-08/"

struct td_role_policy {
    char name[TD_ROLE_POLICY_NAME_MAX + 1];
    char *text;
    struct td_policy *parsed;
};

struct td_role {
    unsigned refs;
    char name[TD_ROLE_NAME_MAX + 1];
    char id[TD_ROLE_ID_LEN + 1];
    char arn[TD_ROLE_ARN_MAX + 1];
    char path[TD_ROLE_PATH_MAX + 1];
    char *description;
    char *trust_policy; /* AssumeRolePolicyDocument, as given */
    int64_t created_ms;
    int max_session_s;
    struct td_role_policy *policies; /* sorted by name */
    size_t n_policies;
    char *tenant_template; /* NULL when none */
    struct td_policy *tenant_template_parsed;
    /* the template resolved for recent tenants (td_role_tenant_policy); a role is never
     * changed in place (a change makes a new one), so the cache never goes stale */
    struct td_role_tenant_cache *tenant_cache;
};

/* A customer managed policy (CreatePolicy): one version, v1, which AssumeRole's PolicyArns can
 * name as a session policy. Not attachable to roles (tenantd's roles carry inline policies). */
struct td_managed_policy {
    unsigned refs;
    char name[TD_ROLE_POLICY_NAME_MAX + 1];
    char id[TD_ROLE_ID_LEN + 1]; /* ANPA... */
    char arn[TD_ROLE_ARN_MAX + 1];
    char path[TD_ROLE_PATH_MAX + 1];
    char *description;
    char *text;
    struct td_policy *parsed;
    int64_t created_ms;
};

#define TD_IAM_MAX_POLICIES 1500

struct td_iam_options {
    const char *account;
    bool strict_tenancy; /* refuse policies the tenancy lint flags as errors */
};

int td_iam_new(struct td_store *store, const struct td_iam_options *opts, struct td_iam **ret);
void td_iam_free(struct td_iam *iam);
const char *td_iam_account(const struct td_iam *iam);

/* Apply a roles file (JSON, see docs/tenancy-policies.md): every role it lists is created or
 * replaced as described; roles it does not list are left alone. */
int td_iam_apply_roles_file(struct td_iam *iam, const char *path, struct td_err *err);

/* A role by name, with a reference the caller drops with td_role_unref (the role stays valid
 * even if it is deleted or replaced meanwhile), or NULL. */
struct td_role *td_iam_role(struct td_iam *iam, const char *name);
/* The role an ARN of this account names ("arn:aws:iam::<account>:role[/path/]<name>"), or NULL. */
struct td_role *td_iam_role_by_arn(struct td_iam *iam, const char *arn);
void td_role_unref(struct td_role *role);
/* The role's tenant template resolved for tenant and parsed, in *ret (owned by the role: valid
 * while the caller holds its reference). Resolved templates of recent tenants are kept, so the
 * request path parses each once. -ENOENT when the role has no template; -EINVAL, -E2BIG,
 * -ENOMEM as td_policy_template_instantiate and td_policy_parse. */
int td_role_tenant_policy(struct td_role *role, const char *tenant, const struct td_policy **ret);

/* A managed policy by ARN, with a reference, or NULL. */
struct td_managed_policy *td_iam_policy(struct td_iam *iam, const char *arn);
void td_managed_policy_unref(struct td_managed_policy *p);

/* The tenancy lint of a role as PER_TENANT functions use it: its tenant template when it has
 * one, else its identity policies. Appends one line per finding ("TENANCY001 (error) policy
 * 'p' statement 1: ...") to out when not NULL; returns the number of error findings. */
int td_iam_lint_role(const struct td_role *role, struct td_buf *out);
bool td_iam_strict(const struct td_iam *iam);

/* Whether the caller may perform action ("iam:CreateRole") on resource (a role ARN); on a
 * refusal err holds the AccessDenied to answer. */
typedef int (*td_iam_authorize_fn)(void *userdata, const char *action, const char *resource,
                                   struct td_err *err);

/* The IAM query API for an authenticated caller: body is the form-encoded request. The answer
 * (an XML document or an XML error) is appended to out and its HTTP status set. */
void td_iam_handle(struct td_iam *iam, const char *body, size_t len, const char *request_id,
                   td_iam_authorize_fn authorize, void *userdata, unsigned *status,
                   struct td_buf *out);

#endif
