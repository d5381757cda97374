/* AWS Signature Version 4 verification (and the building blocks of signing). See sigv4.h. */
#include "tenantd/sigv4.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "tenantd/cleanup.h"
#include "tenantd/map.h"
#include "tenantd/util.h"

#define ERR_MISSING    "MissingAuthenticationTokenException"
#define ERR_INCOMPLETE "IncompleteSignatureException"
#define ERR_INVALID    "InvalidSignatureException"
#define ERR_INTERNAL   "ServiceException"

#define MSG_MISMATCH                                                                               \
    "The request signature we calculated does not match the signature you provided. Check your "   \
    "AWS Secret Access Key and signing method. Consult the service documentation for details."

/* How much untrusted text an error message quotes. */
#define ECHO_MAX 256

/* Longest X-Amz-* query parameter name we look for, and a bound on decoded auth values. */
#define QNAME_MAX      64
#define AUTH_VALUE_MAX 4096

struct span {
    const char *p;
    size_t n;
};

/* ---- small text helpers ---------------------------------------------------------------- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Whitespace inside header values: OWS plus the CR/LF left over from obsolete line folding. */
static bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct span trim(struct span s)
{
    while (s.n > 0 && is_ows(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_ows(s.p[s.n - 1]))
        s.n--;
    return s;
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool ascii_caseeq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    return true;
}

static bool span_eq(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool span_starts(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n >= n && memcmp(s.p, lit, n) == 0;
}

/* Printable-ASCII copy of untrusted text for error messages, cut at ECHO_MAX bytes. */
struct echo {
    char s[ECHO_MAX + 4];
};

static const char *echo(struct echo *e, const char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < ECHO_MAX; i++) {
        unsigned char c = (unsigned char)p[i];
        e->s[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n > ECHO_MAX) {
        memcpy(e->s + o, "...", 3);
        o += 3;
    }
    e->s[o] = '\0';
    return e->s;
}

static const char *echo_span(struct echo *e, struct span s)
{
    return echo(e, s.p, s.n);
}

/* Copy a span into a fixed field of `cap` bytes (including the NUL). */
static bool copy_field(char *dst, size_t cap, struct span s)
{
    if (s.n >= cap)
        return false;
    if (s.n)
        memcpy(dst, s.p, s.n);
    dst[s.n] = '\0';
    return true;
}

/* Number of headers called `name` (lower-case literal, compared case-insensitively); *first
 * receives the first one. */
static size_t find_header_n(const struct td_sigv4_request *req, const char *name, size_t len,
                            struct span *first)
{
    size_t count = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct td_http_header *h = &req->headers[i];
        if (h->name_len == len && h->name && ascii_caseeq(h->name, name, len)) {
            if (count == 0 && first) {
                first->p = h->value ? h->value : "";
                first->n = h->value ? h->value_len : 0;
            }
            count++;
        }
    }
    return count;
}

static size_t find_header(const struct td_sigv4_request *req, const char *name, struct span *first)
{
    return find_header_n(req, name, strlen(name), first);
}

/* ---- percent-encoding ------------------------------------------------------------------ */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Decode %XX escapes into out (which has room for n bytes). A malformed escape is kept as
 * literal text; '+' is a literal plus (SigV4 clients encode spaces as %20). */
static size_t pct_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && td_hex_value(s[i + 1]) >= 0 &&
            td_hex_value(s[i + 2]) >= 0) {
            out[o++] = (char)(td_hex_value(s[i + 1]) * 16 + td_hex_value(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

/* Append the decoded span to a (reset) buffer. */
static int pct_decode_buf(struct td_buf *out, struct span s)
{
    td_buf_reset(out);
    int r = td_buf_reserve(out, s.n);
    if (r < 0)
        return r;
    out->len = pct_decode(s.p, s.n, out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* Append s URI-encoded (RFC 3986 unreserved characters kept, upper-case hex; '/' kept when
 * keep_slash). */
static int uri_encode(struct td_buf *out, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        need += (is_unreserved(c) || (keep_slash && c == '/')) ? 1 : 3;
    }
    int r = td_buf_reserve(out, need);
    if (r < 0)
        return r;
    char *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    out->len += need;
    out->data[out->len] = '\0';
    return 0;
}

/* ---- time ------------------------------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ry, unsigned *rm, unsigned *rd)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *rd = doy - (153 * mp + 2) / 5 + 1;
    *rm = mp < 10 ? mp + 3 : mp - 9;
    *ry = y + (*rm <= 2);
}

static bool is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static bool parse_digits(const char *s, size_t n, unsigned *ret)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *ret = v;
    return true;
}

static int make_time(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
                     int64_t *ret_ms)
{
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59)
        return -EINVAL;
    int64_t days = days_from_civil((int64_t)y, mo, d);
    *ret_ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000;
    return 0;
}

int td_sigv4_parse_amz_date(const char *s, size_t len, int64_t *ret_ms)
{
    unsigned y, mo, d, h, mi, sec;
    if (!s || len != TD_SIGV4_AMZ_DATE_LEN || s[8] != 'T' || s[15] != 'Z')
        return -EINVAL;
    if (!parse_digits(s, 4, &y) || !parse_digits(s + 4, 2, &mo) || !parse_digits(s + 6, 2, &d) ||
        !parse_digits(s + 9, 2, &h) || !parse_digits(s + 11, 2, &mi) ||
        !parse_digits(s + 13, 2, &sec))
        return -EINVAL;
    return make_time(y, mo, d, h, mi, sec, ret_ms);
}

/* RFC 7231 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
static int parse_http_date(const char *s, size_t n, int64_t *ret_ms)
{
    static const char days[] = "MonTueWedThuFriSatSun";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    unsigned y, mo = 0, d, h, mi, sec;

    if (n != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return -EINVAL;
    bool day_ok = false;
    for (size_t i = 0; i < 7; i++)
        if (memcmp(s, days + 3 * i, 3) == 0)
            day_ok = true;
    for (unsigned i = 0; i < 12; i++)
        if (memcmp(s + 8, months + 3 * i, 3) == 0)
            mo = i + 1;
    if (!day_ok || mo == 0)
        return -EINVAL;
    if (!parse_digits(s + 5, 2, &d) || !parse_digits(s + 12, 4, &y) ||
        !parse_digits(s + 17, 2, &h) || !parse_digits(s + 20, 2, &mi) ||
        !parse_digits(s + 23, 2, &sec))
        return -EINVAL;
    return make_time(y, mo, d, h, mi, sec, ret_ms);
}

static void put2(char *o, unsigned v)
{
    o[0] = (char)('0' + v / 10 % 10);
    o[1] = (char)('0' + v % 10);
}

void td_sigv4_format_amz_date(int64_t ms, char out[TD_SIGV4_AMZ_DATE_LEN + 1])
{
    int64_t days = ms / 86400000;
    int64_t rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    unsigned secs = (unsigned)(rem / 1000);
    put2(out, (unsigned)(y / 100));
    put2(out + 2, (unsigned)(y % 100));
    put2(out + 4, mo);
    put2(out + 6, d);
    out[8] = 'T';
    put2(out + 9, secs / 3600);
    put2(out + 11, secs / 60 % 60);
    put2(out + 13, secs % 60);
    out[15] = 'Z';
    out[16] = '\0';
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* "15 min", "90 sec" or "1500 ms", as in AWS's skew messages. */
static void format_skew(int64_t skew_ms, char *out, size_t size)
{
    if (skew_ms % 60000 == 0)
        snprintf(out, size, "%lld min", (long long)(skew_ms / 60000));
    else if (skew_ms % 1000 == 0)
        snprintf(out, size, "%lld sec", (long long)(skew_ms / 1000));
    else
        snprintf(out, size, "%lld ms", (long long)skew_ms);
}

/* ---- crypto ---------------------------------------------------------------------------- */

/* HMAC-SHA256 set up once per process: setting the digest by name fetches it, which costs more
 * than the HMACs of a request, so each use copies this template instead. */
static EVP_MAC_CTX *g_hmac_template;
static CRYPTO_ONCE g_hmac_once = CRYPTO_ONCE_STATIC_INIT;

static void hmac_setup(void)
{
    static char digest[] = "SHA256";
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                            OSSL_PARAM_construct_end()};
    if (ctx && EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    g_hmac_template = ctx;
}

static void mac_ctx_freep(EVP_MAC_CTX **ctx)
{
    EVP_MAC_CTX_free(*ctx);
}

/* A fresh HMAC-SHA256 context (a copy of the template). */
static EVP_MAC_CTX *hmac_ctx_new(void)
{
    if (!CRYPTO_THREAD_run_once(&g_hmac_once, hmac_setup) || !g_hmac_template)
        return NULL;
    return EVP_MAC_CTX_dup(g_hmac_template);
}

static int hmac(EVP_MAC_CTX *ctx, const void *key, size_t key_len, const void *data, size_t len,
                uint8_t out[32])
{
    size_t out_len = 0;
    if (EVP_MAC_init(ctx, key, key_len, NULL) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)data, len) != 1 ||
        EVP_MAC_final(ctx, out, &out_len, 32) != 1 || out_len != 32)
        return -EIO;
    return 0;
}

int td_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                         const char *service, uint8_t out[TD_SIGV4_KEY_LEN])
{
    memset(out, 0, TD_SIGV4_KEY_LEN);
    if (!secret || !date8 || !region || !service)
        return -EINVAL;
    size_t secret_len = strlen(secret);
    if (secret_len > TD_SIGV4_MAX_SECRET)
        return -EINVAL;

    __attribute__((cleanup(mac_ctx_freep))) EVP_MAC_CTX *ctx = hmac_ctx_new();
    if (!ctx)
        return -ENOMEM;

    uint8_t k0[4 + TD_SIGV4_MAX_SECRET];
    uint8_t k1[32], k2[32];
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, secret_len);
    int r = hmac(ctx, k0, 4 + secret_len, date8, strlen(date8), k1);
    if (r == 0)
        r = hmac(ctx, k1, 32, region, strlen(region), k2);
    if (r == 0)
        r = hmac(ctx, k2, 32, service, strlen(service), k1);
    if (r == 0)
        r = hmac(ctx, k1, 32, TD_SIGV4_TERMINATOR, strlen(TD_SIGV4_TERMINATOR), out);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    if (r < 0)
        memset(out, 0, TD_SIGV4_KEY_LEN);
    return r;
}

