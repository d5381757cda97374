/* IAM policy engine: parse, evaluate, authorize, tenant templates, tenancy lint. No I/O.
 *
 *   struct td_err err;
 *   struct td_policy *p = NULL;
 *   r = td_policy_parse(text, len, TD_POLICY_MAX_SESSION_CHARS, &p, &err);   400 on bad input
 *   struct td_policy_ctx *ctx = td_policy_ctx_new();
 *   td_policy_ctx_set_request(ctx, "dynamodb:GetItem", "arn:aws:dynamodb:...:table/T");
 *   td_policy_ctx_set_principal_tag(ctx, "TenantId", "t-1");
 *   td_policy_ctx_add(ctx, "dynamodb:LeadingKeys", "t-1");
 *   r = td_policy_authorize(identity, n_identity, session, n_session, ctx, &decision);
 *   if (r < 0 || !decision.allowed) td_policy_format_denied(&decision, principal_arn, ..., &buf);
 *
 * Grammar and semantics are those of the IAM policy language for identity-based and session
 * policies (see docs/tenancy-policies.md and ../shared/reference/iam-sigv4-dynamodb.md §1):
 * Version, Id, Statement (object or array), Sid, Effect, Action/NotAction,
 * Resource/NotResource with per-segment ARN globbing, every condition operator family with
 * ...IfExists and ForAllValues:/ForAnyValue:, policy variables (Version 2012-10-17 only) with
 * defaults and ${*} ${?} ${$}. A Principal/NotPrincipal element is an error: these are never
 * resource-based policies.
 *
 * Errors: parse failures fill `err` with status 400, type "MalformedPolicyDocument" (STS's
 * spelling; IAM's API says "MalformedPolicyDocumentException" in some SDKs: remap the type,
 * keep the message) and a message that starts with IAM's own sentence ("Syntax errors in
 * policy.", "Policy statement must contain actions.", ...), followed for generic syntax errors by
 * a parenthesised detail naming the element. Evaluation can only fail for lack of memory or past
 * a cap; callers must treat any negative return as a deny (fail closed).
 *
 * Thread safety: a parsed td_policy is immutable and may be evaluated from several threads at
 * once; a td_policy_ctx must not be modified while it is being evaluated.
 */
#ifndef TENANTD_POLICY_H
#define TENANTD_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"

/* Size caps, in characters other than white space (IAM does not count white space).
 * IAM: the inline policies of a role may total 10,240 characters; STS: a session policy
 * (AssumeRole Policy) at most 2,048. TD_POLICY_MAX_CHARS_LIMIT is the largest cap a caller may
 * ask for; TD_POLICY_MAX_TEXT_BYTES bounds the raw text, white space included. */
#define TD_POLICY_MAX_IDENTITY_CHARS 10240
#define TD_POLICY_MAX_SESSION_CHARS  2048
#define TD_POLICY_MAX_CHARS_LIMIT    131072
#define TD_POLICY_MAX_TEXT_BYTES     (1024 * 1024)

#define TD_POLICY_ERR_TYPE     "MalformedPolicyDocument"
#define TD_POLICY_LIMIT_TYPE   "LimitExceeded"
#define TD_POLICY_VERSION_2012 "2012-10-17"
#define TD_POLICY_VERSION_2008 "2008-10-17"

/* Caps on a request context (it carries untrusted request data, e.g. partition keys). */
#define TD_POLICY_CTX_MAX_KEYS      256
#define TD_POLICY_CTX_MAX_VALUES    1024 /* per multivalued key */
#define TD_POLICY_CTX_MAX_KEY_LEN   512
#define TD_POLICY_CTX_MAX_VALUE_LEN 8192

/* Work bound of one td_policy_evaluate, in glob steps (tens of milliseconds at most): a
 * pathological pattern against long values fails closed instead of burning CPU. */
#define TD_POLICY_EVAL_MAX_STEPS (16ull * 1024 * 1024)

