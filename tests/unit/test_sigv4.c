/* SigV4 verification: the public AWS signing test suite (tests/data/sigv4/v4, 38 cases x
 * header/query = 76 checks) plus negative and edge-case tests. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "tenantd/buf.h"
#include "tenantd/cleanup.h"
#include "tenantd/error.h"
#include "tenantd/sigv4.h"

#define SUITE_AKID     "AKIDEXAMPLE"
#define SUITE_SECRET   "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_TS_MS    INT64_C(1440938160000) /* 2015-08-30T12:36:00Z */
#define SUITE_CASES    38
#define SUITE_CHECKS   (2 * SUITE_CASES)
#define MIN_MS         INT64_C(60000)
#define MAX_MSG_HEADER 300

#define MSG_MISMATCH                                                                               \
    "The request signature we calculated does not match the signature you provided. Check your "   \
    "AWS Secret Access Key and signing method. Consult the service documentation for details."

/* ---- test helpers: files, a small raw HTTP/1.1 request reader ------------------------------ */

static char *suite_path(const char *case_name, const char *file)
{
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(4096);
    const char *root = getenv("TD_SOURCE_DIR");
    int r;
    if (root && *root) {
        r = td_buf_printf(&b, "%s/tests/data/sigv4/v4", root);
    } else {
        /* __FILE__ is .../tests/unit/test_sigv4.c */
        const char *f = __FILE__;
        const char *cut = strstr(f, "tests/unit/test_sigv4.c");
        r = td_buf_printf(&b, "%.*stests/data/sigv4/v4", cut ? (int)(cut - f) : 0, f);
    }
    if (r == 0 && case_name)
        r = td_buf_printf(&b, "/%s", case_name);
    if (r == 0 && file)
        r = td_buf_printf(&b, "/%s", file);
    assert_int_equal(r, 0);
    return td_buf_steal(&b, NULL);
}

static char *read_text(const char *path, size_t *ret_len)
{
    _cleanup_fclose_ FILE *f = fopen(path, "rb");
    if (!f) {
        print_message("cannot open %s: %s\n", path, strerror(errno));
        fail();
    }
    _cleanup_buf_ struct td_buf b = TD_BUF_INIT(1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(td_buf_append(&b, chunk, n), 0);
    if (!b.data)
        assert_int_equal(td_buf_append(&b, "", 0), 0);
    return td_buf_steal(&b, ret_len);
}

static char *read_suite_file(const char *case_name, const char *file, size_t *len)
{
    _cleanup_free_ char *path = suite_path(case_name, file);
    return read_text(path, len);
}

/* Expected outputs: the file without trailing line breaks. */
static char *read_expected(const char *case_name, const char *file)
{
    size_t len;
    char *s = read_suite_file(case_name, file, &len);
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        s[--len] = '\0';
    return s;
}

struct http_msg {
    char *store; /* our copy of the text, cut in place */
    const char *method, *path, *query;
    struct td_http_header headers[MAX_MSG_HEADER];
    size_t n_headers;
    const char *body;
    size_t body_len;
};

static void http_msg_free(struct http_msg *m)
{
    free(m->store);
    m->store = NULL;
}

/* Request line "METHOD SP target SP HTTP/1.1" (the target may contain spaces), header lines
 * "Name:value" (continuation lines starting with SP/HT are obsolete line folding and join the
 * previous value with spaces), an empty line, the body. LF or CRLF line ends. */
static int http_msg_parse(struct http_msg *m, const char *text, size_t len)
{
    memset(m, 0, sizeof(*m));
    m->store = malloc(len + 1);
    if (!m->store)
        return -ENOMEM;
    memcpy(m->store, text, len);
    m->store[len] = '\0';
    char *p = m->store, *end = m->store + len;

    char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        return -EINVAL;
    char *line_end = (eol > p && eol[-1] == '\r') ? eol - 1 : eol;
    *line_end = '\0';
    char *sp1 = memchr(p, ' ', (size_t)(line_end - p));
    if (!sp1)
        return -EINVAL;
    *sp1 = '\0';
    m->method = p;
    char *target = sp1 + 1;
    char *sp2 = memrchr(target, ' ', (size_t)(line_end - target));
    if (sp2)
        *sp2 = '\0';
    char *qm = strchr(target, '?');
    if (qm) {
        *qm = '\0';
        m->query = qm + 1;
    }
    m->path = target;

    p = eol + 1;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        char *content_end = (le > p && le[-1] == '\r') ? le - 1 : le;
        if (content_end == p) { /* the empty line */
            p = nl ? nl + 1 : end;
            break;
        }
        if ((*p == ' ' || *p == '\t') && m->n_headers > 0) {
            struct td_http_header *h = &m->headers[m->n_headers - 1];
            char *v = m->store + (h->value - m->store);
            for (char *q = v + h->value_len; q < p; q++)
                *q = ' ';
            h->value_len = (size_t)(content_end - v);
        } else {
            char *colon = memchr(p, ':', (size_t)(content_end - p));
            if (!colon || m->n_headers == MAX_MSG_HEADER)
                return -EINVAL;
            struct td_http_header *h = &m->headers[m->n_headers++];
            h->name = p;
            h->name_len = (size_t)(colon - p);
            char *v = colon + 1;
            while (v < content_end && (*v == ' ' || *v == '\t'))
                v++;
            h->value = v;
            h->value_len = (size_t)(content_end - v);
        }
        p = nl ? nl + 1 : end;
    }
    m->body = p;
    m->body_len = (size_t)(end - p);
    return 0;
}

static struct td_sigv4_request http_msg_request(const struct http_msg *m)
{
    return (struct td_sigv4_request){
        .method = m->method,
        .path = m->path,
        .query = m->query,
        .headers = m->headers,
        .n_headers = m->n_headers,
        .body = m->body,
        .body_len = m->body_len,
    };
}

static void load_signed(const char *case_name, const char *variant, struct http_msg *m)
{
    _cleanup_buf_ struct td_buf file = TD_BUF_INIT(256);
    assert_int_equal(td_buf_printf(&file, "%s-signed-request.txt", variant), 0);
    size_t len;
    _cleanup_free_ char *text = read_suite_file(case_name, file.data, &len);
    assert_int_equal(http_msg_parse(m, text, len), 0);
}

/* The header called `name` (exact case) in m, or fail. */
static struct td_http_header *msg_header(struct http_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (m->headers[i].name_len == strlen(name) &&
            memcmp(m->headers[i].name, name, m->headers[i].name_len) == 0)
            return &m->headers[i];
    print_message("no header %s\n", name);
    fail();
    return NULL;
}

static struct td_sigv4_options base_opts(void)
{
    return (struct td_sigv4_options){
        .service = "service",
        .region = "us-east-1",
        .now_ms = SUITE_TS_MS,
        .max_skew_ms = 15 * MIN_MS,
        .normalize_path = true,
        .error_status = 403,
    };
}

static void expect_err(int r, const struct td_err *err, int status, const char *type,
                       const char *message_prefix)
{
    bool ok =
        r < 0 && err->status == status && strcmp(err->type, type) == 0 &&
        (!message_prefix || strncmp(err->message, message_prefix, strlen(message_prefix)) == 0);
    if (!ok)
        print_message("got r=%d status=%d type='%s' message='%s'\n  want status=%d type='%s' "
                      "message='%s...'\n",
                      r, err->status, err->type, err->message, status, type,
                      message_prefix ? message_prefix : "");
    assert_true(ok);
}

static void expect_ok(int r, const struct td_err *err)
{
    if (r != 0)
        print_message("unexpected error %d: %d %s: %s\n", r, err->status, err->type, err->message);
    assert_int_equal(r, 0);
}