int td_sigv4_signature(const uint8_t key[TD_SIGV4_KEY_LEN], const char *string_to_sign, size_t len,
                       char out_hex[TD_SIGV4_SIGNATURE_LEN + 1])
{
    uint8_t mac[32];
    out_hex[0] = '\0';
    if (!string_to_sign && len)
        return -EINVAL;
    /* One context per thread, re-keyed by each use: duplicating the template for every request
     * cost more than the HMAC of its string to sign. (The key it last held is a signing key,
     * which the key cache holds anyway.) */
    static __thread EVP_MAC_CTX *ctx;
    if (!ctx && !(ctx = hmac_ctx_new()))
        return -ENOMEM;
    int r = hmac(ctx, key, TD_SIGV4_KEY_LEN, string_to_sign ? string_to_sign : "", len, mac);
    if (r < 0)
        return r;
    td_hex(mac, sizeof(mac), out_hex);
    return 0;
}

/* ---- signing-key cache ----------------------------------------------------------------- */

void td_sigv4_key_cache_init(struct td_sigv4_key_cache *cache)
{
    memset(cache, 0, sizeof(*cache));
}

void td_sigv4_key_cache_clear(struct td_sigv4_key_cache *cache)
{
    OPENSSL_cleanse(cache, sizeof(*cache));
    memset(cache, 0, sizeof(*cache));
}

