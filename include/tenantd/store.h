/* Persistent state of one tenantd node: access keys, functions, code packages, IAM roles.
 * SQLite in WAL mode, one database file in the state directory. Only control-plane paths
 * use it; nothing on the warm invoke path touches the store. */
#ifndef TENANTD_STORE_H
#define TENANTD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "tenantd/buf.h"

struct td_store;

#define TD_ACCESS_KEY_ID_MAX 128
#define TD_SECRET_KEY_MAX    128

int td_store_open(const char *path, struct td_store **ret);
void td_store_close(struct td_store *s);

int td_store_begin(struct td_store *s);
int td_store_commit(struct td_store *s);
void td_store_rollback(struct td_store *s);

/* Access keys. */
int td_store_key_add(struct td_store *s, const char *access_key_id, const char *secret,
                     const char *principal);
typedef int (*td_store_key_fn)(const char *access_key_id, const char *secret, const char *principal,
                               void *userdata);
int td_store_keys_load(struct td_store *s, td_store_key_fn fn, void *userdata);

/* Code packages, content-addressed by the hex SHA-256 of the zip. Putting an existing
 * package is a no-op. */
int td_store_code_put(struct td_store *s, const char *sha256_hex, const void *zip, size_t len);
int td_store_code_get(struct td_store *s, const char *sha256_hex, struct td_buf *out);
/* Delete packages no function references any more. Returns how many were deleted. */
int td_store_code_gc(struct td_store *s);

/* Functions: the configuration is stored as a JSON document. */
int td_store_function_insert(struct td_store *s, const char *name, const char *config_json,
                             const char *code_sha256_hex);
int td_store_function_update(struct td_store *s, const char *name, const char *config_json,
                             const char *code_sha256_hex);
int td_store_function_delete(struct td_store *s, const char *name);
typedef int (*td_store_function_fn)(const char *name, const char *config_json,
                                    const char *code_sha256_hex, void *userdata);
int td_store_functions_load(struct td_store *s, td_store_function_fn fn, void *userdata);

/* IAM roles: a JSON document per role (see src/iam/role.c). Put inserts or replaces. */
int td_store_role_put(struct td_store *s, const char *name, const char *doc_json);
int td_store_role_delete(struct td_store *s, const char *name);
typedef int (*td_store_role_fn)(const char *name, const char *doc_json, void *userdata);
int td_store_roles_load(struct td_store *s, td_store_role_fn fn, void *userdata);
/* IAM managed policies, by ARN, as a JSON document each (same callback shape). */
int td_store_policy_put(struct td_store *s, const char *arn, const char *doc_json);
int td_store_policy_delete(struct td_store *s, const char *arn);
int td_store_policies_load(struct td_store *s, td_store_role_fn fn, void *userdata);

#endif
