/* AttributeValues in DynamoDB's JSON form: checking and canonicalising what a request carries,
 * equality and order as DynamoDB compares, and item sizes as DynamoDB counts them.
 *
 * The messages are DynamoDB's, as its public emulators recorded them (dynalite's validations,
 * the DAX client's request validator): SerializationException for JSON of the wrong shape,
 * ValidationException otherwise. Empty S and B values are allowed (DynamoDB allows them outside
 * keys since 2020; keys are the caller's business). Unknown and null members of an
 * AttributeValue are dropped, as DynamoDB's deserializer ignores them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddb_internal.h"
#include "tenantd/cleanup.h"
#include "tenantd/util.h"

#define MSG_EMPTY_AV                                                                               \
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
#define MSG_MANY_AV                                                                                \
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "    \
    "supported datatypes"
#define MSG_NESTING                                                                                \
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels "    \
    "beyond supported limit"
#define MSG_INVALID "One or more parameter values were invalid: "
/* How much of a refused value a message quotes. */
#define ECHO_MAX 100

int ddb_invalid(struct td_err *err, const char *fmt, ...)
{
    char msg[TD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return td_err_set(err, 400, DDB_VALIDATION, "%s", msg);
}

int ddb_quote_len(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return (int)len;
    size_t n = max;
    /* back off over continuation bytes to the start of the cut sequence */
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return (int)n;
}

int ddb_oom(struct td_err *err)
{
    return td_err_setc(err, -ENOMEM, 500, "InternalServerError", "Internal server error");
}

static int serialization(struct td_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int serialization(struct td_err *err, const char *fmt, ...)
{
    char msg[TD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return td_err_set(err, 400, DDB_SERIALIZATION, "%s", msg);
}

/* ---- types --------------------------------------------------------------------------------- */

static const char *const TYPE_NAMES[] = {
    [TD_DDB_S] = "S",       [TD_DDB_N] = "N",   [TD_DDB_B] = "B", [TD_DDB_BOOL] = "BOOL",
    [TD_DDB_NULL] = "NULL", [TD_DDB_M] = "M",   [TD_DDB_L] = "L", [TD_DDB_SS] = "SS",
    [TD_DDB_NS] = "NS",     [TD_DDB_BS] = "BS",
};

static const char *const LONG_NAMES[] = {
    [TD_DDB_S] = "STRING",      [TD_DDB_N] = "NUMBER",      [TD_DDB_B] = "BINARY",
    [TD_DDB_BOOL] = "BOOLEAN",  [TD_DDB_NULL] = "NULL",     [TD_DDB_M] = "MAP",
    [TD_DDB_L] = "LIST",        [TD_DDB_SS] = "STRING_SET", [TD_DDB_NS] = "NUMBER_SET",
    [TD_DDB_BS] = "BINARY_SET",
};

const char *td_ddb_type_name(enum td_ddb_type t)
{
    if (t < TD_DDB_S || t > TD_DDB_BS)
        return "";
    return TYPE_NAMES[t];
}

const char *ddb_type_long_name(enum td_ddb_type t)
{
    if (t < TD_DDB_S || t > TD_DDB_BS)
        return "";
    return LONG_NAMES[t];
}

enum td_ddb_type ddb_type_from_name(const char *name, size_t len)
{
    for (int t = TD_DDB_S; t <= TD_DDB_BS; t++)
        if (strlen(TYPE_NAMES[t]) == len && memcmp(TYPE_NAMES[t], name, len) == 0)
            return (enum td_ddb_type)t;
    return 0;
}

bool ddb_is_set(enum td_ddb_type t)
{
    return t == TD_DDB_SS || t == TD_DDB_NS || t == TD_DDB_BS;
}

enum td_ddb_type ddb_set_elem(enum td_ddb_type t)
{
    switch (t) {
    case TD_DDB_SS:
        return TD_DDB_S;
    case TD_DDB_NS:
        return TD_DDB_N;
    case TD_DDB_BS:
        return TD_DDB_B;
    default:
        return 0;
    }
}

/* Does the member have the JSON shape its type needs? */
static bool member_shape_ok(enum td_ddb_type t, const json_t *m)
{
    switch (t) {
    case TD_DDB_S:
    case TD_DDB_N:
    case TD_DDB_B:
        return json_is_string(m);
    case TD_DDB_BOOL:
        return json_is_boolean(m);
    case TD_DDB_NULL:
        return json_is_true(m);
    case TD_DDB_M:
        return json_is_object(m);
    case TD_DDB_L:
    case TD_DDB_SS:
    case TD_DDB_NS:
    case TD_DDB_BS:
        return json_is_array(m);
    default:
        return false;
    }
}

json_t *ddb_member(const json_t *av, enum td_ddb_type *type)
{
    if (!json_is_object(av) || json_object_size(av) != 1)
        return NULL;
    const char *key;
    json_t *m;
    json_object_foreach((json_t *)av, key, m)
    {
        enum td_ddb_type t = ddb_type_from_name(key, strlen(key));
        if (!t || !member_shape_ok(t, m))
            return NULL;
        if (type)
            *type = t;
        return m;
    }
    return NULL;
}

enum td_ddb_type td_ddb_type_of(const json_t *value)
{
    enum td_ddb_type t = 0;
    return ddb_member(value, &t) ? t : 0;
}

json_t *ddb_av_new(enum td_ddb_type t, json_t *member)
{
    json_t *av = member ? json_object() : NULL;
    if (!av || json_object_set_new(av, td_ddb_type_name(t), member) < 0) {
        json_decref(av ? av : member);
        return NULL;
    }
    return av;
}

json_t *ddb_av_num(const struct ddb_num *n)
{
    char text[DDB_NUM_TEXT_MAX];
    ddb_num_format(n, text);
    return ddb_av_new(TD_DDB_N, json_string(text));
}

/* ---- bytes and text ------------------------------------------------------------------------ */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decoded length of checked base64 text (of whole groups only, should it not be checked). */
static size_t b64_len(const char *s, size_t n)
{
    n -= n % 4;
    if (n < 4)
        return 0;
    size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    return n / 4 * 3 - pad;
}

/* The i-th decoded byte of checked base64 text (no allocation: for comparisons). */
static int b64_byte(const char *s, size_t i)
{
    size_t g = i / 3 * 4;
    int v[4];
    for (int k = 0; k < 4; k++) {
        v[k] = b64_value(s[g + (size_t)k]);
        if (v[k] < 0)
            v[k] = 0;
    }
    unsigned long w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
                      ((unsigned long)v[2] << 6) | (unsigned long)v[3];
    return (int)((w >> (16 - 8 * (i % 3))) & 0xff);
}

size_t ddb_bytes_len(const json_t *str)
{
    return b64_len(json_string_value(str), json_string_length(str));
}

static int b64_cmp(const json_t *a, const json_t *b)
{
    const char *x = json_string_value(a), *y = json_string_value(b);
    size_t nx = b64_len(x, json_string_length(a)), ny = b64_len(y, json_string_length(b));
    for (size_t i = 0; i < nx && i < ny; i++) {
        int c = b64_byte(x, i) - b64_byte(y, i);
        if (c != 0)
            return c;
    }
    return nx == ny ? 0 : nx < ny ? -1 : 1;
}

int ddb_bytes(const json_t *str, struct td_buf *out)
{
    td_buf_reset(out);
    if (!json_is_string(str))
        return -EINVAL;
    return td_base64_decode(json_string_value(str), json_string_length(str), out);
}

size_t ddb_utf16_len(const char *s, size_t n)
{
    size_t units = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) != 0x80)
            units++; /* a lead byte */
        if ((c & 0xf8) == 0xf0)
            units++; /* four bytes: a surrogate pair */
    }
    return units;
}