static bool fits(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

int td_sigv4_key_cache_get(struct td_sigv4_key_cache *cache, const char *access_key_id,
                           const char *secret, const char *date8, const char *region,
                           const char *service, uint8_t out[TD_SIGV4_KEY_LEN])
{
    if (!cache || !access_key_id || !secret || !date8 || !region || !service ||
        !fits(access_key_id, sizeof(cache->slots[0].access_key_id)) ||
        !fits(date8, sizeof(cache->slots[0].date)) ||
        !fits(region, sizeof(cache->slots[0].region)) ||
        !fits(service, sizeof(cache->slots[0].service)))
        return td_sigv4_signing_key(secret, date8, region, service, out);

    uint8_t fp[TD_FINGERPRINT_LEN];
    td_fingerprint128(secret, strlen(secret), fp);

    struct td_sigv4_key_cache_slot *victim = NULL;
    for (size_t i = 0; i < TD_SIGV4_KEY_CACHE_SLOTS; i++) {
        struct td_sigv4_key_cache_slot *s = &cache->slots[i];
        if (s->last_used == 0) {
            if (!victim || victim->last_used != 0)
                victim = s;
            continue;
        }
        if (strcmp(s->access_key_id, access_key_id) == 0 && strcmp(s->date, date8) == 0 &&
            strcmp(s->region, region) == 0 && strcmp(s->service, service) == 0) {
            if (td_const_eq(s->secret_fp, fp, sizeof(fp))) {
                s->last_used = ++cache->tick;
                cache->hits++;
                memcpy(out, s->key, TD_SIGV4_KEY_LEN);
                return 0;
            }
            victim = s; /* the secret changed: replace the stale key */
            break;
        }
        if (!victim || (victim->last_used != 0 && s->last_used < victim->last_used))
            victim = s;
    }

    int r = td_sigv4_signing_key(secret, date8, region, service, out);
    if (r < 0)
        return r;
    cache->misses++;
    if (victim) {
        OPENSSL_cleanse(victim, sizeof(*victim));
        memcpy(victim->access_key_id, access_key_id, strlen(access_key_id) + 1);
        memcpy(victim->date, date8, strlen(date8) + 1);
        memcpy(victim->region, region, strlen(region) + 1);
        memcpy(victim->service, service, strlen(service) + 1);
        memcpy(victim->secret_fp, fp, sizeof(fp));
        memcpy(victim->key, out, TD_SIGV4_KEY_LEN);
        victim->last_used = ++cache->tick;
    }
    return 0;
}

/* ---- canonical request ----------------------------------------------------------------- */

static int canonical_uri(struct td_buf *out, const char *path, bool normalize)
{
    size_t n = path ? strlen(path) : 0;
    if (n == 0)
        return td_buf_puts(out, "/");
    if (!normalize)
        return uri_encode(out, path, n, true);

    /* Remove empty and "." segments, let ".." drop the previous one (never above the root),
     * keep a trailing slash. */
    size_t max_segs = 1;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/')
            max_segs++;
    struct span few[16];
    _cleanup_free_ struct span *many =
        max_segs > TD_ARRAY_SIZE(few) ? calloc(max_segs, sizeof(*many)) : NULL;
    struct span *segs = max_segs > TD_ARRAY_SIZE(few) ? many : few;
    if (!segs)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        struct span s = {path + i, j - i};
        if (s.n == 0 || span_eq(s, ".")) {
            /* skip */
        } else if (span_eq(s, "..")) {
            if (k > 0)
                k--;
        } else {
            segs[k++] = s;
        }
        i = j + 1;
    }
    int r = td_buf_puts(out, "/");
    for (size_t i = 0; i < k && r == 0; i++) {
        if (i > 0)
            r = td_buf_puts(out, "/");
        if (r == 0)
            r = uri_encode(out, segs[i].p, segs[i].n, false);
    }
    if (r == 0 && k > 0 && path[n - 1] == '/')
        r = td_buf_puts(out, "/");
    return r;
}

struct qpair {
    size_t name_off, name_len, value_off, value_len;
    const char *name, *value;
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = n ? memcmp(x->name, y->name, n) : 0;
    if (c != 0)
        return c;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    n = x->value_len < y->value_len ? x->value_len : y->value_len;
    c = n ? memcmp(x->value, y->value, n) : 0;
    if (c != 0)
        return c;
    if (x->value_len != y->value_len)
        return x->value_len < y->value_len ? -1 : 1;
    return 0;
}

/* Next non-empty '&'-separated parameter of [*cur, end); false at the end. */
static bool next_param(const char **cur, const char *end, struct span *name, struct span *value)
{
    const char *p = *cur;
    while (p < end && *p == '&')
        p++;
    if (p >= end)
        return false;
    const char *e = memchr(p, '&', (size_t)(end - p));
    if (!e)
        e = end;
    const char *eq = memchr(p, '=', (size_t)(e - p));
    if (eq) {
        *name = (struct span){p, (size_t)(eq - p)};
        *value = (struct span){eq + 1, (size_t)(e - eq - 1)};
    } else {
        *name = (struct span){p, (size_t)(e - p)};
        *value = (struct span){e, 0};
    }
    *cur = e;
    return true;
}

/* Decode a parameter name into buf (QNAME_MAX bytes); false when it is longer than any name
 * we look for. */
static bool qname_decode(struct span name, char buf[QNAME_MAX], size_t *len)
{
    if (name.n > QNAME_MAX)
        return false;
    *len = pct_decode(name.p, name.n, buf);
    return true;
}

static bool qname_is(const char *buf, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(buf, lit, len) == 0;
}

static int canonical_query(struct td_buf *out, const char *query, bool presigned, bool skip_token)
{
    size_t qlen = query ? strlen(query) : 0;
    if (qlen == 0)
        return 0;
    if (qlen > TD_SIGV4_MAX_QUERY)
        return -E2BIG;
    const char *end = query + qlen;

    size_t count = 0;
    struct span name, value;
    for (const char *cur = query; next_param(&cur, end, &name, &value);)
        count++;
    if (count > TD_SIGV4_MAX_QUERY_PARAMS)
        return -E2BIG;
    if (count == 0)
        return 0;

    _cleanup_free_ struct qpair *pairs = calloc(count, sizeof(*pairs));
    _cleanup_free_ char *dec = malloc(qlen + 1);
    _cleanup_buf_ struct td_buf enc = TD_BUF_INIT(3 * qlen + 16);
    if (!pairs || !dec)
        return -ENOMEM;

    size_t k = 0;
    int r = 0;
    for (const char *cur = query; r == 0 && next_param(&cur, end, &name, &value);) {
        size_t dn = pct_decode(name.p, name.n, dec);
        if ((presigned && qname_is(dec, dn, "X-Amz-Signature")) ||
            (skip_token && qname_is(dec, dn, "X-Amz-Security-Token")))
            continue;
        struct qpair *q = &pairs[k++];
        q->name_off = enc.len;
        r = uri_encode(&enc, dec, dn, false);
        q->name_len = enc.len - q->name_off;
        size_t dv = pct_decode(value.p, value.n, dec);
        q->value_off = enc.len;
        if (r == 0)
            r = uri_encode(&enc, dec, dv, false);
        q->value_len = enc.len - q->value_off;
    }
    if (r < 0)
        return r;

    const char *base = enc.data ? enc.data : "";
    for (size_t i = 0; i < k; i++) {
        pairs[i].name = base + pairs[i].name_off;
        pairs[i].value = base + pairs[i].value_off;
    }
    qsort(pairs, k, sizeof(*pairs), qpair_cmp);
    for (size_t i = 0; i < k && r == 0; i++) {
        if (i > 0)
            r = td_buf_append(out, "&", 1);
        if (r == 0)
            r = td_buf_append(out, pairs[i].name, pairs[i].name_len);
        if (r == 0)
            r = td_buf_append(out, "=", 1);
        if (r == 0)
            r = td_buf_append(out, pairs[i].value, pairs[i].value_len);
    }
    return r;
}

