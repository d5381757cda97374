/* Shared between the IAM module's files. */
#ifndef TENANTD_IAM_INTERNAL_H
#define TENANTD_IAM_INTERNAL_H

#include <stdbool.h>

#include "tenantd/iam.h"

struct td_map;

struct td_iam {
    struct td_store *store;
    struct td_map *roles;    /* name -> struct td_role * (one reference) */
    struct td_map *policies; /* ARN -> struct td_managed_policy * (one reference) */
    char account[13];
    bool strict;
};

bool iam_valid_role_name(const char *s);
bool iam_valid_policy_name(const char *s);
bool iam_valid_path(const char *s);
int iam_new_role_id(char out[TD_ROLE_ID_LEN + 1]);

struct td_role *iam_role_new(void);
struct td_role *iam_role_ref(struct td_role *role);
int iam_role_copy(const struct td_role *src, struct td_role **ret);

int iam_parse_identity_policy(const char *text, struct td_policy **ret, struct td_err *err);
int iam_parse_template(const char *text, struct td_policy **ret, struct td_err *err);
struct td_role_policy *iam_role_policy(const struct td_role *role, const char *name);
int iam_role_put_policy(struct td_role *role, const char *name, char *text, struct td_policy *p);
int iam_role_delete_policy(struct td_role *role, const char *name);

char *iam_role_to_json(const struct td_role *role);
int iam_role_from_json(const char *text, struct td_role **ret);

/* Store the role and make it the current one under its name (takes the caller's reference). */
int iam_install(struct td_iam *iam, struct td_role *role);
int iam_remove(struct td_iam *iam, const char *name);

int iam_policy_install(struct td_iam *iam, struct td_managed_policy *p);
int iam_policy_remove(struct td_iam *iam, const char *arn);
char *iam_policy_to_json(const struct td_managed_policy *p);

/* A policy's lint findings as text; returns the number of errors. */
int iam_lint_policy(const struct td_policy *p, const char *what, struct td_buf *out);

#endif