/* Levels below av, not descending past DDB_WALK_MAX (unchecked values may be deeper). */
static unsigned depth_from(const json_t *av, unsigned level)
{
    enum td_ddb_type t = 0;
    const json_t *m = ddb_member(av, &t);
    unsigned deepest = level;
    size_t i;
    const char *key;
    json_t *child;
    if (!m || level >= DDB_WALK_MAX)
        return deepest;
    if (t == TD_DDB_M) {
        json_object_foreach((json_t *)m, key, child)
        {
            unsigned d = depth_from(child, level + 1);
            deepest = d > deepest ? d : deepest;
        }
    } else if (t == TD_DDB_L) {
        json_array_foreach(m, i, child)
        {
            unsigned d = depth_from(child, level + 1);
            deepest = d > deepest ? d : deepest;
        }
    }
    return deepest;
}

unsigned ddb_depth(const json_t *av)
{
    return depth_from(av, 1);
}

/* ---- checking what a request carries ------------------------------------------------------- */

/* JSON of the wrong kind where `target` was expected ("an String", "a Blob", "an Boolean"),
 * worded as DynamoDB's deserializer words it. */
static int wrong_json(struct td_err *err, const json_t *v, const char *target)
{
    if (json_is_object(v))
        return serialization(err, "Start of structure or map found where not expected.");
    if (json_is_array(v))
        return serialization(err, "Start of list found where not expected");
    if (json_is_boolean(v))
        return serialization(err, "class java.lang.Boolean can not be converted to %s", target);
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        const char *cls = n >= -32768 && n <= 32767                 ? "Short"
                          : n >= -2147483648LL && n <= 2147483647LL ? "Integer"
                                                                    : "Long";
        return serialization(err, "class java.lang.%s can not be converted to %s", cls, target);
    }
    if (json_is_real(v))
        return serialization(err, "class java.lang.Double can not be converted to %s", target);
    if (json_is_string(v))
        return serialization(err, "'%.*s' can not be converted to %s",
                             ddb_quote_len(json_string_value(v), json_string_length(v), ECHO_MAX),
                             json_string_value(v), target);
    return serialization(err, "Unexpected JSON value where %s was expected", target);
}