/* Append a header value trimmed, with runs of whitespace collapsed to one space. */
static int append_header_value(struct td_buf *out, const char *v, size_t n)
{
    size_t i = 0;
    while (i < n && is_lws(v[i]))
        i++;
    while (n > i && is_lws(v[n - 1]))
        n--;
    int r = td_buf_reserve(out, n - i);
    if (r < 0)
        return r;
    char *o = out->data + out->len;
    bool in_ws = false;
    for (; i < n; i++) {
        if (is_lws(v[i])) {
            if (!in_ws)
                *o++ = ' ';
            in_ws = true;
        } else {
            *o++ = v[i];
            in_ws = false;
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}

static int canonical_headers(struct td_buf *out, const struct td_sigv4_request *req,
                             const char *signed_headers)
{
    const char *p = signed_headers;
    for (;;) {
        const char *e = strchr(p, ';');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0)
            return -EINVAL;
        int r = td_buf_append(out, p, n);
        if (r == 0)
            r = td_buf_append(out, ":", 1);
        bool found = false;
        for (size_t i = 0; i < req->n_headers && r == 0; i++) {
            const struct td_http_header *h = &req->headers[i];
            if (h->name_len != n || !h->name || !ascii_caseeq(h->name, p, n))
                continue;
            if (found)
                r = td_buf_append(out, ",", 1);
            if (r == 0 && h->value)
                r = append_header_value(out, h->value, h->value_len);
            found = true;
        }
        if (r == 0)
            r = td_buf_append(out, "\n", 1);
        if (r < 0)
            return r;
        if (!found)
            return -ENOENT;
        if (!e)
            return 0;
        p = e + 1;
    }
}

static void payload_hash(const struct td_sigv4_request *req, char hex[TD_SHA256_HEX_LEN + 1])
{
    uint8_t h[TD_SHA256_LEN];
    td_sha256(req->body ? req->body : "", req->body ? req->body_len : 0, h);
    td_hex(h, sizeof(h), hex);
}

static int build_canonical(const struct td_sigv4_request *req, const struct td_sigv4_auth *auth,
                           bool normalize, bool skip_token, const char *payload_hex,
                           struct td_buf *out)
{
    if (!req || !auth || (req->n_headers && !req->headers))
        return -EINVAL;
    int r = td_buf_puts(out, req->method ? req->method : "");
    if (r == 0)
        r = td_buf_append(out, "\n", 1);
    if (r == 0)
        r = canonical_uri(out, req->path, normalize);
    if (r == 0)
        r = td_buf_append(out, "\n", 1);
    if (r == 0)
        r = canonical_query(out, req->query, auth->presigned, skip_token);
    if (r == 0)
        r = td_buf_append(out, "\n", 1);
    if (r == 0)
        r = canonical_headers(out, req, auth->signed_headers);
    if (r == 0)
        r = td_buf_append(out, "\n", 1);
    if (r == 0)
        r = td_buf_puts(out, auth->signed_headers);
    if (r == 0)
        r = td_buf_append(out, "\n", 1);
    if (r == 0)
        r = td_buf_puts(out, payload_hex);
    return r;
}

int td_sigv4_canonical_request(const struct td_sigv4_request *req, const struct td_sigv4_auth *auth,
                               bool normalize_path, struct td_buf *out)
{
    char hex[TD_SHA256_HEX_LEN + 1];
    if (!req || !auth)
        return -EINVAL;
    payload_hash(req, hex);
    return build_canonical(req, auth, normalize_path, auth->unsigned_query_token, hex, out);
}

int td_sigv4_string_to_sign(const struct td_sigv4_auth *auth, const char *canonical_request,
                            size_t len, struct td_buf *out)
{
    uint8_t h[TD_SHA256_LEN];
    char hex[TD_SHA256_HEX_LEN + 1];
    if (!auth || (!canonical_request && len))
        return -EINVAL;
    td_sha256(canonical_request ? canonical_request : "", len, h);
    td_hex(h, sizeof(h), hex);
    /* ALGORITHM \n amz-date \n date/region/service/aws4_request \n hex(hash(canonical)) */
    const char *parts[] = {
        TD_SIGV4_ALGORITHM, "\n", auth->amz_date,      "\n", auth->date, "/", auth->region, "/",
        auth->service,      "/",  TD_SIGV4_TERMINATOR, "\n", hex};
    for (size_t i = 0; i < TD_ARRAY_SIZE(parts); i++) {
        int r = td_buf_puts(out, parts[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- parsing --------------------------------------------------------------------------- */

enum {
    Q_ALGORITHM,
    Q_CREDENTIAL,
    Q_DATE,
    Q_SIGNED_HEADERS,
    Q_EXPIRES,
    Q_SIGNATURE,
    Q_TOKEN,
    Q_COUNT,
};

static const char *const qauth_names[Q_COUNT] = {
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",           "X-Amz-SignedHeaders",
    "X-Amz-Expires",   "X-Amz-Signature",  "X-Amz-Security-Token",
};

struct qauth {
    struct span value[Q_COUNT];
    unsigned count[Q_COUNT];
    size_t n_params;
};

static void scan_query(const char *query, struct qauth *q)
{
    memset(q, 0, sizeof(*q));
    size_t qlen = query ? strlen(query) : 0;
    struct span name, value;
    for (const char *cur = query; qlen && next_param(&cur, query + qlen, &name, &value);) {
        char buf[QNAME_MAX];
        size_t len;
        q->n_params++;
        if (!qname_decode(name, buf, &len))
            continue;
        for (size_t i = 0; i < Q_COUNT; i++) {
            if (qname_is(buf, len, qauth_names[i])) {
                if (q->count[i]++ == 0)
                    q->value[i] = value;
                break;
            }
        }
    }
}

/* The authentication fields of either form, as plain (decoded) text. */
struct raw_auth {
    struct span credential, signed_headers, signature, date, expires;
    bool has_expires;
    bool date_from_http_date; /* the Date header, not X-Amz-Date */
};

struct parse_ctx {
    const struct td_sigv4_request *req;
    const struct td_sigv4_options *opts;
    struct td_sigv4_auth *auth;
    struct td_err *err;
    int status;
};

static int fail(struct parse_ctx *c, const char *type, const char *msg)
{
    return td_err_set(c->err, c->status, type, "%s", msg);
}

static int fail_oom(struct td_err *err, int status, int r)
{
    if (r == -E2BIG)
        return td_err_setc(err, r, status, ERR_INCOMPLETE, "Authentication data is too large.");
    return td_err_setc(err, r, 500, ERR_INTERNAL, "Internal error while authenticating (%s).",
                       strerror(-r));
}

static int parse_authorization_header(struct parse_ctx *c, struct span value, bool has_date,
                                      struct raw_auth *raw)
{
    struct echo e;
    struct span v = trim(value);
    struct span alg = {v.p, 0};
    while (alg.n < v.n && !is_ows(v.p[alg.n]))
        alg.n++;
    struct span rest = trim((struct span){v.p + alg.n, v.n - alg.n});

    bool seen_cred = false, seen_sh = false, seen_sig = false;
    const char *end = rest.p + rest.n;
    for (const char *p = rest.p; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        struct span piece = trim((struct span){p, (size_t)((comma ? comma : end) - p)});
        p = comma ? comma + 1 : end;
        if (piece.n == 0)
            continue;
        const char *eq = memchr(piece.p, '=', piece.n);
        if (!eq) {
            return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                              "Invalid key=value pair (missing equal-sign) in Authorization "
                              "header: '%s'.",
                              echo_span(&e, piece));
        }
        struct span key = trim((struct span){piece.p, (size_t)(eq - piece.p)});
        struct span val = trim((struct span){eq + 1, (size_t)(piece.p + piece.n - eq - 1)});
        struct span *slot = NULL;
        bool *seen = NULL;
        if (span_eq(key, "Credential")) {
            slot = &raw->credential;
            seen = &seen_cred;
        } else if (span_eq(key, "SignedHeaders")) {
            slot = &raw->signed_headers;
            seen = &seen_sh;
        } else if (span_eq(key, "Signature")) {
            slot = &raw->signature;
            seen = &seen_sig;
        } else {
            continue; /* unknown parameters are ignored, as AWS does */
        }
        if (*seen) {
            return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                              "Authorization header has more than one '%.*s' parameter. "
                              "Authorization=%s",
                              (int)key.n, key.p, echo_span(&e, v));
        }
        *seen = true;
        *slot = val;
    }

    if (raw->credential.n == 0 || raw->signed_headers.n == 0 || raw->signature.n == 0 ||
        !has_date) {
        _cleanup_buf_ struct td_buf msg = TD_BUF_INIT(TD_ERR_MSG_MAX);
        if (raw->credential.n == 0)
            (void)td_buf_puts(&msg, "Authorization header requires 'Credential' parameter. ");
        if (raw->signature.n == 0)
            (void)td_buf_puts(&msg, "Authorization header requires 'Signature' parameter. ");
        if (raw->signed_headers.n == 0)
            (void)td_buf_puts(&msg, "Authorization header requires 'SignedHeaders' parameter. ");
        if (!has_date)
            (void)td_buf_puts(&msg, "Authorization header requires existence of either a "
                                    "'X-Amz-Date' or a 'Date' header. ");
        return td_err_set(c->err, c->status, ERR_INCOMPLETE, "%sAuthorization=%s",
                          msg.data ? msg.data : "", echo_span(&e, v));
    }
    if (!span_eq(alg, TD_SIGV4_ALGORITHM)) {
        return td_err_set(c->err, c->status, ERR_INCOMPLETE, "Unsupported AWS 'algorithm': '%s'.",
                          echo_span(&e, alg));
    }
    return 0;
}

/* Header authentication: the request time from X-Amz-Date, else from Date. */
static int header_date(struct parse_ctx *c, struct raw_auth *raw, bool *has_date)
{
    struct span xd = {NULL, 0}, d = {NULL, 0};
    size_t n_xd = find_header(c->req, "x-amz-date", &xd);
    size_t n_d = find_header(c->req, "date", &d);
    if (n_xd > 1)
        return fail(c, ERR_INCOMPLETE, "Only one 'X-Amz-Date' header is allowed.");
    if (n_xd == 0 && n_d > 1)
        return fail(c, ERR_INCOMPLETE, "Only one 'Date' header is allowed.");
    *has_date = n_xd == 1 || n_d == 1;
    if (n_xd == 1) {
        raw->date = trim(xd);
    } else if (n_d == 1) {
        raw->date = trim(d);
        raw->date_from_http_date = true;
    }
    return 0;
}

static int query_auth(struct parse_ctx *c, const struct qauth *q, struct td_buf *const bufs[5],
                      struct raw_auth *raw)
{
    struct echo e;
    for (size_t i = 0; i < Q_COUNT; i++) {
        if (q->count[i] > 1)
            return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                              "Query parameter '%s' appears more than once.", qauth_names[i]);
    }
    if (!q->count[Q_ALGORITHM] || !q->count[Q_CREDENTIAL] || !q->count[Q_SIGNATURE] ||
        !q->count[Q_DATE] || !q->count[Q_SIGNED_HEADERS]) {
        return fail(c, ERR_INCOMPLETE,
                    "AWS query-string parameters must include 'X-Amz-Algorithm', "
                    "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date' and "
                    "'X-Amz-SignedHeaders'. Re-examine the query-string parameters.");
    }
    static const int which[5] = {Q_CREDENTIAL, Q_SIGNED_HEADERS, Q_SIGNATURE, Q_DATE, Q_EXPIRES};
    struct span *dst[5] = {&raw->credential, &raw->signed_headers, &raw->signature, &raw->date,
                           &raw->expires};
    for (size_t i = 0; i < 5; i++) {
        if (!q->count[which[i]])
            continue;
        int r = pct_decode_buf(bufs[i], q->value[which[i]]);
        if (r == -E2BIG)
            return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                              "Query parameter '%s' is too long.", qauth_names[which[i]]);
        if (r < 0)
            return fail_oom(c->err, c->status, r);
        *dst[i] = (struct span){bufs[i]->data ? bufs[i]->data : "", bufs[i]->len};
    }
    raw->has_expires = q->count[Q_EXPIRES] > 0;

    /* The algorithm: decoded into a small stack copy. */
    struct span a = q->value[Q_ALGORITHM];
    char alg[QNAME_MAX];
    size_t alg_len = 0;
    if (!qname_decode(a, alg, &alg_len) || !qname_is(alg, alg_len, TD_SIGV4_ALGORITHM)) {
        return td_err_set(c->err, c->status, ERR_INCOMPLETE, "Unsupported AWS 'algorithm': '%s'.",
                          echo_span(&e, a));
    }
    return 0;
}

/* Access key ids: AWS's are [A-Z0-9] (AKIA..., ASIA...); '_', '.' and '-' are tolerated. */
static bool is_key_char(char ch)
{
    unsigned char u = (unsigned char)ch;
    return (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') ||
           ch == '_' || ch == '.' || ch == '-';
}

static bool is_scope_char(char ch)
{
    unsigned char u = (unsigned char)ch;
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
           ch == '-' || ch == '_';
}

static bool all_chars(struct span s, bool (*pred)(char))
{
    for (size_t i = 0; i < s.n; i++)
        if (!pred(s.p[i]))
            return false;
    return true;
}

/* RFC 9110 token characters, lower case only. */
static bool is_header_char(char ch)
{
    unsigned char u = (unsigned char)ch;
    return (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int span_cmp(struct span a, struct span b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c != 0)
        return c;
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

static bool signed_headers_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list;;) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        if (!e)
            return false;
        p = e + 1;
    }
}

static int check_signed_headers(struct parse_ctx *c, struct span sh)
{
    struct echo e;
    struct td_sigv4_auth *auth = c->auth;
    if (sh.n > TD_SIGV4_MAX_SIGNED_HEADERS_LEN)
        return fail(c, ERR_INCOMPLETE, "SignedHeaders is too long.");
    struct span prev = {NULL, 0};
    size_t count = 0;
    const char *end = sh.p + sh.n;
    for (const char *p = sh.p;;) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        struct span name = {p, (size_t)((semi ? semi : end) - p)};
        if (name.n == 0 || !all_chars(name, is_header_char) ||
            (prev.p && span_cmp(prev, name) >= 0)) {
            return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                              "SignedHeaders must be a ';'-separated, sorted list of distinct "
                              "lower-case header names, got '%s'.",
                              echo_span(&e, sh));
        }
        if (++count > TD_SIGV4_MAX_SIGNED_HEADERS)
            return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                              "SignedHeaders lists more than %d headers.",
                              TD_SIGV4_MAX_SIGNED_HEADERS);
        prev = name;
        if (!semi)
            break;
        p = semi + 1;
    }
    memcpy(auth->signed_headers, sh.p, sh.n);
    auth->signed_headers[sh.n] = '\0';
    auth->n_signed_headers = count;

    if (!signed_headers_has(auth->signed_headers, "host"))
        return fail(c, ERR_INVALID, "'Host' must be a 'SignedHeader' in the AWS Authorization.");

    /* Every signed header must be in the request. */
    for (const char *p = auth->signed_headers;;) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (find_header_n(c->req, p, len, NULL) == 0)
            return td_err_set(c->err, c->status, ERR_INVALID,
                              "'%.*s' is listed in SignedHeaders but is not a header of the "
                              "request.",
                              (int)len, p);
        if (!semi)
            break;
        p = semi + 1;
    }
    return 0;
}