/* Tenants: ids, the session tag that carries them, the policy variable and the shorthand. */
#define TD_POLICY_TENANT_ID_MAX      256
#define TD_POLICY_TENANT_TAG         "TenantId"
#define TD_POLICY_TENANT_VARIABLE    "${aws:PrincipalTag/TenantId}"
#define TD_POLICY_TEMPLATE_SHORTHAND "${tenant}"

struct td_policy;
struct td_policy_ctx;

/* ---- parsing ------------------------------------------------------------------------------ */

/* Parse and validate an identity or session policy document (UTF-8 JSON, `len` bytes, need not
 * be NUL-terminated). `max_chars` caps the characters other than white space (0 means
 * TD_POLICY_MAX_IDENTITY_CHARS; values above TD_POLICY_MAX_CHARS_LIMIT are clamped).
 *
 * Returns 0 and a new policy in *ret, or:
 *   -EINVAL  malformed: err = 400 MalformedPolicyDocument with IAM's message;
 *   -E2BIG   over the cap: err = 409 LimitExceeded "Maximum policy size of N characters
 *            exceeded." (STS answers 400 PackedPolicyTooLarge / ValidationError: remap);
 *   -ENOMEM  err = 500 ServiceException.
 * Rejected, among others: duplicate keys in any object, unknown top-level or statement
 * elements, characters outside TAB, LF, CR and U+0020-U+00FF (in the raw text and in decoded
 * strings), unknown condition operators, IfExists on Null, values that the operator cannot
 * read (numbers, dates, CIDRs, base64, Null's true/false). */
int td_policy_parse(const char *text, size_t len, size_t max_chars, struct td_policy **ret,
                    struct td_err *err);

void td_policy_free(struct td_policy *p);
static inline void td_policy_freep(struct td_policy **p)
{
    td_policy_free(*p);
}
#define _cleanup_policy_ __attribute__((cleanup(td_policy_freep)))

/* Number of statements, and whether ${...} variables are substituted (Version 2012-10-17). */
size_t td_policy_statement_count(const struct td_policy *p);
bool td_policy_uses_variables(const struct td_policy *p);

/* ---- request context ---------------------------------------------------------------------- */

/* A request: the action ("dynamodb:GetItem"), the resource ARN and condition keys. Key names
 * are case-insensitive (ASCII). A key is single-valued (td_policy_ctx_set) or multivalued
 * (td_policy_ctx_add); a multivalued key may be present with no value at all. Every string is
 * copied. All setters return 0, -EINVAL (NULL context, NULL or empty key name, NULL value
 * where one is required), -E2BIG past the TD_POLICY_CTX_MAX_* caps, or -ENOMEM. */
struct td_policy_ctx *td_policy_ctx_new(void);
void td_policy_ctx_free(struct td_policy_ctx *ctx);
static inline void td_policy_ctx_freep(struct td_policy_ctx **ctx)
{
    td_policy_ctx_free(*ctx);
}
#define _cleanup_policy_ctx_ __attribute__((cleanup(td_policy_ctx_freep)))

/* The action and the resource ("*" for actions without one, e.g. dynamodb:ListTables). */
int td_policy_ctx_set_request(struct td_policy_ctx *ctx, const char *action, const char *resource);
const char *td_policy_ctx_action(const struct td_policy_ctx *ctx);
const char *td_policy_ctx_resource(const struct td_policy_ctx *ctx);
/* Make `key` single-valued with this value (replacing whatever it held). */
int td_policy_ctx_set(struct td_policy_ctx *ctx, const char *key, const char *value);
/* Make `key` multivalued and append value; value NULL only makes sure the key is present
 * (possibly with an empty set). A single-valued key becomes a set holding its value. */
