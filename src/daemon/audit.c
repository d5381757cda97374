/* Reading the audit log back (the daemon appends to it in authz.c). */
#include "tenantd/audit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tenantd/cleanup.h"

#define LINE_MAX_BYTES 16384

static int64_t event_time_ms(json_t *e)
{
    const char *t = json_string_value(json_object_get(e, "time"));
    struct tm tm = {0};
    int ms = 0;
    if (!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static bool field_is(json_t *e, const char *name, const char *want)
{
    const char *v = json_string_value(json_object_get(e, name));
    return !want || (v && strcmp(v, want) == 0);
}

int td_audit_query(const char *state_dir, const struct td_audit_filter *f, json_t **ret)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/audit.log", state_dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    size_t limit = f->limit ? f->limit : 100;
    if (limit > TD_AUDIT_MAX_LIMIT)
        limit = TD_AUDIT_MAX_LIMIT;
    /* The newest `limit` matches, in a ring, so that a long log costs one pass. */
    json_t **ring = calloc(limit, sizeof(*ring));
    _cleanup_fclose_ FILE *in = fopen(path, "re");
    _cleanup_free_ char *line = malloc(LINE_MAX_BYTES);
    if (!ring || !line) {
        free(ring);
        return -ENOMEM;
    }
    size_t seen = 0;
    while (in && fgets(line, LINE_MAX_BYTES, in)) {
        size_t len = strlen(line);
        if (len == LINE_MAX_BYTES - 1 && line[len - 1] != '\n') { /* too long: skip the rest */
            int c;
            while ((c = fgetc(in)) != EOF && c != '\n')
                ;
            continue;
        }
        json_t *e = json_loadb(line, len, 0, NULL);
        if (!json_is_object(e) || !field_is(e, "tenant", f->tenant) ||
            !field_is(e, "principal", f->principal) || !field_is(e, "action", f->action) ||
            (f->since_ms && event_time_ms(e) < f->since_ms)) {
            json_decref(e);
            continue;
        }
        json_decref(ring[seen % limit]);
        ring[seen % limit] = e;
        seen++;
    }
    json_t *events = json_array();
    size_t first = seen > limit ? seen - limit : 0;
    for (size_t i = first; i < seen; i++) {
        if (events)
            json_array_append(events, ring[i % limit]);
        json_decref(ring[i % limit]);
    }
    free(ring);
    if (!events)
        return -ENOMEM;
    *ret = events;
    return 0;
}