static int check_credential(struct parse_ctx *c, struct span cred)
{
    struct echo e;
    struct td_sigv4_auth *auth = c->auth;
    const struct td_sigv4_options *opts = c->opts;
    struct span part[5];
    size_t n = 0;
    const char *end = cred.p + cred.n;
    for (const char *p = cred.p; n < 6;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        if (n < 5)
            part[n] = (struct span){p, (size_t)((slash ? slash : end) - p)};
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (n != 5) {
        return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                          "Credential must have exactly 5 slash-delimited elements, e.g. "
                          "keyid/date/region/service/term, got '%s'.",
                          echo_span(&e, cred));
    }
    if (part[0].n == 0 || !all_chars(part[0], is_key_char) ||
        !copy_field(auth->access_key_id, sizeof(auth->access_key_id), part[0])) {
        return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                          "Credential has an invalid access key id: '%s'.", echo_span(&e, part[0]));
    }

    /* Scope checks, reported together as AWS does. */
    _cleanup_buf_ struct td_buf msg = TD_BUF_INIT(TD_ERR_MSG_MAX);
    bool region_ok = part[2].n > 0 && all_chars(part[2], is_scope_char) &&
                     copy_field(auth->region, sizeof(auth->region), part[2]) &&
                     (!opts->region || strcmp(auth->region, opts->region) == 0);
    if (!region_ok)
        (void)td_buf_puts(&msg, "Credential should be scoped to a valid region. ");
    bool service_ok = part[3].n > 0 && all_chars(part[3], is_scope_char) &&
                      copy_field(auth->service, sizeof(auth->service), part[3]) &&
                      (!opts->service || strcmp(auth->service, opts->service) == 0);
    if (!service_ok) {
        if (opts->service)
            (void)td_buf_printf(&msg, "Credential should be scoped to correct service: '%s'. ",
                                opts->service);
        else
            (void)td_buf_puts(&msg, "Credential should be scoped to a valid service. ");
    }
    if (!span_eq(part[4], TD_SIGV4_TERMINATOR))
        (void)td_buf_printf(&msg,
                            "Credential should be scoped with a valid terminator: "
                            "'aws4_request', not '%s'. ",
                            echo_span(&e, part[4]));
    if (!(part[1].n == 8 && memcmp(part[1].p, auth->amz_date, 8) == 0)) {
        (void)td_buf_printf(&msg,
                            "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                            "version of date from HTTP: '%s' != '%.8s', from '%s'. ",
                            echo_span(&e, part[1]), auth->amz_date, auth->amz_date);
    }
    if (msg.len > 0)
        return td_err_set(c->err, c->status, ERR_INVALID, "%s", msg.data);
    memcpy(auth->date, part[1].p, 8);
    auth->date[8] = '\0';
    return 0;
}