/* parse + verify with the suite secret. */
static int parse_verify(const struct td_sigv4_request *req, const struct td_sigv4_options *opts,
                        const char *secret, struct td_err *err)
{
    _cleanup_sigv4_auth_ struct td_sigv4_auth auth = TD_SIGV4_AUTH_INIT;
    td_err_clear(err);
    int r = td_sigv4_parse(req, opts, &auth, err);
    if (r < 0)
        return r;
    return td_sigv4_verify(req, &auth, secret, opts, err);
}

/* ---- the AWS suite --------------------------------------------------------------------- */

struct suite_ctx {
    char *akid, *secret, *token, *region, *service;
    int64_t ts_ms;
    int64_t expires_s;
    bool normalize, sign_body, omit_token;
};

static void suite_ctx_free(struct suite_ctx *c)
{
    free(c->akid);
    free(c->secret);
    free(c->token);
    free(c->region);
    free(c->service);
}

static char *json_str(json_t *obj, const char *key, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (!v && !required)
        return NULL;
    if (!json_is_string(v)) {
        print_message("context.json: '%s' is not a string\n", key);
        fail();
    }
    return strdup(json_string_value(v));
}

static void load_context(const char *case_name, struct suite_ctx *c)
{
    memset(c, 0, sizeof(*c));
    _cleanup_free_ char *path = suite_path(case_name, "context.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        print_message("%s: %s\n", path, jerr.text);
        fail();
    }
    json_t *cred = json_object_get(root, "credentials");
    assert_true(json_is_object(cred));
    c->akid = json_str(cred, "access_key_id", true);
    c->secret = json_str(cred, "secret_access_key", true);
    c->token = json_str(cred, "token", false);
    c->region = json_str(root, "region", true);
    c->service = json_str(root, "service", true);
    _cleanup_free_ char *ts = json_str(root, "timestamp", true);
    c->normalize = json_is_true(json_object_get(root, "normalize"));
    c->sign_body = json_is_true(json_object_get(root, "sign_body"));
    c->omit_token = json_is_true(json_object_get(root, "omit_session_token"));
    c->expires_s = json_integer_value(json_object_get(root, "expiration_in_seconds"));
    json_decref(root);

    /* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
    assert_int_equal(strlen(ts), 20);
    char basic[TD_SIGV4_AMZ_DATE_LEN + 1];
    snprintf(basic, sizeof(basic), "%.4s%.2s%.2sT%.2s%.2s%.2sZ", ts, ts + 5, ts + 8, ts + 11,
             ts + 14, ts + 17);
    assert_int_equal(td_sigv4_parse_amz_date(basic, strlen(basic), &c->ts_ms), 0);
}

static void expect_text(const char *case_name, const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) != 0) {
        print_message("%s %s differs:\n--- got\n%s\n--- want\n%s\n", case_name, what, got, want);
        fail();
    }
}

static void check_variant(const char *case_name, const char *variant, const struct suite_ctx *ctx)
{
    bool query = strcmp(variant, "query") == 0;
    struct http_msg m;
    load_signed(case_name, variant, &m);
    struct td_sigv4_request req = http_msg_request(&m);
    struct td_sigv4_options opts = base_opts();
    opts.service = ctx->service;
    opts.region = ctx->region;
    opts.now_ms = ctx->ts_ms;
    opts.normalize_path = ctx->normalize;
    struct td_err err = {0};
    _cleanup_sigv4_auth_ struct td_sigv4_auth auth = TD_SIGV4_AUTH_INIT;

    int r = td_sigv4_parse(&req, &opts, &auth, &err);
    if (r != 0)
        print_message("%s/%s: parse: %s: %s\n", case_name, variant, err.type, err.message);
    assert_int_equal(r, 0);
    assert_string_equal(auth.access_key_id, ctx->akid);
    assert_int_equal(auth.presigned, query);
    assert_string_equal(auth.region, ctx->region);
    assert_string_equal(auth.service, ctx->service);
    assert_int_equal(auth.timestamp_ms, ctx->ts_ms);
    if (query)
        assert_int_equal(auth.expires_s, ctx->expires_s);
    if (ctx->token) {
        assert_true(auth.has_session_token);
        assert_string_equal(auth.session_token.data, ctx->token);
        if (!query)
            assert_int_equal(auth.session_token_signed, !ctx->omit_token);
    } else {
        assert_false(auth.has_session_token);
    }

    /* The suite's query variant of omit_session_token cases appends the token after signing. */
    auth.unsigned_query_token = query && ctx->omit_token;
    _cleanup_buf_ struct td_buf creq = TD_BUF_INIT(1 << 20);
    _cleanup_buf_ struct td_buf sts = TD_BUF_INIT(4096);
    _cleanup_buf_ struct td_buf file = TD_BUF_INIT(256);
    assert_int_equal(td_sigv4_canonical_request(&req, &auth, ctx->normalize, &creq), 0);
    assert_int_equal(td_buf_printf(&file, "%s-canonical-request.txt", variant), 0);
    _cleanup_free_ char *want_creq = read_expected(case_name, file.data);
    expect_text(case_name, file.data, creq.data, want_creq);

    assert_int_equal(td_sigv4_string_to_sign(&auth, creq.data, creq.len, &sts), 0);
    td_buf_reset(&file);
    assert_int_equal(td_buf_printf(&file, "%s-string-to-sign.txt", variant), 0);
    _cleanup_free_ char *want_sts = read_expected(case_name, file.data);
    expect_text(case_name, file.data, sts.data, want_sts);

    uint8_t key[TD_SIGV4_KEY_LEN];
    char sig[TD_SIGV4_SIGNATURE_LEN + 1];
    assert_int_equal(td_sigv4_signing_key(ctx->secret, auth.date, auth.region, auth.service, key),
                     0);
    assert_int_equal(td_sigv4_signature(key, sts.data, sts.len, sig), 0);
    td_buf_reset(&file);
    assert_int_equal(td_buf_printf(&file, "%s-signature.txt", variant), 0);
    _cleanup_free_ char *want_sig = read_expected(case_name, file.data);
    expect_text(case_name, file.data, sig, want_sig);
    assert_string_equal(auth.signature, want_sig);

    /* The verifier must find the token form by itself. */
    auth.unsigned_query_token = false;
    r = td_sigv4_verify(&req, &auth, ctx->secret, &opts, &err);
    if (r != 0)
        print_message("%s/%s: verify: %s: %s\n", case_name, variant, err.type, err.message);
    assert_int_equal(r, 0);

    /* And a wrong secret must not pass. */
    td_err_clear(&err);
    r = td_sigv4_verify(&req, &auth, "not-the-secret", &opts, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);

    http_msg_free(&m);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_aws_suite(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = suite_path(NULL, NULL);
    DIR *d = opendir(dir);
    if (!d) {
        print_message("cannot open %s: %s\n", dir, strerror(errno));
        fail();
    }
    char *names[128];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        assert_true(n < TD_ARRAY_SIZE(names));
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), name_cmp);

    int checks = 0;
    for (size_t i = 0; i < n; i++) {
        struct suite_ctx ctx;
        load_context(names[i], &ctx);
        check_variant(names[i], "header", &ctx);
        checks++;
        check_variant(names[i], "query", &ctx);
        checks++;
        suite_ctx_free(&ctx);
        free(names[i]);
    }
    print_message("sigv4 suite: %zu cases, %d checks passed\n", n, checks);
    assert_int_equal(n, SUITE_CASES);
    assert_int_equal(checks, SUITE_CHECKS);
}

