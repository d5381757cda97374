/* Fuzz the request routers (td_route_lambda, td_route_runtime) and td_http_percent_decode.
 *
 * Input: "METHOD SP path" (the first space or newline splits them; without one the whole input
 * is the path and the method is GET). Bytes after a NUL are ignored, as a C-string request line
 * would be. Each result is compared with a small reference router written here from the
 * documented route tables, and the decoder with a reference decoder:
 *   - a route id is NOT_FOUND, METHOD_NOT_ALLOWED or the id of a template matching path+method;
 *   - a decoded parameter is the reference decoding of the raw segment, non-empty, NUL-free and
 *     at most TD_ROUTE_PARAM_MAX bytes;
 *   - the decoder never writes past out_size and fails exactly when the reference fails.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantd/http.h"
#include "tenantd/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 8192

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_routing: check failed at line %d: %s\n", __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct ref_route {
    const char *method;
    const char *prefix; /* the template before "{}", or the whole template */
    const char *suffix; /* the template after "{}"; NULL when the template has no parameter */
    enum td_route_id id;
};

/* The tables as documented (route.c and the Lambda / Runtime API references). */
static const struct ref_route lambda_ref[] = {
    {"GET", "/2015-03-31/functions", NULL, TD_ROUTE_LIST_FUNCTIONS},
    {"GET", "/2015-03-31/functions/", NULL, TD_ROUTE_LIST_FUNCTIONS},
    {"POST", "/2015-03-31/functions", NULL, TD_ROUTE_CREATE_FUNCTION},
    {"POST", "/2015-03-31/functions/", NULL, TD_ROUTE_CREATE_FUNCTION},
    {"GET", "/2015-03-31/functions/", "", TD_ROUTE_GET_FUNCTION},
    {"DELETE", "/2015-03-31/functions/", "", TD_ROUTE_DELETE_FUNCTION},
    {"GET", "/2015-03-31/functions/", "/configuration", TD_ROUTE_GET_FUNCTION_CONFIGURATION},
    {"PUT", "/2015-03-31/functions/", "/configuration", TD_ROUTE_UPDATE_FUNCTION_CONFIGURATION},
    {"PUT", "/2015-03-31/functions/", "/code", TD_ROUTE_UPDATE_FUNCTION_CODE},
    {"POST", "/2015-03-31/functions/", "/invocations", TD_ROUTE_INVOKE},
    {"GET", "/tenantd/code/", "", TD_ROUTE_CODE_DOWNLOAD},
    {"GET", "/tenantd/stats", NULL, TD_ROUTE_STATS},
    {"GET", "/tenantd/audit", NULL, TD_ROUTE_AUDIT},
};

static const struct ref_route runtime_ref[] = {
    {"GET", "/2018-06-01/runtime/invocation/next", NULL, TD_ROUTE_RUNTIME_NEXT},
    {"POST", "/2018-06-01/runtime/invocation/", "/response", TD_ROUTE_RUNTIME_RESPONSE},
    {"POST", "/2018-06-01/runtime/invocation/", "/error", TD_ROUTE_RUNTIME_ERROR},
    {"POST", "/2018-06-01/runtime/init/error", NULL, TD_ROUTE_RUNTIME_INIT_ERROR},
};

/* Does path match the template? The raw parameter segment is returned. */
static bool ref_match(const struct ref_route *t, const char *path, const char **seg,
                      size_t *seg_len)
{
    if (!t->suffix)
        return strcmp(path, t->prefix) == 0;
    size_t plen = strlen(path), pre = strlen(t->prefix), suf = strlen(t->suffix);
    if (plen < pre + suf + 1 || strncmp(path, t->prefix, pre) != 0 ||
        strcmp(path + plen - suf, t->suffix) != 0)
        return false;
    *seg = path + pre;
    *seg_len = plen - pre - suf;
    return memchr(*seg, '/', *seg_len) == NULL;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)(c | 0x20);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reference percent-decoding into a buffer of at least len + 1 bytes: -1 on a bad escape or a
 * NUL, else the decoded length. */
static long ref_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            if (len - i < 3)
                return -1;
            int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c == 0)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

