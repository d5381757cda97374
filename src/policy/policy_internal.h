/* Internals of the policy engine, shared by its files (not part of the public API). */
#ifndef TENANTD_POLICY_INTERNAL_H
#define TENANTD_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tenantd/buf.h"
#include "tenantd/policy.h"

/* Longest resolved pattern (a policy value with its variables substituted). */
#define POL_PATTERN_MAX (TD_POLICY_MAX_TEXT_BYTES + 16 * TD_POLICY_CTX_MAX_VALUE_LEN)
/* How much untrusted text an error message or a lint finding quotes. */
#define POL_ECHO_MAX 120
/* An ARN has six colon-separated parts; the last may itself contain colons. */
#define POL_ARN_PARTS 6

/* ---- the parsed policy -------------------------------------------------------------------- */

enum pol_family {
    FAM_STRING,
    FAM_NUMERIC,
    FAM_DATE,
    FAM_BOOL,
    FAM_BINARY,
    FAM_IP,
    FAM_ARN,
    FAM_NULL,
};

enum pol_test {
    TEST_EQ,    /* equal (exact) */
    TEST_EQ_IC, /* equal ignoring ASCII case */
    TEST_LIKE,  /* glob: '*' and '?' */
    TEST_LT,
    TEST_LE,
    TEST_GT,
    TEST_GE,
    TEST_IN_NET, /* address inside CIDR */
    TEST_NULL,
};

struct pol_op {
    const char *name;
    enum pol_family family;
    enum pol_test test;
    bool negated;
};

enum pol_set {
    SET_NONE,
    SET_ALL, /* ForAllValues: */
    SET_ANY, /* ForAnyValue: */
};

/* An exact decimal: sign, integer digits without leading zeros, fraction digits without
 * trailing zeros; both spans point into the text it was read from. */
struct pol_decimal {
    bool negative;
    const char *int_digits;
    size_t int_len;
    const char *frac_digits;
    size_t frac_len;
};

struct pol_time {
    int64_t sec;
    int32_t nsec;
};

struct pol_net {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix; /* bits */
};

struct pol_bytes {
    uint8_t *data; /* owned */
    size_t len;
};

/* Text of a JSON number or boolean written as a condition value. */
#define POL_SCALAR_TEXT_MAX 48

struct pol_value {
    const char *text; /* borrowed from the JSON document, or `scalar` */
    size_t len;
    char scalar[POL_SCALAR_TEXT_MAX];
    union {
        struct pol_decimal num;
        struct pol_time time;
        struct pol_net net;
        struct pol_bytes bin;
        bool is_null; /* Null: "true" (key absent) or "false" */
    } as;
};

struct pol_condition {
    const struct pol_op *op;
    enum pol_set set;
    bool if_exists;
    const char *op_name; /* as written, e.g. "ForAllValues:StringLike" */
    const char *key;
    size_t n_values;
    struct pol_value *values;
};

struct pol_strings {
    size_t n;
    const char **items; /* borrowed from the JSON document */
};

struct pol_statement {
    const char *sid;    /* NULL when absent */
    const char *effect; /* as written ("Allow", "Deny", or another case of those) */
    bool deny;
    bool not_action;
    struct pol_strings actions;
    bool not_resource;
    struct pol_strings resources;
    size_t n_conditions;
    struct pol_condition *conditions;
};

struct td_policy {
    json_t *doc;    /* owns every borrowed string */
    bool variables; /* Version 2012-10-17 */
    size_t n_statements;
    struct pol_statement *statements;
};

/* ---- the request context ------------------------------------------------------------------ */

struct pol_ctx_key {
    char *name;
    size_t name_len;
    bool multi;
    size_t n;
    size_t cap;
    char **values;
};

/* A context lives for one request: its strings and value arrays come from an arena freed with
 * it, so building one costs a few allocations however many keys it holds. */
struct pol_arena_chunk;

struct td_policy_ctx {
    char *action;
    char *resource;
    size_t n;
    size_t cap;
    struct pol_ctx_key *keys;
    struct pol_arena_chunk *chunks; /* the newest first */
};

const struct pol_ctx_key *pol_ctx_find(const struct td_policy_ctx *ctx, const char *name,
                                       size_t len);
/* The value of a single-valued key, for a policy variable; NULL if absent or multivalued. */
const char *pol_ctx_single(const struct td_policy_ctx *ctx, const char *name, size_t len);

/* ---- text helpers (match.c) --------------------------------------------------------------- */

char pol_ascii_lower(char c);
bool pol_ascii_caseeq(const char *a, size_t an, const char *b, size_t bn);
/* Printable-ASCII copy of untrusted text for messages, cut at POL_ECHO_MAX bytes. */
struct pol_echo {
    char s[POL_ECHO_MAX + 4];
};
const char *pol_echo(struct pol_echo *e, const char *p, size_t n);

/* Glob match: '*' any sequence (possibly empty, crossing any character), '?' one character
 * (a UTF-8 sequence). With `escapes`, '\\' makes the next byte literal (resolved patterns);
 * without, '\\' is an ordinary byte (raw action names). Iterative, O(len(pattern) * len(s)).
 * Each step spends one unit of *budget (NULL: unlimited); at 0 the match gives up (false, and
 * *budget stays 0 for the caller to see). */
