/* Typed condition values: exact decimals, dates, IP networks; the policy character set. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "policy_internal.h"
#include "tenantd/util.h"

/* Longest date text we read: "2024-01-01T00:00:00.123456789+00:00" is 35 characters. */
#define DATE_TEXT_MAX 64
#define EPOCH_DIGITS  19
#define FRAC_DIGITS   9

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t count_digits(const char *s, size_t n, size_t from)
{
    size_t i = from;
    while (i < n && is_digit(s[i]))
        i++;
    return i - from;
}

/* ---- decimals ------------------------------------------------------------------------------ */

int pol_parse_decimal(const char *s, size_t n, struct pol_decimal *out)
{
    size_t i = 0;
    memset(out, 0, sizeof(*out));
    if (i < n && (s[i] == '-' || s[i] == '+'))
        out->negative = s[i++] == '-';
    size_t int_len = count_digits(s, n, i);
    if (int_len == 0)
        return -EINVAL;
    out->int_digits = s + i;
    out->int_len = int_len;
    i += int_len;
    if (i < n && s[i] == '.') {
        size_t frac_len = count_digits(s, n, ++i);
        if (frac_len == 0)
            return -EINVAL;
        out->frac_digits = s + i;
        out->frac_len = frac_len;
        i += frac_len;
    }
    if (i != n)
        return -EINVAL;
    while (out->int_len > 0 && out->int_digits[0] == '0') {
        out->int_digits++;
        out->int_len--;
    }
    while (out->frac_len > 0 && out->frac_digits[out->frac_len - 1] == '0')
        out->frac_len--;
    if (out->int_len == 0 && out->frac_len == 0)
        out->negative = false; /* -0 == 0 */
    return 0;
}

static int magnitude_cmp(const struct pol_decimal *a, const struct pol_decimal *b)
{
    if (a->int_len != b->int_len)
        return a->int_len < b->int_len ? -1 : 1;
    int c = a->int_len ? memcmp(a->int_digits, b->int_digits, a->int_len) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    size_t common = a->frac_len < b->frac_len ? a->frac_len : b->frac_len;
    c = common ? memcmp(a->frac_digits, b->frac_digits, common) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    /* No trailing zeros: the longer fraction is the larger. */
    if (a->frac_len != b->frac_len)
        return a->frac_len < b->frac_len ? -1 : 1;
    return 0;
}

int pol_decimal_cmp(const struct pol_decimal *a, const struct pol_decimal *b)
{
    if (a->negative != b->negative)
        return a->negative ? -1 : 1;
    int c = magnitude_cmp(a, b);
    return a->negative ? -c : c;
}

/* ---- dates --------------------------------------------------------------------------------- */

/* Whether s is exactly `shape`, where 'd' stands for a digit. */
static bool shape_is(const char *s, size_t n, const char *shape)
{
    if (strlen(shape) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
            return false;
    return true;
}

static int parse_epoch(const char *s, size_t n, struct pol_time *out)
{
    char buf[EPOCH_DIGITS + 1];
    if (n > EPOCH_DIGITS)
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    int64_t v;
    if (td_parse_int64(buf, 0, INT64_MAX, &v) < 0)
        return -EINVAL;
    out->sec = v;
    out->nsec = 0;
    return 0;
}

/* "YYYY", "YYYY-MM" or "YYYY-MM-DD" (NUL-terminated) into tm. */
static int parse_day(const char *s, size_t n, struct tm *tm)
{
    static const struct {
        const char *shape, *format;
    } forms[] = {{"dddd", "%Y"}, {"dddd-dd", "%Y-%m"}, {"dddd-dd-dd", "%Y-%m-%d"}};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        if (!shape_is(s, n, forms[i].shape))
            continue;
        const char *end = strptime(s, forms[i].format, tm);
        return end == s + n ? 0 : -EINVAL;
    }
    return -EINVAL;
}

/* Optional ".digits" after the seconds; at most nanoseconds. */
static int parse_fraction(const char *s, size_t n, size_t *pos, int32_t *nsec)
{
    *nsec = 0;
    if (*pos >= n || s[*pos] != '.')
        return 0;
    size_t digits = count_digits(s, n, *pos + 1);
    if (digits == 0 || digits > FRAC_DIGITS)
        return -EINVAL;
    int32_t v = 0;
    for (size_t i = 0; i < FRAC_DIGITS; i++)
        v = v * 10 + (i < digits ? s[*pos + 1 + i] - '0' : 0);
    *nsec = v;
    *pos += 1 + digits;
    return 0;
}

/* Zone designator: nothing (UTC), "Z", "+hh", "+hh:mm", "-hh", "-hh:mm". Seconds east of UTC. */
static int parse_zone(const char *s, size_t n, int64_t *offset)
{
    *offset = 0;
    if (n == 0 || (n == 1 && (s[0] == 'Z' || s[0] == 'z')))
        return 0;
    if (s[0] != '+' && s[0] != '-')
        return -EINVAL;
    if (!shape_is(s + 1, n - 1, "dd") && !shape_is(s + 1, n - 1, "dd:dd"))
        return -EINVAL;
    int hours = (s[1] - '0') * 10 + (s[2] - '0');
    int minutes = n > 3 ? (s[4] - '0') * 10 + (s[5] - '0') : 0;
    if (hours > 23 || minutes > 59)
        return -EINVAL;
    *offset = (s[0] == '-' ? -1 : 1) * (int64_t)(hours * 3600 + minutes * 60);
    return 0;
}