/* ---- programmatically signed requests -------------------------------------------------- */

struct preq {
    struct td_http_header h[32];
    size_t n;
    struct td_buf authz;
    struct td_sigv4_request req;
};

struct signer {
    const char *akid, *secret, *date8, *region, *service, *amz_date, *signed_headers;
};

static const struct signer default_signer = {
    .akid = SUITE_AKID,
    .secret = SUITE_SECRET,
    .date8 = "20150830",
    .region = "us-east-1",
    .service = "service",
    .amz_date = "20150830T123600Z",
    .signed_headers = "host;x-amz-date",
};

static void preq_init(struct preq *p, const char *method, const char *path, const char *query)
{
    memset(p, 0, sizeof(*p));
    td_buf_init(&p->authz, 4096);
    p->req.method = method;
    p->req.path = path;
    p->req.query = query;
    p->req.headers = p->h;
}

static void preq_add(struct preq *p, const char *name, const char *value)
{
    assert_true(p->n < TD_ARRAY_SIZE(p->h));
    p->h[p->n++] = (struct td_http_header){name, strlen(name), value, strlen(value)};
    p->req.n_headers = p->n;
}

static void preq_free(struct preq *p)
{
    td_buf_release(&p->authz);
}

/* Sign as a client would, with the library's building blocks, and add the Authorization
 * header. */
static void preq_sign_with(struct preq *p, const struct signer *s, const char *sep)
{
    _cleanup_sigv4_auth_ struct td_sigv4_auth a = TD_SIGV4_AUTH_INIT;
    snprintf(a.amz_date, sizeof(a.amz_date), "%s", s->amz_date);
    snprintf(a.date, sizeof(a.date), "%s", s->date8);
    snprintf(a.region, sizeof(a.region), "%s", s->region);
    snprintf(a.service, sizeof(a.service), "%s", s->service);
    snprintf(a.signed_headers, sizeof(a.signed_headers), "%s", s->signed_headers);
    _cleanup_buf_ struct td_buf creq = TD_BUF_INIT(1 << 20);
    _cleanup_buf_ struct td_buf sts = TD_BUF_INIT(4096);
    assert_int_equal(td_sigv4_canonical_request(&p->req, &a, true, &creq), 0);
    assert_int_equal(td_sigv4_string_to_sign(&a, creq.data, creq.len, &sts), 0);
    uint8_t key[TD_SIGV4_KEY_LEN];
    char sig[TD_SIGV4_SIGNATURE_LEN + 1];
    assert_int_equal(td_sigv4_signing_key(s->secret, s->date8, s->region, s->service, key), 0);
    assert_int_equal(td_sigv4_signature(key, sts.data, sts.len, sig), 0);
    td_buf_reset(&p->authz);
    assert_int_equal(td_buf_printf(&p->authz,
                                   "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request%s"
                                   "SignedHeaders=%s%sSignature=%s",
                                   s->akid, s->date8, s->region, s->service, sep, s->signed_headers,
                                   sep, sig),
                     0);
    preq_add(p, "Authorization", p->authz.data);
}

static void preq_sign(struct preq *p, const struct signer *s)
{
    preq_sign_with(p, s, ", ");
}

/* GET / with Host and X-Amz-Date, signed by the default signer. */
static void preq_vanilla(struct preq *p)
{
    preq_init(p, "GET", "/", NULL);
    preq_add(p, "Host", "example.amazonaws.com");
    preq_add(p, "X-Amz-Date", "20150830T123600Z");
    preq_sign(p, &default_signer);
}

/* ---- negative and edge tests ----------------------------------------------------------- */

static void test_vanilla_programmatic(void **state)
{
    (void)state;
    struct preq p;
    preq_vanilla(&p);
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    /* Same signature as the suite's get-vanilla. */
    assert_non_null(strstr(p.authz.data, "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260"
                                         "956d9b8aae1d763fbf31"));
    preq_free(&p);
}

static void test_tampered_signature(void **state)
{
    (void)state;
    struct http_msg m;
    load_signed("get-vanilla", "header", &m);
    struct td_http_header *h = msg_header(&m, "Authorization");
    char *v = m.store + (h->value - m.store);
    v[h->value_len - 1] = v[h->value_len - 1] == '1' ? '2' : '1';
    struct td_sigv4_request req = http_msg_request(&m);
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    int r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    assert_string_equal(err.message, MSG_MISMATCH);

    /* Same for a presigned URL: flip one digit of X-Amz-Signature. */
    http_msg_free(&m);
    load_signed("get-vanilla", "query", &m);
    char *q = m.store + (m.query - m.store);
    char *s = strstr(q, "X-Amz-Signature=");
    assert_non_null(s);
    s += strlen("X-Amz-Signature=");
    s[0] = s[0] == 'a' ? 'b' : 'a';
    req = http_msg_request(&m);
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    http_msg_free(&m);
}

static void test_wrong_secret(void **state)
{
    (void)state;
    struct http_msg m;
    load_signed("get-vanilla", "header", &m);
    struct td_sigv4_request req = http_msg_request(&m);
    struct td_sigv4_options opts = base_opts();
    opts.error_status = 400; /* DynamoDB style */
    struct td_err err;
    int r = parse_verify(&req, &opts, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", &err);
    expect_err(r, &err, 400, "InvalidSignatureException", MSG_MISMATCH);
    r = parse_verify(&req, &opts, "", &err);
    expect_err(r, &err, 400, "InvalidSignatureException", MSG_MISMATCH);
    http_msg_free(&m);
}

static void test_tampered_body(void **state)
{
    (void)state;
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    struct http_msg m;

    /* Header variant: signed x-amz-content-sha256 no longer matches the body. */
    load_signed("post-x-www-form-urlencoded", "header", &m);
    struct td_sigv4_request req = http_msg_request(&m);
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);
    req.body = "Param1=value2";
    int r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException",
               "The provided 'x-amz-content-sha256' header does not match");
    http_msg_free(&m);

    /* Query variant: no content hash header; the signature catches it. */
    load_signed("post-x-www-form-urlencoded", "query", &m);
    req = http_msg_request(&m);
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);
    req.body = "Param1=value2";
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    req.body_len = 0;
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    http_msg_free(&m);
}

static void test_unsigned_payload_refused(void **state)
{
    (void)state;
    struct preq p;
    preq_init(&p, "POST", "/", NULL);
    p.req.body = "{}";
    p.req.body_len = 2;
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    struct signer s = default_signer;
    s.signed_headers = "host;x-amz-content-sha256;x-amz-date";
    preq_sign(&p, &s);
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException",
               "x-amz-content-sha256 'UNSIGNED-PAYLOAD' is not supported");
    preq_free(&p);

    /* The real hash, upper-case hex, is fine. */
    preq_init(&p, "POST", "/", NULL);
    p.req.body = "{}";
    p.req.body_len = 2;
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "x-amz-content-sha256",
             "44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61CAAFF8A");
    preq_sign(&p, &s);
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    preq_free(&p);
}

static void test_tampered_signed_header(void **state)
{
    (void)state;
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    struct http_msg m;
    load_signed("get-header-key-duplicate", "header", &m);
    struct td_sigv4_request req = http_msg_request(&m);
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);

    /* Change one of the duplicated signed values. */
    m.headers[1].value = "value3";
    m.headers[1].value_len = 6;
    int r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    m.headers[1].value = "value2";

    /* Reorder the duplicates: the join order matters. */
    struct td_http_header t = m.headers[1];
    m.headers[1] = m.headers[3];
    m.headers[3] = t;
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    t = m.headers[1];
    m.headers[1] = m.headers[3];
    m.headers[3] = t;
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);

    /* Add one more copy of a signed header. */
    m.headers[m.n_headers++] = (struct td_http_header){"my-header1", 10, "value1", 6};
    req.n_headers = m.n_headers;
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);

    /* An unsigned header may change freely. */
    m.headers[m.n_headers - 1] = (struct td_http_header){"User-Agent", 10, "x", 1};
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);

    /* Host is signed: a different host fails. */
    struct td_http_header *host = msg_header(&m, "Host");
    host->value = "example.amazonaws.com:8080";
    host->value_len = strlen(host->value);
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    http_msg_free(&m);
}