static void check_router(int (*router)(const char *, const char *, struct td_route_match *),
                         const struct ref_route *table, size_t n, const char *method,
                         const char *path)
{
    struct td_route_match m;
    memset(&m, 0x5a, sizeof(m));
    int r = router(method, path, &m);

    /* The reference result. */
    bool path_known = false;
    const struct ref_route *hit = NULL;
    const char *seg = NULL;
    size_t seg_len = 0;
    for (size_t i = 0; i < n && !hit; i++) {
        const char *s = NULL;
        size_t sl = 0;
        if (!ref_match(&table[i], path, &s, &sl))
            continue;
        path_known = true;
        if (strcmp(table[i].method, method) == 0) {
            hit = &table[i];
            seg = s;
            seg_len = sl;
        }
    }

    if (r < 0) {
        /* Only a parameter that does not decode (or is too long) is an error: -EINVAL. */
        CHECK(r == -EINVAL);
        CHECK(hit && hit->suffix);
        char *ref = malloc(seg_len + 1);
        CHECK(ref);
        long dl = ref_decode(seg, seg_len, ref);
        free(ref);
        CHECK(dl < 0 || dl > TD_ROUTE_PARAM_MAX);
        return;
    }
    CHECK(r == 0);
    CHECK(memchr(m.param, '\0', sizeof(m.param)) != NULL);
    size_t plen = strnlen(m.param, sizeof(m.param));
    CHECK(plen <= TD_ROUTE_PARAM_MAX);
    if (!hit) {
        CHECK(m.id == (path_known ? TD_ROUTE_METHOD_NOT_ALLOWED : TD_ROUTE_NOT_FOUND));
        CHECK(m.operation == NULL);
        CHECK(plen == 0);
        return;
    }
    CHECK(m.id == hit->id);
    CHECK(m.operation != NULL && m.operation[0] != '\0');
    if (!hit->suffix) {
        CHECK(plen == 0);
        return;
    }
    char *ref = malloc(seg_len + 1);
    CHECK(ref);
    long dl = ref_decode(seg, seg_len, ref);
    CHECK(dl > 0 && dl <= TD_ROUTE_PARAM_MAX); /* otherwise the router had to fail */
    CHECK((size_t)dl == plen);
    CHECK(memcmp(ref, m.param, plen) == 0);
    free(ref);
}

static void check_decode(const char *in, size_t len, size_t out_size)
{
    char *ref = malloc(len + 1);
    char *out = malloc(out_size + 8);
    CHECK(ref && out);
    memset(out, 0x77, out_size + 8);
    long dl = ref_decode(in, len, ref);
    int r = td_http_percent_decode(in, len, out, out_size);
    for (size_t i = out_size; i < out_size + 8; i++)
        CHECK((unsigned char)out[i] == 0x77); /* nothing written past out_size */
    if (dl < 0) {
        CHECK(r == -EINVAL || r == -E2BIG); /* -E2BIG when it ran out of room first */
    } else if ((size_t)dl + 1 > out_size) {
        CHECK(r == -E2BIG);
    } else {
        CHECK(r == dl);
        CHECK(memcmp(out, ref, (size_t)dl + 1) == 0);
        CHECK(strlen(out) == (size_t)dl);
    }
    free(ref);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    const char *method = "GET";
    char *path = buf;
    char *sep = strpbrk(buf, " \n");
    if (sep) {
        *sep = '\0';
        method = buf;
        path = sep + 1;
    }

    check_router(td_route_lambda, lambda_ref, sizeof(lambda_ref) / sizeof(lambda_ref[0]), method,
                 path);
    check_router(td_route_runtime, runtime_ref, sizeof(runtime_ref) / sizeof(runtime_ref[0]),
                 method, path);

    /* The decoder on the raw path, with room to spare, just enough, and too little. */
    size_t plen = strlen(path);
    check_decode(path, plen, plen + 1);
    check_decode(path, plen, 1 + (size > 0 ? data[0] % 64 : 0));
    check_decode(path, plen, TD_ROUTE_PARAM_MAX + 1);
    /* The raw bytes, NULs included. */
    check_decode((const char *)data, size, size + 1);

    free(buf);
    return 0;
}