/* "hh:mm" or "hh:mm:ss" with fraction and zone (NUL-terminated). */
static int parse_clock(const char *s, size_t n, struct tm *tm, int32_t *nsec, int64_t *offset)
{
    size_t len = 0;
    if (n >= 8 && shape_is(s, 8, "dd:dd:dd"))
        len = 8;
    else if (n >= 5 && shape_is(s, 5, "dd:dd"))
        len = 5;
    else
        return -EINVAL;
    const char *end = strptime(s, len == 8 ? "%H:%M:%S" : "%H:%M", tm);
    if (end != s + len || tm->tm_sec > 59)
        return -EINVAL;
    size_t pos = len;
    if (parse_fraction(s, n, &pos, nsec) < 0)
        return -EINVAL;
    return parse_zone(s + pos, n - pos, offset);
}

static bool same_civil_time(const struct tm *a, const struct tm *b)
{
    return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday &&
           a->tm_hour == b->tm_hour && a->tm_min == b->tm_min && a->tm_sec == b->tm_sec;
}

static int parse_iso(const char *s, size_t n, struct pol_time *out)
{
    char buf[DATE_TEXT_MAX];
    if (n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *t = strpbrk(buf, "Tt");
    size_t day_len = t ? (size_t)(t - buf) : n;
    struct tm tm = {.tm_mday = 1};
    int32_t nsec = 0;
    int64_t offset = 0;
    if (t)
        *t = '\0';
    if (parse_day(buf, day_len, &tm) < 0)
        return -EINVAL;
    if (t && parse_clock(t + 1, n - day_len - 1, &tm, &nsec, &offset) < 0)
        return -EINVAL;
    struct tm wanted = tm;
    time_t when = timegm(&tm);
    struct tm check;
    /* timegm normalises 2023-02-30 into March: a date that does not come back is invalid. */
    if (!gmtime_r(&when, &check) || !same_civil_time(&wanted, &check))
        return -EINVAL;
    out->sec = (int64_t)when - offset;
    out->nsec = nsec;
    return 0;
}

int pol_parse_date(const char *s, size_t n, struct pol_time *out)
{
    if (n > 0 && count_digits(s, n, 0) == n)
        return parse_epoch(s, n, out);
    return parse_iso(s, n, out);
}

int pol_time_cmp(const struct pol_time *a, const struct pol_time *b)
{
    if (a->sec != b->sec)
        return a->sec < b->sec ? -1 : 1;
    if (a->nsec != b->nsec)
        return a->nsec < b->nsec ? -1 : 1;
    return 0;
}

/* ---- IP networks --------------------------------------------------------------------------- */

static int parse_prefix(const char *s, unsigned max, unsigned *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 3 || count_digits(s, n, 0) != n)
        return -EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int pol_parse_net(const char *s, size_t n, bool allow_prefix, struct pol_net *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    if (slash) {
        if (!allow_prefix)
            return -EINVAL;
        *slash = '\0';
    }
    memset(out, 0, sizeof(*out));
    unsigned max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -EINVAL;
    }
    out->prefix = max;
    return slash ? parse_prefix(slash + 1, max, &out->prefix) : 0;
}

bool pol_net_contains(const struct pol_net *net, const struct pol_net *addr)
{
    if (net->family != addr->family)
        return false;
    size_t whole = net->prefix / 8;
    unsigned rest = net->prefix % 8;
    if (memcmp(net->addr, addr->addr, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (net->addr[whole] & mask) == (addr->addr[whole] & mask);
}

/* ---- the policy character set -------------------------------------------------------------- */

/* Decode the code point at s[i] for an error message; UINT32_MAX if malformed. */
static uint32_t decode_at(const char *s, size_t n, size_t i, size_t *len)
{
    unsigned char c = (unsigned char)s[i];
    size_t want = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    *len = 1;
    if (c < 0x80)
        return c;
    if (want == 0 || i + want > n)
        return UINT32_MAX;
    uint32_t cp = c & (0x7fu >> want);
    for (size_t k = 1; k < want; k++) {
        unsigned char cc = (unsigned char)s[i + k];
        if ((cc & 0xc0) != 0x80)
            return UINT32_MAX;
        cp = (cp << 6) | (cc & 0x3fu);
    }
    *len = want;
    static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    return cp < min_for_len[want] ? UINT32_MAX : cp; /* overlong forms are malformed */
}

static bool cp_allowed(uint32_t cp)
{
    return cp == 0x09 || cp == 0x0a || cp == 0x0d || (cp >= 0x20 && cp <= 0xff);
}

bool pol_text_allowed(const char *s, size_t n, uint32_t *bad_cp)
{
    for (size_t i = 0; i < n;) {
        size_t len;
        uint32_t cp = decode_at(s, n, i, &len);
        if (!cp_allowed(cp)) {
            *bad_cp = cp;
            return false;
        }
        i += len;
    }
    return true;
}

size_t pol_count_chars(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) != 0x80 && c != ' ' && c != '\t' && c != '\n' && c != '\r')
            count++;
    }
    return count;
}
