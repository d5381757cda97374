/* AWS Signature Version 4 (AWS4-HMAC-SHA256), server side.
 *
 * Verification is two steps, so that the caller can look the access key up in between:
 *
 *   _cleanup_sigv4_auth_ struct td_sigv4_auth auth = TD_SIGV4_AUTH_INIT;
 *   r = td_sigv4_parse(&req, &opts, &auth, &err);          syntax, scope, clock, no secret needed
 *   ... look auth.access_key_id (and auth.session_token) up; unknown key = caller's error ...
 *   r = td_sigv4_verify(&req, &auth, secret, &opts, &err);  payload hash and signature
 *
 * Both fill `err` with the AWS error the client must see (MissingAuthenticationTokenException,
 * IncompleteSignatureException, InvalidSignatureException) and the HTTP status
 * opts->error_status. Every input is untrusted; all lengths and counts are capped (TD_SIGV4_MAX_*).
 *
 * Canonicalization follows the non-S3 rules: the raw path is URI-encoded once more ("double
 * encoding"), the payload is always hashed (UNSIGNED-PAYLOAD and streaming payloads are refused),
 * and a client-sent x-amz-content-sha256 must equal the real hash of the body.
 *
 * The building blocks (canonical request, string to sign, signing key, signature) are exported
 * for the tests and for a signing client; such a client fills a td_sigv4_auth itself
 * (amz_date, date, region, service, signed_headers, presigned).
 */
#ifndef TENANTD_SIGV4_H
#define TENANTD_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"
#include "tenantd/http_header.h"

#define TD_SIGV4_ALGORITHM  "AWS4-HMAC-SHA256"
#define TD_SIGV4_TERMINATOR "aws4_request"

/* Caps on untrusted input. */
#define TD_SIGV4_MAX_ACCESS_KEY_ID      128
#define TD_SIGV4_MAX_SCOPE_PART         64 /* region, service */
#define TD_SIGV4_MAX_SIGNED_HEADERS     64
#define TD_SIGV4_MAX_SIGNED_HEADERS_LEN 2048
#define TD_SIGV4_MAX_HEADERS            256    /* headers in the request */
#define TD_SIGV4_MAX_PATH               16384  /* raw path bytes */
#define TD_SIGV4_MAX_QUERY              131072 /* raw query bytes */
#define TD_SIGV4_MAX_QUERY_PARAMS       512
#define TD_SIGV4_MAX_SESSION_TOKEN      65536   /* decoded X-Amz-Security-Token */
#define TD_SIGV4_MAX_CANONICAL          1048576 /* canonical request built by td_sigv4_verify */
#define TD_SIGV4_MAX_EXPIRES            604800  /* X-Amz-Expires, seconds (one week) */
#define TD_SIGV4_MAX_SECRET             1024

#define TD_SIGV4_DEFAULT_SKEW_MS (15 * 60 * 1000)
#define TD_SIGV4_KEY_LEN         32
#define TD_SIGV4_SIGNATURE_LEN   64 /* lower-case hex */
#define TD_SIGV4_AMZ_DATE_LEN    16 /* YYYYMMDD'T'HHMMSS'Z' */
#define TD_SIGV4_KEY_CACHE_SLOTS 32

struct td_sigv4_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* raw request path as received (percent-encoding as sent), no query */
    const char *query;  /* raw query string without '?'; NULL or "" when absent */
    const struct td_http_header *headers; /* as received, in order, duplicates possible */
    size_t n_headers;
    const void *body;
    size_t body_len;
};

/* What td_sigv4_parse extracts. Strings are NUL-terminated copies (query values decoded).
 * access_key_id is 1-128 of [A-Za-z0-9_.-]; region and service are 1-64 of [A-Za-z0-9_-];
 * the session token is printable ASCII without spaces. */
struct td_sigv4_auth {
    bool presigned; /* query-string (presigned URL) authentication */
    char access_key_id[TD_SIGV4_MAX_ACCESS_KEY_ID + 1];
    char date[9]; /* credential scope date, YYYYMMDD */
    char region[TD_SIGV4_MAX_SCOPE_PART + 1];
    char service[TD_SIGV4_MAX_SCOPE_PART + 1];
    char amz_date[TD_SIGV4_AMZ_DATE_LEN + 1]; /* request time, X-Amz-Date form (also when it
                                                 came from the Date header) */
    int64_t timestamp_ms;                     /* amz_date as Unix time */
    char signed_headers[TD_SIGV4_MAX_SIGNED_HEADERS_LEN + 1]; /* "host;x-amz-date", as sent */
    size_t n_signed_headers;
    char signature[TD_SIGV4_SIGNATURE_LEN + 1];
    int64_t expires_s; /* X-Amz-Expires of a presigned request; 0 when absent */
    /* X-Amz-Security-Token (header, or decoded query parameter for presigned requests). */
    bool has_session_token;
    struct td_buf session_token;
    /* Whether the token is covered by the signature: for header authentication this is
     * "x-amz-security-token is in SignedHeaders". For presigned requests it is set true, but
     * td_sigv4_verify also accepts a token appended to the URL after signing (older clients;
     * the caller binds the token to the access key anyway). */
    bool session_token_signed;
    /* Leave X-Amz-Security-Token out of the canonical query (a token appended after
     * presigning). td_sigv4_parse sets it false; td_sigv4_verify tries both forms. */
    bool unsigned_query_token;
};

