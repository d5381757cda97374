/* behave: a payload-driven test function (provided.al2023, built with tdrt).
 *
 * The event is a JSON object with an "action":
 *   {"action":"echo"}                          answer with the event bytes unchanged
 *   {"action":"error","type":"T","message":"M"} a function error (errorType T, errorMessage M)
 *   {"action":"throw"}                         a function error of type BehaveCustomError
 *   {"action":"sleep","ms":N}                  sleep N ms, then answer {"slept":N}
 *   {"action":"exit","code":N}                 exit(N) in the middle of the invocation
 *   {"action":"log","text":"S"}                print S to stdout and stderr, answer {"logged":S}
 *   {"action":"big","bytes":N}                 answer with exactly N bytes (a JSON string if N >=
 * 2)
 *   {"action":"env"}                           answer with the environment as a JSON object
 *   {"action":"ctx"}                           answer with the invocation context
 *   {"action":"crash"}                         die of SIGSEGV
 *   {"action":"spin"}                          busy-loop forever
 * Anything else is a function error of type BehaveBadEvent; an event that tdrt did not end with
 * a NUL, one of type BehaveBadRuntime.
 *
 * At start-up: BEHAVE_INIT_FAIL set -> POST /runtime/init/error (Runtime.BehaveInitError) and
 * exit(1); BEHAVE_INIT_EXIT set -> exit(2) before the first /next.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "tdrt.h"

#define BIG_MAX ((json_int_t)256 * 1024 * 1024)

extern char **environ;

/* A JSON string from bytes that may not be UTF-8 (invalid bytes become '?'). */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Raw JSON text (client context, identity) as JSON when it parses, else as a string. */
static json_t *jraw(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
    return j ? j : jstr(s);
}

static int answer_json(struct tdrt_response *resp, json_t *o)
{
    if (!o)
        return -ENOMEM;
    char *text = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(o);
    if (!text)
        return -ENOMEM;
    int r = tdrt_response_set(resp, text, strlen(text), "application/json");
    free(text);
    return r;
}

static void sleep_ms(json_int_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int do_big(struct tdrt_response *resp, json_int_t n)
{
    if (n < 0 || n > BIG_MAX)
        return tdrt_response_error(resp, "BehaveBadEvent", "bytes must be in [0, %lld]",
                                   (long long)BIG_MAX);
    size_t len = (size_t)n;
    char *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    memset(buf, 'x', len);
    if (len >= 2)
        buf[0] = buf[len - 1] = '"';
    int r = tdrt_response_set(resp, buf, len, "application/json");
    free(buf);
    return r;
}

static int do_env(struct tdrt_response *resp)
{
    json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char *name = strndup(*e, (size_t)(eq - *e));
        if (!name) {
            json_decref(o);
            return -ENOMEM;
        }
        json_t *v = jstr(eq + 1);
        /* names that are not UTF-8 are skipped */
        if (v)
            (void)json_object_set_new(o, name, v);
        free(name);
    }
    return answer_json(resp, o);
}

static int do_ctx(const struct tdrt_context *ctx, struct tdrt_response *resp)
{
    json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    (void)json_object_set_new(o, "awsRequestId", jstr(ctx->request_id));
    (void)json_object_set_new(o, "deadlineMs", json_integer((json_int_t)ctx->deadline_ms));
    (void)json_object_set_new(o, "remainingMs", json_integer((json_int_t)tdrt_remaining_ms(ctx)));
    (void)json_object_set_new(o, "invokedFunctionArn", jstr(ctx->invoked_function_arn));
    (void)json_object_set_new(o, "tenantId", jstr(ctx->tenant_id));
    (void)json_object_set_new(o, "traceId", jstr(ctx->trace_id));
    (void)json_object_set_new(o, "xAmznTraceId", jstr(getenv("_X_AMZN_TRACE_ID")));
    (void)json_object_set_new(o, "clientContext", jraw(ctx->client_context));
    (void)json_object_set_new(o, "identity", jraw(ctx->cognito_identity));
    return answer_json(resp, o);
}

static int handle(const struct tdrt_context *ctx, const char *event, size_t event_len,
                  struct tdrt_response *resp, json_t *ev)
{
    const char *action = json_string_value(json_object_get(ev, "action"));
    if (!action)
        return tdrt_response_error(resp, "BehaveBadEvent", "the event has no \"action\"");

    if (!strcmp(action, "echo"))
        return tdrt_response_set(resp, event, event_len, "application/json");
    if (!strcmp(action, "error")) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *msg = json_string_value(json_object_get(ev, "message"));
        return tdrt_response_error(resp, type ? type : "BehaveError", "%s", msg ? msg : "");
    }
    if (!strcmp(action, "throw"))
        return tdrt_response_error(resp, "BehaveCustomError", "thrown on request");
    if (!strcmp(action, "sleep")) {
        json_int_t ms = json_integer_value(json_object_get(ev, "ms"));
        if (ms > 0)
            sleep_ms(ms);
        return answer_json(resp, json_pack("{s:I}", "slept", ms));
    }
    if (!strcmp(action, "exit")) {
        json_int_t code = json_integer_value(json_object_get(ev, "code"));
        exit((int)(code & 0xff));
    }
    if (!strcmp(action, "log")) {
        const char *text = json_string_value(json_object_get(ev, "text"));
        if (!text)
            text = "";
        printf("%s\n", text);
        fprintf(stderr, "%s\n", text);
        return answer_json(resp, json_pack("{s:s}", "logged", text));
    }
    if (!strcmp(action, "big"))
        return do_big(resp, json_integer_value(json_object_get(ev, "bytes")));
    if (!strcmp(action, "env"))
        return do_env(resp);
    if (!strcmp(action, "ctx"))
        return do_ctx(ctx, resp);
    if (!strcmp(action, "crash")) {
        fflush(NULL);
        (void)signal(SIGSEGV, SIG_DFL); /* past any sanitizer's handler */
        (void)raise(SIGSEGV);
        abort();
    }
    if (!strcmp(action, "spin")) {
        for (volatile uint64_t i = 0;; i++)
            ;
    }
    return tdrt_response_error(resp, "BehaveBadEvent", "unknown action \"%s\"", action);
}

static int handler(const struct tdrt_context *ctx, const char *event, size_t event_len,
                   struct tdrt_response *resp, void *userdata)
{
    (void)userdata;
    /* tdrt's promise: the event is followed by a NUL (a runtime that reuses its buffers must
     * not show a shorter event with the end of an earlier one). */
    if (event[event_len] != '\0')
        return tdrt_response_error(resp, "BehaveBadRuntime", "the event is not NUL-terminated");
    json_error_t jerr;
    json_t *ev = json_loadb(event, event_len, 0, &jerr);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return tdrt_response_error(resp, "BehaveBadEvent", "the event is not a JSON object");
    }
    int r = handle(ctx, event, event_len, resp, ev);
    json_decref(ev);
    return r;
}

int main(void)
{
    const char *fail = getenv("BEHAVE_INIT_FAIL");
    if (fail) {
        int r = tdrt_init_error("Runtime.BehaveInitError", "init failed on request");
        if (r < 0)
            fprintf(stderr, "behave: tdrt_init_error: %s\n", strerror(-r));
        return 1;
    }
    if (getenv("BEHAVE_INIT_EXIT"))
        return 2;
    return tdrt_run(handler, NULL) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