static void test_tampered_path_and_query(void **state)
{
    (void)state;
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    struct http_msg m;
    load_signed("get-vanilla-query-order-key-case", "header", &m);
    struct td_sigv4_request req = http_msg_request(&m);
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);
    req.query = "Param2=value2&Param1=value0";
    int r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    req.query = "Param2=value2&Param1=value1";
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err); /* order is free */
    req.path = "/other";
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    req.path = "/";
    req.method = "POST";
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    http_msg_free(&m);
}

static void test_missing_auth(void **state)
{
    (void)state;
    struct preq p;
    preq_init(&p, "GET", "/", "Param1=value1");
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    _cleanup_sigv4_auth_ struct td_sigv4_auth auth = TD_SIGV4_AUTH_INIT;
    int r = td_sigv4_parse(&p.req, &opts, &auth, &err);
    expect_err(r, &err, 403, "MissingAuthenticationTokenException", NULL);
    assert_string_equal(err.message, "Missing Authentication Token");

    opts.error_status = 400;
    preq_add(&p, "authorization", "  ");
    r = td_sigv4_parse(&p.req, &opts, &auth, &err);
    expect_err(r, &err, 400, "MissingAuthenticationTokenException", "Missing Authentication");

    /* No headers at all. */
    struct td_sigv4_request bare = {.method = "GET", .path = "/"};
    r = td_sigv4_parse(&bare, &opts, &auth, &err);
    expect_err(r, &err, 400, "MissingAuthenticationTokenException", "Missing Authentication");
    preq_free(&p);
}

static void test_host_not_signed(void **state)
{
    (void)state;
    struct preq p;
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    struct signer s = default_signer;
    s.signed_headers = "x-amz-date";
    preq_sign(&p, &s);
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", NULL);
    assert_string_equal(err.message, "'Host' must be a 'SignedHeader' in the AWS Authorization.");
    preq_free(&p);

    /* A signed header that the request does not have. */
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
             "SignedHeaders=host;my-header;x-amz-date, "
             "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException",
               "'my-header' is listed in SignedHeaders but is not a header of the request.");
    preq_free(&p);
}

static void test_wrong_scope(void **state)
{
    (void)state;
    struct preq p;
    preq_vanilla(&p);
    struct td_sigv4_options opts = base_opts();
    struct td_err err;

    opts.service = "lambda";
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", NULL);
    assert_string_equal(err.message, "Credential should be scoped to correct service: 'lambda'. ");

    opts = base_opts();
    opts.region = "eu-west-1";
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", NULL);
    assert_string_equal(err.message, "Credential should be scoped to a valid region. ");

    opts.service = "dynamodb";
    opts.error_status = 400;
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 400, "InvalidSignatureException", NULL);
    assert_string_equal(err.message, "Credential should be scoped to a valid region. Credential "
                                     "should be scoped to correct service: 'dynamodb'. ");

    /* NULL = any region / service. */
    opts.service = NULL;
    opts.region = NULL;
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    preq_free(&p);

    /* Scope date differs from the request date. */
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    struct signer s = default_signer;
    s.date8 = "20150831";
    preq_sign(&p, &s);
    opts = base_opts();
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", NULL);
    assert_string_equal(err.message,
                        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                        "of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'. ");
    preq_free(&p);

    /* Wrong terminator. */
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws5_request, "
             "SignedHeaders=host;x-amz-date, "
             "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException",
               "Credential should be scoped with a valid terminator: 'aws4_request', not "
               "'aws5_request'. ");
    preq_free(&p);
}

static void test_clock_skew(void **state)
{
    (void)state;
    struct preq p;
    preq_vanilla(&p);
    struct td_sigv4_options opts = base_opts();
    struct td_err err;

    opts.now_ms = SUITE_TS_MS + 15 * MIN_MS;
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    opts.now_ms = SUITE_TS_MS - 15 * MIN_MS;
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);

    opts.now_ms = SUITE_TS_MS + 15 * MIN_MS + 1000;
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", NULL);
    assert_string_equal(err.message, "Signature expired: 20150830T123600Z is now earlier than "
                                     "20150830T123601Z (20150830T125101Z - 15 min.)");

    opts.now_ms = SUITE_TS_MS - 15 * MIN_MS - 1000;
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", NULL);
    assert_string_equal(err.message, "Signature not yet current: 20150830T123600Z is still later "
                                     "than 20150830T123559Z (20150830T122059Z + 15 min.)");

    /* A custom window, and absurd clocks do not overflow. */
    opts.max_skew_ms = 5 * MIN_MS;
    opts.now_ms = SUITE_TS_MS + 6 * MIN_MS;
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", "Signature expired:");
    assert_non_null(strstr(err.message, "- 5 min.)"));
    opts.now_ms = INT64_MAX;
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", "Signature expired:");
    opts.now_ms = INT64_MIN;
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", "Signature not yet current:");
    opts.max_skew_ms = INT64_MAX;
    opts.now_ms = INT64_MAX;
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    preq_free(&p);
}

static void test_presigned_expiry(void **state)
{
    (void)state;
    struct http_msg m;
    load_signed("get-vanilla", "query", &m);
    struct td_sigv4_request req = http_msg_request(&m);
    struct td_sigv4_options opts = base_opts();
    struct td_err err;

    /* X-Amz-Expires=3600: valid for an hour, also past the 15 min skew. */
    opts.now_ms = SUITE_TS_MS + 20 * MIN_MS;
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);
    opts.now_ms = SUITE_TS_MS + 3600 * 1000;
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);
    opts.now_ms = SUITE_TS_MS + 3600 * 1000 + 1000;
    int r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", "Request has expired");
    assert_string_equal(err.message, "Request has expired: X-Amz-Date 20150830T123600Z plus "
                                     "X-Amz-Expires 3600 s ended at 20150830T133600Z, it is now "
                                     "20150830T133601Z.");
    /* Not yet valid. */
    opts.now_ms = SUITE_TS_MS - 16 * MIN_MS;
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", "Signature not yet current:");
    http_msg_free(&m);

    /* Bad X-Amz-Expires values. */
    static const char *const bad[] = {"0",  "-1", "604801", "abc", "", "99999999999999999999",
                                      "1e3"};
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++) {
        _cleanup_buf_ struct td_buf q = TD_BUF_INIT(1024);
        assert_int_equal(td_buf_printf(&q,
                                       "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                                       "AKIDEXAMPLE%%2F20150830%%2Fus-east-1%%2Fservice%%2Faws4_"
                                       "request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders="
                                       "host&X-Amz-Expires=%s&X-Amz-Signature=e93c787ed7f371d5c6"
                                       "b165c1b38ede9550f4dce4144713e844b25b7192d3865d",
                                       bad[i]),
                         0);
        struct preq p;
        preq_init(&p, "GET", "/", q.data);
        preq_add(&p, "Host", "example.amazonaws.com");
        opts = base_opts();
        r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
        expect_err(r, &err, 403, "IncompleteSignatureException", "X-Amz-Expires must be");
        preq_free(&p);
    }
}