static int check_time(struct parse_ctx *c, const struct raw_auth *raw)
{
    struct td_sigv4_auth *auth = c->auth;
    int64_t now = c->opts->now_ms;
    int64_t skew = c->opts->max_skew_ms > 0 ? c->opts->max_skew_ms : TD_SIGV4_DEFAULT_SKEW_MS;
    int64_t ts = auth->timestamp_ms;
    char a[TD_SIGV4_AMZ_DATE_LEN + 1], b[TD_SIGV4_AMZ_DATE_LEN + 1], n[TD_SIGV4_AMZ_DATE_LEN + 1];
    char skew_text[48];

    /* The texts of the error messages are made only for an error. */
    if (sat_sub(ts, now) > skew) {
        format_skew(skew, skew_text, sizeof(skew_text));
        td_sigv4_format_amz_date(now, n);
        td_sigv4_format_amz_date(sat_add(now, skew), b);
        return td_err_set(c->err, c->status, ERR_INVALID,
                          "Signature not yet current: %s is still later than %s (%s + %s.)",
                          auth->amz_date, b, n, skew_text);
    }
    if (auth->presigned && raw->has_expires) {
        int64_t until = sat_add(ts, auth->expires_s * 1000);
        if (now > until) {
            td_sigv4_format_amz_date(now, n);
            td_sigv4_format_amz_date(until, a);
            return td_err_set(c->err, c->status, ERR_INVALID,
                              "Request has expired: X-Amz-Date %s plus X-Amz-Expires %lld s "
                              "ended at %s, it is now %s.",
                              auth->amz_date, (long long)auth->expires_s, a, n);
        }
        return 0;
    }
    if (sat_sub(now, ts) > skew) {
        format_skew(skew, skew_text, sizeof(skew_text));
        td_sigv4_format_amz_date(now, n);
        td_sigv4_format_amz_date(sat_sub(now, skew), b);
        return td_err_set(c->err, c->status, ERR_INVALID,
                          "Signature expired: %s is now earlier than %s (%s - %s.)", auth->amz_date,
                          b, n, skew_text);
    }
    return 0;
}

