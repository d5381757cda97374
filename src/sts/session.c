/* Role-session tokens: MAC'd, self-contained, with derived secrets (see tenantd/session.h). */
#include "tenantd/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tenantd/cleanup.h"
#include "tenantd/map.h"
#include "tenantd/util.h"

#define TOKEN_PREFIX     "TDS1."
#define TOKEN_PREFIX_LEN 5
#define PAYLOAD_VERSION  1

static const char invalid_token[] = "The security token included in the request is invalid.";

/* ---- keys ---- */

static void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[TD_SHA256_LEN])
{
    size_t out_len = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, data, len, out, TD_SHA256_LEN,
                   &out_len) ||
        out_len != TD_SHA256_LEN)
        memset(out, 0, TD_SHA256_LEN); /* unreachable with a working libcrypto; fails closed */
}

void td_session_keys_derive(const uint8_t master[32], struct td_session_keys *keys)
{
    static const char mac_label[] = "tenantd session token mac";
    static const char secret_label[] = "tenantd session secret key";
    hmac_sha256(master, 32, mac_label, sizeof(mac_label) - 1, keys->mac);
    hmac_sha256(master, 32, secret_label, sizeof(secret_label) - 1, keys->secret);
}

static int read_master(const char *path, uint8_t master[32])
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || st.st_size != 32 || (st.st_mode & 077))
        return -EBADMSG;
    return read(fd, master, 32) == 32 ? 0 : -EIO;
}

