/* STS (2011-06-15, query protocol): AssumeRole and GetCallerIdentity, for callers outside
 * environments (operators, services, tests) and inside them (through their own listener). */
#ifndef TENANTD_STS_H
#define TENANTD_STS_H

#include <stdbool.h>
#include <stddef.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"
#include "tenantd/session.h"

struct td_iam;

#define TD_STS_NS "https://sts.amazonaws.com/doc/2011-06-15/"

struct td_sts_caller {
    bool root;                        /* the node's long-term key */
    const struct td_session *session; /* else a role session */
    const char *arn;
    const char *account;
};

typedef int (*td_sts_authorize_fn)(void *userdata, const char *action, const char *resource,
                                   struct td_err *err);

/* Answer one STS request (form body): the XML document or XML error is appended to out.
 * A session calling AssumeRole passes on what scopes it: its TenantId tag (which it cannot
 * change) and its environment binding; and role chaining caps the duration at one hour. */
void td_sts_handle(struct td_iam *iam, const struct td_session_keys *keys,
                   const struct td_sts_caller *caller, const char *body, size_t len,
                   const char *request_id, td_sts_authorize_fn authorize, void *userdata,
                   unsigned *status, struct td_buf *out);

#endif