int td_policy_ctx_add(struct td_policy_ctx *ctx, const char *key, const char *value);
/* aws:PrincipalTag/<tag> = value (tag keys are case-insensitive, as in IAM). */
int td_policy_ctx_set_principal_tag(struct td_policy_ctx *ctx, const char *tag, const char *value);
/* Forget a key; 0 whether or not it was there. */
int td_policy_ctx_unset(struct td_policy_ctx *ctx, const char *key);

/* ---- evaluation --------------------------------------------------------------------------- */

enum td_policy_effect {
    TD_POLICY_NO_MATCH = 0, /* no statement applies: an implicit deny as far as this policy goes */
    TD_POLICY_ALLOW,
    TD_POLICY_DENY, /* an explicit deny */
};

struct td_policy_result {
    enum td_policy_effect effect;
    size_t statement; /* index of the deciding statement (the first matching Deny, else the
                         first matching Allow); meaningless for TD_POLICY_NO_MATCH */
};

/* Evaluate one policy against a request: any matching Deny statement wins over any matching
 * Allow. Returns 0, or -ENOMEM, or -E2BIG (a resolved pattern too long, or more than
 * TD_POLICY_EVAL_MAX_STEPS matching steps): treat as a deny. */
int td_policy_evaluate(const struct td_policy *p, const struct td_policy_ctx *ctx,
                       struct td_policy_result *ret);

enum td_policy_reason {
    TD_POLICY_ALLOWED = 0,
    TD_POLICY_DENY_NO_IDENTITY_ALLOW, /* no identity-based policy allows the action */
    TD_POLICY_DENY_IDENTITY_EXPLICIT, /* explicit deny in an identity-based policy */
    TD_POLICY_DENY_NO_SESSION_ALLOW,  /* no session policy allows the action */
    TD_POLICY_DENY_SESSION_EXPLICIT,  /* explicit deny in a session policy */
};

struct td_policy_decision {
    bool allowed;
    enum td_policy_reason reason;
    size_t policy;    /* for explicit denies: index into the identity or session array */
    size_t statement; /* for explicit denies: statement index in that policy */
};

/* IAM's evaluation for a principal in one account (no resource policies, no boundaries):
 * an explicit Deny in any identity or session policy wins (identity policies are looked at
 * first); then some identity policy must Allow; then, when session policies are given (the
 * principal is a role session that was handed some: AssumeRole Policy/PolicyArns, or a tenant
 * template), some session policy must Allow too. Effective permissions are therefore
 * identity ∩ session. With n_session == 0 the session policies play no part.
 * Returns 0 with *ret filled, or a negative errno, and then *ret says denied (fail closed). */
int td_policy_authorize(const struct td_policy *const *identity, size_t n_identity,
                        const struct td_policy *const *session, size_t n_session,
                        const struct td_policy_ctx *ctx, struct td_policy_decision *ret);

/* Append IAM's access-denied message for a denied decision to out:
 *   "User: <principal> is not authorized to perform: <action> on resource: <resource> because
 *    no identity-based policy allows the <action> action"
 *   "... on resource: <resource> with an explicit deny in an identity-based policy"
 *   "... because no session policy allows the <action> action"
 *   "... with an explicit deny in a session policy"
 * -EINVAL for an allowed decision or NULL strings; -E2BIG / -ENOMEM from the buffer. */
int td_policy_format_denied(const struct td_policy_decision *d, const char *principal_arn,
                            const char *action, const char *resource, struct td_buf *out);
/* "explicit deny in an identity-based policy", ... (for logs); "allowed" for TD_POLICY_ALLOWED. */
const char *td_policy_reason_str(enum td_policy_reason reason);

/* ---- tenant session-policy templates ------------------------------------------------------ */

/* Tenant ids are 1-256 characters of [A-Za-z0-9._:/=+-@ ] (no '"', '\\', '*', '?', '$'). */
bool td_policy_tenant_id_valid(const char *tenant_id);

