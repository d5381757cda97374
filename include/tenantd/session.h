/* Temporary credentials: role sessions, as STS AssumeRole issues them and as environments get
 * them (a session of the function's role tagged with the environment's tenant).
 *
 * A session token is opaque to clients and self-contained, so no table of sessions is kept:
 *
 *   "TDS1." base64(payload) "." base64(HMAC-SHA256(mac key, "TDS1." base64(payload)))
 *
 * where the payload is a small JSON object (access key id, account, role, session name, tags,
 * session policy, expiry, environment binding). The secret access key is never stored either:
 * it is derived from the token as base64(HMAC-SHA256(secret key, payload)) cut to 40 characters,
 * so only the holder of the keys can compute it. Both keys derive from one random 32-byte master
 * key kept in the state directory (session.key, mode 0600).
 *
 * A token is valid only with the access key id it names, until it expires, and, when bound to
 * an environment, only where the caller checks that binding (its own listener). */
#ifndef TENANTD_SESSION_H
#define TENANTD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"

#define TD_SESSION_AKID_LEN      20 /* "ASIA" + 16 */
#define TD_SESSION_SECRET_LEN    40
#define TD_SESSION_TOKEN_MAX     8192
#define TD_SESSION_MAX_TAGS      50
#define TD_SESSION_TAG_KEY_MAX   128
#define TD_SESSION_TAG_VALUE_MAX 256
#define TD_SESSION_POLICY_MAX    2048 /* plaintext session policy, as STS allows */
#define TD_SESSION_NAME_MAX      64
#define TD_SESSION_ROLE_MAX      64
#define TD_SESSION_ROLE_ID_LEN   21 /* "AROA" + 17 */
#define TD_SESSION_ENV_MAX       64
#define TD_SESSION_MAX_SECONDS   43200

struct td_session_keys {
    uint8_t mac[32];
    uint8_t secret[32];
};

/* Read the master key from <state_dir>/session.key, creating it (random, 0600) when absent. */
int td_session_keys_load(const char *state_dir, struct td_session_keys *keys);
/* Derive the keys from a given master key (tests). */
void td_session_keys_derive(const uint8_t master[32], struct td_session_keys *keys);

struct td_session_tag {
    char key[TD_SESSION_TAG_KEY_MAX + 1];
    char value[TD_SESSION_TAG_VALUE_MAX + 1];
};

struct td_session {
    char access_key_id[TD_SESSION_AKID_LEN + 1]; /* set by td_session_issue */
    char account[13];
    char role_name[TD_SESSION_ROLE_MAX + 1];
    char role_id[TD_SESSION_ROLE_ID_LEN + 1];
    char session_name[TD_SESSION_NAME_MAX + 1];
    struct td_session_tag *tags;
    size_t n_tags;
    char *policy;       /* the session policy's text, or NULL */
    char **policy_arns; /* managed session policies (AssumeRole PolicyArns) */
    size_t n_policy_arns;
    int64_t expires;                  /* Unix seconds */
    char env[TD_SESSION_ENV_MAX + 1]; /* environment binding, "" when none */
};

/* A zeroed session; free with td_session_free. */
struct td_session *td_session_new(void);
void td_session_free(struct td_session *s);
/* Add a tag (a later tag with the same key, compared case-insensitively, replaces it). -EINVAL
 * for a key or value too long or empty key, -E2BIG beyond TD_SESSION_MAX_TAGS. */
int td_session_set_tag(struct td_session *s, const char *key, const char *value);
/* The value of a tag (key compared case-insensitively), or NULL. */
const char *td_session_tag(const struct td_session *s, const char *key);
/* Copy the session policy text (NULL clears it). -E2BIG beyond TD_SESSION_POLICY_MAX. */
int td_session_set_policy(struct td_session *s, const char *text);
/* Add a managed session policy by ARN (at most 10, as STS). */
int td_session_add_policy_arn(struct td_session *s, const char *arn);

/* Give the session a new access key id, and write its token (appended to token) and secret. */
int td_session_issue(const struct td_session_keys *keys, struct td_session *s, struct td_buf *token,
                     char secret[TD_SESSION_SECRET_LEN + 1]);

/* Authenticate a token presented with access_key_id at Unix time now. On success *ret is the
 * session and secret its secret key. Errors (err filled, status 403 unless noted):
 *   UnrecognizedClientException  not a token of this node, altered, or for another key id;
 *   ExpiredTokenException (400)  past its expiry. */
int td_session_open(const struct td_session_keys *keys, const char *token, size_t len,
                    const char *access_key_id, int64_t now, struct td_session **ret,
                    char secret[TD_SESSION_SECRET_LEN + 1], struct td_err *err);

/* A deep copy, or NULL without memory. */
struct td_session *td_session_dup(const struct td_session *s);

/* Tokens opened recently, so that a client's next requests with the same token skip the MAC
 * check, the decoding and the key derivation: a token is found again only when it is
 * byte-for-byte one that td_session_open accepted with the same keys, and its expiry is checked
 * on every use. */
struct td_session_cache;
int td_session_cache_new(struct td_session_cache **ret);
void td_session_cache_free(struct td_session_cache *c);
/* td_session_open through the cache (same arguments, results and errors). */
int td_session_open_cached(struct td_session_cache *c, const struct td_session_keys *keys,
                           const char *token, size_t len, const char *access_key_id, int64_t now,
                           struct td_session **ret, char secret[TD_SESSION_SECRET_LEN + 1],
                           struct td_err *err);

/* "arn:aws:sts::<account>:assumed-role/<role>/<session>" and "<role id>:<session>". */
void td_session_arn(const struct td_session *s, char *out, size_t size);
void td_session_user_id(const struct td_session *s, char *out, size_t size);

#endif
