/* Matching primitives: ASCII case folding, globbing, ARN splitting, Action patterns. */
#include <string.h>

#include "policy_internal.h"

char pol_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool pol_ascii_caseeq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (pol_ascii_lower(a[i]) != pol_ascii_lower(b[i]))
            return false;
    return true;
}

const char *pol_echo(struct pol_echo *e, const char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < POL_ECHO_MAX; i++) {
        unsigned char c = (unsigned char)p[i];
        e->s[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n > POL_ECHO_MAX) {
        memcpy(e->s + o, "...", 3);
        o += 3;
    }
    e->s[o] = '\0';
    return e->s;
}

/* Length of the character (UTF-8 sequence) at s[i]; an invalid byte counts as one. */
static size_t char_len_at(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    size_t want = c < 0x80             ? 1
                  : (c & 0xe0) == 0xc0 ? 2
                  : (c & 0xf0) == 0xe0 ? 3
                  : (c & 0xf8) == 0xf0 ? 4
                                       : 1;
    size_t len = 1;
    while (len < want && i + len < n && ((unsigned char)s[i + len] & 0xc0) == 0x80)
        len++;
    return len;
}

static bool byte_eq(char a, char b, bool fold_case)
{
    return fold_case ? pol_ascii_lower(a) == pol_ascii_lower(b) : a == b;
}

/* The classic single-backtrack-point wildcard match: on a mismatch after a '*', let that star
 * swallow one more character and retry. Never recursive, so the pattern depth is no concern. */
bool pol_glob(const char *pat, size_t pn, const char *s, size_t sn, bool fold_case, bool escapes,
              uint64_t *budget)
{
    size_t p = 0, i = 0;
    size_t star_p = (size_t)-1, star_i = 0;
    while (i < sn) {
        if (budget && (*budget)-- == 0) {
            *budget = 0;
            return false;
        }
        if (p < pn && pat[p] == '*') {
            star_p = ++p;
            star_i = i;
            continue;
        }
        if (p < pn && pat[p] == '?') {
            p++;
            i += char_len_at(s, sn, i);
            continue;
        }
        if (p < pn) {
            size_t lit = p, next = p + 1;
            if (escapes && pat[p] == '\\' && p + 1 < pn) {
                lit = p + 1;
                next = p + 2;
            }
            if (byte_eq(pat[lit], s[i], fold_case)) {
                p = next;
                i++;
                continue;
            }
        }
        if (star_p == (size_t)-1)
            return false;
        star_i += char_len_at(s, sn, star_i);
        i = star_i;
        p = star_p;
    }
    while (p < pn && pat[p] == '*')
        p++;
    return p == pn;
}

size_t pol_arn_split(const char *s, size_t n, struct pol_arn *out)
{
    size_t start = 0;
    out->n = 0;
    for (size_t i = 0; i < n && out->n < POL_ARN_PARTS - 1; i++) {
        if (s[i] == ':') {
            out->part[out->n] = s + start;
            out->len[out->n] = i - start;
            out->n++;
            start = i + 1;
        }
    }
    out->part[out->n] = s + start;
    out->len[out->n] = n - start;
    out->n++;
    return out->n;
}

/* The vendor has no wildcard (the parser checks that), so globbing the whole "vendor:name"
 * case-insensitively is the same as comparing vendors and globbing names. */
bool pol_action_matches(const char *pattern, const char *action)
{
    return pol_glob(pattern, strlen(pattern), action, strlen(action), true, false, NULL);
}