static void test_presigned_forms(void **state)
{
    (void)state;
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    struct preq p;
    static const char sig[] =
        "X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d";

    /* Parameter order is free. */
    preq_init(&p, "GET", "/",
              "X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d&"
              "X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Date=20150830T123600Z&X-Amz-"
              "Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-"
              "Algorithm=AWS4-HMAC-SHA256");
    preq_add(&p, "Host", "example.amazonaws.com");
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    preq_free(&p);

    /* A parameter missing. */
    preq_init(&p, "GET", "/",
              "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders="
              "host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce414"
              "4713e844b25b7192d3865d");
    preq_add(&p, "Host", "example.amazonaws.com");
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "AWS query-string parameters must include");
    preq_free(&p);

    /* A duplicated parameter. */
    _cleanup_buf_ struct td_buf q = TD_BUF_INIT(2048);
    assert_int_equal(td_buf_printf(&q,
                                   "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE"
                                   "%%2F20150830%%2Fus-east-1%%2Fservice%%2Faws4_request&X-Amz-"
                                   "Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires="
                                   "3600&%s&%s",
                                   sig, sig),
                     0);
    preq_init(&p, "GET", "/", q.data);
    preq_add(&p, "Host", "example.amazonaws.com");
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Query parameter 'X-Amz-Signature' appears more than once.");
    preq_free(&p);

    /* Another algorithm. */
    preq_init(&p, "GET", "/",
              "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2F"
              "us-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-"
              "SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38"
              "ede9550f4dce4144713e844b25b7192d3865d");
    preq_add(&p, "Host", "example.amazonaws.com");
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'.");
    preq_free(&p);

    /* A query token added after signing is accepted (the suite's post-sts-header-after);
     * a different token in its place is not silently ignored when it was signed. */
    struct http_msg m;
    load_signed("post-sts-header-before", "query", &m);
    struct td_sigv4_request req = http_msg_request(&m);
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);
    char *tok = strstr(m.store + (m.query - m.store), "X-Amz-Security-Token=");
    assert_non_null(tok);
    tok += strlen("X-Amz-Security-Token=");
    tok[0] = tok[0] == 'A' ? 'B' : 'A';
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    http_msg_free(&m);
}

static void test_both_header_and_query(void **state)
{
    (void)state;
    struct http_msg hm, qm;
    load_signed("get-vanilla", "header", &hm);
    load_signed("get-vanilla", "query", &qm);
    struct td_sigv4_request req = http_msg_request(&qm);
    qm.headers[qm.n_headers++] = *msg_header(&hm, "Authorization");
    qm.headers[qm.n_headers++] = *msg_header(&hm, "X-Amz-Date");
    req.n_headers = qm.n_headers;
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    int r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException", "Only one auth mechanism allowed");
    http_msg_free(&hm);
    http_msg_free(&qm);
}

static void test_no_space_after_commas(void **state)
{
    (void)state;
    struct preq p;
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_sign_with(&p, &default_signer, ",");
    assert_null(strstr(p.authz.data, ", "));
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    preq_free(&p);

    /* Extra whitespace around the parameters is tolerated too. */
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_sign_with(&p, &default_signer, " ,\t ");
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    preq_free(&p);
}

static void test_date_header_fallback(void **state)
{
    (void)state;
    struct preq p;
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "Date", "Sun, 30 Aug 2015 12:36:00 GMT");
    struct signer s = default_signer;
    s.signed_headers = "date;host";
    preq_sign(&p, &s);
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    _cleanup_sigv4_auth_ struct td_sigv4_auth auth = TD_SIGV4_AUTH_INIT;
    expect_ok(td_sigv4_parse(&p.req, &opts, &auth, &err), &err);
    assert_string_equal(auth.amz_date, "20150830T123600Z");
    assert_int_equal(auth.timestamp_ms, SUITE_TS_MS);
    expect_ok(td_sigv4_verify(&p.req, &auth, SUITE_SECRET, &opts, &err), &err);
    preq_free(&p);

    /* X-Amz-Date wins over Date. */
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "Date", "Mon, 31 Aug 2015 00:00:00 GMT");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_sign(&p, &default_signer);
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    preq_free(&p);

    /* No date at all. */
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
             "SignedHeaders=host, "
             "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
               "header. Authorization=AWS4-HMAC-SHA256 Credential=");
    preq_free(&p);

    /* Malformed dates. */
    static const char *const bad_amz[] = {"2015-08-30T12:36:00Z", "20150830T123600",
                                          "20150230T123600Z",     "20150830T246000Z",
                                          "20150830t123600z",     ""};
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad_amz); i++) {
        preq_init(&p, "GET", "/", NULL);
        preq_add(&p, "Host", "example.amazonaws.com");
        preq_add(&p, "X-Amz-Date", bad_amz[i]);
        preq_sign(&p, &default_signer);
        r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
        expect_err(r, &err, 403, "IncompleteSignatureException",
                   "Date must be in ISO-8601 'basic format'.");
        preq_free(&p);
    }
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "Date", "Sunday, 30-Aug-15 12:36:00 GMT");
    s.signed_headers = "host";
    preq_sign(&p, &s);
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException", "Date header must be");
    preq_free(&p);
}

struct garbage_case {
    const char *authorization;
    const char *type;
    const char *message_prefix;
};

static void test_garbage_authorization(void **state)
{
    (void)state;
    static const struct garbage_case cases[] = {
        {"AWS4-HMAC-SHA256", "IncompleteSignatureException",
         "Authorization header requires 'Credential' parameter. Authorization header requires "
         "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
         "Authorization=AWS4-HMAC-SHA256"},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;x-amz-date",
         "IncompleteSignatureException",
         "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 "
         "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;x-amz-date"},
        {"AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=00",
         "IncompleteSignatureException", "Authorization header requires 'Credential' parameter."},
        {"Basic dXNlcjpwYXNzd29yZA==", "IncompleteSignatureException",
         "Authorization header requires 'Credential' parameter."},
        {"ApiKey 96989ee3-5c9c-4557", "IncompleteSignatureException",
         "Invalid key=value pair (missing equal-sign) in Authorization header: "
         "'96989ee3-5c9c-4557'."},
        {"AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException", "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'."},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, "
         "SignedHeaders=host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException", "Credential must have exactly 5 slash-delimited"},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request/x, "
         "SignedHeaders=host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException", "Credential must have exactly 5 slash-delimited"},
        {"AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException", "Credential has an invalid access key id"},
        {"AWS4-HMAC-SHA256 Credential=AKID\x01/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException", "Credential has an invalid access key id: 'AKID?'."},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;x-amz-date, Signature=5fa00fa3",
         "InvalidSignatureException", MSG_MISMATCH},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;x-amz-date, "
         "Signature=5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
         "InvalidSignatureException", MSG_MISMATCH},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=x-amz-date;host, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException", "SignedHeaders must be a ';'-separated, sorted list"},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=Host;X-Amz-Date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException", "SignedHeaders must be a ';'-separated, sorted list"},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException", "SignedHeaders must be a ';'-separated, sorted list"},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException", "SignedHeaders must be a ';'-separated, sorted list"},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "IncompleteSignatureException",
         "Authorization header has more than one 'Credential' parameter."},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//service/aws4_request, "
         "SignedHeaders=host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "InvalidSignatureException", "Credential should be scoped to a valid region. "},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015/us-east-1/service/aws4_request, "
         "SignedHeaders=host;x-amz-date, "
         "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
         "InvalidSignatureException", "Date in Credential scope does not match"},
        {",,,,", "IncompleteSignatureException", "Authorization header requires 'Credential'"},
        {"= = =", "IncompleteSignatureException", "Authorization header requires 'Credential'"},
        {"AWS4-HMAC-SHA256 Credential", "IncompleteSignatureException",
         "Invalid key=value pair (missing equal-sign)"},
        {"\t\r\n\x7f\xff", "IncompleteSignatureException", NULL},
    };
    struct td_sigv4_options opts = base_opts();
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++) {
        struct preq p;
        preq_init(&p, "GET", "/", NULL);
        preq_add(&p, "Host", "example.amazonaws.com");
        preq_add(&p, "X-Amz-Date", "20150830T123600Z");
        preq_add(&p, "Authorization", cases[i].authorization);
        struct td_err err;
        int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
        if (r >= 0 || strcmp(err.type, cases[i].type) != 0)
            print_message("case %zu: %s\n", i, cases[i].authorization);
        expect_err(r, &err, 403, cases[i].type, cases[i].message_prefix);
        preq_free(&p);
    }

    /* A very long Authorization header is quoted only in part. */
    _cleanup_buf_ struct td_buf big = TD_BUF_INIT(1 << 20);
    assert_int_equal(td_buf_puts(&big, "AWS4-HMAC-SHA256 Credential="), 0);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(td_buf_puts(&big, "A"), 0);
    struct preq p;
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "Authorization", big.data);
    struct td_err err;
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Authorization header requires 'Signature' parameter.");
    assert_true(strlen(err.message) < 600);
    preq_free(&p);
}