/* Strict standard base64, in its one canonical spelling. */
static int check_b64(const json_t *str, struct td_err *err)
{
    const char *s = json_string_value(str);
    size_t n = json_string_length(str);
    int shown = ddb_quote_len(s, n, ECHO_MAX);
    if (n % 4 != 0)
        return serialization(err,
                             "'%.*s' can not be converted to a Blob: Base64 encoded length is "
                             "expected a multiple of 4 bytes but found: %zu",
                             shown, s, n);
    for (size_t i = 0; i < n; i++) {
        bool bad = s[i] == '=' ? i + 1 < n && s[i + 1] != '=' : b64_value(s[i]) < 0;
        if (bad) {
            /* the whole character, not one byte of it */
            size_t clen = 1;
            while (i + clen < n && clen < 4 && ((unsigned char)s[i + clen] & 0xc0) == 0x80)
                clen++;
            return serialization(err,
                                 "'%.*s' can not be converted to a Blob: Invalid Base64 "
                                 "character: '%.*s'",
                                 shown, s, (int)clen, s + i);
        }
    }
    _cleanup_buf_ struct td_buf bytes = TD_BUF_INIT(DDB_BYTES_MAX);
    _cleanup_buf_ struct td_buf again = TD_BUF_INIT(DDB_BYTES_MAX * 2);
    int r = td_base64_decode(s, n, &bytes);
    if (r == -ENOMEM)
        return ddb_oom(err);
    if (r >= 0)
        r = td_base64_encode(bytes.data, bytes.len, &again);
    if (r == -ENOMEM)
        return ddb_oom(err);
    if (r < 0 || again.len != n || (n > 0 && memcmp(again.data, s, n) != 0))
        return serialization(err,
                             "'%.*s' can not be converted to a Blob: Invalid last non-pad Base64 "
                             "character dectected",
                             shown, s);
    return 0;
}

