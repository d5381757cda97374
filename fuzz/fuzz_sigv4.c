/* Fuzz SigV4 parsing, canonicalization and verification.
 *
 * Input: a raw HTTP/1.1 request as in the suite's <case>/{header,query}-signed-request.txt:
 * "METHOD SP target SP HTTP/1.1", header lines "Name:value" (lines starting with SP/HT continue
 * the previous value), an empty line, the body. Each input is checked under two option sets
 * (strict scope with path normalization; any scope, S3-style paths, a later clock and a key
 * cache). The clock is the suite's timestamp, so suite requests verify with the suite secret.
 * With FUZZ_SIGV4_VERBOSE set in the environment, the outcome of each check is printed (handy
 * when adding seeds to fuzz/corpus/sigv4/).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantd/buf.h"
#include "tenantd/error.h"
#include "tenantd/sigv4.h"

#define FUZZ_MAX_INPUT   (1 << 20)
#define FUZZ_MAX_HEADERS (TD_SIGV4_MAX_HEADERS + 8)
#define SUITE_SECRET     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_TS_MS      INT64_C(1440938160000) /* 2015-08-30T12:36:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct msg {
    char *store;
    struct td_http_header headers[FUZZ_MAX_HEADERS];
    struct td_sigv4_request req;
};

static struct td_sigv4_key_cache g_cache;

static void parse_msg(struct msg *m, const uint8_t *data, size_t size)
{
    memcpy(m->store, data, size);
    m->store[size] = '\0';
    char *p = m->store, *end = m->store + size;

    /* Request line. */
    char *eol = memchr(p, '\n', size);
    char *line_end = eol ? eol : end;
    if (line_end > p && line_end[-1] == '\r')
        line_end--;
    *line_end = '\0';
    m->req.method = p;
    m->req.path = "";
    char *sp1 = memchr(p, ' ', (size_t)(line_end - p));
    if (sp1) {
        *sp1 = '\0';
        char *target = sp1 + 1;
        char *sp2 = memrchr(target, ' ', (size_t)(line_end - target));
        if (sp2)
            *sp2 = '\0';
        char *qm = strchr(target, '?');
        if (qm) {
            *qm = '\0';
            m->req.query = qm + 1;
        }
        m->req.path = target;
    }
    p = eol ? eol + 1 : end;

    /* Headers. */
    size_t n = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        char *content_end = (le > p && le[-1] == '\r') ? le - 1 : le;
        if (content_end == p) {
            p = nl ? nl + 1 : end;
            break;
        }
        if ((*p == ' ' || *p == '\t') && n > 0) {
            struct td_http_header *h = &m->headers[n - 1];
            char *v = m->store + (h->value - m->store);
            for (char *q = v + h->value_len; q < p; q++)
                *q = ' ';
            h->value_len = (size_t)(content_end - v);
        } else {
            char *colon = memchr(p, ':', (size_t)(content_end - p));
            if (colon && n < FUZZ_MAX_HEADERS) {
                struct td_http_header *h = &m->headers[n++];
                h->name = p;
                h->name_len = (size_t)(colon - p);
                char *v = colon + 1;
                while (v < content_end && (*v == ' ' || *v == '\t'))
                    v++;
                h->value = v;
                h->value_len = (size_t)(content_end - v);
            }
        }
        p = nl ? nl + 1 : end;
    }
    m->req.headers = m->headers;
    m->req.n_headers = n;
    m->req.body = p;
    m->req.body_len = (size_t)(end - p);
}

static void report(const char *what, int r, const struct td_err *err)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_SIGV4_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "  %s: %s%s%s\n", what, r < 0 ? err->type : "ok", r < 0 ? ": " : "",
                r < 0 ? err->message : "");
}

static void check(const struct td_sigv4_request *req, const struct td_sigv4_options *opts)
{
    struct td_err err = {0};
    struct td_sigv4_auth auth = TD_SIGV4_AUTH_INIT;
    int r = td_sigv4_parse(req, opts, &auth, &err);
    report("parse", r, &err);
    if (r < 0) {
        /* A failure always explains itself. */
        if (err.status == 0 || err.type[0] == '\0' || err.message[0] == '\0')
            abort();
        td_sigv4_auth_release(&auth);
        return;
    }
    /* What parse accepts is well-formed: C strings that mean what was sent. */
    if (strlen(auth.signature) != TD_SIGV4_SIGNATURE_LEN || auth.access_key_id[0] == '\0' ||
        strlen(auth.amz_date) != TD_SIGV4_AMZ_DATE_LEN || auth.n_signed_headers == 0 ||
        strlen(auth.date) != 8 || auth.region[0] == '\0' || auth.service[0] == '\0' ||
        strstr(auth.signed_headers, "host") == NULL)
        abort();
    for (const char *p = auth.access_key_id; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '/')
            abort();
    if (auth.has_session_token && auth.session_token.len > 0 &&
        strlen(auth.session_token.data) != auth.session_token.len)
        abort();
    r = td_sigv4_verify(req, &auth, SUITE_SECRET, opts, &err);
    report("verify", r, &err);
    if (r < 0 && (err.status == 0 || err.type[0] == '\0'))
        abort();

    struct td_buf creq = TD_BUF_INIT(TD_SIGV4_MAX_CANONICAL);
    struct td_buf sts = TD_BUF_INIT(4096);
    for (int normalize = 0; normalize < 2; normalize++) {
        td_buf_reset(&creq);
        td_buf_reset(&sts);
        if (td_sigv4_canonical_request(req, &auth, normalize != 0, &creq) == 0 &&
            td_sigv4_string_to_sign(&auth, creq.data ? creq.data : "", creq.len, &sts) == 0) {
            uint8_t key[TD_SIGV4_KEY_LEN];
            char sig[TD_SIGV4_SIGNATURE_LEN + 1];
            if (td_sigv4_signing_key(SUITE_SECRET, auth.date, auth.region, auth.service, key) == 0)
                (void)td_sigv4_signature(key, sts.data, sts.len, sig);
        }
    }
    td_buf_release(&creq);
    td_buf_release(&sts);
    td_sigv4_auth_release(&auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    struct msg *m = calloc(1, sizeof(*m));
    if (!m)
        return 0;
    m->store = malloc(size + 1);
    if (!m->store) {
        free(m);
        return 0;
    }
    parse_msg(m, data, size);

    struct td_sigv4_options strict = {
        .service = "service",
        .region = "us-east-1",
        .now_ms = SUITE_TS_MS,
        .max_skew_ms = 15 * 60 * 1000,
        .normalize_path = true,
        .error_status = 403,
    };
    check(&m->req, &strict);

    struct td_sigv4_options loose = {
        .now_ms = SUITE_TS_MS + 10 * 60 * 1000,
        .normalize_path = false,
        .key_cache = &g_cache,
    };
    check(&m->req, &loose);

    /* The date parser on the raw bytes. */
    int64_t ms;
    if (td_sigv4_parse_amz_date((const char *)data, size, &ms) == 0) {
        char out[TD_SIGV4_AMZ_DATE_LEN + 1];
        td_sigv4_format_amz_date(ms, out);
        if (memcmp(out, data, TD_SIGV4_AMZ_DATE_LEN) != 0)
            abort();
    }

    free(m->store);
    free(m);
    return 0;
}