int td_session_keys_load(const char *state_dir, struct td_session_keys *keys)
{
    char path[4096];
    uint8_t master[32];
    if (snprintf(path, sizeof(path), "%s/session.key", state_dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int r = read_master(path, master);
    if (r == -ENOENT) {
        if ((r = td_random(master, sizeof(master))) < 0 ||
            (r = td_write_file_atomic(path, master, sizeof(master), 0600)) < 0)
            return r;
    } else if (r < 0) {
        return r;
    }
    td_session_keys_derive(master, keys);
    OPENSSL_cleanse(master, sizeof(master));
    return 0;
}

/* ---- the session ---- */

struct td_session *td_session_new(void)
{
    return calloc(1, sizeof(struct td_session));
}

void td_session_free(struct td_session *s)
{
    if (!s)
        return;
    free(s->tags);
    free(s->policy);
    for (size_t i = 0; i < s->n_policy_arns; i++)
        free(s->policy_arns[i]);
    free(s->policy_arns);
    free(s);
}

int td_session_set_tag(struct td_session *s, const char *key, const char *value)
{
    size_t klen = strlen(key), vlen = strlen(value);
    if (klen == 0 || klen > TD_SESSION_TAG_KEY_MAX || vlen > TD_SESSION_TAG_VALUE_MAX)
        return -EINVAL;
    for (size_t i = 0; i < s->n_tags; i++) {
        if (strcasecmp(s->tags[i].key, key) == 0) {
            memcpy(s->tags[i].value, value, vlen + 1);
            return 0;
        }
    }
    if (s->n_tags >= TD_SESSION_MAX_TAGS)
        return -E2BIG;
    struct td_session_tag *grown = realloc(s->tags, (s->n_tags + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    s->tags = grown;
    memcpy(s->tags[s->n_tags].key, key, klen + 1);
    memcpy(s->tags[s->n_tags].value, value, vlen + 1);
    s->n_tags++;
    return 0;
}

const char *td_session_tag(const struct td_session *s, const char *key)
{
    for (size_t i = 0; i < s->n_tags; i++)
        if (strcasecmp(s->tags[i].key, key) == 0)
            return s->tags[i].value;
    return NULL;
}

int td_session_set_policy(struct td_session *s, const char *text)
{
    char *copy = NULL;
    if (text) {
        if (strlen(text) > TD_SESSION_POLICY_MAX)
            return -E2BIG;
        if (!(copy = strdup(text)))
            return -ENOMEM;
    }
    free(s->policy);
    s->policy = copy;
    return 0;
}

int td_session_add_policy_arn(struct td_session *s, const char *arn)
{
    if (s->n_policy_arns >= 10 || strlen(arn) > 2048)
        return -E2BIG;
    char **grown = realloc(s->policy_arns, (s->n_policy_arns + 1) * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    s->policy_arns = grown;
    if (!(grown[s->n_policy_arns] = strdup(arn)))
        return -ENOMEM;
    s->n_policy_arns++;
    return 0;
}

void td_session_arn(const struct td_session *s, char *out, size_t size)
{
    snprintf(out, size, "arn:aws:sts::%s:assumed-role/%s/%s", s->account, s->role_name,
             s->session_name);
}

void td_session_user_id(const struct td_session *s, char *out, size_t size)
{
    snprintf(out, size, "%s:%s", s->role_id, s->session_name);
}

/* ---- the token ---- */

static json_t *payload_json(const struct td_session *s)
{
    json_t *tags = json_array();
    for (size_t i = 0; tags && i < s->n_tags; i++)
        if (json_array_append_new(tags, json_pack("[s, s]", s->tags[i].key, s->tags[i].value)) <
            0) {
            json_decref(tags);
            return NULL;
        }
    json_t *o =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:s}", "v", PAYLOAD_VERSION, "a",
                  s->access_key_id, "c", s->account, "r", s->role_name, "i", s->role_id, "n",
                  s->session_name, "t", tags, "x", (json_int_t)s->expires, "e", s->env);
    if (o && s->n_policy_arns) {
        json_t *arns = json_array();
        for (size_t i = 0; arns && i < s->n_policy_arns; i++)
            json_array_append_new(arns, json_string(s->policy_arns[i]));
        if (!arns || json_object_set_new(o, "m", arns) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    if (o && s->policy && json_object_set_new(o, "p", json_string(s->policy)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The secret key of a token: derived from its (base64) payload. */
static void derive_secret(const struct td_session_keys *keys, const char *payload, size_t len,
                          char secret[TD_SESSION_SECRET_LEN + 1])
{
    uint8_t mac[TD_SHA256_LEN];
    hmac_sha256(keys->secret, sizeof(keys->secret), payload, len, mac);
    struct td_buf b = TD_BUF_INIT(64);
    if (td_base64_encode(mac, sizeof(mac), &b) < 0 || b.len < TD_SESSION_SECRET_LEN) {
        memset(secret, 0, TD_SESSION_SECRET_LEN + 1);
    } else {
        memcpy(secret, b.data, TD_SESSION_SECRET_LEN);
        secret[TD_SESSION_SECRET_LEN] = '\0';
    }
    td_buf_release(&b);
}

static int new_access_key_id(char out[TD_SESSION_AKID_LEN + 1])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t raw[TD_SESSION_AKID_LEN - 4];
    int r = td_random(raw, sizeof(raw));
    if (r < 0)
        return r;
    memcpy(out, "ASIA", 4);
    for (size_t i = 0; i < sizeof(raw); i++)
        out[4 + i] = alphabet[raw[i] & 31];
    out[TD_SESSION_AKID_LEN] = '\0';
    return 0;
}

int td_session_issue(const struct td_session_keys *keys, struct td_session *s, struct td_buf *token,
                     char secret[TD_SESSION_SECRET_LEN + 1])
{
    int r = new_access_key_id(s->access_key_id);
    if (r < 0)
        return r;
    json_t *o = payload_json(s);
    _cleanup_free_ char *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!json)
        return -ENOMEM;
    size_t start = token->len;
    if ((r = td_buf_append(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN)) < 0 ||
        (r = td_base64_encode(json, strlen(json), token)) < 0)
        return r;
    const char *signed_part = token->data + start;
    size_t signed_len = token->len - start;
    uint8_t mac[TD_SHA256_LEN];
    hmac_sha256(keys->mac, sizeof(keys->mac), signed_part, signed_len, mac);
    derive_secret(keys, signed_part + TOKEN_PREFIX_LEN, signed_len - TOKEN_PREFIX_LEN, secret);
    if ((r = td_buf_append(token, ".", 1)) < 0 ||
        (r = td_base64_encode(mac, sizeof(mac), token)) < 0)
        return r;
    return token->len - start > TD_SESSION_TOKEN_MAX ? -E2BIG : 0;
}

/* Copy a JSON string member into a fixed field; false when absent, not a string, or too long. */
static bool copy_member(json_t *o, const char *name, char *out, size_t size, bool allow_empty)
{
    const char *v = json_string_value(json_object_get(o, name));
    size_t len = v ? strlen(v) : 0;
    if (!v || len >= size || (!allow_empty && len == 0))
        return false;
    memcpy(out, v, len + 1);
    return true;
}

static int session_from_payload(json_t *o, struct td_session *s)
{
    json_t *tags = json_object_get(o, "t");
    json_t *x = json_object_get(o, "x");
    json_t *p = json_object_get(o, "p");
    if (json_integer_value(json_object_get(o, "v")) != PAYLOAD_VERSION || !json_is_array(tags) ||
        !json_is_integer(x) || (p && !json_is_string(p)) ||
        !copy_member(o, "a", s->access_key_id, sizeof(s->access_key_id), false) ||
        !copy_member(o, "c", s->account, sizeof(s->account), false) ||
        !copy_member(o, "r", s->role_name, sizeof(s->role_name), false) ||
        !copy_member(o, "i", s->role_id, sizeof(s->role_id), false) ||
        !copy_member(o, "n", s->session_name, sizeof(s->session_name), false) ||
        !copy_member(o, "e", s->env, sizeof(s->env), true))
        return -EBADMSG;
    s->expires = json_integer_value(x);
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        const char *k = json_string_value(json_array_get(t, 0));
        const char *v = json_string_value(json_array_get(t, 1));
        if (!k || !v || td_session_set_tag(s, k, v) < 0)
            return -EBADMSG;
    }
    json_t *arn;
    json_array_foreach(json_object_get(o, "m"), i, arn)
    {
        if (!json_is_string(arn) || td_session_add_policy_arn(s, json_string_value(arn)) < 0)
            return -EBADMSG;
    }
    return p ? td_session_set_policy(s, json_string_value(p)) : 0;
}

/* The MAC'd part and the MAC of a token, checked before anything in it is believed. */
static bool token_authentic(const struct td_session_keys *keys, const char *token, size_t len,
                            size_t *payload_end)
{
    if (len < TOKEN_PREFIX_LEN + 2 || len > TD_SESSION_TOKEN_MAX ||
        memcmp(token, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
        return false;
    const char *dot = memrchr(token, '.', len);
    if (!dot || dot == token + TOKEN_PREFIX_LEN - 1)
        return false;
    size_t signed_len = (size_t)(dot - token);
    /* The MAC is compared in its base64 text: one canonical encoding, so no other spelling
     * of the same bytes (unused low bits of the last character) passes. */
    uint8_t want[TD_SHA256_LEN];
    hmac_sha256(keys->mac, sizeof(keys->mac), token, signed_len, want);
    struct td_buf text = TD_BUF_INIT(64);
    const char *mac = dot + 1;
    size_t mac_len = len - signed_len - 1;
    bool ok = td_base64_encode(want, sizeof(want), &text) == 0 && text.len == mac_len &&
              td_const_eq(text.data, mac, mac_len);
    td_buf_release(&text);
    *payload_end = signed_len;
    return ok;
}

int td_session_open(const struct td_session_keys *keys, const char *token, size_t len,
                    const char *access_key_id, int64_t now, struct td_session **ret,
                    char secret[TD_SESSION_SECRET_LEN + 1], struct td_err *err)
{
    size_t end = 0;
    if (!token_authentic(keys, token, len, &end))
        return td_err_set(err, 403, "UnrecognizedClientException", "%s", invalid_token);
    const char *payload = token + TOKEN_PREFIX_LEN;
    size_t payload_len = end - TOKEN_PREFIX_LEN;
    struct td_buf json = TD_BUF_INIT(TD_SESSION_TOKEN_MAX);
    json_t *o = NULL;
    if (td_base64_decode(payload, payload_len, &json) == 0)
        o = json_loadb(json.data, json.len, JSON_REJECT_DUPLICATES, NULL);
    td_buf_release(&json);
    struct td_session *s = o ? td_session_new() : NULL;
    int r = s ? session_from_payload(o, s) : -EBADMSG;
    json_decref(o);
    if (r < 0 || strcmp(s->access_key_id, access_key_id) != 0) {
        td_session_free(s);
        return td_err_set(err, 403, "UnrecognizedClientException", "%s", invalid_token);
    }
    if (s->expires <= now) {
        td_session_free(s);
        return td_err_set(err, 400, "ExpiredTokenException",
                          "The security token included in the request is expired");
    }
    derive_secret(keys, payload, payload_len, secret);
    *ret = s;
    return 0;
}

/* ---- copies and the cache of opened tokens ---- */

struct td_session *td_session_dup(const struct td_session *s)
{
    struct td_session *c = td_session_new();
    if (!c)
        return NULL;
    memcpy(c->access_key_id, s->access_key_id, sizeof(c->access_key_id));
    memcpy(c->account, s->account, sizeof(c->account));
    memcpy(c->role_name, s->role_name, sizeof(c->role_name));
    memcpy(c->role_id, s->role_id, sizeof(c->role_id));
    memcpy(c->session_name, s->session_name, sizeof(c->session_name));
    memcpy(c->env, s->env, sizeof(c->env));
    c->expires = s->expires;
    bool ok = true;
    if (s->n_tags) {
        ok = (c->tags = malloc(s->n_tags * sizeof(*c->tags))) != NULL;
        if (ok) {
            memcpy(c->tags, s->tags, s->n_tags * sizeof(*c->tags));
            c->n_tags = s->n_tags;
        }
    }
    if (ok && s->policy)
        ok = (c->policy = strdup(s->policy)) != NULL;
    for (size_t i = 0; ok && i < s->n_policy_arns; i++)
        ok = td_session_add_policy_arn(c, s->policy_arns[i]) == 0;
    if (!ok) {
        td_session_free(c);
        return NULL;
    }
    return c;
}

/* Direct-mapped by the keyed hash of the token's MAC: a token whose slot is taken replaces its
 * holder. */
#define CACHE_SLOTS 512

struct cached_token {
    char *token;
    size_t len;
    struct td_session *session;
    char secret[TD_SESSION_SECRET_LEN + 1];
    uint8_t mac_key[32]; /* the keys it was opened with */
};

struct td_session_cache {
    struct cached_token slot[CACHE_SLOTS];
};

static void cached_token_clear(struct cached_token *t)
{
    free(t->token);
    td_session_free(t->session);
    explicit_bzero(t, sizeof(*t));
}

int td_session_cache_new(struct td_session_cache **ret)
{
    return (*ret = calloc(1, sizeof(**ret))) ? 0 : -ENOMEM;
}

void td_session_cache_free(struct td_session_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        cached_token_clear(&c->slot[i]);
    free(c);
}

/* The token's last characters are its MAC: hashing those is enough. */
static size_t token_slot(const char *token, size_t len)
{
    size_t tail = len > 16 ? 16 : len;
    return td_hash(token + len - tail, tail) % CACHE_SLOTS;
}

int td_session_open_cached(struct td_session_cache *c, const struct td_session_keys *keys,
                           const char *token, size_t len, const char *access_key_id, int64_t now,
                           struct td_session **ret, char secret[TD_SESSION_SECRET_LEN + 1],
                           struct td_err *err)
{
    struct cached_token *t = &c->slot[token_slot(token, len)];
    if (t->token && t->len == len && CRYPTO_memcmp(t->token, token, len) == 0 &&
        CRYPTO_memcmp(t->mac_key, keys->mac, sizeof(t->mac_key)) == 0 &&
        strcmp(t->session->access_key_id, access_key_id) == 0 && t->session->expires > now) {
        if (!(*ret = td_session_dup(t->session)))
            return -ENOMEM;
        memcpy(secret, t->secret, sizeof(t->secret));
        return 0;
    }
    int r = td_session_open(keys, token, len, access_key_id, now, ret, secret, err);
    if (r < 0)
        return r;
    /* Remember it; without memory for that, the answer stands all the same. */
    char *copy = malloc(len);
    struct td_session *s = copy ? td_session_dup(*ret) : NULL;
    if (!s) {
        free(copy);
        return 0;
    }
    cached_token_clear(t);
    memcpy(copy, token, len);
    t->token = copy;
    t->len = len;
    t->session = s;
    memcpy(t->secret, secret, sizeof(t->secret));
    memcpy(t->mac_key, keys->mac, sizeof(t->mac_key));
    return 0;
}