static void test_duplicate_and_limits(void **state)
{
    (void)state;
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    struct preq p;
    preq_vanilla(&p);
    preq_add(&p, "Authorization", p.authz.data);
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Only one 'Authorization' header is allowed.");
    preq_free(&p);

    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_sign(&p, &default_signer);
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Only one 'X-Amz-Date' header is allowed.");
    preq_free(&p);

    /* Too many headers. */
    struct http_msg m;
    load_signed("get-vanilla", "header", &m);
    while (m.n_headers < TD_SIGV4_MAX_HEADERS + 1)
        m.headers[m.n_headers++] = (struct td_http_header){"X-Filler", 8, "x", 1};
    struct td_sigv4_request req = http_msg_request(&m);
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException", "The request has more than");
    m.n_headers = TD_SIGV4_MAX_HEADERS;
    req = http_msg_request(&m);
    expect_ok(parse_verify(&req, &opts, SUITE_SECRET, &err), &err);
    http_msg_free(&m);

    /* Too many signed headers. */
    _cleanup_buf_ struct td_buf sh = TD_BUF_INIT(4096);
    _cleanup_buf_ struct td_buf az = TD_BUF_INIT(8192);
    for (int i = 0; i < TD_SIGV4_MAX_SIGNED_HEADERS + 1; i++)
        assert_int_equal(td_buf_printf(&sh, "%sh%03d", i ? ";" : "", i), 0);
    assert_int_equal(td_buf_printf(&az,
                                   "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                                   "service/aws4_request, SignedHeaders=%s;host, Signature=5fa00f"
                                   "a31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
                                   sh.data),
                     0);
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "Authorization", az.data);
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException", "SignedHeaders lists more than");
    preq_free(&p);

    /* Overlong access key id, path and query. */
    _cleanup_buf_ struct td_buf longkey = TD_BUF_INIT(8192);
    assert_int_equal(td_buf_puts(&longkey, "AWS4-HMAC-SHA256 Credential="), 0);
    for (int i = 0; i < TD_SIGV4_MAX_ACCESS_KEY_ID + 1; i++)
        assert_int_equal(td_buf_puts(&longkey, "K"), 0);
    assert_int_equal(td_buf_puts(&longkey, "/20150830/us-east-1/service/aws4_request, "
                                           "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553"
                                           "b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
                     0);
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "Authorization", longkey.data);
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Credential has an invalid access key id");
    preq_free(&p);

    char *longpath = malloc(TD_SIGV4_MAX_PATH + 2);
    assert_non_null(longpath);
    memset(longpath, 'a', TD_SIGV4_MAX_PATH + 1);
    longpath[0] = '/';
    longpath[TD_SIGV4_MAX_PATH + 1] = '\0';
    preq_vanilla(&p);
    p.req.path = longpath;
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException", "The request path is longer");
    preq_free(&p);
    free(longpath);

    _cleanup_buf_ struct td_buf manyq = TD_BUF_INIT(1 << 20);
    for (int i = 0; i < TD_SIGV4_MAX_QUERY_PARAMS + 1; i++)
        assert_int_equal(td_buf_printf(&manyq, "%sp%d=v", i ? "&" : "", i), 0);
    preq_vanilla(&p);
    p.req.query = manyq.data;
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException", "The query string has more than");
    preq_free(&p);
}

static void test_oversized_fields(void **state)
{
    (void)state;
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    struct preq p;
    _cleanup_buf_ struct td_buf big = TD_BUF_INIT(4 << 20);

    /* Session token over the cap. */
    for (int i = 0; i < TD_SIGV4_MAX_SESSION_TOKEN + 1; i++)
        assert_int_equal(td_buf_append(&big, "t", 1), 0);
    preq_vanilla(&p);
    preq_add(&p, "X-Amz-Security-Token", big.data);
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException", "The security token is too long.");
    preq_free(&p);

    /* SignedHeaders string over the cap. */
    td_buf_reset(&big);
    assert_int_equal(td_buf_puts(&big, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
                                       "us-east-1/service/aws4_request, SignedHeaders=host;x"),
                     0);
    for (int i = 0; i < TD_SIGV4_MAX_SIGNED_HEADERS_LEN; i++)
        assert_int_equal(td_buf_append(&big, "x", 1), 0);
    assert_int_equal(td_buf_puts(&big, ", Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260"
                                       "956d9b8aae1d763fbf31"),
                     0);
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "Authorization", big.data);
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException", "SignedHeaders is too long.");
    preq_free(&p);

    /* Query string over the cap, and an overlong presigned parameter. */
    td_buf_reset(&big);
    assert_int_equal(td_buf_puts(&big, "a="), 0);
    for (int i = 0; i < TD_SIGV4_MAX_QUERY; i++)
        assert_int_equal(td_buf_append(&big, "v", 1), 0);
    preq_vanilla(&p);
    p.req.query = big.data;
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException", "The query string is longer");
    preq_free(&p);

    td_buf_reset(&big);
    assert_int_equal(td_buf_puts(&big, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T1236"
                                       "00Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-"
                                       "Credential="),
                     0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(td_buf_append(&big, "A", 1), 0);
    preq_init(&p, "GET", "/", big.data);
    preq_add(&p, "Host", "example.amazonaws.com");
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Query parameter 'X-Amz-Credential' is too long.");
    preq_free(&p);

    /* Programming errors are reported, not crashed on. */
    _cleanup_sigv4_auth_ struct td_sigv4_auth auth = TD_SIGV4_AUTH_INIT;
    assert_int_equal(td_sigv4_parse(NULL, &opts, &auth, &err), -EINVAL);
    assert_int_equal(err.status, 500);
    assert_int_equal(td_sigv4_parse(&p.req, NULL, &auth, &err), -EINVAL);
    assert_int_equal(td_sigv4_parse(&p.req, &opts, NULL, &err), -EINVAL);
    assert_int_equal(td_sigv4_verify(&p.req, &auth, NULL, &opts, &err), -EINVAL);
    struct td_sigv4_request bad = {.method = "GET", .n_headers = 1};
    assert_int_equal(td_sigv4_parse(&bad, &opts, &auth, NULL), -EINVAL);
}

