/* The policy engine: a table of cases from the IAM User Guide's own examples (condition
 * operators, multivalued context keys, policy variables, evaluation logic, DynamoDB
 * fine-grained access control), parse errors with IAM's messages, authorization decisions and
 * their messages, tenant templates and the tenancy lint.
 *
 * Policies are written with ` for " to keep them readable; the helpers swap them back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenantd/buf.h"
#include "tenantd/cleanup.h"
#include "tenantd/error.h"
#include "tenantd/policy.h"

#define NO_MATCH TD_POLICY_NO_MATCH
#define ALLOW    TD_POLICY_ALLOW
#define DENY     TD_POLICY_DENY

/* ---- helpers ------------------------------------------------------------------------------- */

static char *unquote(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '`')
            *p = '"';
    return out;
}

static struct td_policy *parse_ok(const char *text)
{
    _cleanup_free_ char *json = unquote(text);
    struct td_err err = {0};
    struct td_policy *p = NULL;
    int r = td_policy_parse(json, strlen(json), TD_POLICY_MAX_IDENTITY_CHARS, &p, &err);
    if (r < 0)
        print_message("unexpected parse error %d: %s %s\n  in %s\n", r, err.type, err.message,
                      json);
    assert_int_equal(r, 0);
    assert_non_null(p);
    return p;
}

/* Context spec: entries separated by '|': "key=value" (single-valued), "key+=value" (add to a
 * multivalued key), "key[]" (a multivalued key present with no value). */
static void fill_context(struct td_policy_ctx *ctx, const char *spec)
{
    if (!spec)
        return;
    _cleanup_free_ char *copy = strdup(spec);
    assert_non_null(copy);
    char *save = NULL;
    for (char *e = strtok_r(copy, "|", &save); e; e = strtok_r(NULL, "|", &save)) {
        size_t n = strlen(e);
        char *eq = strchr(e, '=');
        if (n > 2 && strcmp(e + n - 2, "[]") == 0 && !eq) {
            e[n - 2] = '\0';
            assert_int_equal(td_policy_ctx_add(ctx, e, NULL), 0);
        } else if (eq && eq > e && eq[-1] == '+') {
            eq[-1] = '\0';
            assert_int_equal(td_policy_ctx_add(ctx, e, eq + 1), 0);
        } else {
            assert_non_null(eq);
            *eq = '\0';
            assert_int_equal(td_policy_ctx_set(ctx, e, eq + 1), 0);
        }
    }
}

static struct td_policy_ctx *make_context(const char *action, const char *resource,
                                          const char *spec)
{
    struct td_policy_ctx *ctx = td_policy_ctx_new();
    assert_non_null(ctx);
    assert_int_equal(td_policy_ctx_set_request(ctx, action, resource), 0);
    fill_context(ctx, spec);
    return ctx;
}

static const char *effect_name(enum td_policy_effect e)
{
    return e == ALLOW ? "Allow" : e == DENY ? "Deny" : "no match";
}

#define IAM_USER_ARN  "arn:aws:iam::account-id:user/bob"
#define THREAD        "arn:aws:dynamodb:REGION:ACCOUNT-ID-WITHOUT-HYPHENS:table/Thread"
#define GAMES         "arn:aws:dynamodb:us-west-2:123456789012:table/GameScores"
#define TABLE_T       "arn:aws:dynamodb:us-east-1:123456789012:table/Items"
#define TAG_T1        "aws:PrincipalTag/TenantId=t1"
#define ATTRS_FOR_ALL "dynamodb:requestedAttributes"
#define BUCKET_HOME   "arn:aws:s3:::BUCKET-NAME/home/"
#define UNSUBSTITUTED "arn:aws:iam::account-id:user/${aws:username}"

/* ---- policies from the IAM User Guide ------------------------------------------------------ */