static int session_token(struct parse_ctx *c, const struct qauth *q)
{
    struct td_sigv4_auth *auth = c->auth;
    int r;
    if (auth->presigned && q->count[Q_TOKEN]) {
        r = pct_decode_buf(&auth->session_token, q->value[Q_TOKEN]);
        auth->session_token_signed = true;
    } else {
        struct span t;
        size_t n = find_header(c->req, "x-amz-security-token", &t);
        if (n == 0)
            return 0;
        if (n > 1)
            return fail(c, ERR_INCOMPLETE, "Only one 'X-Amz-Security-Token' header is allowed.");
        t = trim(t);
        td_buf_reset(&auth->session_token);
        r = td_buf_append(&auth->session_token, t.p, t.n);
        auth->session_token_signed =
            signed_headers_has(auth->signed_headers, "x-amz-security-token");
    }
    if (r == -E2BIG)
        return fail(c, ERR_INCOMPLETE, "The security token is too long.");
    if (r < 0)
        return fail_oom(c->err, c->status, r);
    /* Tokens are printable ASCII (base64 and the like); no NUL or control bytes that would
     * make the C string differ from what was signed. */
    for (size_t i = 0; i < auth->session_token.len; i++) {
        unsigned char ch = (unsigned char)auth->session_token.data[i];
        if (ch < 0x21 || ch > 0x7e)
            return fail(c, ERR_INCOMPLETE, "The security token contains invalid characters.");
    }
    auth->has_session_token = true;
    return 0;
}

static int parse_inner(struct parse_ctx *c)
{
    const struct td_sigv4_request *req = c->req;
    struct td_sigv4_auth *auth = c->auth;
    struct echo e;
    int r;

    if (req->n_headers > TD_SIGV4_MAX_HEADERS)
        return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                          "The request has more than %d headers.", TD_SIGV4_MAX_HEADERS);
    for (size_t i = 0; i < req->n_headers; i++)
        if ((req->headers[i].name_len && !req->headers[i].name) ||
            (req->headers[i].value_len && !req->headers[i].value))
            return td_err_setc(c->err, -EINVAL, 500, ERR_INTERNAL, "Invalid header array.");
    if (req->path && strnlen(req->path, TD_SIGV4_MAX_PATH + 1) > TD_SIGV4_MAX_PATH)
        return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                          "The request path is longer than %d bytes.", TD_SIGV4_MAX_PATH);
    if (req->query && strnlen(req->query, TD_SIGV4_MAX_QUERY + 1) > TD_SIGV4_MAX_QUERY)
        return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                          "The query string is longer than %d bytes.", TD_SIGV4_MAX_QUERY);

    struct qauth q;
    scan_query(req->query, &q);
    if (q.n_params > TD_SIGV4_MAX_QUERY_PARAMS)
        return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                          "The query string has more than %d parameters.",
                          TD_SIGV4_MAX_QUERY_PARAMS);
    struct span authz = {NULL, 0};
    size_t n_authz = find_header(req, "authorization", &authz);
    if (n_authz == 1 && trim(authz).n == 0)
        n_authz = 0; /* an empty Authorization header authenticates nothing */
    bool query_form = q.count[Q_ALGORITHM] || q.count[Q_CREDENTIAL] || q.count[Q_SIGNATURE];

    if (n_authz == 0 && !query_form)
        return fail(c, ERR_MISSING, "Missing Authentication Token");
    if (n_authz > 0 && query_form)
        return fail(c, ERR_INCOMPLETE,
                    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
                    "or the Authorization header should be specified.");
    if (n_authz > 1)
        return fail(c, ERR_INCOMPLETE, "Only one 'Authorization' header is allowed.");

    struct raw_auth raw = {0};
    _cleanup_buf_ struct td_buf b0 = TD_BUF_INIT(AUTH_VALUE_MAX);
    _cleanup_buf_ struct td_buf b1 = TD_BUF_INIT(AUTH_VALUE_MAX);
    _cleanup_buf_ struct td_buf b2 = TD_BUF_INIT(AUTH_VALUE_MAX);
    _cleanup_buf_ struct td_buf b3 = TD_BUF_INIT(AUTH_VALUE_MAX);
    _cleanup_buf_ struct td_buf b4 = TD_BUF_INIT(AUTH_VALUE_MAX);
    if (query_form) {
        struct td_buf *const bufs[5] = {&b0, &b1, &b2, &b3, &b4};
        auth->presigned = true;
        r = query_auth(c, &q, bufs, &raw);
        if (r < 0)
            return r;
    } else {
        bool has_date = false;
        r = header_date(c, &raw, &has_date);
        if (r < 0)
            return r;
        r = parse_authorization_header(c, authz, has_date, &raw);
        if (r < 0)
            return r;
    }

    /* Request time. */
    if (raw.date_from_http_date) {
        if (parse_http_date(raw.date.p, raw.date.n, &auth->timestamp_ms) < 0 &&
            td_sigv4_parse_amz_date(raw.date.p, raw.date.n, &auth->timestamp_ms) < 0)
            return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                              "Date header must be an RFC 7231 date (e.g. 'Sun, 30 Aug 2015 "
                              "12:36:00 GMT') or in ISO-8601 'basic format'. Got '%s'.",
                              echo_span(&e, raw.date));
    } else if (td_sigv4_parse_amz_date(raw.date.p, raw.date.n, &auth->timestamp_ms) < 0) {
        return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                          "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                          "http://en.wikipedia.org/wiki/ISO_8601",
                          echo_span(&e, raw.date));
    }
    td_sigv4_format_amz_date(auth->timestamp_ms, auth->amz_date);

    if (raw.has_expires) {
        char buf[16];
        int64_t v = 0;
        if (!copy_field(buf, sizeof(buf), raw.expires) ||
            td_parse_int64(buf, 1, TD_SIGV4_MAX_EXPIRES, &v) < 0)
            return td_err_set(c->err, c->status, ERR_INCOMPLETE,
                              "X-Amz-Expires must be a number of seconds from 1 to %d, got '%s'.",
                              TD_SIGV4_MAX_EXPIRES, echo_span(&e, raw.expires));
        auth->expires_s = v;
    }

    r = check_credential(c, raw.credential);
    if (r < 0)
        return r;

    /* The signature: 64 lower-case hex digits, or it cannot match. */
    bool sig_ok = raw.signature.n == TD_SIGV4_SIGNATURE_LEN;
    for (size_t i = 0; sig_ok && i < raw.signature.n; i++) {
        char ch = raw.signature.p[i];
        sig_ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
    }
    if (!sig_ok)
        return fail(c, ERR_INVALID, MSG_MISMATCH);
    memcpy(auth->signature, raw.signature.p, TD_SIGV4_SIGNATURE_LEN);
    auth->signature[TD_SIGV4_SIGNATURE_LEN] = '\0';

    r = check_signed_headers(c, raw.signed_headers);
    if (r < 0)
        return r;
    r = check_time(c, &raw);
    if (r < 0)
        return r;
    return session_token(c, &q);
}