static void test_session_token_header(void **state)
{
    (void)state;
    struct preq p;
    preq_init(&p, "POST", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_add(&p, "X-Amz-Security-Token", "  tok/en+==  ");
    struct signer s = default_signer;
    s.signed_headers = "host;x-amz-date;x-amz-security-token";
    preq_sign(&p, &s);
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    _cleanup_sigv4_auth_ struct td_sigv4_auth auth = TD_SIGV4_AUTH_INIT;
    expect_ok(td_sigv4_parse(&p.req, &opts, &auth, &err), &err);
    assert_true(auth.has_session_token);
    assert_true(auth.session_token_signed);
    assert_string_equal(auth.session_token.data, "tok/en+==");
    expect_ok(td_sigv4_verify(&p.req, &auth, SUITE_SECRET, &opts, &err), &err);
    /* A second parse into the same auth must not leak the first token. */
    expect_ok(td_sigv4_parse(&p.req, &opts, &auth, &err), &err);
    td_sigv4_auth_release(&auth);
    expect_ok(td_sigv4_parse(&p.req, &opts, &auth, &err), &err);

    /* The signed token cannot be swapped. */
    p.h[2].value = "other";
    p.h[2].value_len = 5;
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    preq_free(&p);
}

static void test_control_bytes(void **state)
{
    (void)state;
    struct td_sigv4_options opts = base_opts();
    struct td_err err;
    struct preq p;

    /* A NUL in a (decoded) access key id would make the C string differ from what was sent. */
    preq_init(&p, "GET", "/",
              "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%00EXAMPLE%2F20150830%2Fus-"
              "east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders="
              "host&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d38"
              "65d");
    preq_add(&p, "Host", "example.amazonaws.com");
    int r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Credential has an invalid access key id: 'AKID?EXAMPLE'.");
    preq_free(&p);

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                         \
    }
    struct td_http_header h[] = {
        H("Host", "example.amazonaws.com"),
        H("X-Amz-Date", "20150830T123600Z"),
        H("Authorization",
          "AWS4-HMAC-SHA256 Credential=AK\0D/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=host;x-amz-date, "
          "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        H("X-Amz-Security-Token", "tok\0en"),
    };
#undef H
    struct td_sigv4_request req = {.method = "GET", .path = "/", .headers = h, .n_headers = 3};
    r = parse_verify(&req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "Credential has an invalid access key id: 'AK?D'.");

    /* Tokens with NUL or control bytes are refused. */
    preq_init(&p, "GET", "/", NULL);
    preq_add(&p, "Host", "example.amazonaws.com");
    preq_add(&p, "X-Amz-Date", "20150830T123600Z");
    preq_sign(&p, &default_signer);
    p.h[p.n] = h[3];
    p.req.n_headers = ++p.n;
    r = parse_verify(&p.req, &opts, SUITE_SECRET, &err);
    expect_err(r, &err, 403, "IncompleteSignatureException",
               "The security token contains invalid characters.");
    preq_free(&p);
}

static void test_key_cache(void **state)
{
    (void)state;
    struct td_sigv4_key_cache *cache = malloc(sizeof(*cache));
    assert_non_null(cache);
    td_sigv4_key_cache_init(cache);
    struct preq p;
    preq_vanilla(&p);
    struct td_sigv4_options opts = base_opts();
    opts.key_cache = cache;
    struct td_err err;

    for (int i = 0; i < 3; i++)
        expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    assert_int_equal(cache->misses, 1);
    assert_int_equal(cache->hits, 2);

    /* A rotated secret never hits the old key. */
    int r = parse_verify(&p.req, &opts, "rotated-secret", &err);
    expect_err(r, &err, 403, "InvalidSignatureException", MSG_MISMATCH);
    assert_int_equal(cache->misses, 2);
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    assert_int_equal(cache->misses, 3);

    /* Fill past capacity; the derived keys stay right. */
    uint8_t want[TD_SIGV4_KEY_LEN], got[TD_SIGV4_KEY_LEN];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 2 * TD_SIGV4_KEY_CACHE_SLOTS; i++) {
            char akid[32], secret[32];
            snprintf(akid, sizeof(akid), "AKID%d", i);
            snprintf(secret, sizeof(secret), "secret-%d", i);
            assert_int_equal(td_sigv4_key_cache_get(cache, akid, secret, "20150830", "us-east-1",
                                                    "service", got),
                             0);
            assert_int_equal(td_sigv4_signing_key(secret, "20150830", "us-east-1", "service", want),
                             0);
            assert_memory_equal(got, want, sizeof(want));
        }
    }
    /* The most recent entries hit. */
    uint64_t hits = cache->hits;
    assert_int_equal(td_sigv4_key_cache_get(cache, "AKID63", "secret-63", "20150830", "us-east-1",
                                            "service", got),
                     0);
    assert_int_equal(cache->hits, hits + 1);

    td_sigv4_key_cache_clear(cache);
    assert_int_equal(cache->hits, 0);
    expect_ok(parse_verify(&p.req, &opts, SUITE_SECRET, &err), &err);
    assert_int_equal(cache->misses, 1);
    preq_free(&p);
    free(cache);
}