#define TD_SIGV4_AUTH_INIT                                                                         \
    {                                                                                              \
        .session_token = TD_BUF_INIT(TD_SIGV4_MAX_SESSION_TOKEN)                                   \
    }

/* A small LRU cache of derived signing keys, keyed by (access key id, date, region, service)
 * plus a SHA-256 fingerprint of the secret (a rotated secret never hits a stale key).
 * Not thread-safe: give each thread its own, or lock around td_sigv4_verify. */
struct td_sigv4_key_cache_slot {
    uint64_t last_used; /* 0 = empty */
    char access_key_id[TD_SIGV4_MAX_ACCESS_KEY_ID + 1];
    char date[9];
    char region[TD_SIGV4_MAX_SCOPE_PART + 1];
    char service[TD_SIGV4_MAX_SCOPE_PART + 1];
    uint8_t secret_fp[16]; /* td_fingerprint128 of the secret */
    uint8_t key[TD_SIGV4_KEY_LEN];
};

struct td_sigv4_key_cache {
    uint64_t tick;
    uint64_t hits;
    uint64_t misses;
    struct td_sigv4_key_cache_slot slots[TD_SIGV4_KEY_CACHE_SLOTS];
};

struct td_sigv4_options {
    const char *service; /* required service in the scope, e.g. "lambda"; NULL = any */
    const char *region;  /* required region; NULL = any */
    int64_t now_ms;      /* wall clock, Unix ms */
    int64_t max_skew_ms; /* <= 0: TD_SIGV4_DEFAULT_SKEW_MS (15 min, as AWS services) */
    bool normalize_path; /* true for every service except S3 */
    int error_status;    /* HTTP status of auth failures (403 Lambda/IAM/STS, 400 DynamoDB);
                            0 = 403 */
    struct td_sigv4_key_cache *key_cache; /* optional, used by td_sigv4_verify */
};

/* Extract and check the authentication data of a request: Authorization header or presigned
 * query, credential scope against opts->service/region, request time against the clock (and
 * X-Amz-Expires), SignedHeaders syntax, 'host' signed, every signed header present.
 * On failure err is filled and a negative errno returned. `auth` must be zeroed or
 * TD_SIGV4_AUTH_INIT, or hold a previous result (whose token is released first). Call
 * td_sigv4_auth_release() on it afterwards in every case (or use _cleanup_sigv4_auth_). */
int td_sigv4_parse(const struct td_sigv4_request *req, const struct td_sigv4_options *opts,
                   struct td_sigv4_auth *auth, struct td_err *err);

/* Check the payload hash and the signature of a request parsed by td_sigv4_parse (same req),
 * with the secret access key of auth->access_key_id. 0 when the signature is good. */
int td_sigv4_verify(const struct td_sigv4_request *req, const struct td_sigv4_auth *auth,
                    const char *secret, const struct td_sigv4_options *opts, struct td_err *err);

void td_sigv4_auth_release(struct td_sigv4_auth *auth);
static inline void td_sigv4_auth_releasep(struct td_sigv4_auth *auth)
{
    td_sigv4_auth_release(auth);
}
#define _cleanup_sigv4_auth_ __attribute__((cleanup(td_sigv4_auth_releasep)))

/* Building blocks. */

/* Append the canonical request (no trailing newline) to out. The payload hash is the hex
 * SHA-256 of req->body. -ENOENT if a signed header is absent from the request, -EINVAL for a
 * malformed SignedHeaders list, -E2BIG past out->max, -ENOMEM. */
int td_sigv4_canonical_request(const struct td_sigv4_request *req, const struct td_sigv4_auth *auth,
                               bool normalize_path, struct td_buf *out);
/* Append "AWS4-HMAC-SHA256\n<amz_date>\n<date>/<region>/<service>/aws4_request\n<hex sha256>". */
int td_sigv4_string_to_sign(const struct td_sigv4_auth *auth, const char *canonical_request,
                            size_t len, struct td_buf *out);
/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date8), region), service), "aws4_request").
 * Returns 0, -EINVAL (secret longer than TD_SIGV4_MAX_SECRET) or -ENOMEM/-EIO (OpenSSL);
 * out is zeroed on failure. */
int td_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                         const char *service, uint8_t out[TD_SIGV4_KEY_LEN]);
/* Lower-case hex HMAC-SHA256 of the string to sign; out_hex is "" on failure. */
int td_sigv4_signature(const uint8_t key[TD_SIGV4_KEY_LEN], const char *string_to_sign, size_t len,
                       char out_hex[TD_SIGV4_SIGNATURE_LEN + 1]);

/* The signing key for (access key id, date, region, service, secret), from the cache when it
 * holds it (cache may be NULL: then it is simply derived). */
int td_sigv4_key_cache_get(struct td_sigv4_key_cache *cache, const char *access_key_id,
                           const char *secret, const char *date8, const char *region,
                           const char *service, uint8_t out[TD_SIGV4_KEY_LEN]);
void td_sigv4_key_cache_init(struct td_sigv4_key_cache *cache);
/* Forget (and wipe) every key, e.g. after a secret was deleted. */
void td_sigv4_key_cache_clear(struct td_sigv4_key_cache *cache);

/* "20150830T123600Z" <-> Unix ms. Parse is strict (exactly 16 chars, valid date and time). */
int td_sigv4_parse_amz_date(const char *s, size_t len, int64_t *ret_ms);
void td_sigv4_format_amz_date(int64_t ms, char out[TD_SIGV4_AMZ_DATE_LEN + 1]);

#endif