void td_sigv4_auth_release(struct td_sigv4_auth *auth)
{
    if (auth)
        td_buf_release(&auth->session_token);
}

int td_sigv4_parse(const struct td_sigv4_request *req, const struct td_sigv4_options *opts,
                   struct td_sigv4_auth *auth, struct td_err *err)
{
    if (!auth)
        return td_err_setc(err, -EINVAL, 500, ERR_INTERNAL, "Invalid arguments.");
    /* auth is zeroed or TD_SIGV4_AUTH_INIT, or holds a previous result (released here). */
    td_buf_release(&auth->session_token);
    memset(auth, 0, sizeof(*auth));
    td_buf_init(&auth->session_token, TD_SIGV4_MAX_SESSION_TOKEN);
    if (!req || !opts || !req->method || (req->n_headers && !req->headers))
        return td_err_setc(err, -EINVAL, 500, ERR_INTERNAL, "Invalid arguments.");

    struct parse_ctx c = {
        .req = req,
        .opts = opts,
        .auth = auth,
        .err = err,
        .status = opts->error_status > 0 ? opts->error_status : 403,
    };
    int r = parse_inner(&c);
    if (r < 0)
        td_buf_release(&auth->session_token);
    return r;
}

/* ---- verification ---------------------------------------------------------------------- */

static int compute_signature(const struct td_sigv4_request *req, const struct td_sigv4_auth *auth,
                             const uint8_t key[TD_SIGV4_KEY_LEN], bool normalize, bool skip_token,
                             const char *payload_hex, char sig[TD_SIGV4_SIGNATURE_LEN + 1])
{
    _cleanup_buf_ struct td_buf creq = TD_BUF_INIT(TD_SIGV4_MAX_CANONICAL);
    _cleanup_buf_ struct td_buf sts = TD_BUF_INIT(1024);
    /* Room for a usual request at once (one allocation each instead of one per doubling);
     * either grows further when needed. */
    int r = td_buf_reserve(&creq, 1023);
    if (r == 0)
        r = td_buf_reserve(&sts, 255);
    if (r == 0)
        r = build_canonical(req, auth, normalize, skip_token, payload_hex, &creq);
    if (r == 0)
        r = td_sigv4_string_to_sign(auth, creq.data ? creq.data : "", creq.len, &sts);
    if (r == 0)
        r = td_sigv4_signature(key, sts.data, sts.len, sig);
    return r;
}

int td_sigv4_verify(const struct td_sigv4_request *req, const struct td_sigv4_auth *auth,
                    const char *secret, const struct td_sigv4_options *opts, struct td_err *err)
{
    struct echo e;
    if (!req || !auth || !secret || !opts || (req->n_headers && !req->headers))
        return td_err_setc(err, -EINVAL, 500, ERR_INTERNAL, "Invalid arguments.");
    int status = opts->error_status > 0 ? opts->error_status : 403;

    /* The payload is always hashed; a client-sent hash must agree with it. */
    char hex[TD_SHA256_HEX_LEN + 1];
    payload_hash(req, hex);
    struct span cs;
    size_t n_cs = find_header(req, "x-amz-content-sha256", &cs);
    if (n_cs > 1)
        return td_err_set(err, status, ERR_INVALID,
                          "Only one 'x-amz-content-sha256' header is allowed.");
    if (n_cs == 1) {
        cs = trim(cs);
        if (span_eq(cs, "UNSIGNED-PAYLOAD") || span_starts(cs, "STREAMING-"))
            return td_err_set(err, status, ERR_INVALID,
                              "x-amz-content-sha256 '%s' is not supported: this service "
                              "requires the hex SHA-256 of the payload.",
                              echo_span(&e, cs));
        if (cs.n != TD_SHA256_HEX_LEN || !ascii_caseeq(cs.p, hex, TD_SHA256_HEX_LEN))
            return td_err_set(err, status, ERR_INVALID,
                              "The provided 'x-amz-content-sha256' header does not match what "
                              "was computed.");
    }

    uint8_t key[TD_SIGV4_KEY_LEN];
    int r = td_sigv4_key_cache_get(opts->key_cache, auth->access_key_id, secret, auth->date,
                                   auth->region, auth->service, key);
    if (r < 0)
        return fail_oom(err, status, r);

    char sig[TD_SIGV4_SIGNATURE_LEN + 1];
    r = compute_signature(req, auth, key, opts->normalize_path, auth->unsigned_query_token, hex,
                          sig);
    bool ok = r == 0 && td_const_eq(sig, auth->signature, TD_SIGV4_SIGNATURE_LEN);
    if (r == 0 && !ok && auth->presigned && auth->has_session_token &&
        !auth->unsigned_query_token) {
        /* A token appended to a presigned URL after signing. */
        r = compute_signature(req, auth, key, opts->normalize_path, true, hex, sig);
        ok = r == 0 && td_const_eq(sig, auth->signature, TD_SIGV4_SIGNATURE_LEN);
    }
    OPENSSL_cleanse(key, sizeof(key));
    if (r == -ENOENT)
        return td_err_set(err, status, ERR_INVALID,
                          "A header listed in SignedHeaders is not in the request.");
    if (r == -EINVAL)
        return td_err_set(err, status, ERR_INCOMPLETE, "SignedHeaders is malformed.");
    if (r == -E2BIG)
        return td_err_setc(err, r, status, ERR_INVALID,
                           "The request is too large to authenticate.");
    if (r < 0)
        return fail_oom(err, status, r);
    if (!ok)
        return td_err_set(err, status, ERR_INVALID, MSG_MISMATCH);
    return 0;
}