/* Replace every "${tenant}" that stands inside a JSON string of the template text with the
 * tenant id, giving a session policy to parse. ${aws:PrincipalTag/TenantId} is left for
 * evaluation time, where the session's TenantId tag resolves it (with Version 2012-10-17).
 * Both are resolved, in effect: at evaluation time (Version 2012-10-17) "${tenant}" is also an
 * alias of ${aws:PrincipalTag/TenantId}, so a shorthand that was not replaced here (written
 * with JSON escapes such as "\u0024{tenant}", or in a role's identity policy) still means the
 * session's tenant, and nothing at all for a session without the tag. Text outside strings is
 * copied as is, so the result is valid JSON exactly when the template is; the replacement
 * happens whatever the template's Version.
 * Returns 0 and a NUL-terminated malloc'd text in *ret (length in *ret_len if not NULL), or
 * -EINVAL (bad tenant id), -E2BIG (result over TD_POLICY_MAX_TEXT_BYTES), -ENOMEM. */
int td_policy_template_instantiate(const char *text, size_t len, const char *tenant_id, char **ret,
                                   size_t *ret_len);

enum td_policy_layout {
    TD_POLICY_LAYOUT_LEADING_KEY, /* shared table, partition key = tenant id */
    TD_POLICY_LAYOUT_KEY_PREFIX,  /* shared table, partition key = "<tenant id>#..." */
};

/* The built-in safe session-policy template for a table (pretty-printed JSON, malloc'd): the
 * item actions (no Scan) on table_arn, with ForAllValues:StringEquals (or StringLike
 * "${aws:PrincipalTag/TenantId}#*") on dynamodb:LeadingKeys and the
 * "Null": {"dynamodb:LeadingKeys": "false"} guard. -EINVAL if table_arn is not a DynamoDB
 * table ARN (arn:<partition>:dynamodb:<region>:<account>:table/<name>). */
int td_policy_template_builtin(enum td_policy_layout layout, const char *table_arn, char **ret);

/* ---- tenancy lint ------------------------------------------------------------------------- */

enum td_policy_severity {
    TD_POLICY_WARNING = 1,
    TD_POLICY_ERROR = 2, /* refused under --strict-tenancy */
};

#define TD_POLICY_FINDING_MSG_MAX 512

struct td_policy_finding {
    const char *id; /* "TENANCY001" ... (static string) */
    enum td_policy_severity severity;
    size_t statement; /* 0-based statement index */
    const char *sid;  /* the statement's Sid or NULL; valid while the policy lives */
    char message[TD_POLICY_FINDING_MSG_MAX];
};

struct td_policy_lint {
    size_t n;
    size_t cap;
    struct td_policy_finding *items;
};

/* Report the statements of a role's identity policy or of a tenant template (parsed as is,
 * before td_policy_template_instantiate) that could let one tenant reach another tenant's
 * DynamoDB data. The ids and their meaning are documented in docs/tenancy-policies.md:
 *   TENANCY001 data action on a table without a LeadingKeys condition bound to the tenant
 *   TENANCY002 ForAllValues on LeadingKeys, Scan reachable, no Null guard
 *   TENANCY003 an action wildcard that covers dynamodb:Scan
 *   TENANCY004 a literal (hard-coded) LeadingKeys value
 *   TENANCY005 NotAction / NotResource in an Allow that reaches DynamoDB data
 *   TENANCY006 (warning) ForAllValues on LeadingKeys without the Null guard
 * `out` must be zeroed; it is filled in statement order. Returns the number of findings of
 * severity TD_POLICY_ERROR (>= 0) or -ENOMEM. Release with td_policy_lint_release. */
int td_policy_lint(const struct td_policy *p, struct td_policy_lint *out);
void td_policy_lint_release(struct td_policy_lint *l);
static inline void td_policy_lint_releasep(struct td_policy_lint *l)
{
    td_policy_lint_release(l);
}
#define _cleanup_policy_lint_ __attribute__((cleanup(td_policy_lint_releasep)))

#endif