static void test_signing_key_vector(void **state)
{
    (void)state;
    /* The example of the AWS "derive a signing key" documentation. */
    uint8_t key[TD_SIGV4_KEY_LEN];
    char hex[2 * TD_SIGV4_KEY_LEN + 1];
    assert_int_equal(td_sigv4_signing_key(SUITE_SECRET, "20120215", "us-east-1", "iam", key), 0);
    for (size_t i = 0; i < sizeof(key); i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    assert_string_equal(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");

    /* An overlong secret is refused, not truncated. */
    char *big = malloc(TD_SIGV4_MAX_SECRET + 2);
    assert_non_null(big);
    memset(big, 'x', TD_SIGV4_MAX_SECRET + 1);
    big[TD_SIGV4_MAX_SECRET + 1] = '\0';
    assert_int_equal(td_sigv4_signing_key(big, "20120215", "us-east-1", "iam", key), -EINVAL);
    free(big);
}

/* The canonical request of a request signed for "host" only. */
static void canonical(const char *method, const char *path, const char *query,
                      const struct td_http_header *h, size_t n, const char *signed_headers,
                      bool normalize, struct td_buf *out)
{
    struct td_sigv4_request req = {
        .method = method, .path = path, .query = query, .headers = h, .n_headers = n};
    _cleanup_sigv4_auth_ struct td_sigv4_auth a = TD_SIGV4_AUTH_INIT;
    snprintf(a.signed_headers, sizeof(a.signed_headers), "%s", signed_headers);
    td_buf_reset(out);
    assert_int_equal(td_sigv4_canonical_request(&req, &a, normalize, out), 0);
}

/* Line `n` (0-based) of text. */
static void line_of(const char *text, int n, struct td_buf *out)
{
    const char *p = text;
    for (int i = 0; i < n; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    const char *e = strchr(p, '\n');
    td_buf_reset(out);
    assert_int_equal(td_buf_append(out, p, e ? (size_t)(e - p) : strlen(p)), 0);
}

static void test_canonical_uri(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        bool normalize;
        const char *want;
    } cases[] = {
        {"", true, "/"},
        {"", false, "/"},
        {"/", true, "/"},
        {"/a%3Ab c", true, "/a%253Ab%20c"}, /* double encoding of the raw path */
        {"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/"
         "invocations",
         true,
         "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A123456789012%253Afunctio"
         "n%253Af/invocations"},
        {"/a/b/../c/./d//", true, "/a/c/d/"},
        {"/a/b/../c/./d//", false, "/a/b/../c/./d//"},
        {"/../../x", true, "/x"},
        {"/a/..", true, "/"},
        {"/a/b/..", true, "/a"},
        {"/a/b/../", true, "/a/"},
        {"//", true, "/"},
        {"/%2E%2E/x", true, "/%252E%252E/x"},
        {"/~user/file.txt", true, "/~user/file.txt"},
        {"/a+b=c&d", true, "/a%2Bb%3Dc%26d"},
        {"/\xe1\x88\xb4", true, "/%E1%88%B4"},
        {"relative/path", true, "/relative/path"},
        {"relative/path", false, "relative/path"},
    };
    struct td_http_header host = {"host", 4, "h", 1};
    _cleanup_buf_ struct td_buf out = TD_BUF_INIT(1 << 16);
    _cleanup_buf_ struct td_buf line = TD_BUF_INIT(1 << 16);
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++) {
        canonical("GET", cases[i].path, NULL, &host, 1, "host", cases[i].normalize, &out);
        line_of(out.data, 1, &line);
        if (strcmp(line.data, cases[i].want) != 0)
            print_message("path '%s' normalize=%d: got '%s' want '%s'\n", cases[i].path,
                          cases[i].normalize, line.data, cases[i].want);
        assert_string_equal(line.data, cases[i].want);
    }
    /* NULL path is "/". */
    canonical("GET", NULL, NULL, &host, 1, "host", true, &out);
    line_of(out.data, 1, &line);
    assert_string_equal(line.data, "/");
}

static void test_canonical_query(void **state)
{
    (void)state;
    static const struct {
        const char *query;
        const char *want;
    } cases[] = {
        {NULL, ""},
        {"", ""},
        {"b=2&a=1&a=0&c&%7e=x&sp%20ace=a+b", "a=0&a=1&b=2&c=&sp%20ace=a%2Bb&~=x"},
        {"a=%2F%2f/&a==", "a=%2F%2F%2F&a=%3D"},
        {"&&x=1&&", "x=1"},
        {"=v", "=v"},
        {"k=%zz%4", "k=%25zz%254"},
        {"Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
         "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"},
        {"X-Amz-Signature=abc&z=1", "X-Amz-Signature=abc&z=1"}, /* kept for header auth */
    };
    struct td_http_header host = {"host", 4, "h", 1};
    _cleanup_buf_ struct td_buf out = TD_BUF_INIT(1 << 16);
    _cleanup_buf_ struct td_buf line = TD_BUF_INIT(1 << 16);
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++) {
        canonical("GET", "/", cases[i].query, &host, 1, "host", true, &out);
        line_of(out.data, 2, &line);
        if (strcmp(line.data, cases[i].want) != 0)
            print_message("query '%s': got '%s' want '%s'\n",
                          cases[i].query ? cases[i].query : "(null)", line.data, cases[i].want);
        assert_string_equal(line.data, cases[i].want);
    }
}

static void test_canonical_headers(void **state)
{
    (void)state;
#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                         \
    }
    struct td_http_header h[] = {
        H("Host", "example.com:8080"), H("X-Multi", " a\t\tb\r\n   c "), H("x-multi", ""),
        H("X-MULTI", "  d  "),         H("X-Quote", "\"a   b\""),
    };
#undef H
    _cleanup_buf_ struct td_buf out = TD_BUF_INIT(1 << 16);
    canonical("PUT", "/", NULL, h, TD_ARRAY_SIZE(h), "host;x-multi;x-quote", true, &out);
    assert_string_equal(out.data,
                        "PUT\n/\n\nhost:example.com:8080\nx-multi:a b c,,d\n"
                        "x-quote:\"a b\"\n\nhost;x-multi;x-quote\n"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* A signed header that is absent, and a malformed list. */
    struct td_sigv4_request req = {.method = "GET", .path = "/", .headers = h, .n_headers = 1};
    _cleanup_sigv4_auth_ struct td_sigv4_auth a = TD_SIGV4_AUTH_INIT;
    snprintf(a.signed_headers, sizeof(a.signed_headers), "host;x-none");
    td_buf_reset(&out);
    assert_int_equal(td_sigv4_canonical_request(&req, &a, true, &out), -ENOENT);
    snprintf(a.signed_headers, sizeof(a.signed_headers), "host;");
    td_buf_reset(&out);
    assert_int_equal(td_sigv4_canonical_request(&req, &a, true, &out), -EINVAL);
    /* The output cap holds. */
    struct td_buf small = TD_BUF_INIT(10);
    snprintf(a.signed_headers, sizeof(a.signed_headers), "host");
    assert_int_equal(td_sigv4_canonical_request(&req, &a, true, &small), -E2BIG);
    td_buf_release(&small);
}

static void test_amz_date(void **state)
{
    (void)state;
    int64_t ms;
    char out[TD_SIGV4_AMZ_DATE_LEN + 1];
    assert_int_equal(td_sigv4_parse_amz_date("20150830T123600Z", 16, &ms), 0);
    assert_int_equal(ms, SUITE_TS_MS);
    td_sigv4_format_amz_date(ms, out);
    assert_string_equal(out, "20150830T123600Z");
    assert_int_equal(td_sigv4_parse_amz_date("19700101T000000Z", 16, &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(td_sigv4_parse_amz_date("20000229T235959Z", 16, &ms), 0);
    td_sigv4_format_amz_date(ms, out);
    assert_string_equal(out, "20000229T235959Z");
    td_sigv4_format_amz_date(-1000, out);
    assert_string_equal(out, "19691231T235959Z");
    static const char *const bad[] = {
        "19000229T000000Z", "20150830T123660Z", "20151301T000000Z", "20150800T000000Z",
        "2015083XT123600Z", "20150830 123600Z", "20150830T123600",  "20150830T1236000Z",
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(bad); i++)
        assert_int_equal(td_sigv4_parse_amz_date(bad[i], strlen(bad[i]), &ms), -EINVAL);
    /* Extreme clocks format without overflow. */
    td_sigv4_format_amz_date(INT64_MAX, out);
    assert_int_equal(strlen(out), TD_SIGV4_AMZ_DATE_LEN);
    td_sigv4_format_amz_date(INT64_MIN, out);
    assert_int_equal(strlen(out), TD_SIGV4_AMZ_DATE_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_suite),
        cmocka_unit_test(test_vanilla_programmatic),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_tampered_body),
        cmocka_unit_test(test_unsigned_payload_refused),
        cmocka_unit_test(test_tampered_signed_header),
        cmocka_unit_test(test_tampered_path_and_query),
        cmocka_unit_test(test_missing_auth),
        cmocka_unit_test(test_host_not_signed),
        cmocka_unit_test(test_wrong_scope),
        cmocka_unit_test(test_clock_skew),
        cmocka_unit_test(test_presigned_expiry),
        cmocka_unit_test(test_presigned_forms),
        cmocka_unit_test(test_both_header_and_query),
        cmocka_unit_test(test_no_space_after_commas),
        cmocka_unit_test(test_date_header_fallback),
        cmocka_unit_test(test_garbage_authorization),
        cmocka_unit_test(test_duplicate_and_limits),
        cmocka_unit_test(test_oversized_fields),
        cmocka_unit_test(test_session_token_header),
        cmocka_unit_test(test_control_bytes),
        cmocka_unit_test(test_key_cache),
        cmocka_unit_test(test_signing_key_vector),
        cmocka_unit_test(test_canonical_uri),
        cmocka_unit_test(test_canonical_query),
        cmocka_unit_test(test_canonical_headers),
        cmocka_unit_test(test_amz_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