static int set_elem_cmp(const json_t *a, const json_t *b, enum td_ddb_type elem)
{
    if (!json_is_string(a) || !json_is_string(b)) /* only in values that skipped the checks */
        return (int)json_is_string(a) - (int)json_is_string(b);
    if (elem == TD_DDB_N) {
        struct ddb_num x, y;
        if (ddb_num_of(a, &x) == DDB_NUM_OK && ddb_num_of(b, &y) == DDB_NUM_OK)
            return ddb_num_cmp(&x, &y);
    }
    size_t na = json_string_length(a), nb = json_string_length(b);
    int c = memcmp(json_string_value(a), json_string_value(b), na < nb ? na : nb);
    return c != 0 ? c : na == nb ? 0 : na < nb ? -1 : 1;
}

static int sort_cmp(const void *x, const void *y, void *ctx)
{
    const json_t *const *a = x, *const *b = y;
    return set_elem_cmp(*a, *b, *(const enum td_ddb_type *)ctx);
}

int ddb_set_sorted(const json_t *set, enum td_ddb_type elem, const json_t ***ret)
{
    size_t n = json_array_size(set);
    *ret = NULL;
    if (n == 0)
        return 0;
    const json_t **v = calloc(n, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(set, i);
    qsort_r(v, n, sizeof(*v), sort_cmp, &elem);
    *ret = v;
    return 0;
}

bool ddb_set_has(const json_t *const *sorted, size_t n, enum td_ddb_type elem, const json_t *x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = set_elem_cmp(sorted[mid], x, elem);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* "[a, b, c]" for the duplicates messages (cut short: messages have a cap). */
static void list_text(const json_t *arr, char *out, size_t cap)
{
    struct td_buf b = TD_BUF_INIT(cap > 8 ? cap - 8 : 0);
    size_t i;
    json_t *e;
    bool cut = td_buf_puts(&b, "[") < 0;
    json_array_foreach(arr, i, e)
    {
        if (cut || td_buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(e)) < 0) {
            cut = true;
            break;
        }
    }
    snprintf(out, cap, "%s%s", b.data ? b.data : "[", cut ? "...]" : "]");
    td_buf_release(&b);
}

static int set_duplicates(const json_t *m, enum td_ddb_type t, struct td_err *err)
{
    enum td_ddb_type elem = ddb_set_elem(t);
    const json_t **sorted = NULL;
    if (ddb_set_sorted(m, elem, &sorted) < 0)
        return ddb_oom(err);
    size_t n = json_array_size(m);
    bool dup = false;
    for (size_t i = 1; i < n && !dup; i++)
        dup = set_elem_cmp(sorted[i - 1], sorted[i], elem) == 0;
    free(sorted);
    if (!dup)
        return 0;
    char list[600];
    list_text(m, list, sizeof(list));
    if (t == TD_DDB_NS)
        return ddb_invalid(err, "Input collection contains duplicates");
    if (t == TD_DDB_BS)
        return ddb_invalid(err, MSG_INVALID "Input collection %sof type BS contains duplicates.",
                           list);
    return ddb_invalid(err, MSG_INVALID "Input collection %s contains duplicates.", list);
}

static int check_set_elem(json_t *set, size_t i, enum td_ddb_type t, struct td_err *err)
{
    json_t *e = json_array_get(set, i);
    if (json_is_null(e)) {
        if (t == TD_DDB_NS)
            return ddb_invalid(err, "The parameter cannot be converted to a numeric value");
        if (t == TD_DDB_BS)
            return ddb_invalid(err, MSG_INVALID "Binary sets may not contain null or empty values");
        return ddb_invalid(err, MSG_INVALID "An string set may not have a null string as a member");
    }
    if (!json_is_string(e))
        return wrong_json(err, e, t == TD_DDB_BS ? "a Blob" : "an String");
    if (t == TD_DDB_BS)
        return check_b64(e, err);
    if (t != TD_DDB_NS)
        return 0;
    struct ddb_num num;
    enum ddb_num_status st = ddb_num_of(e, &num);
    if (st != DDB_NUM_OK)
        return ddb_num_error(st, json_string_value(e), json_string_length(e), err);
    char text[DDB_NUM_TEXT_MAX];
    ddb_num_format(&num, text);
    if (json_array_set_new(set, i, json_string(text)) < 0)
        return ddb_oom(err);
    return 0;
}

static int check_set(json_t *m, enum td_ddb_type t, struct td_err *err)
{
    if (!json_is_array(m))
        return serialization(err, "Expected list or null");
    if (json_array_size(m) == 0) {
        if (t == TD_DDB_BS)
            return ddb_invalid(err, MSG_INVALID "Binary sets should not be empty");
        return ddb_invalid(err, MSG_INVALID "An %s set  may not be empty",
                           t == TD_DDB_SS ? "string" : "number");
    }
    for (size_t i = 0; i < json_array_size(m); i++) {
        int r = check_set_elem(m, i, t, err);
        if (r < 0)
            return r;
    }
    return set_duplicates(m, t, err);
}

static int check_number(json_t *av, const json_t *m, struct td_err *err)
{
    if (!json_is_string(m))
        return wrong_json(err, m, "an String");
    struct ddb_num num;
    enum ddb_num_status st = ddb_num_of(m, &num);
    if (st != DDB_NUM_OK)
        return ddb_num_error(st, json_string_value(m), json_string_length(m), err);
    char text[DDB_NUM_TEXT_MAX];
    ddb_num_format(&num, text);
    if (json_object_set_new(av, "N", json_string(text)) < 0)
        return ddb_oom(err);
    return 0;
}

static int check_children(json_t *m, enum td_ddb_type t, unsigned depth, struct td_err *err)
{
    size_t n = t == TD_DDB_M ? json_object_size(m) : json_array_size(m);
    if (n > 0 && depth >= TD_DDB_MAX_DEPTH)
        return ddb_invalid(err, MSG_NESTING);
    const char *key;
    json_t *child;
    size_t i;
    if (t == TD_DDB_M) {
        json_object_foreach(m, key, child)
        {
            int r = ddb_value_check_at(child, depth + 1, err);
            if (r < 0)
                return r;
        }
        return 0;
    }
    json_array_foreach(m, i, child)
    {
        int r = ddb_value_check_at(child, depth + 1, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int check_member(json_t *av, enum td_ddb_type t, json_t *m, unsigned depth,
                        struct td_err *err)
{
    switch (t) {
    case TD_DDB_S:
        return json_is_string(m) ? 0 : wrong_json(err, m, "an String");
    case TD_DDB_N:
        return check_number(av, m, err);
    case TD_DDB_B:
        return json_is_string(m) ? check_b64(m, err) : wrong_json(err, m, "a Blob");
    case TD_DDB_BOOL:
        return json_is_boolean(m) ? 0 : wrong_json(err, m, "an Boolean");
    case TD_DDB_NULL:
        if (!json_is_boolean(m))
            return wrong_json(err, m, "an Boolean");
        if (!json_is_true(m))
            return ddb_invalid(err, MSG_INVALID
                               "Null attribute value types must have the value of true");
        return 0;
    case TD_DDB_M:
        if (!json_is_object(m))
            return serialization(err, "Expected map or null");
        return check_children(m, t, depth, err);
    case TD_DDB_L:
        if (!json_is_array(m))
            return serialization(err, "Expected list or null");
        return check_children(m, t, depth, err);
    case TD_DDB_SS:
    case TD_DDB_NS:
    case TD_DDB_BS:
        return check_set(m, t, err);
    default:
        return 0;
    }
}

/* Drop the members DynamoDB's deserializer would not see: unknown names and JSON nulls. */
static int drop_ignored_members(json_t *av)
{
    const char *key;
    json_t *m;
    void *next;
    json_object_foreach_safe(av, next, key, m)
    {
        if (json_is_null(m) || !ddb_type_from_name(key, strlen(key)))
            if (json_object_del(av, key) < 0)
                return -ENOMEM;
    }
    return 0;
}

int ddb_value_check_at(json_t *av, unsigned depth, struct td_err *err)
{
    if (!json_is_object(av))
        return serialization(err, json_is_array(av) ? "Start of list found where not expected"
                                                    : "Expected null");
    if (drop_ignored_members(av) < 0)
        return ddb_oom(err);
    size_t count = json_object_size(av);
    if (count == 0)
        return ddb_invalid(err, MSG_EMPTY_AV);
    /* the members are checked first (a check may replace one), then their number */
    enum td_ddb_type types[TD_DDB_BS + 1];
    size_t n = 0;
    const char *key;
    json_t *m;
    json_object_foreach(av, key, m)
    {
        if (n < TD_ARRAY_SIZE(types))
            types[n++] = ddb_type_from_name(key, strlen(key));
    }
    for (size_t i = 0; i < n; i++) {
        int r =
            check_member(av, types[i], json_object_get(av, td_ddb_type_name(types[i])), depth, err);
        if (r < 0)
            return r;
    }
    if (count > 1)
        return ddb_invalid(err, MSG_MANY_AV);
    return 0;
}

int td_ddb_value_check(json_t *value, const char *where, struct td_err *err)
{
    int r = ddb_value_check_at(value, 1, err);
    if (r < 0 && r != -ENOMEM && where && err && strcmp(err->type, DDB_VALIDATION) == 0) {
        char msg[TD_ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err->message);
        ddb_invalid(err, "ExpressionAttributeValues contains invalid value: %s for key %s", msg,
                    where);
    }
    return r;
}

int td_ddb_item_check(json_t *item, struct td_err *err)
{
    if (!json_is_object(item))
        return serialization(err, json_is_array(item) ? "Start of list found where not expected"
                                                      : "Expected map or null");
    const char *key;
    size_t key_len;
    json_t *v;
    json_object_keylen_foreach(item, key, key_len, v)
    {
        if (key_len == 0)
            return ddb_invalid(err, MSG_INVALID "An attribute name may not be empty");
        int r = ddb_value_check_at(v, 1, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- sizes --------------------------------------------------------------------------------- */

static size_t number_size(const json_t *str)
{
    struct ddb_num n;
    if (ddb_num_of(str, &n) != DDB_NUM_OK)
        return json_string_length(str);
    return ddb_num_size(&n);
}

static size_t value_size(const json_t *av, unsigned level)
{
    enum td_ddb_type t = 0;
    const json_t *m = ddb_member(av, &t);
    size_t size = 0, i, key_len;
    const char *key;
    json_t *e;
    if (!m || level > DDB_WALK_MAX)
        return 0;
    switch (t) {
    case TD_DDB_S:
        return json_string_length(m);
    case TD_DDB_N:
        return number_size(m);
    case TD_DDB_B:
        return b64_len(json_string_value(m), json_string_length(m));
    case TD_DDB_BOOL:
    case TD_DDB_NULL:
        return 1;
    case TD_DDB_SS:
    case TD_DDB_NS:
    case TD_DDB_BS:
        json_array_foreach(m, i, e)
        {
            if (!json_is_string(e))
                continue;
            size += t == TD_DDB_SS   ? json_string_length(e)
                    : t == TD_DDB_NS ? number_size(e)
                                     : b64_len(json_string_value(e), json_string_length(e));
        }
        return size;
    case TD_DDB_M:
        /* 3 bytes for the map, 1 per element, and the names */
        size = 3;
        json_object_keylen_foreach((json_t *)m, key, key_len, e) size +=
            key_len + value_size(e, level + 1) + 1;
        return size;
    case TD_DDB_L:
        size = 3;
        json_array_foreach(m, i, e) size += value_size(e, level + 1) + 1;
        return size;
    default:
        return 0;
    }
}

size_t td_ddb_item_size(const json_t *item)
{
    size_t size = 0, key_len;
    const char *key;
    json_t *v;
    if (!json_is_object(item))
        return 0;
    json_object_keylen_foreach((json_t *)item, key, key_len, v) size += key_len + value_size(v, 1);
    return size;
}

/* ---- equality and order -------------------------------------------------------------------- */

static int bytes_cmp(const json_t *a, const json_t *b)
{
    size_t na = json_string_length(a), nb = json_string_length(b);
    int c = memcmp(json_string_value(a), json_string_value(b), na < nb ? na : nb);
    return c != 0 ? c : na == nb ? 0 : na < nb ? -1 : 1;
}

int ddb_scalar_cmp(enum td_ddb_type t, const json_t *a, const json_t *b)
{
    if (t == TD_DDB_N) {
        struct ddb_num x, y;
        if (ddb_num_of(a, &x) == DDB_NUM_OK && ddb_num_of(b, &y) == DDB_NUM_OK)
            return ddb_num_cmp(&x, &y);
    }
    if (t == TD_DDB_B)
        return b64_cmp(a, b);
    return bytes_cmp(a, b);
}

static bool sets_equal(enum td_ddb_type t, const json_t *a, const json_t *b)
{
    enum td_ddb_type elem = ddb_set_elem(t);
    size_t n = json_array_size(a);
    if (n != json_array_size(b))
        return false;
    const json_t **sa = NULL, **sb = NULL;
    bool eq = true;
    if (ddb_set_sorted(a, elem, &sa) == 0 && ddb_set_sorted(b, elem, &sb) == 0) {
        for (size_t i = 0; i < n && eq; i++)
            eq = set_elem_cmp(sa[i], sb[i], elem) == 0;
    } else {
        /* without memory for the sort: quadratic, but still right */
        for (size_t i = 0; i < n && eq; i++) {
            bool found = false;
            for (size_t j = 0; j < n && !found; j++)
                found = set_elem_cmp(json_array_get(a, i), json_array_get(b, j), elem) == 0;
            eq = found;
        }
    }
    free(sa);
    free(sb);
    return eq;
}

static bool values_equal(const json_t *a, const json_t *b, unsigned depth)
{
    enum td_ddb_type ta = 0, tb = 0;
    const json_t *ma = ddb_member(a, &ta), *mb = ddb_member(b, &tb);
    if (!ma || !mb || ta != tb)
        return false;
    return ddb_member_equal(ta, ma, mb, depth);
}

bool ddb_member_equal(enum td_ddb_type t, const json_t *a, const json_t *b, unsigned depth)
{
    size_t i, key_len;
    const char *key;
    json_t *e;
    if (depth > DDB_WALK_MAX)
        return false;
    switch (t) {
    case TD_DDB_S:
    case TD_DDB_B:
        return bytes_cmp(a, b) == 0;
    case TD_DDB_N:
        return ddb_scalar_cmp(t, a, b) == 0;
    case TD_DDB_BOOL:
        return json_is_true(a) == json_is_true(b);
    case TD_DDB_NULL:
        return true;
    case TD_DDB_M:
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_keylen_foreach((json_t *)a, key, key_len, e)
        {
            const json_t *other = json_object_getn(b, key, key_len);
            if (!other || !values_equal(e, other, depth + 1))
                return false;
        }
        return true;
    case TD_DDB_L:
        if (json_array_size(a) != json_array_size(b))
            return false;
        json_array_foreach(a, i, e)
        {
            if (!values_equal(e, json_array_get(b, i), depth + 1))
                return false;
        }
        return true;
    case TD_DDB_SS:
    case TD_DDB_NS:
    case TD_DDB_BS:
        return sets_equal(t, a, b);
    default:
        return false;
    }
}

bool td_ddb_value_equal(const json_t *a, const json_t *b)
{
    return values_equal(a, b, 1);
}

int td_ddb_value_compare(const json_t *a, const json_t *b)
{
    enum td_ddb_type ta = 0, tb = 0;
    const json_t *ma = ddb_member(a, &ta), *mb = ddb_member(b, &tb);
    if (!ma || !mb || ta != tb || (ta != TD_DDB_S && ta != TD_DDB_N && ta != TD_DDB_B))
        return -2;
    int c = ddb_scalar_cmp(ta, ma, mb);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}
