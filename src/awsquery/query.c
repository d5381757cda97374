/* Form-encoded query-protocol requests, decoded by uriparser. */
#include "tenantd/awsquery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uriparser/Uri.h>

#include "tenantd/map.h"

struct td_query {
    UriQueryListA *list;
    struct td_map *by_name; /* name -> value ("" for none) */
};

static const char empty[] = "";

void td_query_free(struct td_query *q)
{
    if (!q)
        return;
    td_map_free(q->by_name);
    uriFreeQueryListA(q->list);
    free(q);
}

static int malformed(struct td_err *err, const char *why)
{
    return td_err_set(err, 400, "MalformedQueryString", "%s", why);
}

/* uriparser decodes "%00" into a NUL that would silently cut a value short. */
static bool has_nul(const char *body, size_t len)
{
    if (memchr(body, '\0', len))
        return true;
    for (size_t i = 0; i + 2 < len; i++)
        if (body[i] == '%' && body[i + 1] == '0' && body[i + 2] == '0')
            return true;
    return false;
}

int td_query_parse(const char *body, size_t len, struct td_query **ret, struct td_err *err)
{
    if (len > TD_QUERY_MAX_BODY)
        return td_err_set(err, 413, "RequestEntityTooLarge", "The request body is too large");
    if (has_nul(body, len))
        return malformed(err, "The request contains a NUL character");
    struct td_query *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    int count = 0;
    int r = 0;
    if (len > 0 && uriDissectQueryMallocExA(&q->list, &count, body, body + len, URI_TRUE,
                                            URI_BR_DONT_TOUCH) != URI_SUCCESS)
        r = malformed(err, "The request body is not a valid form");
    else if (count > TD_QUERY_MAX_PARAMS)
        r = malformed(err, "Too many parameters in the request");
    else if (!(q->by_name = td_map_new()))
        r = -ENOMEM;
    for (UriQueryListA *it = q->list; r == 0 && it; it = it->next) {
        const char *value = it->value ? it->value : empty;
        if (!*it->key)
            continue; /* "&&" or a leading "=": nothing named */
        void *old = NULL;
        r = td_map_put(q->by_name, it->key, strlen(it->key), (void *)value, &old);
        if (r == 0 && old)
            r = malformed(err, "A parameter is given more than once");
    }
    if (r < 0) {
        td_query_free(q);
        return r;
    }
    *ret = q;
    return 0;
}

const char *td_query_get(const struct td_query *q, const char *name)
{
    return td_map_get(q->by_name, name, strlen(name));
}

const char *td_query_member(const struct td_query *q, const char *prefix, size_t n,
                            const char *suffix)
{
    char name[256];
    if (snprintf(name, sizeof(name), "%s.%zu%s", prefix, n, suffix) >= (int)sizeof(name))
        return NULL;
    return td_query_get(q, name);
}

int td_query_list_len(const struct td_query *q, const char *prefix, const char *suffix)
{
    size_t n = 0;
    while (n < TD_QUERY_MAX_PARAMS && td_query_member(q, prefix, n + 1, suffix))
        n++;
    /* A member numbered past a gap would be silently ignored: refuse it. */
    for (size_t k = n + 2; k <= n + 16 && k <= TD_QUERY_MAX_PARAMS; k++)
        if (td_query_member(q, prefix, k, suffix))
            return -EINVAL;
    return (int)n;
}