/* Condition operators page: StringEquals on a principal tag. */
static const char P_STRING_EQUALS[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `iam:*AccessKey*`,"
    " `Resource`: `arn:aws:iam::account-id:user/*`,"
    " `Condition`: {`StringEquals`: {`aws:PrincipalTag/job-category`: `iamuser-admin`}}}}";

/* Condition operators page: StringLike with ${aws:username} (home directories). */
static const char P_HOME_DIRS[] =
    "{`Version`: `2012-10-17`, `Statement`: ["
    " {`Effect`: `Allow`, `Action`: [`s3:ListAllMyBuckets`, `s3:GetBucketLocation`],"
    "  `Resource`: `arn:aws:s3:::*`},"
    " {`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: `arn:aws:s3:::BUCKET-NAME`,"
    "  `Condition`: {`StringLike`: {`s3:prefix`: [``, `home/`, `home/${aws:username}/`]}}},"
    " {`Effect`: `Allow`, `Action`: `s3:*`, `Resource`: [`arn:aws:s3:::BUCKET-NAME/home/"
    "${aws:username}`, `arn:aws:s3:::BUCKET-NAME/home/${aws:username}/*`]}]}";

static const char P_NUMERIC[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `s3:ListBucket`,"
    " `Resource`: `arn:aws:s3:::example_bucket`,"
    " `Condition`: {`NumericLessThanEquals`: {`s3:max-keys`: `10`}}}}";

static const char P_NUMERIC_FAMILY[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`NumericEquals`: {`n:eq`: 10.0},"
    " `NumericNotEquals`: {`n:ne`: [`1`, `2`]}, `NumericLessThan`: {`n:lt`: `-1.5`},"
    " `NumericGreaterThan`: {`n:gt`: 100}, `NumericGreaterThanEquals`: {`n:ge`: `0.25`}}}}";

static const char P_NUMERIC_SIGNS[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`NumericEquals`: {`n:zero`: `0`}, `NumericLessThan`:"
    " {`n:neg`: `-1.5`}}}}";

static const char P_CIDR_20[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`IpAddress`: {`aws:SourceIp`: [`10.1.16.0/20`,"
    " `2001:db8::/33`]}}}}";

static const char P_DATE[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `iam:*AccessKey*`,"
    " `Resource`: `arn:aws:iam::account-id:user/*`,"
    " `Condition`: {`DateGreaterThan`: {`aws:TokenIssueTime`: `2020-01-01T00:00:01Z`}}}}";

/* moto's valid example: a time window on aws:CurrentTime. */
static const char P_DATE_WINDOW[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`:"
    " `service-prefix:action-name`, `Resource`: `*`, `Condition`: {"
    " `DateGreaterThan`: {`aws:CurrentTime`: `2017-07-01T00:00:00Z`},"
    " `DateLessThan`: {`aws:CurrentTime`: `2017-12-31T23:59:59Z`}}}}";

static const char P_DATE_FORMS[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`DateEquals`: {`d:day`: `2020-01-01`,"
    " `d:zone`: `2020-01-01T02:00:00+02:00`, `d:epoch`: `1577836800`},"
    " `DateNotEquals`: {`d:ne`: `2020-01-01T00:00:00.5Z`},"
    " `DateLessThanEquals`: {`d:le`: 1577836800}, `DateGreaterThanEquals`: {`d:ge`: `2020`}}}}";

static const char P_BOOL[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Sid`: `BooleanExample`, `Action`: `s3:*`,"
    " `Effect`: `Deny`, `Resource`: [`arn:aws:s3:::DOC-EXAMPLE-BUCKET`,"
    " `arn:aws:s3:::DOC-EXAMPLE-BUCKET/*`], `Condition`: {`Bool`: {`aws:SecureTransport`:"
    " `false`}}}]}";

static const char P_BINARY[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`BinaryEquals`: {`key`: `QmluYXJ5VmFsdWVJbkJhc2U2NA==`}}}}";

static const char P_IP[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `someservice:*`,"
    " `Resource`: `*`, `Condition`: {`IpAddress`: {`aws:SourceIp`: [`203.0.113.0/24`,"
    " `2001:DB8:1234:5678::/64`]}}}}";

static const char P_NOT_IP[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Deny`, `Action`: `*`, `Resource`: `*`,"
    " `Condition`: {`NotIpAddress`: {`aws:SourceIp`: [`192.0.2.0/24`, `203.0.113.9`]}}}}";

static const char P_ARN_EQUALS[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `SQS:SendMessage`,"
    " `Resource`: `arn:aws:sqs:REGION:123456789012:QUEUE-ID`, `Condition`: {`ArnEquals`:"
    " {`aws:SourceArn`: `arn:aws:sns:REGION:123456789012:TOPIC-ID`}}}}";

/* The ArnLike / StringLike counter-example of the condition operators page. */
static const char P_ARN_LIKE[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`ArnLike`: {`svc:arn`:"
    " `arn:aws:someservice:*:111122223333:finance/*`}}}}";
static const char P_STRING_LIKE_ARN[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`StringLike`: {`svc:arn`:"
    " `arn:aws:someservice:*:111122223333:finance/*`}}}}";
static const char P_ARN_NOT_LIKE[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Deny`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`ArnNotLike`: {`aws:SourceArn`:"
    " [`arn:aws:sns:*:123456789012:ok-*`, `arn:aws:sns:*:123456789012:fine`]}}}}";

static const char P_IF_EXISTS[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Sid`: `RunInstance`, `Effect`: `Allow`, `Action`:"
    " `ec2:RunInstances`, `Resource`: `*`, `Condition`: {`StringLikeIfExists`:"
    " {`ec2:InstanceType`: [`t1.*`, `t2.*`, `m3.*`]}}}]}";
static const char P_DOES_NOT_WORK[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Sid`: `THISPOLICYDOESNOTWORK`, `Effect`: `Allow`,"
    " `Action`: `ec2:RunInstances`, `Resource`: `*`, `Condition`: {`StringLike`:"
    " {`ec2:InstanceType`: [`t1.*`, `t2.*`, `m3.*`]}}}}";

static const char P_NULL[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Action`: `ec2:*`, `Effect`: `Allow`, `Resource`:"
    " `*`, `Condition`: {`Null`: {`aws:TokenIssueTime`: `true`}}}}";

static const char P_IGNORE_CASE[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`StringEqualsIgnoreCase`: {`aws:PrincipalTag/dept`:"
    " `Engineering`}, `StringNotEqualsIgnoreCase`: {`aws:PrincipalTag/level`: `INTERN`}}}}";

/* Multivalued context keys page. */
static const char P_FOR_ALL[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: `dynamodb:GetItem`,"
    " `Resource`: `arn:aws:dynamodb:REGION:ACCOUNT-ID-WITHOUT-HYPHENS:table/Thread`,"
    " `Condition`: {`ForAllValues:StringLike`: {`dynamodb:requestedAttributes`:"
    " [`PostDateTime`, `Message`, `Tags`]}}}]}";
static const char P_FOR_ANY[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Deny`, `Action`: `dynamodb:PutItem`,"
    " `Resource`: `arn:aws:dynamodb:REGION:ACCOUNT-ID-WITHOUT-HYPHENS:table/Thread`,"
    " `Condition`: {`ForAnyValue:StringLike`: {`dynamodb:requestedAttributes`:"
    " [`ID`, `PostDateTime`]}}}]}";
static const char P_FOR_ALL_NOT_LIKE[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Sid`: `DenyRestrictedTags`, `Effect`: `Deny`,"
    " `Action`: [`iam:Tag*`, `iam:UnTag*`], `Resource`: [`*`], `Condition`:"
    " {`ForAllValues:StringNotLike`: {`aws:TagKeys`: `key1*`}}}]}";
static const char P_FOR_ALL_GUARDED[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Sid`: `DenyRestrictedTags`, `Effect`: `Deny`,"
    " `Action`: [`iam:Tag*`, `iam:UnTag*`], `Resource`: [`*`], `Condition`: {`Null`:"
    " {`aws:TagKeys`: `false`}, `ForAllValues:StringLike`: {`aws:TagKeys`: [`key1*`, `key2*`,"
    " `key3*`]}}}]}";
static const char P_FOR_ANY_EQUALS[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Deny`, `Action`:"
    " `ec2:CreateSnapshot`, `Resource`: `*`, `Condition`: {`ForAnyValue:StringEquals`:"
    " {`aws:TagKeys`: [`webserver`, `environment`]}}}]}";
static const char P_FOR_ALL_NOT_LIKE_ALLOW[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: `iam:TagRole`,"
    " `Resource`: `*`, `Condition`: {`ForAllValues:StringNotLike`: {`aws:TagKeys`:"
    " [`Owner:*`, `State:??`]}}}]}";
static const char P_FOR_ANY_NOT_EQUALS[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: `iam:TagRole`,"
    " `Resource`: `*`, `Condition`: {`ForAnyValue:StringNotEquals`: {`aws:TagKeys`:"
    " [`a`, `b`]}}}]}";

static const char P_NOT_EQUALS_MULTI[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`StringNotEquals`: {`aws:PrincipalTag/team`: [`a`,"
    " `b`]}}}}";
static const char P_DENY_NOT_EQUALS_IF_EXISTS[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Deny`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`StringNotEqualsIfExists`: {`aws:PrincipalTag/dept`:"
    " `eng`}}}}";

/* Policy variables page. */
static const char P_USERNAME_KEYS[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Action`: [`iam:*AccessKey*`], `Effect`: `Allow`,"
    " `Resource`: [`arn:aws:iam::account-id:user/${aws:username}`]}]}";
static const char P_USERNAME_NO_VERSION[] =
    "{`Statement`: [{`Action`: [`iam:*AccessKey*`], `Effect`: `Allow`,"
    " `Resource`: [`arn:aws:iam::account-id:user/${aws:username}`]}]}";
static const char P_USERNAME_2008[] =
    "{`Version`: `2008-10-17`, `Statement`: [{`Action`: [`iam:*AccessKey*`], `Effect`: `Allow`,"
    " `Resource`: [`arn:aws:iam::account-id:user/${aws:username}`]}]}";
static const char P_QUEUES[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Sid`: `ListForConsole`, `Effect`: `Allow`,"
    " `Action`: `sqs:ListQueues`, `Resource`: `*`}, {`Sid`: `AllQueueActions`, `Effect`:"
    " `Allow`, `Action`: `sqs:*`, `Resource`: `arn:aws:sqs:us-east-2:*:${aws:username}-queue`}]}";
static const char P_TEAM_DEFAULT[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `s3:GetObject`,"
    " `Resource`: `arn:aws:s3:::amzn-s3-demo-bucket/${aws:PrincipalTag/team, 'company-wide'}/*`}}";
static const char P_SPECIALS[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`StringEquals`: {`k:eq`: `a${*}b${?}c${$}`},"
    " `StringLike`: {`k:like`: `x${*}*`}}}}";
/* Malformed references are ordinary text; names are trimmed. */
static const char P_VAR_SYNTAX[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`,"
    " `Resource`: `*`, `Condition`: {`StringEquals`: {`k:lit`: `${a, x}${b, 'y' z}${ }${c`,"
    " `k:trim`: `${ aws:username }/${aws:username,'anon'}`}}}}";
static const char P_TAG_IN_RESOURCE[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `s3:GetObject`,"
    " `Resource`: `arn:aws:s3:::bucket/${aws:PrincipalTag/department}/*`}}";
static const char P_VAR_IN_CONDITION[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `sns:*`, `Resource`:"
    " `*`, `Condition`: {`StringLike`: {`sns:endpoint`: `https://example.com/${aws:username}/`},"
    " `StringEquals`: {`sns:Protocol`: `https`}}}}";
static const char P_VAR_NEGATED[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`, `Resource`:"
    " `*`, `Condition`: {`StringNotEquals`: {`svc:owner`: `${aws:username}`}}}}";
static const char P_VAR_MULTI[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`, `Resource`:"
    " `*`, `Condition`: {`StringEquals`: {`svc:owner`: `${svc:multi}`}}}}";
static const char P_VAR_ARN_BOOL[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`, `Resource`:"
    " `*`, `Condition`: {`ArnLike`: {`aws:SourceArn`:"
    " `arn:aws:sns:*:123456789012:${aws:username}-*`}, `Bool`: {`svc:flag`:"
    " `${aws:PrincipalTag/flag}`}}}}";
static const char P_VAR_CASE[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `svc:Do`, `Resource`:"
    " `arn:aws:svc:::${AWS:USERNAME}`}}";

/* Action and Resource matching, evaluation logic. */
static const char P_NOT_ACTION_ALLOW[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `NotAction`: `iam:*`,"
    " `Resource`: `*`}}";
static const char P_NOT_ACTION_DENY[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: `*`, `Resource`: `*`},"
    " {`Effect`: `Deny`, `NotAction`: [`iam:*`, `sts:GetCallerIdentity`], `Resource`: `*`}]}";
static const char P_NOT_RESOURCE[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `s3:*`,"
    " `NotResource`: [`arn:aws:s3:::secret`, `arn:aws:s3:::secret/*`]}}";
static const char P_ARN_SEGMENTS[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `dynamodb:Query`,"
    " `Resource`: [`arn:aws:dynamodb:*:*:table/Books`, `arn:aws:dynamodb:us-??"
    "?\?-1:12345678901?:"
    "table/Games*`]}}";
static const char P_ARN_COLONS[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `logs:PutLogEvents`,"
    " `Resource`: `arn:aws:logs:us-east-1:123456789012:log-group:app:*`}}";
static const char P_ACTION_GLOB[] =
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: [`s3:Get?bject`,"
    " `ec2:Describe*`], `Resource`: `*`}}";
static const char P_DENY_WINS[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: `s3:*`, `Resource`:"
    " `*`}, {`Effect`: `Deny`, `Action`: `s3:DeleteBucket`, `Resource`: `*`}]}";

/* DynamoDB Developer Guide, FGAC example 1 and the tenant (ABAC) variants. */
static const char P_DDB_USER_ITEMS[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Sid`: `FullAccessToUserItems`, `Effect`: `Allow`,"
    " `Action`: [`dynamodb:GetItem`, `dynamodb:BatchGetItem`, `dynamodb:Query`,"
    " `dynamodb:PutItem`, `dynamodb:UpdateItem`, `dynamodb:DeleteItem`,"
    " `dynamodb:BatchWriteItem`], `Resource`: [`arn:aws:dynamodb:us-west-2:123456789012:table/"
    "GameScores`], `Condition`: {`ForAllValues:StringEquals`: {`dynamodb:LeadingKeys`:"
    " [`${www.amazon.com:user_id}`]}}}]}";
static const char P_DDB_TENANT_WITH_SCAN[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: [`dynamodb:GetItem`,"
    " `dynamodb:Scan`], `Resource`: `" TABLE_T "`,"
    " `Condition`: {`ForAllValues:StringEquals`: {`dynamodb:LeadingKeys`:"
    " `${aws:PrincipalTag/TenantId}`}}}]}";
static const char P_DDB_TENANT_GUARDED[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: [`dynamodb:GetItem`,"
    " `dynamodb:Scan`], `Resource`: `" TABLE_T "`,"
    " `Condition`: {`ForAllValues:StringEquals`: {`dynamodb:LeadingKeys`:"
    " `${aws:PrincipalTag/TenantId}`}, `Null`: {`dynamodb:LeadingKeys`: `false`}}}]}";
static const char P_DDB_PREFIX[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: `dynamodb:Query`,"
    " `Resource`: `" TABLE_T "`, `Condition`:"
    " {`ForAllValues:StringLike`: {`dynamodb:LeadingKeys`: `${aws:PrincipalTag/TenantId}#*`}}}]}";
static const char P_DDB_SHORTHAND[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: `dynamodb:GetItem`,"
    " `Resource`: `" TABLE_T "`, `Condition`: {`ForAllValues:StringEquals`:"
    " {`dynamodb:LeadingKeys`: `\\u0024{tenant}`}}}]}";
static const char P_DDB_ATTRIBUTES[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Sid`: `LimitAccessToSpecificAttributes`,"
    " `Effect`: `Allow`, `Action`: [`dynamodb:UpdateItem`, `dynamodb:GetItem`, `dynamodb:Query`,"
    " `dynamodb:BatchGetItem`, `dynamodb:Scan`], `Resource`: [`arn:aws:dynamodb:us-west-2:"
    "123456789012:table/GameScores`], `Condition`: {`ForAllValues:StringEquals`:"
    " {`dynamodb:Attributes`: [`UserId`, `TopScore`]}, `StringEqualsIfExists`:"
    " {`dynamodb:Select`: `SPECIFIC_ATTRIBUTES`, `dynamodb:ReturnValues`: [`NONE`,"
    " `UPDATED_OLD`, `UPDATED_NEW`]}}}]}";

struct eval_case {
    const char *name;
    const char *policy;
    const char *action;
    const char *resource;
    const char *context;
    enum td_policy_effect want;
};

static const struct eval_case EVAL_CASES[] = {
    /* String operators */
    {"StringEquals: tag matches", P_STRING_EQUALS, "iam:CreateAccessKey", IAM_USER_ARN,
     "aws:PrincipalTag/job-category=iamuser-admin", ALLOW},
    {"StringEquals: tag missing -> false", P_STRING_EQUALS, "iam:CreateAccessKey", IAM_USER_ARN,
     NULL, NO_MATCH},
    {"StringEquals: other value", P_STRING_EQUALS, "iam:CreateAccessKey", IAM_USER_ARN,
     "aws:PrincipalTag/job-category=viewer", NO_MATCH},
    {"StringEquals: case-sensitive value", P_STRING_EQUALS, "iam:CreateAccessKey", IAM_USER_ARN,
     "aws:PrincipalTag/job-category=IAMUSER-ADMIN", NO_MATCH},
    {"key names are case-insensitive", P_STRING_EQUALS, "iam:CreateAccessKey", IAM_USER_ARN,
     "AWS:principaltag/JOB-CATEGORY=iamuser-admin", ALLOW},
    {"actions are case-insensitive", P_STRING_EQUALS, "IAM:createaccesskey", IAM_USER_ARN,
     "aws:PrincipalTag/job-category=iamuser-admin", ALLOW},
    {"iam:*AccessKey* does not cover ListUsers", P_STRING_EQUALS, "iam:ListUsers", IAM_USER_ARN,
     "aws:PrincipalTag/job-category=iamuser-admin", NO_MATCH},
    {"StringLike: own home prefix", P_HOME_DIRS, "s3:ListBucket", "arn:aws:s3:::BUCKET-NAME",
     "s3:prefix=home/david/|aws:username=david", ALLOW},
    {"StringLike: empty prefix listed", P_HOME_DIRS, "s3:ListBucket", "arn:aws:s3:::BUCKET-NAME",
     "s3:prefix=|aws:username=david", ALLOW},
    {"StringLike: other user's prefix", P_HOME_DIRS, "s3:ListBucket", "arn:aws:s3:::BUCKET-NAME",
     "s3:prefix=home/alice/|aws:username=david", NO_MATCH},
    {"variable in Resource: own object", P_HOME_DIRS, "s3:GetObject", BUCKET_HOME "david/a/b.txt",
     "aws:username=david", ALLOW},
    {"variable in Resource: own home", P_HOME_DIRS, "s3:PutObject", BUCKET_HOME "david",
     "aws:username=david", ALLOW},
    {"variable in Resource: other user", P_HOME_DIRS, "s3:GetObject", BUCKET_HOME "alice/x",
     "aws:username=david", NO_MATCH},
    {"unresolved variable in Resource matches nothing", P_HOME_DIRS, "s3:GetObject",
     BUCKET_HOME "/x", NULL, NO_MATCH},
    {"s3:::* covers any bucket", P_HOME_DIRS, "s3:GetBucketLocation", "arn:aws:s3:::other", NULL,
     ALLOW},
    {"IgnoreCase: matches other case", P_IGNORE_CASE, "svc:Do", "*",
     "aws:PrincipalTag/dept=ENGINEERING|aws:PrincipalTag/level=senior", ALLOW},
    {"NotEqualsIgnoreCase: excluded value", P_IGNORE_CASE, "svc:Do", "*",
     "aws:PrincipalTag/dept=engineering|aws:PrincipalTag/level=intern", NO_MATCH},
    {"NotEqualsIgnoreCase: missing key is true", P_IGNORE_CASE, "svc:Do", "*",
     "aws:PrincipalTag/dept=engineering", ALLOW},
    {"negated, several values: none may match", P_NOT_EQUALS_MULTI, "svc:Do", "*",
     "aws:PrincipalTag/team=c", ALLOW},
    {"negated, several values: one matches", P_NOT_EQUALS_MULTI, "svc:Do", "*",
     "aws:PrincipalTag/team=b", NO_MATCH},
    {"negated: missing key is true", P_NOT_EQUALS_MULTI, "svc:Do", "*", NULL, ALLOW},
    /* Numeric */
    {"NumericLessThanEquals: equal", P_NUMERIC, "s3:ListBucket", "arn:aws:s3:::example_bucket",
     "s3:max-keys=10", ALLOW},
    {"NumericLessThanEquals: less (decimal)", P_NUMERIC, "s3:ListBucket",
     "arn:aws:s3:::example_bucket", "s3:max-keys=9.5", ALLOW},
    {"NumericLessThanEquals: more", P_NUMERIC, "s3:ListBucket", "arn:aws:s3:::example_bucket",
     "s3:max-keys=11", NO_MATCH},
    {"Numeric: missing key is false", P_NUMERIC, "s3:ListBucket", "arn:aws:s3:::example_bucket",
     NULL, NO_MATCH},
    {"Numeric: not a number never matches", P_NUMERIC, "s3:ListBucket",
     "arn:aws:s3:::example_bucket", "s3:max-keys=ten", NO_MATCH},
    {"Numeric family: all hold", P_NUMERIC_FAMILY, "svc:Do", "*",
     "n:eq=10|n:ne=3|n:lt=-2|n:gt=100.5|n:ge=0.250", ALLOW},
    {"NumericEquals 10.0 == 010", P_NUMERIC_FAMILY, "svc:Do", "*",
     "n:eq=010|n:ne=3|n:lt=-2|n:gt=101|n:ge=1", ALLOW},
    {"NumericNotEquals: listed value", P_NUMERIC_FAMILY, "svc:Do", "*",
     "n:eq=10|n:ne=2|n:lt=-2|n:gt=101|n:ge=1", NO_MATCH},
    {"NumericLessThan: equal is not less", P_NUMERIC_FAMILY, "svc:Do", "*",
     "n:eq=10|n:ne=3|n:lt=-1.5|n:gt=101|n:ge=1", NO_MATCH},
    {"NumericGreaterThan: equal is not greater", P_NUMERIC_FAMILY, "svc:Do", "*",
     "n:eq=10|n:ne=3|n:lt=-2|n:gt=100|n:ge=1", NO_MATCH},
    {"NumericGreaterThanEquals: less", P_NUMERIC_FAMILY, "svc:Do", "*",
     "n:eq=10|n:ne=3|n:lt=-2|n:gt=101|n:ge=0.2499", NO_MATCH},
    {"-0 equals 0, -10 < -1.5", P_NUMERIC_SIGNS, "svc:Do", "*", "n:zero=-0.000|n:neg=-10", ALLOW},
    {"1 is not less than -1.5", P_NUMERIC_SIGNS, "svc:Do", "*", "n:zero=0|n:neg=1", NO_MATCH},
    {"-1.5 is not less than -1.5", P_NUMERIC_SIGNS, "svc:Do", "*", "n:zero=+0|n:neg=-1.50",
     NO_MATCH},
    /* Date */
    {"DateGreaterThan: later", P_DATE, "iam:UpdateAccessKey", IAM_USER_ARN,
     "aws:TokenIssueTime=2020-06-01T00:00:00Z", ALLOW},
    {"DateGreaterThan: earlier", P_DATE, "iam:UpdateAccessKey", IAM_USER_ARN,
     "aws:TokenIssueTime=2019-12-31T23:59:59Z", NO_MATCH},
    {"DateGreaterThan: same instant is not greater", P_DATE, "iam:UpdateAccessKey", IAM_USER_ARN,
     "aws:TokenIssueTime=2020-01-01T00:00:01Z", NO_MATCH},
    {"DateGreaterThan: IAM user has no TokenIssueTime", P_DATE, "iam:UpdateAccessKey", IAM_USER_ARN,
     NULL, NO_MATCH},
    {"Date: request in epoch seconds", P_DATE, "iam:UpdateAccessKey", IAM_USER_ARN,
     "aws:TokenIssueTime=1600000000", ALLOW},
    {"Date window: inside", P_DATE_WINDOW, "service-prefix:action-name", "*",
     "aws:CurrentTime=2017-09-15T12:00:00Z", ALLOW},
    {"Date window: after", P_DATE_WINDOW, "service-prefix:action-name", "*",
     "aws:CurrentTime=2018-01-01T00:00:00Z", NO_MATCH},
    {"Date forms: day, zone, epoch, fraction", P_DATE_FORMS, "svc:Do", "*",
     "d:day=2020-01-01T00:00:00Z|d:zone=2020-01-01T00:00:00Z|d:epoch=2020-01-01T00:00:00Z|"
     "d:ne=2020-01-01T00:00:00Z|d:le=2019-12-31T23:59:59.999Z|d:ge=2020-01-01T00:00:00Z",
     ALLOW},
    {"DateNotEquals: same instant", P_DATE_FORMS, "svc:Do", "*",
     "d:day=2020-01-01T00:00:00Z|d:zone=2020-01-01T00:00:00Z|d:epoch=1577836800|"
     "d:ne=2020-01-01T00:00:00.500Z|d:le=1577836800|d:ge=2021",
     NO_MATCH},
    {"DateGreaterThanEquals: earlier year", P_DATE_FORMS, "svc:Do", "*",
     "d:day=2020-01-01T00:00:00Z|d:zone=2020-01-01T00:00:00Z|d:epoch=1577836800|"
     "d:ne=2020-01-02|d:le=1577836800|d:ge=2019-12-31T23:59:59-01:00",
     ALLOW},
    {"Date: invalid request date never matches", P_DATE_WINDOW, "service-prefix:action-name", "*",
     "aws:CurrentTime=2017-02-30T00:00:00Z", NO_MATCH},
    /* Bool */
    {"Bool: not over TLS is denied", P_BOOL, "s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/key",
     "aws:SecureTransport=false", DENY},
    {"Bool: over TLS", P_BOOL, "s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/key",
     "aws:SecureTransport=true", NO_MATCH},
    {"Bool: case-insensitive", P_BOOL, "s3:ListBucket", "arn:aws:s3:::DOC-EXAMPLE-BUCKET",
     "aws:SecureTransport=FALSE", DENY},
    /* Binary */
    {"BinaryEquals: same bytes", P_BINARY, "svc:Do", "*",
     "key=QmluYXJ5VmFsdWVJbkJhc2U2NA==", ALLOW},
    {"BinaryEquals: other bytes", P_BINARY, "svc:Do", "*",
     "key=QmluYXJ5VmFsdWVJbkJhc2U2NQ==", NO_MATCH},
    {"BinaryEquals: not base64", P_BINARY, "svc:Do", "*", "key=BinaryValueInBase64", NO_MATCH},
    /* IP */
    {"IpAddress: inside the /24", P_IP, "someservice:Get", "*", "aws:SourceIp=203.0.113.77", ALLOW},
    {"IpAddress: outside", P_IP, "someservice:Get", "*", "aws:SourceIp=203.0.114.1", NO_MATCH},
    {"IpAddress: IPv6 inside the /64", P_IP, "someservice:Get", "*",
     "aws:SourceIp=2001:db8:1234:5678:abcd::1", ALLOW},
    {"IpAddress: IPv6 outside", P_IP, "someservice:Get", "*", "aws:SourceIp=2001:db8:1234:5679::1",
     NO_MATCH},
    {"IpAddress: VPC endpoint (no SourceIp)", P_IP, "someservice:Get", "*", NULL, NO_MATCH},
    {"NotIpAddress: outside denies", P_NOT_IP, "s3:GetObject", "*", "aws:SourceIp=198.51.100.1",
     DENY},
    {"NotIpAddress: inside the range", P_NOT_IP, "s3:GetObject", "*", "aws:SourceIp=192.0.2.200",
     NO_MATCH},
    {"NotIpAddress: the bare address is a /32", P_NOT_IP, "s3:GetObject", "*",
     "aws:SourceIp=203.0.113.9", NO_MATCH},
    {"NotIpAddress: its neighbour", P_NOT_IP, "s3:GetObject", "*", "aws:SourceIp=203.0.113.10",
     DENY},
    {"/20: last address", P_CIDR_20, "svc:Do", "*", "aws:SourceIp=10.1.31.255", ALLOW},
    {"/20: next block", P_CIDR_20, "svc:Do", "*", "aws:SourceIp=10.1.32.0", NO_MATCH},
    {"/33: inside", P_CIDR_20, "svc:Do", "*", "aws:SourceIp=2001:db8:7fff::1", ALLOW},
    {"/33: outside", P_CIDR_20, "svc:Do", "*", "aws:SourceIp=2001:db8:8000::1", NO_MATCH},
    {"IPv4-mapped IPv6 is another family", P_CIDR_20, "svc:Do", "*",
     "aws:SourceIp=::ffff:10.1.16.1", NO_MATCH},
    {"a CIDR is not a request address", P_CIDR_20, "svc:Do", "*", "aws:SourceIp=10.1.16.1/32",
     NO_MATCH},
    /* ARN */
    {"ArnEquals: the topic", P_ARN_EQUALS, "sqs:SendMessage",
     "arn:aws:sqs:REGION:123456789012:"
     "QUEUE-ID",
     "aws:SourceArn=arn:aws:sns:REGION:123456789012:TOPIC-ID", ALLOW},
    {"ArnEquals: another topic", P_ARN_EQUALS, "sqs:SendMessage",
     "arn:aws:sqs:REGION:"
     "123456789012:QUEUE-ID",
     "aws:SourceArn=arn:aws:sns:REGION:123456789012:OTHER", NO_MATCH},
    {"ArnLike: per part, * stops at colons", P_ARN_LIKE, "svc:Do", "*",
     "svc:arn=arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/"
     "document.txt",
     NO_MATCH},
    {"StringLike: * crosses colons", P_STRING_LIKE_ARN, "svc:Do", "*",
     "svc:arn=arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/"
     "document.txt",
     ALLOW},
    {"ArnLike: the intended ARN", P_ARN_LIKE, "svc:Do", "*",
     "svc:arn=arn:aws:someservice:us-east-2:111122223333:finance/q1/report.txt", ALLOW},
    {"ArnNotLike: listed topic", P_ARN_NOT_LIKE, "svc:Do", "*",
     "aws:SourceArn=arn:aws:sns:eu-west-1:123456789012:ok-1", NO_MATCH},
    {"ArnNotLike: unlisted topic", P_ARN_NOT_LIKE, "svc:Do", "*",
     "aws:SourceArn=arn:aws:sns:eu-west-1:123456789012:bad", DENY},
    {"ArnNotLike: missing key is true", P_ARN_NOT_LIKE, "svc:Do", "*", NULL, DENY},
    /* IfExists and Null */
    {"IfExists: allowed type", P_IF_EXISTS, "ec2:RunInstances", "*", "ec2:InstanceType=t2.micro",
     ALLOW},
    {"IfExists: other type", P_IF_EXISTS, "ec2:RunInstances", "*", "ec2:InstanceType=m4.large",
     NO_MATCH},
    {"IfExists: resource without the key", P_IF_EXISTS, "ec2:RunInstances", "*", NULL, ALLOW},
    {"without IfExists the missing key fails", P_DOES_NOT_WORK, "ec2:RunInstances", "*", NULL,
     NO_MATCH},
    {"Null true: long-term credentials", P_NULL, "ec2:DescribeInstances", "*", NULL, ALLOW},
    {"Null true: temporary credentials", P_NULL, "ec2:DescribeInstances", "*",
     "aws:TokenIssueTime=2020-01-01T00:00:00Z", NO_MATCH},
    {"Deny + StringNotEqualsIfExists: missing tag still denies", P_DENY_NOT_EQUALS_IF_EXISTS,
     "svc:Do", "*", NULL, DENY},
    {"Deny + StringNotEqualsIfExists: right tag", P_DENY_NOT_EQUALS_IF_EXISTS, "svc:Do", "*",
     "aws:PrincipalTag/dept=eng", NO_MATCH},
    {"Deny + StringNotEqualsIfExists: wrong tag", P_DENY_NOT_EQUALS_IF_EXISTS, "svc:Do", "*",
     "aws:PrincipalTag/dept=sales", DENY},
    /* Set operators */
    {"ForAllValues: every attribute listed", P_FOR_ALL, "dynamodb:GetItem", THREAD,
     ATTRS_FOR_ALL "+=PostDateTime|" ATTRS_FOR_ALL "+=Message", ALLOW},
    {"ForAllValues: UserName not listed", P_FOR_ALL, "dynamodb:GetItem", THREAD,
     ATTRS_FOR_ALL "+=PostDateTime|" ATTRS_FOR_ALL "+=UserName", NO_MATCH},
    {"ForAllValues: missing key is true (the docs' warning)", P_FOR_ALL, "dynamodb:GetItem", THREAD,
     NULL, ALLOW},
    {"ForAllValues: empty set is true", P_FOR_ALL, "dynamodb:GetItem", THREAD, ATTRS_FOR_ALL "[]",
     ALLOW},
    {"ForAnyValue: one forbidden attribute", P_FOR_ANY, "dynamodb:PutItem", THREAD,
     ATTRS_FOR_ALL "+=UserName|" ATTRS_FOR_ALL "+=Message|" ATTRS_FOR_ALL "+=PostDateTime", DENY},
    {"ForAnyValue: no forbidden attribute", P_FOR_ANY, "dynamodb:PutItem", THREAD,
     ATTRS_FOR_ALL "+=UserName", NO_MATCH},
    {"ForAnyValue: missing key is false", P_FOR_ANY, "dynamodb:PutItem", THREAD, NULL, NO_MATCH},
    {"ForAnyValue: empty set is false", P_FOR_ANY, "dynamodb:PutItem", THREAD, ATTRS_FOR_ALL "[]",
     NO_MATCH},
    {"ForAllValues:StringNotLike: key1 only", P_FOR_ALL_NOT_LIKE, "iam:TagUser", "*",
     "aws:TagKeys+=key1:legal", NO_MATCH},
    {"ForAllValues:StringNotLike: two key1 tags", P_FOR_ALL_NOT_LIKE, "iam:TagUser", "*",
     "aws:TagKeys+=key1:hr|aws:TagKeys+=key1:personnel", NO_MATCH},
    {"ForAllValues:StringNotLike: key2 tag", P_FOR_ALL_NOT_LIKE, "iam:TagUser", "*",
     "aws:TagKeys+=key2:audit", DENY},
    {"ForAllValues:StringNotLike: no tags at all", P_FOR_ALL_NOT_LIKE, "iam:UnTagUser", "*", NULL,
     DENY},
    {"Null guard + ForAllValues: all prefixed", P_FOR_ALL_GUARDED, "iam:TagRole", "*",
     "aws:TagKeys+=key1:a|aws:TagKeys+=key3:b", DENY},
    {"Null guard + ForAllValues: one other tag", P_FOR_ALL_GUARDED, "iam:TagRole", "*",
     "aws:TagKeys+=key1:a|aws:TagKeys+=other", NO_MATCH},
    {"Null guard: missing key no longer true", P_FOR_ALL_GUARDED, "iam:TagRole", "*", NULL,
     NO_MATCH},
    {"Null guard: empty set is null", P_FOR_ALL_GUARDED, "iam:TagRole", "*", "aws:TagKeys[]",
     NO_MATCH},
    {"ForAnyValue:StringEquals: webserver", P_FOR_ANY_EQUALS, "ec2:CreateSnapshot", "*",
     "aws:TagKeys+=webserver", DENY},
    {"ForAnyValue:StringEquals: among others", P_FOR_ANY_EQUALS, "ec2:CreateSnapshot", "*",
     "aws:TagKeys+=environment|aws:TagKeys+=webserver|aws:TagKeys+=test", DENY},
    {"ForAnyValue:StringEquals: none listed", P_FOR_ANY_EQUALS, "ec2:CreateSnapshot", "*",
     "aws:TagKeys+=test", NO_MATCH},
    {"ForAnyValue:StringEquals: no tags", P_FOR_ANY_EQUALS, "ec2:CreateSnapshot", "*", NULL,
     NO_MATCH},
    {"ForAllValues:StringNotLike allow: null", P_FOR_ALL_NOT_LIKE_ALLOW, "iam:TagRole", "*", NULL,
     ALLOW},
    {"ForAllValues:StringNotLike allow: Owner and State", P_FOR_ALL_NOT_LIKE_ALLOW, "iam:TagRole",
     "*", "aws:TagKeys+=Owner:Legal|aws:TagKeys+=State:NY", NO_MATCH},
    {"ForAllValues:StringNotLike allow: lower-case owner", P_FOR_ALL_NOT_LIKE_ALLOW, "iam:TagRole",
     "*", "aws:TagKeys+=owner:Legal", ALLOW},
    {"ForAllValues:StringNotLike allow: State with long value", P_FOR_ALL_NOT_LIKE_ALLOW,
     "iam:TagRole", "*", "aws:TagKeys+=owner:Legal|aws:TagKeys+=State:NewYork", ALLOW},
    {"ForAnyValue:StringNotEquals: one unlisted", P_FOR_ANY_NOT_EQUALS, "iam:TagRole", "*",
     "aws:TagKeys+=a|aws:TagKeys+=z", ALLOW},
    {"ForAnyValue:StringNotEquals: all listed", P_FOR_ANY_NOT_EQUALS, "iam:TagRole", "*",
     "aws:TagKeys+=a|aws:TagKeys+=b", NO_MATCH},
    /* Policy variables */
    {"${aws:username} in Resource", P_USERNAME_KEYS, "iam:CreateAccessKey",
     "arn:aws:iam::account-id:user/David", "aws:username=David", ALLOW},
    {"${aws:username}: another user", P_USERNAME_KEYS, "iam:CreateAccessKey",
     "arn:aws:iam::account-id:user/Adele", "aws:username=David", NO_MATCH},
    {"no Version: variables are literal", P_USERNAME_NO_VERSION, "iam:CreateAccessKey",
     UNSUBSTITUTED, "aws:username=David", ALLOW},
    {"no Version: not substituted", P_USERNAME_NO_VERSION, "iam:CreateAccessKey",
     "arn:aws:iam::account-id:user/David", "aws:username=David", NO_MATCH},
    {"2008-10-17: not substituted", P_USERNAME_2008, "iam:CreateAccessKey",
     "arn:aws:iam::account-id:user/David", "aws:username=David", NO_MATCH},
    {"queue named after the user", P_QUEUES, "sqs:SendMessage",
     "arn:aws:sqs:us-east-2:123456789012:david-queue", "aws:username=david", ALLOW},
    {"queue in another region", P_QUEUES, "sqs:SendMessage",
     "arn:aws:sqs:us-west-2:123456789012:david-queue", "aws:username=david", NO_MATCH},
    {"default value: tag present", P_TEAM_DEFAULT, "s3:GetObject",
     "arn:aws:s3:::amzn-s3-demo-bucket/eng/x", "aws:PrincipalTag/team=eng", ALLOW},
    {"default value: tag missing", P_TEAM_DEFAULT, "s3:GetObject",
     "arn:aws:s3:::amzn-s3-demo-bucket/company-wide/x", NULL, ALLOW},
    {"default value: not for other teams", P_TEAM_DEFAULT, "s3:GetObject",
     "arn:aws:s3:::amzn-s3-demo-bucket/eng/x", NULL, NO_MATCH},
    {"${*} ${?} ${$} are literal characters", P_SPECIALS, "svc:Do", "*",
     "k:eq=a*b?c$|k:like=x*anything", ALLOW},
    {"${*} is not a wildcard under StringEquals", P_SPECIALS, "svc:Do", "*",
     "k:eq=axb?c$|k:like=x*anything", NO_MATCH},
    {"${*} is not a wildcard under StringLike", P_SPECIALS, "svc:Do", "*", "k:eq=a*b?c$|k:like=xyz",
     NO_MATCH},
    {"malformed references are text, names trimmed", P_VAR_SYNTAX, "svc:Do", "*",
     "k:lit=${a, x}${b, 'y' z}${ }${c|k:trim=david/david|aws:username=david", ALLOW},
    {"one unresolved reference spoils the value", P_VAR_SYNTAX, "svc:Do", "*",
     "k:lit=${a, x}${b, 'y' z}${ }${c|k:trim=/anon", NO_MATCH},
    {"a tag value's * is literal", P_TAG_IN_RESOURCE, "s3:GetObject",
     "arn:aws:s3:::bucket/finance/report", "aws:PrincipalTag/department=*", NO_MATCH},
    {"a tag value's * matches itself", P_TAG_IN_RESOURCE, "s3:GetObject",
     "arn:aws:s3:::bucket/*/report", "aws:PrincipalTag/department=*", ALLOW},
    {"principal tag keys are case-insensitive", P_TAG_IN_RESOURCE, "s3:GetObject",
     "arn:aws:s3:::bucket/hr/x", "aws:principaltag/DEPARTMENT=hr", ALLOW},
    {"variable in condition: own endpoint", P_VAR_IN_CONDITION, "sns:Subscribe", "*",
     "sns:endpoint=https://example.com/david/|sns:Protocol=https|aws:username=david", ALLOW},
    {"variable in condition: unresolved does not match", P_VAR_IN_CONDITION, "sns:Subscribe", "*",
     "sns:endpoint=https://example.com//|sns:Protocol=https", NO_MATCH},
    {"unresolved value under a negated operator matches nothing", P_VAR_NEGATED, "svc:Do", "*",
     "svc:owner=x", ALLOW},
    {"a multivalued key is no variable", P_VAR_MULTI, "svc:Do", "*", "svc:owner=v|svc:multi+=v",
     NO_MATCH},
    {"variables in ArnLike and Bool", P_VAR_ARN_BOOL, "svc:Do", "*",
     "aws:SourceArn=arn:aws:sns:us-east-1:123456789012:david-events|svc:flag=true|"
     "aws:PrincipalTag/flag=TRUE|aws:username=david",
     ALLOW},
    {"variable in ArnLike: other user", P_VAR_ARN_BOOL, "svc:Do", "*",
     "aws:SourceArn=arn:aws:sns:us-east-1:123456789012:eve-events|svc:flag=true|"
     "aws:PrincipalTag/flag=true|aws:username=david",
     NO_MATCH},
    {"variable names are case-insensitive", P_VAR_CASE, "svc:Do", "arn:aws:svc:::david",
     "aws:username=david", ALLOW},
    /* Action, Resource, evaluation logic */
    {"Allow + NotAction: other service", P_NOT_ACTION_ALLOW, "s3:GetObject", "*", NULL, ALLOW},
    {"Allow + NotAction: excluded", P_NOT_ACTION_ALLOW, "iam:CreateUser", "*", NULL, NO_MATCH},
    {"Deny + NotAction: denies the rest", P_NOT_ACTION_DENY, "s3:GetObject", "*", NULL, DENY},
    {"Deny + NotAction: listed action stays allowed", P_NOT_ACTION_DENY, "sts:GetCallerIdentity",
     "*", NULL, ALLOW},
    {"NotResource: elsewhere", P_NOT_RESOURCE, "s3:GetObject", "arn:aws:s3:::public/x", NULL,
     ALLOW},
    {"NotResource: excluded bucket", P_NOT_RESOURCE, "s3:GetObject", "arn:aws:s3:::secret/x", NULL,
     NO_MATCH},
    {"per-segment: any region and account", P_ARN_SEGMENTS, "dynamodb:Query",
     "arn:aws:dynamodb:eu-west-3:999999999999:table/Books", NULL, ALLOW},
    {"per-segment: an index is another resource", P_ARN_SEGMENTS, "dynamodb:Query",
     "arn:aws:dynamodb:eu-west-3:999999999999:table/Books/index/ByAuthor", NULL, NO_MATCH},
    {"per-segment: ? in region and account, * crosses /", P_ARN_SEGMENTS, "dynamodb:Query",
     "arn:aws:dynamodb:us-east-1:123456789012:table/GamesTop/index/ByScore", NULL, ALLOW},
    {"per-segment: ? is one character", P_ARN_SEGMENTS, "dynamodb:Query",
     "arn:aws:dynamodb:us-east-1:1234567890123:table/Games", NULL, NO_MATCH},
    {"resource part may hold colons", P_ARN_COLONS, "logs:PutLogEvents",
     "arn:aws:logs:us-east-1:123456789012:log-group:app:log-stream:s1", NULL, ALLOW},
    {"resource part: other log group", P_ARN_COLONS, "logs:PutLogEvents",
     "arn:aws:logs:us-east-1:123456789012:log-group:db:log-stream:s1", NULL, NO_MATCH},
    {"? in an action", P_ACTION_GLOB, "s3:GetObject", "*", NULL, ALLOW},
    {"? is exactly one character", P_ACTION_GLOB, "s3:GetObbject", "*", NULL, NO_MATCH},
    {"* in an action", P_ACTION_GLOB, "EC2:describeinstances", "*", NULL, ALLOW},
    {"explicit deny wins", P_DENY_WINS, "s3:DeleteBucket", "arn:aws:s3:::b", NULL, DENY},
    {"deny does not touch other actions", P_DENY_WINS, "s3:GetObject", "arn:aws:s3:::b/k", NULL,
     ALLOW},
    /* DynamoDB fine-grained access control */
    {"FGAC: own items", P_DDB_USER_ITEMS, "dynamodb:GetItem", GAMES,
     "www.amazon.com:user_id=amzn1.u1|dynamodb:LeadingKeys+=amzn1.u1", ALLOW},
    {"FGAC: someone else's items", P_DDB_USER_ITEMS, "dynamodb:GetItem", GAMES,
     "www.amazon.com:user_id=amzn1.u1|dynamodb:LeadingKeys+=amzn1.u2", NO_MATCH},
    {"FGAC: a batch with one foreign key", P_DDB_USER_ITEMS, "dynamodb:BatchGetItem", GAMES,
     "www.amazon.com:user_id=amzn1.u1|dynamodb:LeadingKeys+=amzn1.u1|"
     "dynamodb:LeadingKeys+=amzn1.u2",
     NO_MATCH},
    {"FGAC: Scan is not listed", P_DDB_USER_ITEMS, "dynamodb:Scan", GAMES,
     "www.amazon.com:user_id=amzn1.u1", NO_MATCH},
    {"tenant: own partition", P_DDB_TENANT_WITH_SCAN, "dynamodb:GetItem", TABLE_T,
     TAG_T1 "|dynamodb:LeadingKeys+=t1", ALLOW},
    {"tenant: other partition", P_DDB_TENANT_WITH_SCAN, "dynamodb:GetItem", TABLE_T,
     TAG_T1 "|dynamodb:LeadingKeys+=t2", NO_MATCH},
    {"tenant: no TenantId tag", P_DDB_TENANT_WITH_SCAN, "dynamodb:GetItem", TABLE_T,
     "dynamodb:LeadingKeys+=t1", NO_MATCH},
    {"tenant: Scan passes ForAllValues (AWS behaviour)", P_DDB_TENANT_WITH_SCAN, "dynamodb:Scan",
     TABLE_T, TAG_T1, ALLOW},
    {"tenant: the Null guard stops Scan", P_DDB_TENANT_GUARDED, "dynamodb:Scan", TABLE_T, TAG_T1,
     NO_MATCH},
    {"tenant: the guard keeps item access", P_DDB_TENANT_GUARDED, "dynamodb:GetItem", TABLE_T,
     TAG_T1 "|dynamodb:LeadingKeys+=t1", ALLOW},
    {"prefix: own prefix", P_DDB_PREFIX, "dynamodb:Query", TABLE_T,
     TAG_T1 "|dynamodb:LeadingKeys+=t1#orders", ALLOW},
    {"prefix: a longer tenant id", P_DDB_PREFIX, "dynamodb:Query", TABLE_T,
     TAG_T1 "|dynamodb:LeadingKeys+=t10#orders", NO_MATCH},
    {"prefix: the bare tenant id", P_DDB_PREFIX, "dynamodb:Query", TABLE_T,
     TAG_T1 "|dynamodb:LeadingKeys+=t1", NO_MATCH},
    {"${tenant} is the TenantId tag at evaluation time", P_DDB_SHORTHAND, "dynamodb:GetItem",
     TABLE_T, TAG_T1 "|dynamodb:LeadingKeys+=t1", ALLOW},
    {"${tenant}: another tenant's key", P_DDB_SHORTHAND, "dynamodb:GetItem", TABLE_T,
     TAG_T1 "|dynamodb:LeadingKeys+=t2", NO_MATCH},
    {"${tenant}: a session without the tag", P_DDB_SHORTHAND, "dynamodb:GetItem", TABLE_T,
     "tenant=t1|dynamodb:LeadingKeys+=t1", NO_MATCH},
    {"attributes: listed ones", P_DDB_ATTRIBUTES, "dynamodb:GetItem", GAMES,
     "dynamodb:Attributes+=UserId|dynamodb:Attributes+=TopScore|"
     "dynamodb:Select=SPECIFIC_ATTRIBUTES",
     ALLOW},
    {"attributes: Select ALL_ATTRIBUTES", P_DDB_ATTRIBUTES, "dynamodb:Query", GAMES,
     "dynamodb:Attributes+=UserId|dynamodb:Select=ALL_ATTRIBUTES", NO_MATCH},
    {"attributes: ReturnValues ALL_OLD", P_DDB_ATTRIBUTES, "dynamodb:UpdateItem", GAMES,
     "dynamodb:Attributes+=TopScore|dynamodb:ReturnValues=ALL_OLD", NO_MATCH},
    {"attributes: an unlisted attribute", P_DDB_ATTRIBUTES, "dynamodb:GetItem", GAMES,
     "dynamodb:Attributes+=UserId|dynamodb:Attributes+=Wins", NO_MATCH},
};

static void test_eval_table(void **state)
{
    (void)state;
    size_t failures = 0;
    for (size_t i = 0; i < TD_ARRAY_SIZE(EVAL_CASES); i++) {
        const struct eval_case *c = &EVAL_CASES[i];
        struct td_policy *p = parse_ok(c->policy);
        struct td_policy_ctx *ctx = make_context(c->action, c->resource, c->context);
        struct td_policy_result res;
        assert_int_equal(td_policy_evaluate(p, ctx, &res), 0);
        if (res.effect != c->want) {
            print_message("case %zu \"%s\": got %s, want %s\n", i, c->name, effect_name(res.effect),
                          effect_name(c->want));
            failures++;
        }
        td_policy_ctx_free(ctx);
        td_policy_free(p);
    }
    print_message("%zu evaluation cases\n", TD_ARRAY_SIZE(EVAL_CASES));
    assert_int_equal(failures, 0);
}

static void test_deciding_statement(void **state)
{
    (void)state;
    _cleanup_policy_ struct td_policy *p = parse_ok(P_DENY_WINS);
    _cleanup_policy_ctx_ struct td_policy_ctx *ctx =
        make_context("s3:DeleteBucket", "arn:aws:s3:::b", NULL);
    struct td_policy_result res;
    assert_int_equal(td_policy_evaluate(p, ctx, &res), 0);
    assert_int_equal(res.effect, DENY);
    assert_int_equal(res.statement, 1);
    assert_int_equal(td_policy_ctx_set_request(ctx, "s3:PutObject", "arn:aws:s3:::b/k"), 0);
    assert_int_equal(td_policy_evaluate(p, ctx, &res), 0);
    assert_int_equal(res.effect, ALLOW);
    assert_int_equal(res.statement, 0);
    assert_int_equal(td_policy_statement_count(p), 2);
    assert_true(td_policy_uses_variables(p));
}

/* ---- parse errors -------------------------------------------------------------------------- */

struct parse_case {
    const char *policy;
    const char *message; /* expected message, or its start when it ends with "..." */
};

#define STMT(body) "{`Version`: `2012-10-17`, `Statement`: {" body "}}"
#define OK_AR      "`Action`: `s3:ListBucket`, `Resource`: `arn:aws:s3:::example_bucket`"
#define SYNTAX     "Syntax errors in policy. ("

static const struct parse_case PARSE_CASES[] = {
    {"This is not a json document", SYNTAX "JSON: ..."},
    {"", SYNTAX "JSON: ..."},
    {"[]", SYNTAX "the policy must be a JSON object)"},
    {"{`Version`: `2013-10-17`, `Statement`: {`Effect`: `Allow`, " OK_AR "}}",
     SYNTAX "Version must be \"2012-10-17\" or \"2008-10-17\", not \"2013-10-17\")"},
    {"{`Version`: `2012-10-17`}", SYNTAX "the policy has no Statement)"},
    {"{`Version`: `2012-10-17`, `Statement`: [`afd`]}", SYNTAX "Statement[0] is not an object)"},
    {"{`Version`: `2012-10-17`, `Statement`: []}", SYNTAX "Statement is an empty array)"},
    {"{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, " OK_AR "}, `Extra field`: 1}",
     SYNTAX "unknown top-level element \"Extra field\")"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Extra field`: `value`"),
     SYNTAX "Statement[0]: unknown element \"Extra field\")"},
    {"{`Version`: `2012-10-17`, `Id`: [`x`], `Statement`: {`Effect`: `Allow`, " OK_AR "}}",
     SYNTAX "Id must be a string)"},
    {STMT("`Effect`: `invalid`, " OK_AR),
     SYNTAX "Statement[0]: Effect must be \"Allow\" or \"Deny\", not \"invalid\")"},
    {STMT(OK_AR), SYNTAX "Statement[0] has no Effect)"},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: {`a`: `b`}"),
     SYNTAX "Statement[0].Resource must be a string or an array of strings)"},
    {STMT("`Effect`: `Deny`, `Action`: [[]], `Resource`: `*`"),
     SYNTAX "Statement[0].Action[0] is not a string)"},
    {STMT("`Effect`: `Allow`, `NotAction`: `s3:x`, `Action`: `iam:dsf`, `Resource`: `*`"),
     SYNTAX "Statement[0] has both Action and NotAction)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `NotResource`: `*`"),
     SYNTAX "Statement[0] has both Resource and NotResource)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: []"),
     SYNTAX "Statement[0].Condition must be an object)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`DateGreaterThan`: `b`}"),
     SYNTAX "Statement[0]: the Condition operator DateGreaterThan must map keys to values)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`DateGreaterThan`: {`a`: {}}}"),
     SYNTAX "DateGreaterThan: the values of a must be strings, numbers or booleans)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`x`: {`a`: `1`}}"),
     SYNTAX "Statement[0]: invalid Condition operator: x)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`StringEqualz`: {`a`: `1`}}"),
     SYNTAX "Statement[0]: invalid Condition operator: StringEqualz)"},
    {STMT("`Effect`: `Allow`, " OK_AR
          ", `Condition`: {`ForAnyValue::StringEqualsIfExists`: {`a`: `asf`}}"),
     SYNTAX "Statement[0]: invalid Condition operator: ForAnyValue::StringEqualsIfExists)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`NullIfExists`: {`a`: `true`}}"),
     SYNTAX "Statement[0]: NullIfExists: Null takes no IfExists and no set operator)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`Null`: {`a`: `maybe`}}"),
     SYNTAX "Null: \"maybe\" is not true or false)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`NumericEquals`: {`a`: `${aws:x}`}}"),
     SYNTAX "NumericEquals: \"${aws:x}\" is not a number)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`NumericLessThan`: {`a`: `0x10`}}"),
     SYNTAX "NumericLessThan: \"0x10\" is not a number)"},
    {STMT("`Effect`: `Allow`, " OK_AR
          ", `Condition`: {`IpAddress`: {`aws:SourceIp`: `1.2.3.4/33`}}"),
     SYNTAX "IpAddress: \"1.2.3.4/33\" is not an IP address or CIDR block)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`BinaryEquals`: {`k`: `not base64!`}}"),
     SYNTAX "BinaryEquals: \"not base64!\" is not base64)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`StringEquals`: {`k`: null}}"),
     SYNTAX "StringEquals: the values of k must be strings, numbers or booleans)"},
    {STMT("`Sid`: {}, `Effect`: `Allow`, " OK_AR), SYNTAX "Statement[0].Sid must be a string)"},
    {"{`Version`: `2012-10-17`, `Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, " OK_AR
     "}}",
     SYNTAX "JSON: duplicate object key near '\"Version\"' at line 1 column ..."},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`StringEquals`: {`a`: `1`, `a`: `2`}}"),
     SYNTAX "JSON: duplicate object key ..."},
    {STMT("`Effect`: `Allow`, `Principal`: {`AWS`: `*`}, " OK_AR),
     "Policy document should not specify a principal."},
    {STMT("`Effect`: `Allow`, `NotPrincipal`: {`AWS`: `*`}, " OK_AR),
     "Policy document should not specify a principal."},
    {STMT("`Effect`: `denY`, " OK_AR), "The policy failed legacy parsing"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`DateGreaterThan`: {`a`: `sdfdsf`}}"),
     "The policy failed legacy parsing"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`DateLessThanEquals`: {`a`: `234-13`}}"),
     "The policy failed legacy parsing"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`DateLessThan`: {`a`:"
          " `9223372036854775808`}}"),
     "The policy failed legacy parsing"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`DateEquals`: {`a`: `2023-02-29`}}"),
     "The policy failed legacy parsing"},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: `arn:aws:s3::example_bucket`"),
     "The policy failed legacy parsing"},
    {STMT("`Effect`: `Allow`, `NotAction`: `s3:ListBucket`, `Resource`: `arn:aws::::bucket`"),
     "The policy failed legacy parsing"},
    {"{`Version`: `2012-10-17`, `Statement`: [{`Sid`: `sdf`, `Effect`: `Allow`, " OK_AR "},"
     " {`Sid`: `sdf`, `Effect`: `Allow`, " OK_AR "}]}",
     "Statement IDs (SID) in a single policy must be unique."},
    {STMT("`Sid`: `my-sid`, `Effect`: `Allow`, " OK_AR),
     "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular "
     "expression [0-9A-Za-z]*"},
    {STMT("`Effect`: `Allow`, `Resource`: `arn:aws:s3:::example_bucket`"),
     "Policy statement must contain actions."},
    {STMT("`Effect`: `Allow`, `Action`: [], `Resource`: `arn:aws:s3:::example_bucket`"),
     "Policy statement must contain actions."},
    {"{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Deny`}, {`Effect`: `Allow`, " OK_AR "}]}",
     "Policy statement must contain actions."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`"),
     "Policy statement must contain resources."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: []"),
     "Policy statement must contain resources."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: `invalid resource`"),
     "Resource invalid resource must be in ARN format or \"*\"."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: ``"),
     "Resource  must be in ARN format or \"*\"."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: [`arn:error:s3:::b`]"),
     "Partition \"error\" is not valid for resource \"arn:error:s3:::b\"."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: `arn:aws`"),
     "Resource vendor must be fully qualified and cannot contain regexes."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: `arn:aws:s*:::bucket`"),
     "Resource vendor must be fully qualified and cannot contain regexes."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`:"
          " `arn:aws:iam:us-east-1::example_bucket`"),
     "IAM resource arn:aws:iam:us-east-1::example_bucket cannot contain region information."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`:"
          " `arn:aws:s3:us-east-1::example_bucket`"),
     "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."},
    {STMT("`Effect`: `Allow`, `Action`: `invalid`, "
          "`Resource`: `*`"),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
    {STMT("`Effect`: `Allow`, `NotAction`: ``, `Resource`: `*`"),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
    {STMT("`Effect`: `Allow`, `Action`: `s3:List:Bucket`, `Resource`: `*`"),
     "Actions/Condition can contain only one colon."},
    {STMT("`Effect`: `Allow`, `Action`: `a a:ListBucket`, `Resource`: `*`"),
     "Vendor a a is not valid"},
    {STMT("`Effect`: `Allow`, `Action`: `*:Get*`, `Resource`: `*`"), "Vendor * is not valid"},
    {"{`Version`: `2012-10-17`, `Statement`: {`Sid`: `caf\\u00e9\\u0101`, `Effect`: `Allow`, " OK_AR
     "}}",
     SYNTAX "Sid holds character U+0101, which a policy may not contain)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`StringEquals`: {`a`: `\x01`}}"),
     SYNTAX "character U+0001 is not allowed; a policy may hold TAB, LF, CR and U+0020 to "
            "U+00FF)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`StringEquals`: {`a`: `\xe2\x82\xac`}}"),
     SYNTAX "character U+20AC is not allowed; a policy may hold TAB, LF, CR and U+0020 to "
            "U+00FF)"},
    {STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`StringEquals`: {`a`: `\xc3`}}"),
     SYNTAX "the policy is not valid UTF-8)"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    size_t failures = 0;
    for (size_t i = 0; i < TD_ARRAY_SIZE(PARSE_CASES); i++) {
        const struct parse_case *c = &PARSE_CASES[i];
        _cleanup_free_ char *json = unquote(c->policy);
        struct td_err err = {0};
        struct td_policy *p = NULL;
        int r = td_policy_parse(json, strlen(json), 0, &p, &err);
        size_t want = strlen(c->message);
        bool prefix = want > 3 && strcmp(c->message + want - 3, "...") == 0;
        bool same = prefix ? strncmp(err.message, c->message, want - 3) == 0
                           : strcmp(err.message, c->message) == 0;
        if (r != -EINVAL || p || err.status != 400 || strcmp(err.type, TD_POLICY_ERR_TYPE) != 0 ||
            !same) {
            print_message("parse case %zu: r=%d status=%d type=%s\n  got:  %s\n  want: %s\n", i, r,
                          err.status, err.type, err.message, c->message);
            failures++;
        }
        td_policy_free(p);
    }
    print_message("%zu parse-error cases\n", TD_ARRAY_SIZE(PARSE_CASES));
    assert_int_equal(failures, 0);
}

static const char *const VALID_POLICIES[] = {
    STMT("`Effect`: `Allow`, `Action`: `iam: asdf safdsf af `, `Resource`: `*`"),
    STMT("`Effect`: `Allow`, `Action`: `*`, `Resource`: [`arn:aws:s3:::example_bucket`, `*`]"),
    STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {}"),
    STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`DateGreaterThan`: {}}"),
    STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`DateGreaterThan`: {`a`: []}}"),
    STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: `arn:aws:fdsasf`"),
    STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`: `arn:aws:iam:::user/x`"),
    STMT("`Effect`: `Allow`, `Action`: `s3:ListBucket`, `Resource`:"
         " `arn:aws:cloudwatch:us-east-1::example_bucket`"),
    STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`ForAllValues:StringEquals`:"
         " {`aws:TagKeys`: `Department`}}"),
    STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`ForAllValues:StringEqualsIfExists`:"
         " {`aws:TagKeys`: [`a`, 1, 2.5, true]}}"),
    STMT("`Sid`: ``, `Effect`: `Deny`, " OK_AR),
    "{`Id`: `x`, `Statement`: [{`Sid`: `A1`, `Effect`: `Allow`, " OK_AR "},"
    " {`Sid`: `A2`, `Effect`: `Allow`, " OK_AR "}]}",
    "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, " OK_AR ", `Condition`:"
    " {`StringEquals`: {`k`: `caf\xc3\xa9 \\u00ff`}}}}",
    STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`DateEquals`: {`a`: [`2016-12-13t02:00:00"
         ".593194+01`, `2016-12-13T02:00Z`, `2016-12`, `0`]}}"),
    STMT("`Effect`: `Allow`, " OK_AR ", `Condition`: {`IpAddress`: {`a`: [`10.0.0.0/8`, `::/0`,"
         " `fe80::1`]}}"),
};

static void test_valid_policies(void **state)
{
    (void)state;
    for (size_t i = 0; i < TD_ARRAY_SIZE(VALID_POLICIES); i++)
        td_policy_free(parse_ok(VALID_POLICIES[i]));
}

/* A valid policy with exactly `chars` characters other than white space, and some white space. */
static void policy_of_size(struct td_buf *b, size_t chars)
{
    const char *head = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
                       "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::";
    const char *tail = "\"}}\n\t   \r\n";
    size_t fixed = strlen(head) + strlen("\"}}");
    td_buf_reset(b);
    assert_int_equal(td_buf_puts(b, head), 0);
    for (size_t i = fixed; i < chars; i++)
        assert_int_equal(td_buf_puts(b, "b"), 0);
    assert_int_equal(td_buf_puts(b, tail), 0);
}

static void test_size_caps(void **state)
{
    (void)state;
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(1 << 20);
    struct td_err err = {0};
    struct td_policy *p = NULL;
    policy_of_size(&b, TD_POLICY_MAX_SESSION_CHARS);
    assert_int_equal(td_policy_parse(b.data, b.len, TD_POLICY_MAX_SESSION_CHARS, &p, &err), 0);
    td_policy_free(p);
    p = NULL;
    policy_of_size(&b, TD_POLICY_MAX_SESSION_CHARS + 1);
    assert_int_equal(td_policy_parse(b.data, b.len, TD_POLICY_MAX_SESSION_CHARS, &p, &err), -E2BIG);
    assert_null(p);
    assert_int_equal(err.status, 409);
    assert_string_equal(err.type, TD_POLICY_LIMIT_TYPE);
    assert_string_equal(err.message, "Maximum policy size of 2048 characters exceeded.");
    /* The identity cap (0 = default) takes it, up to 10240. */
    assert_int_equal(td_policy_parse(b.data, b.len, 0, &p, &err), 0);
    td_policy_free(p);
    p = NULL;
    policy_of_size(&b, TD_POLICY_MAX_IDENTITY_CHARS + 1);
    assert_int_equal(td_policy_parse(b.data, b.len, 0, &p, &err), -E2BIG);
    /* A cap above the limit is clamped. */
    assert_int_equal(td_policy_parse(b.data, b.len, (size_t)-1, &p, &err), 0);
    td_policy_free(p);
}

/* ---- context ------------------------------------------------------------------------------- */

static void test_context(void **state)
{
    (void)state;
    _cleanup_policy_ctx_ struct td_policy_ctx *ctx = td_policy_ctx_new();
    assert_non_null(ctx);
    assert_string_equal(td_policy_ctx_action(ctx), "");
    assert_int_equal(td_policy_ctx_set(ctx, "", "x"), -EINVAL);
    assert_int_equal(td_policy_ctx_set(ctx, "k", NULL), -EINVAL);
    assert_int_equal(td_policy_ctx_set_principal_tag(ctx, "TenantId", "t1"), 0);
    assert_int_equal(td_policy_ctx_set(ctx, "AWS:PRINCIPALTAG/tenantid", "t2"), 0); /* replaces */
    assert_int_equal(td_policy_ctx_add(ctx, "k", "a"), 0);
    assert_int_equal(td_policy_ctx_add(ctx, "K", "b"), 0);
    assert_int_equal(td_policy_ctx_unset(ctx, "k"), 0);
    assert_int_equal(td_policy_ctx_unset(ctx, "k"), 0);
    _cleanup_free_ char *big = malloc(TD_POLICY_CTX_MAX_VALUE_LEN + 2);
    assert_non_null(big);
    memset(big, 'a', TD_POLICY_CTX_MAX_VALUE_LEN + 1);
    big[TD_POLICY_CTX_MAX_VALUE_LEN + 1] = '\0';
    assert_int_equal(td_policy_ctx_set(ctx, "k", big), -E2BIG);
    for (int i = 0; i < TD_POLICY_CTX_MAX_VALUES; i++)
        assert_int_equal(td_policy_ctx_add(ctx, "many", "v"), 0);
    assert_int_equal(td_policy_ctx_add(ctx, "many", "v"), -E2BIG);

    _cleanup_policy_ struct td_policy *p =
        parse_ok(STMT("`Effect`: `Allow`, `Action`: `svc:Do`, `Resource`: `*`, `Condition`:"
                      " {`StringEquals`: {`aws:PrincipalTag/TenantId`: `t2`}}"));
    assert_int_equal(td_policy_ctx_set_request(ctx, "svc:Do", "*"), 0);
    struct td_policy_result res;
    assert_int_equal(td_policy_evaluate(p, ctx, &res), 0);
    assert_int_equal(res.effect, ALLOW);
}

/* ---- authorization ------------------------------------------------------------------------- */

static const char ID_ITEMS[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: `dynamodb:*`,"
    " `Resource`: `arn:aws:dynamodb:us-east-1:123456789012:table/*`}, {`Effect`: `Deny`,"
    " `Action`: `dynamodb:DeleteTable`, `Resource`: `*`}]}";
static const char SESSION_T1[] =
    "{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: [`dynamodb:GetItem`,"
    " `dynamodb:PutItem`, `dynamodb:DeleteTable`], `Resource`: `" TABLE_T "`, `Condition`:"
    " {`ForAllValues:StringEquals`: {`dynamodb:LeadingKeys`: `${aws:PrincipalTag/TenantId}`},"
    " `Null`: {`dynamodb:LeadingKeys`: `false`}}}, {`Effect`: `Deny`, `Action`:"
    " `dynamodb:PutItem`, `Resource`: `*`, `Condition`: {`StringEquals`: {`aws:PrincipalTag/"
    "readonly`: `true`}}}]}";

#define PRINCIPAL "arn:aws:sts::123456789012:assumed-role/R/S"

struct auth_case {
    const char *action;
    const char *resource;
    const char *context;
    bool with_session;
    enum td_policy_reason want;
    const char *message;
};

static const struct auth_case AUTH_CASES[] = {
    {"dynamodb:GetItem", TABLE_T, TAG_T1 "|dynamodb:LeadingKeys+=t1", true, TD_POLICY_ALLOWED,
     NULL},
    {"dynamodb:GetItem", TABLE_T, TAG_T1 "|dynamodb:LeadingKeys+=t2", true,
     TD_POLICY_DENY_NO_SESSION_ALLOW,
     "User: " PRINCIPAL " is not authorized to perform: dynamodb:GetItem on resource: " TABLE_T
     " because no session policy allows the dynamodb:GetItem action"},
    {"dynamodb:GetItem", TABLE_T, TAG_T1 "|dynamodb:LeadingKeys+=t2", false, TD_POLICY_ALLOWED,
     NULL},
    {"s3:GetObject", "arn:aws:s3:::b/k", TAG_T1, true, TD_POLICY_DENY_NO_IDENTITY_ALLOW,
     "User: " PRINCIPAL " is not authorized to perform: s3:GetObject on resource: "
     "arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action"},
    {"dynamodb:DeleteTable", TABLE_T, TAG_T1 "|dynamodb:LeadingKeys+=t1", true,
     TD_POLICY_DENY_IDENTITY_EXPLICIT,
     "User: " PRINCIPAL " is not authorized to perform: dynamodb:DeleteTable on resource: " TABLE_T
     " with an explicit deny in an identity-based policy"},
    {"dynamodb:PutItem", TABLE_T,
     TAG_T1 "|aws:PrincipalTag/readonly=true|"
            "dynamodb:LeadingKeys+=t1",
     true, TD_POLICY_DENY_SESSION_EXPLICIT,
     "User: " PRINCIPAL " is not authorized to perform: dynamodb:PutItem on resource: " TABLE_T
     " with an explicit deny in a session policy"},
    {"dynamodb:Scan", TABLE_T, TAG_T1, true, TD_POLICY_DENY_NO_SESSION_ALLOW, NULL},
    {"dynamodb:Scan", TABLE_T, TAG_T1, false, TD_POLICY_ALLOWED, NULL},
};

static void test_authorize(void **state)
{
    (void)state;
    _cleanup_policy_ struct td_policy *id = parse_ok(ID_ITEMS);
    _cleanup_policy_ struct td_policy *session = parse_ok(SESSION_T1);
    const struct td_policy *ids[] = {id};
    const struct td_policy *sessions[] = {session};
    for (size_t i = 0; i < TD_ARRAY_SIZE(AUTH_CASES); i++) {
        const struct auth_case *c = &AUTH_CASES[i];
        _cleanup_policy_ctx_ struct td_policy_ctx *ctx =
            make_context(c->action, c->resource, c->context);
        struct td_policy_decision d;
        assert_int_equal(td_policy_authorize(ids, 1, sessions, c->with_session ? 1 : 0, ctx, &d),
                         0);
        if (d.reason != c->want)
            print_message("auth case %zu: got %s\n", i, td_policy_reason_str(d.reason));
        assert_int_equal(d.reason, c->want);
        assert_int_equal(d.allowed, c->want == TD_POLICY_ALLOWED);
        _cleanup_buf_ struct td_buf msg = TD_BUF_INIT(4096);
        int r = td_policy_format_denied(&d, PRINCIPAL, c->action, c->resource, &msg);
        if (d.allowed) {
            assert_int_equal(r, -EINVAL);
        } else {
            assert_int_equal(r, 0);
            if (c->message)
                assert_string_equal(msg.data, c->message);
        }
    }
}

static void test_authorize_edges(void **state)
{
    (void)state;
    _cleanup_policy_ struct td_policy *id = parse_ok(ID_ITEMS);
    const struct td_policy *ids[] = {id};
    _cleanup_policy_ctx_ struct td_policy_ctx *ctx =
        make_context("dynamodb:DeleteTable", TABLE_T, NULL);
    struct td_policy_decision d;
    /* No identity policy at all: implicit deny. */
    assert_int_equal(td_policy_authorize(NULL, 0, NULL, 0, ctx, &d), 0);
    assert_false(d.allowed);
    assert_int_equal(d.reason, TD_POLICY_DENY_NO_IDENTITY_ALLOW);
    /* The deciding statement is reported. */
    assert_int_equal(td_policy_authorize(ids, 1, NULL, 0, ctx, &d), 0);
    assert_int_equal(d.reason, TD_POLICY_DENY_IDENTITY_EXPLICIT);
    assert_int_equal(d.policy, 0);
    assert_int_equal(d.statement, 1);
    /* Bad arguments fail closed. */
    assert_int_equal(td_policy_authorize(NULL, 1, NULL, 0, ctx, &d), -EINVAL);
    assert_false(d.allowed);
    assert_string_equal(td_policy_reason_str(TD_POLICY_DENY_SESSION_EXPLICIT),
                        "explicit deny in a session policy");
}

/* ---- templates ----------------------------------------------------------------------------- */

static void test_tenant_ids(void **state)
{
    (void)state;
    assert_true(td_policy_tenant_id_valid("t1"));
    assert_true(td_policy_tenant_id_valid("acme.eu:prod/a=b+c-d@e f_g"));
    assert_false(td_policy_tenant_id_valid(""));
    assert_false(td_policy_tenant_id_valid(NULL));
    assert_false(td_policy_tenant_id_valid("a\"b"));
    assert_false(td_policy_tenant_id_valid("a\\b"));
    assert_false(td_policy_tenant_id_valid("a*"));
    assert_false(td_policy_tenant_id_valid("a#b"));
    assert_false(td_policy_tenant_id_valid("caf\xc3\xa9"));
    char id[TD_POLICY_TENANT_ID_MAX + 2];
    memset(id, 'a', sizeof(id));
    id[TD_POLICY_TENANT_ID_MAX] = '\0';
    assert_true(td_policy_tenant_id_valid(id));
    id[TD_POLICY_TENANT_ID_MAX] = 'a';
    id[TD_POLICY_TENANT_ID_MAX + 1] = '\0';
    assert_false(td_policy_tenant_id_valid(id));
}

static void test_template_instantiate(void **state)
{
    (void)state;
    _cleanup_free_ char *tpl = unquote(
        "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `dynamodb:GetItem`,"
        " `Resource`: `arn:aws:dynamodb:us-east-1:123456789012:table/${tenant}-orders`,"
        " `Condition`: {`ForAllValues:StringEquals`: {`dynamodb:LeadingKeys`: [`${tenant}`,"
        " `${aws:PrincipalTag/TenantId}`, `\\\"${tenant}\\\\`, `\\u0024{tenant}`]}}}}");
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(td_policy_template_instantiate(tpl, strlen(tpl), "acme eu", &out, &len), 0);
    assert_int_equal(len, strlen(out));
    assert_non_null(strstr(out, "table/acme eu-orders\""));
    assert_non_null(strstr(out, "[\"acme eu\", \"${aws:PrincipalTag/TenantId}\""));
    assert_non_null(strstr(out, "\"\\\"acme eu\\\\\""));
    assert_non_null(strstr(out, "\"\\u0024{tenant}\""));
    _cleanup_policy_ struct td_policy *p = NULL;
    struct td_err err;
    assert_int_equal(td_policy_parse(out, len, 0, &p, &err), 0);
    free(out);
    out = NULL;

    /* Outside strings nothing is replaced: the result stays as (in)valid as the template. */
    const char *outside = "{\"a\": ${tenant}}";
    assert_int_equal(td_policy_template_instantiate(outside, strlen(outside), "t1", &out, NULL), 0);
    assert_string_equal(out, outside);
    free(out);
    out = NULL;
    assert_int_equal(td_policy_template_instantiate("", 0, "t1", &out, NULL), 0);
    assert_string_equal(out, "");
    free(out);
    out = NULL;
    assert_int_equal(td_policy_template_instantiate(tpl, strlen(tpl), "t\"1", &out, NULL), -EINVAL);
    assert_null(out);
}

static void test_template_end_to_end(void **state)
{
    (void)state;
    /* A tenant session built from the shorthand scopes the tenant; the tag form does the same at
     * evaluation time. */
    _cleanup_free_ char *tpl = unquote(
        "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `dynamodb:GetItem`,"
        " `Resource`: `" TABLE_T "`, `Condition`: {`ForAllValues:StringEquals`:"
        " {`dynamodb:LeadingKeys`: `${tenant}`}, `Null`: {`dynamodb:LeadingKeys`: `false`}}}}");
    _cleanup_free_ char *text = NULL;
    size_t len;
    assert_int_equal(td_policy_template_instantiate(tpl, strlen(tpl), "t1", &text, &len), 0);
    struct td_err err;
    _cleanup_policy_ struct td_policy *p = NULL;
    assert_int_equal(td_policy_parse(text, len, TD_POLICY_MAX_SESSION_CHARS, &p, &err), 0);
    _cleanup_policy_ctx_ struct td_policy_ctx *mine =
        make_context("dynamodb:GetItem", TABLE_T, "dynamodb:LeadingKeys+=t1");
    _cleanup_policy_ctx_ struct td_policy_ctx *theirs =
        make_context("dynamodb:GetItem", TABLE_T, "dynamodb:LeadingKeys+=t2");
    struct td_policy_result res;
    assert_int_equal(td_policy_evaluate(p, mine, &res), 0);
    assert_int_equal(res.effect, ALLOW);
    assert_int_equal(td_policy_evaluate(p, theirs, &res), 0);
    assert_int_equal(res.effect, NO_MATCH);
}

static void test_builtin_templates(void **state)
{
    (void)state;
    char *text = NULL;
    assert_int_equal(td_policy_template_builtin(TD_POLICY_LAYOUT_LEADING_KEY, "table/T", &text),
                     -EINVAL);
    assert_int_equal(
        td_policy_template_builtin(TD_POLICY_LAYOUT_LEADING_KEY, "arn:aws:s3:::bucket", &text),
        -EINVAL);
    assert_int_equal(td_policy_template_builtin(TD_POLICY_LAYOUT_LEADING_KEY, TABLE_T "\"", &text),
                     -EINVAL);
    static const struct {
        enum td_policy_layout layout;
        const char *mine, *theirs;
    } layouts[] = {
        {TD_POLICY_LAYOUT_LEADING_KEY, "t1", "t10"},
        {TD_POLICY_LAYOUT_KEY_PREFIX, "t1#order-7", "t10#order-7"},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(layouts); i++) {
        assert_int_equal(td_policy_template_builtin(layouts[i].layout, TABLE_T, &text), 0);
        struct td_err err;
        _cleanup_policy_ struct td_policy *p = NULL;
        assert_int_equal(td_policy_parse(text, strlen(text), TD_POLICY_MAX_SESSION_CHARS, &p, &err),
                         0);
        free(text);
        text = NULL;
        /* The lint passes it. */
        _cleanup_policy_lint_ struct td_policy_lint lint = {0};
        assert_int_equal(td_policy_lint(p, &lint), 0);
        assert_int_equal(lint.n, 0);
        /* It scopes items to the tenant and refuses Scan. */
        char mine[128], theirs[128];
        snprintf(mine, sizeof(mine), TAG_T1 "|dynamodb:LeadingKeys+=%s", layouts[i].mine);
        snprintf(theirs, sizeof(theirs), TAG_T1 "|dynamodb:LeadingKeys+=%s", layouts[i].theirs);
        static const struct {
            const char *action;
            bool own;
            enum td_policy_effect want;
        } checks[] = {
            {"dynamodb:GetItem", true, ALLOW}, {"dynamodb:GetItem", false, NO_MATCH},
            {"dynamodb:Query", true, ALLOW},   {"dynamodb:BatchWriteItem", false, NO_MATCH},
            {"dynamodb:Scan", true, NO_MATCH}, {"dynamodb:DeleteTable", true, NO_MATCH},
        };
        for (size_t k = 0; k < TD_ARRAY_SIZE(checks); k++) {
            _cleanup_policy_ctx_ struct td_policy_ctx *ctx =
                make_context(checks[k].action, TABLE_T, checks[k].own ? mine : theirs);
            struct td_policy_result res;
            assert_int_equal(td_policy_evaluate(p, ctx, &res), 0);
            assert_int_equal(res.effect, checks[k].want);
        }
        _cleanup_policy_ctx_ struct td_policy_ctx *scan =
            make_context("dynamodb:Scan", TABLE_T, TAG_T1);
        struct td_policy_result res;
        assert_int_equal(td_policy_evaluate(p, scan, &res), 0);
        assert_int_equal(res.effect, NO_MATCH);
    }
}

/* ---- lint ---------------------------------------------------------------------------------- */

struct lint_case {
    const char *name;
    const char *policy;
    const char *ids; /* expected finding ids in order, space-separated; "" for none */
};

#define LINT_ALLOW(actions, condition)                                                             \
    "{`Version`: `2012-10-17`, `Statement`: [{`Sid`: `S`, `Effect`: `Allow`, `Action`: " actions   \
    ", `Resource`: `" TABLE_T "`" condition "}]}"
#define GUARD       "`Null`: {`dynamodb:LeadingKeys`: `false`}"
#define ITEM_ACTS   "[`dynamodb:GetItem`, `dynamodb:Query`, `dynamodb:PutItem`]"
#define FAV_EQ(v)   "`ForAllValues:StringEquals`: {`dynamodb:LeadingKeys`: " v "}"
#define FAV_LIKE(v) "`ForAllValues:StringLike`: {`dynamodb:LeadingKeys`: " v "}"
#define COND(...)   ", `Condition`: {" __VA_ARGS__ "}"

static const struct lint_case LINT_CASES[] = {
    {"safe: equals + guard",
     LINT_ALLOW(ITEM_ACTS, COND(FAV_EQ("`${aws:PrincipalTag/TenantId}`") ", " GUARD)), ""},
    {"safe: prefix + guard",
     LINT_ALLOW(ITEM_ACTS, COND(FAV_LIKE("`${aws:PrincipalTag/TenantId}#*`") ", " GUARD)), ""},
    {"safe: shorthand in a template", LINT_ALLOW(ITEM_ACTS, COND(FAV_EQ("`${tenant}`") ", " GUARD)),
     ""},
    {"safe: tag key in another case",
     LINT_ALLOW(ITEM_ACTS, COND(FAV_EQ("`${aws:principaltag/TENANTID}`") ", " GUARD)), ""},
    {"safe: fixed prefix and suffix",
     LINT_ALLOW(ITEM_ACTS, COND(FAV_EQ("`org/${tenant}-main`") ", " GUARD)), ""},
    {"safe: Scan guarded",
     LINT_ALLOW("[`dynamodb:GetItem`, `dynamodb:Scan`]", COND(FAV_EQ("`${tenant}`") ", " GUARD)),
     ""},
    {"safe: not DynamoDB",
     "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `s3:*`, `Resource`: "
     "`*`}}",
     ""},
    {"safe: Deny statements",
     "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Deny`, `Action`: `dynamodb:*`, "
     "`Resource`: `*`}}",
     ""},
    {"safe: control-plane actions only",
     "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: "
     "[`dynamodb:DescribeTable`, `dynamodb:ListTables`], `Resource`: `*`}}",
     ""},
    {"safe: a stream ARN is not a table",
     "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `dynamodb:GetItem`, "
     "`Resource`: `arn:aws:dynamodb:*:*:global-table/G`}}",
     ""},
    {"safe: one table per tenant",
     "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `dynamodb:*`, "
     "`Resource`: [`arn:aws:dynamodb:*:*:table/${aws:PrincipalTag/TenantId}`, "
     "`arn:aws:dynamodb:*:*:table/${tenant}-orders`]}}",
     ""},
    {"no LeadingKeys condition", LINT_ALLOW(ITEM_ACTS, ""), "TENANCY001"},
    {"LeadingKeys on another key only",
     LINT_ALLOW(ITEM_ACTS,
                COND("`ForAllValues:StringEquals`: {`dynamodb:Attributes`: `${tenant}`}")),
     "TENANCY001"},
    {"ForAnyValue",
     LINT_ALLOW(ITEM_ACTS,
                COND("`ForAnyValue:StringEquals`: {`dynamodb:LeadingKeys`: `${tenant}`}, " GUARD)),
     "TENANCY001"},
    {"plain operator",
     LINT_ALLOW(ITEM_ACTS, COND("`StringEquals`: {`dynamodb:LeadingKeys`: `${tenant}`}, " GUARD)),
     "TENANCY001"},
    {"IgnoreCase",
     LINT_ALLOW(ITEM_ACTS, COND("`ForAllValues:StringEqualsIgnoreCase`: {`dynamodb:LeadingKeys`: "
                                "`${tenant}`}, " GUARD)),
     "TENANCY001"},
    {"IfExists",
     LINT_ALLOW(
         ITEM_ACTS,
         COND(
             "`ForAllValues:StringEqualsIfExists`: {`dynamodb:LeadingKeys`: `${tenant}`}, " GUARD)),
     "TENANCY001"},
    {"prefix without a separator", LINT_ALLOW(ITEM_ACTS, COND(FAV_LIKE("`${tenant}*`") ", " GUARD)),
     "TENANCY001"},
    {"separator a tenant id may hold",
     LINT_ALLOW(ITEM_ACTS, COND(FAV_LIKE("`${tenant}-*`") ", " GUARD)), "TENANCY001"},
    {"wildcard before the tenant",
     LINT_ALLOW(ITEM_ACTS, COND(FAV_LIKE("`*${tenant}#*`") ", " GUARD)), "TENANCY001"},
    {"a default value",
     LINT_ALLOW(ITEM_ACTS, COND(FAV_EQ("`${aws:PrincipalTag/TenantId, 'shared'}`") ", " GUARD)),
     "TENANCY001"},
    {"another variable", LINT_ALLOW(ITEM_ACTS, COND(FAV_EQ("`${aws:username}`") ", " GUARD)),
     "TENANCY001"},
    {"a negated operator",
     LINT_ALLOW(
         ITEM_ACTS,
         COND("`ForAllValues:StringNotEquals`: {`dynamodb:LeadingKeys`: `${tenant}`}, " GUARD)),
     "TENANCY001"},
    {"ForAllValues + Scan, no guard",
     LINT_ALLOW("[`dynamodb:GetItem`, `dynamodb:Scan`]", COND(FAV_EQ("`${tenant}`"))),
     "TENANCY002"},
    {"ForAllValues + PartiQLSelect, no guard",
     LINT_ALLOW("[`dynamodb:PartiQLSelect`]", COND(FAV_EQ("`${tenant}`"))), "TENANCY002"},
    {"dynamodb:* without guard", LINT_ALLOW("`dynamodb:*`", COND(FAV_EQ("`${tenant}`"))),
     "TENANCY003 TENANCY002"},
    {"dynamodb:S* with guard",
     LINT_ALLOW("[`dynamodb:GetItem`, `dynamodb:S*`]", COND(FAV_EQ("`${tenant}`") ", " GUARD)),
     "TENANCY003"},
    {"* with guard", LINT_ALLOW("`*`", COND(FAV_EQ("`${tenant}`") ", " GUARD)), "TENANCY003"},
    {"dynamodb:Sc?n", LINT_ALLOW("`dynamodb:Sc?n`", COND(FAV_EQ("`${tenant}`") ", " GUARD)),
     "TENANCY003"},
    {"literal tenant id", LINT_ALLOW(ITEM_ACTS, COND(FAV_EQ("`acme`") ", " GUARD)),
     "TENANCY004 TENANCY001"},
    {"literal beside the variable",
     LINT_ALLOW(ITEM_ACTS, COND(FAV_EQ("[`${tenant}`, `shared`]") ", " GUARD)),
     "TENANCY004 TENANCY001"},
    {"variable without Version is literal",
     "{`Statement`: {`Effect`: `Allow`, `Action`: `dynamodb:GetItem`, `Resource`: `*`, "
     "`Condition`: {" FAV_EQ("`${aws:PrincipalTag/TenantId}`") ", " GUARD "}}}",
     "TENANCY004 TENANCY001"},
    {"NotAction",
     "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `NotAction`: `iam:*`, `Resource`: "
     "`*`}}",
     "TENANCY005 TENANCY001"},
    {"NotResource",
     "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `dynamodb:GetItem`, "
     "`NotResource`: `arn:aws:s3:::*`, `Condition`: {" FAV_EQ("`${tenant}`") ", " GUARD "}}}",
     "TENANCY005"},
    {"ForAllValues without guard, no Scan", LINT_ALLOW(ITEM_ACTS, COND(FAV_EQ("`${tenant}`"))),
     "TENANCY006"},
    {"table wildcard resource",
     "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `dynamodb:Query`, "
     "`Resource`: `arn:aws:dynamodb:*:*:*`}}",
     "TENANCY001"},
    {"per-tenant table with a loose wildcard",
     "{`Version`: `2012-10-17`, `Statement`: {`Effect`: `Allow`, `Action`: `dynamodb:GetItem`, "
     "`Resource`: `arn:aws:dynamodb:*:*:table/${tenant}*`}}",
     "TENANCY001"},
};

static void check_lint_case(const struct lint_case *c, size_t i, size_t *failures)
{
    _cleanup_policy_ struct td_policy *p = parse_ok(c->policy);
    _cleanup_policy_lint_ struct td_policy_lint lint = {0};
    int errors = td_policy_lint(p, &lint);
    assert_true(errors >= 0);
    char got[256] = "";
    size_t o = 0;
    int want_errors = 0;
    for (size_t k = 0; k < lint.n; k++) {
        o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s", k ? " " : "", lint.items[k].id);
        assert_true(lint.items[k].message[0] != '\0');
        assert_int_equal(lint.items[k].statement, 0);
        want_errors += lint.items[k].severity == TD_POLICY_ERROR;
    }
    assert_int_equal(errors, want_errors);
    if (strcmp(got, c->ids) != 0) {
        print_message("lint case %zu \"%s\": got \"%s\", want \"%s\"\n", i, c->name, got, c->ids);
        for (size_t k = 0; k < lint.n; k++)
            print_message("  %s %s\n", lint.items[k].id, lint.items[k].message);
        (*failures)++;
    }
}

static void test_lint_table(void **state)
{
    (void)state;
    size_t failures = 0;
    for (size_t i = 0; i < TD_ARRAY_SIZE(LINT_CASES); i++)
        check_lint_case(&LINT_CASES[i], i, &failures);
    print_message("%zu lint cases\n", TD_ARRAY_SIZE(LINT_CASES));
    assert_int_equal(failures, 0);
}

static void test_lint_details(void **state)
{
    (void)state;
    _cleanup_policy_ struct td_policy *p =
        parse_ok("{`Version`: `2012-10-17`, `Statement`: [{`Effect`: `Allow`, `Action`: `s3:*`,"
                 " `Resource`: `*`}, {`Sid`: `Wide`, `Effect`: `Allow`, `Action`: `dynamodb:*`,"
                 " `Resource`: `" TABLE_T "`}]}");
    _cleanup_policy_lint_ struct td_policy_lint lint = {0};
    assert_int_equal(td_policy_lint(p, &lint), 2);
    assert_int_equal(lint.n, 2);
    assert_string_equal(lint.items[0].id, "TENANCY003");
    assert_int_equal(lint.items[0].severity, TD_POLICY_ERROR);
    assert_int_equal(lint.items[0].statement, 1);
    assert_string_equal(lint.items[0].sid, "Wide");
    assert_string_equal(lint.items[0].message,
                        "Statement[1]: the action \"dynamodb:*\" covers dynamodb:Scan, which reads "
                        "every tenant's items whatever the leading keys; list the item actions "
                        "instead");
    assert_string_equal(lint.items[1].id, "TENANCY001");
    assert_non_null(strstr(lint.items[1].message, "(GetItem, BatchGetItem, Query, PutItem"));
}

/* ---- matching primitives through the API --------------------------------------------------- */

static void test_glob_edges(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *value;
        bool want;
    } cases[] = {
        {"*", "", true},
        {"a*", "a", true},
        {"*a", "ba", true},
        {"a*b*c", "axxbyyc", true},
        {"a*b*c", "axxbyy", false},
        {"?", "", false},
        {"?", "\xc3\xa9", true},
        {"??", "\xc3\xa9", false},
        {"*x*y*z*", "zyx", false},
        {"a\\b", "a\\b", true},
        {"****a", "a", true},
        {"a**", "abc", true},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++) {
        char policy[512];
        snprintf(policy, sizeof(policy),
                 "{\"Version\": \"2012-10-17\", \"Statement\": {\"Effect\": \"Allow\", \"Action\":"
                 " \"svc:Do\", \"Resource\": \"*\", \"Condition\": {\"StringLike\": {\"k\": "
                 "\"%s\"}}}}",
                 strcmp(cases[i].pattern, "a\\b") == 0 ? "a\\\\b" : cases[i].pattern);
        struct td_err err;
        _cleanup_policy_ struct td_policy *p = NULL;
        assert_int_equal(td_policy_parse(policy, strlen(policy), 0, &p, &err), 0);
        _cleanup_policy_ctx_ struct td_policy_ctx *ctx = make_context("svc:Do", "*", NULL);
        assert_int_equal(td_policy_ctx_set(ctx, "k", cases[i].value), 0);
        struct td_policy_result res;
        assert_int_equal(td_policy_evaluate(p, ctx, &res), 0);
        if ((res.effect == ALLOW) != cases[i].want)
            print_message("glob case %zu: %s vs %s\n", i, cases[i].pattern, cases[i].value);
        assert_int_equal(res.effect == ALLOW, cases[i].want);
    }
}

/* A pathological pattern against long values spends the evaluation's budget and fails closed. */
static void test_eval_budget(void **state)
{
    (void)state;
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(1 << 16);
    assert_int_equal(td_buf_puts(&b, "{\"Version\": \"2012-10-17\", \"Statement\": {\"Effect\": "
                                     "\"Allow\", \"Action\": \"svc:Do\", \"Resource\": \"*\", "
                                     "\"Condition\": {\"ForAnyValue:StringLike\": {\"k\": \"*"),
                     0);
    for (int i = 0; i < 1800; i++)
        assert_int_equal(td_buf_puts(&b, "a"), 0);
    assert_int_equal(td_buf_puts(&b, "b\"}}}}"), 0);
    struct td_err err;
    _cleanup_policy_ struct td_policy *p = NULL;
    assert_int_equal(td_policy_parse(b.data, b.len, TD_POLICY_MAX_SESSION_CHARS, &p, &err), 0);
    _cleanup_policy_ctx_ struct td_policy_ctx *ctx = make_context("svc:Do", "*", NULL);
    _cleanup_free_ char *value = malloc(TD_POLICY_CTX_MAX_VALUE_LEN + 1);
    assert_non_null(value);
    memset(value, 'a', TD_POLICY_CTX_MAX_VALUE_LEN);
    value[TD_POLICY_CTX_MAX_VALUE_LEN] = '\0';
    for (int i = 0; i < 100; i++)
        assert_int_equal(td_policy_ctx_add(ctx, "k", value), 0);
    struct td_policy_result res;
    assert_int_equal(td_policy_evaluate(p, ctx, &res), -E2BIG);
    assert_int_equal(res.effect, NO_MATCH);
    const struct td_policy *set[] = {p};
    struct td_policy_decision d;
    assert_int_equal(td_policy_authorize(set, 1, NULL, 0, ctx, &d), -E2BIG);
    assert_false(d.allowed);
    /* A short value is fine. */
    assert_int_equal(td_policy_ctx_unset(ctx, "k"), 0);
    assert_int_equal(td_policy_ctx_add(ctx, "k", "xab"), 0);
    assert_int_equal(td_policy_evaluate(p, ctx, &res), 0);
    assert_int_equal(res.effect, NO_MATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_table),          cmocka_unit_test(test_deciding_statement),
        cmocka_unit_test(test_parse_errors),        cmocka_unit_test(test_valid_policies),
        cmocka_unit_test(test_size_caps),           cmocka_unit_test(test_context),
        cmocka_unit_test(test_authorize),           cmocka_unit_test(test_authorize_edges),
        cmocka_unit_test(test_tenant_ids),          cmocka_unit_test(test_template_instantiate),
        cmocka_unit_test(test_template_end_to_end), cmocka_unit_test(test_builtin_templates),
        cmocka_unit_test(test_lint_table),          cmocka_unit_test(test_lint_details),
        cmocka_unit_test(test_glob_edges),          cmocka_unit_test(test_eval_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