bool pol_glob(const char *pat, size_t pn, const char *s, size_t sn, bool fold_case, bool escapes,
              uint64_t *budget);

/* Split s on its first five colons. Returns the number of parts (1..6). */
struct pol_arn {
    const char *part[POL_ARN_PARTS];
    size_t len[POL_ARN_PARTS];
    size_t n;
};
size_t pol_arn_split(const char *s, size_t n, struct pol_arn *out);

/* Whether a raw Action pattern ("s3:Get*", "*") matches an action, case-insensitively. */
bool pol_action_matches(const char *pattern, const char *action);

/* ---- policy variables (vars.c) ------------------------------------------------------------ */

enum pol_var_kind {
    VAR_KEY,    /* ${aws:username} */
    VAR_STAR,   /* ${*} */
    VAR_QMARK,  /* ${?} */
    VAR_DOLLAR, /* ${$} */
};

struct pol_var {
    size_t start, end; /* span of "${...}" in the text */
    enum pol_var_kind kind;
    const char *name;
    size_t name_len;
    bool has_default;
    const char *def;
    size_t def_len;
};

/* Read the well-formed variable reference that starts at s[at] ("${"), if there is one. */
bool pol_var_at(const char *s, size_t n, size_t at, struct pol_var *out);
/* Find the next well-formed variable reference at or after `from`; false if none. A "${" that
 * does not open a well-formed reference is ordinary text. */
bool pol_var_next(const char *s, size_t n, size_t from, struct pol_var *out);

enum pol_resolve_mode {
    RESOLVE_PLAIN, /* for equality: the text as it reads */
    RESOLVE_GLOB,  /* for globbing: literal '*', '?' and '\\' (from values, ${*}, ${?}) escaped */
};

/* Append s with its variables substituted from ctx (only when `variables`; otherwise the text
 * is literal). Returns 1 when every variable resolved (or had a default), 0 when one did not
 * (the value then matches nothing), or -E2BIG / -ENOMEM. */
int pol_resolve(const char *s, size_t n, bool variables, enum pol_resolve_mode mode,
                const struct td_policy_ctx *ctx, struct td_buf *out);

/* ---- typed values (values.c) -------------------------------------------------------------- */

int pol_parse_decimal(const char *s, size_t n, struct pol_decimal *out);
int pol_decimal_cmp(const struct pol_decimal *a, const struct pol_decimal *b);
/* W3C ISO 8601 forms (YYYY, YYYY-MM, YYYY-MM-DD, with Thh:mm[:ss[.s+]] and Z or +hh:mm;
 * no zone means UTC) or epoch seconds. */
int pol_parse_date(const char *s, size_t n, struct pol_time *out);
int pol_time_cmp(const struct pol_time *a, const struct pol_time *b);
/* An address, or a CIDR when allow_prefix; a bare address is a /32 or /128. */
int pol_parse_net(const char *s, size_t n, bool allow_prefix, struct pol_net *out);
bool pol_net_contains(const struct pol_net *net, const struct pol_net *addr);
/* Whether the UTF-8 text only holds TAB, LF, CR and U+0020-U+00FF. On failure *bad_cp is the
 * offending code point (or UINT32_MAX for a malformed sequence). */
bool pol_text_allowed(const char *s, size_t n, uint32_t *bad_cp);
/* Characters other than white space (TAB, LF, CR, space), counting code points. */
size_t pol_count_chars(const char *s, size_t n);

/* ---- templates (template.c) --------------------------------------------------------------- */

/* A character a tenant id may hold: [A-Za-z0-9._:/=+-@ ]. */
bool pol_is_tenant_char(char c);

/* ---- operators (condition.c) -------------------------------------------------------------- */

/* Split "ForAllValues:StringLikeIfExists" into its parts; NULL op if unknown. */
const struct pol_op *pol_op_lookup(const char *name, enum pol_set *set, bool *if_exists);

struct pol_eval {
    const struct td_policy_ctx *ctx;
    bool variables;
    struct td_buf scratch; /* resolved policy values */
    struct td_buf bytes;   /* decoded base64 request values */
    uint64_t budget;       /* glob steps left (TD_POLICY_EVAL_MAX_STEPS per evaluation) */
    int error;             /* first -errno met; evaluation then stops matching */
};

void pol_eval_init(struct pol_eval *ev, const struct td_policy *p, const struct td_policy_ctx *ctx);
void pol_eval_release(struct pol_eval *ev);
/* Glob a resolved pattern within the evaluation's budget (-E2BIG in ev->error when spent). */
bool pol_eval_glob(struct pol_eval *ev, const char *pat, size_t pn, const char *s, size_t sn);
bool pol_condition_holds(struct pol_eval *ev, const struct pol_condition *c);
/* Whether a policy ARN pattern (with variables) matches an ARN, part by part. */
bool pol_arn_matches(struct pol_eval *ev, const char *pattern, size_t pn, const char *arn,
                     size_t an);

#endif
