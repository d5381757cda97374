/* DynamoDB numbers: decimals of up to 38 significant digits whose leading digit has an exponent
 * in -130..125, i.e. magnitudes 1E-130 to 9.99..E+125 (and zero).
 *
 * Accepted spellings are those of DynamoDB (and Java's BigDecimal): an optional sign, digits
 * with an optional point ("1.", ".5"), an optional exponent ("1e+5", "-17.4E37"). No white
 * space, no NaN or Infinity. The canonical form is plain notation without leading or trailing
 * zeros ("01.50" -> "1.5", "1.5E2" -> "150", "-0" -> "0"), which is how DynamoDB returns them.
 *
 * Addition and subtraction are exact (GMP integers on the aligned coefficients; at most about
 * 300 decimal digits, so GMP's own allocations are small; GMP aborts if they fail, which is
 * its documented behaviour). A result that needs more than 38 digits is refused with the
 * overflow message, as DynamoDB does ("1e50 + 1").
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmp.h>

#include "ddb_internal.h"

/* Exponents are clamped here while parsing, far outside the range, so that huge written
 * exponents ("1e999999999999") cannot overflow the arithmetic. */
#define EXP_CLAMP 1000000000LL

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The exponent part after 'e', clamped. -1 if malformed. */
static int parse_exponent(const char *s, size_t len, long long *ret)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return -1;
    long long v = 0;
    for (; i < len; i++) {
        if (!is_digit(s[i]))
            return -1;
        if (v < EXP_CLAMP)
            v = v * 10 + (s[i] - '0');
    }
    *ret = neg ? -v : v;
    return 0;
}

/* The significant digits of the mantissa, and where the first one sits. */
struct mantissa {
    size_t ndigits;     /* significant digits seen, trailing zeros included */
    size_t nkept;       /* digits kept in out->d (at most DDB_NUM_DIGITS) */
    size_t trailing;    /* zeros at the end of the significant digits */
    long long lead_exp; /* exponent of the first significant digit */
};

static int scan_mantissa(const char *s, size_t len, struct ddb_num *out, struct mantissa *m)
{
    long long before_point = 0, pos = 0, lead_pos = 0;
    bool point = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (point)
                return -1;
            point = true;
            continue;
        }
        if (!is_digit(s[i]))
            return -1;
        if (pos < EXP_CLAMP)
            pos++;
        if (!point)
            before_point = pos;
        if (m->ndigits == 0 && s[i] == '0')
            continue; /* a leading zero */
        if (m->ndigits == 0)
            lead_pos = pos;
        m->ndigits++;
        m->trailing = s[i] == '0' ? m->trailing + 1 : 0;
        if (m->nkept < DDB_NUM_DIGITS)
            out->d[m->nkept++] = (uint8_t)(s[i] - '0');
    }
    if (pos == 0)
        return -1; /* no digit at all: "", ".", "-" */
    m->lead_exp = before_point - lead_pos;
    return 0;
}

enum ddb_num_status ddb_num_parse(const char *s, size_t len, struct ddb_num *out)
{
    memset(out, 0, sizeof(*out));
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    size_t mant_end = i;
    while (mant_end < len && s[mant_end] != 'e' && s[mant_end] != 'E')
        mant_end++;
    long long exp10 = 0;
    if (mant_end < len && parse_exponent(s + mant_end + 1, len - mant_end - 1, &exp10) < 0)
        return DDB_NUM_SYNTAX;
    struct mantissa m = {0};
    if (scan_mantissa(s + i, mant_end - i, out, &m) < 0)
        return DDB_NUM_SYNTAX;
    if (m.ndigits == 0) {
        memset(out, 0, sizeof(*out));
        return DDB_NUM_OK;
    }
    long long e = m.lead_exp + exp10;
    if (e > DDB_NUM_EMAX)
        return DDB_NUM_OVERFLOW;
    if (e < DDB_NUM_EMIN)
        return DDB_NUM_UNDERFLOW;
    size_t significant = m.ndigits - m.trailing;
    if (significant > DDB_NUM_DIGITS)
        return DDB_NUM_PRECISION;
    out->neg = neg;
    out->ndigits = (uint8_t)significant;
    out->exp = (int)e;
    return DDB_NUM_OK;
}

enum ddb_num_status ddb_num_of(const json_t *str, struct ddb_num *out)
{
    if (!json_is_string(str))
        return DDB_NUM_SYNTAX;
    return ddb_num_parse(json_string_value(str), json_string_length(str), out);
}

void ddb_num_format(const struct ddb_num *n, char out[DDB_NUM_TEXT_MAX])
{
    size_t o = 0;
    if (n->ndigits == 0) {
        memcpy(out, "0", 2);
        return;
    }
    if (n->neg)
        out[o++] = '-';
    if (n->exp < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int z = 0; z < -n->exp - 1; z++)
            out[o++] = '0';
        for (size_t i = 0; i < n->ndigits; i++)
            out[o++] = (char)('0' + n->d[i]);
    } else {
        /* exp + 1 integer digits, zero-filled past the significant ones */
        for (int i = 0; i <= n->exp; i++)
            out[o++] = (char)('0' + ((size_t)i < n->ndigits ? n->d[i] : 0));
        if ((size_t)n->exp + 1 < n->ndigits) {
            out[o++] = '.';
            for (size_t i = (size_t)n->exp + 1; i < n->ndigits; i++)
                out[o++] = (char)('0' + n->d[i]);
        }
    }
    out[o] = '\0';
}

static int sign_of(const struct ddb_num *n)
{
    return n->ndigits == 0 ? 0 : n->neg ? -1 : 1;
}

int ddb_num_cmp(const struct ddb_num *a, const struct ddb_num *b)
{
    int sa = sign_of(a), sb = sign_of(b);
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (sa == 0)
        return 0;
    int mag; /* order of the magnitudes */
    if (a->exp != b->exp) {
        mag = a->exp < b->exp ? -1 : 1;
    } else {
        size_t n = a->ndigits < b->ndigits ? a->ndigits : b->ndigits;
        int c = memcmp(a->d, b->d, n);
        /* without trailing zeros, the longer of two equal prefixes is the larger */
        mag = c != 0 ? (c < 0 ? -1 : 1)
                     : (a->ndigits == b->ndigits  ? 0
                        : a->ndigits < b->ndigits ? -1
                                                  : 1);
    }
    return sa > 0 ? mag : -mag;
}

/* The coefficient of n as an integer, times 10^shift. */
static void coefficient(const struct ddb_num *n, unsigned long shift, mpz_t out)
{
    char digits[DDB_NUM_DIGITS + 1];
    for (size_t i = 0; i < n->ndigits; i++)
        digits[i] = (char)('0' + n->d[i]);
    digits[n->ndigits] = '\0';
    mpz_set_str(out, digits, 10);
    if (shift > 0) {
        mpz_t p;
        mpz_init(p);
        mpz_ui_pow_ui(p, 10, shift);
        mpz_mul(out, out, p);
        mpz_clear(p);
    }
    if (n->neg)
        mpz_neg(out, out);
}

/* Back from integer x 10^q to a number, checking range and precision. */
static enum ddb_num_status from_integer(mpz_t v, long q, struct ddb_num *out)
{
    memset(out, 0, sizeof(*out));
    if (mpz_sgn(v) == 0)
        return DDB_NUM_OK;
    bool neg = mpz_sgn(v) < 0;
    mpz_abs(v, v);
    /* operands have at most 38 digits and exponents in -167..125: about 300 digits at most */
    char s[512];
    if (mpz_sizeinbase(v, 10) + 2 > sizeof(s))
        return DDB_NUM_OVERFLOW;
    mpz_get_str(s, 10, v);
    size_t len = strlen(s);
    while (len > 1 && s[len - 1] == '0') {
        len--;
        q++;
    }
    long e = q + (long)len - 1;
    enum ddb_num_status st = DDB_NUM_OK;
    if (e > DDB_NUM_EMAX || len > DDB_NUM_DIGITS)
        st = DDB_NUM_OVERFLOW;
    else if (e < DDB_NUM_EMIN)
        st = DDB_NUM_UNDERFLOW;
    if (st == DDB_NUM_OK) {
        out->neg = neg;
        out->ndigits = (uint8_t)len;
        out->exp = (int)e;
        for (size_t i = 0; i < len; i++)
            out->d[i] = (uint8_t)(s[i] - '0');
    }
    return st;
}

enum ddb_num_status ddb_num_add(const struct ddb_num *a, const struct ddb_num *b, bool subtract,
                                struct ddb_num *out)
{
    struct ddb_num nb = *b;
    if (subtract && nb.ndigits > 0)
        nb.neg = !nb.neg;
    if (a->ndigits == 0 || nb.ndigits == 0) {
        *out = a->ndigits == 0 ? nb : *a;
        return DDB_NUM_OK;
    }
    /* value = coefficient x 10^q with q the exponent of the last digit */
    long qa = a->exp - (long)a->ndigits + 1, qb = nb.exp - (long)nb.ndigits + 1;
    long q = qa < qb ? qa : qb;
    mpz_t x, y;
    mpz_init(x);
    mpz_init(y);
    coefficient(a, (unsigned long)(qa - q), x);
    coefficient(&nb, (unsigned long)(qb - q), y);
    mpz_add(x, x, y);
    enum ddb_num_status st = from_integer(x, q, out);
    mpz_clear(x);
    mpz_clear(y);
    return st;
}

/* As measured against DynamoDB (the Developer Guide's "1 byte per two significant digits plus
 * one" is an approximation): one byte, plus half the significant digits on each side of the
 * point rounded up, plus one for a negative number. */
size_t ddb_num_size(const struct ddb_num *n)
{
    if (n->ndigits == 0)
        return 1;
    size_t int_digits = 0;
    if (n->exp >= 0)
        int_digits = (size_t)n->exp + 1 < n->ndigits ? (size_t)n->exp + 1 : n->ndigits;
    size_t frac_digits = n->ndigits - int_digits;
    return 1 + (int_digits + 1) / 2 + (frac_digits + 1) / 2 + (n->neg ? 1 : 0);
}

int ddb_num_error(enum ddb_num_status st, const char *text, size_t len, struct td_err *err)
{
    switch (st) {
    case DDB_NUM_OVERFLOW:
        return ddb_invalid(err, "Number overflow. Attempting to store a number with magnitude "
                                "larger than supported range");
    case DDB_NUM_UNDERFLOW:
        return ddb_invalid(err, "Number underflow. Attempting to store a number with magnitude "
                                "smaller than supported range");
    case DDB_NUM_PRECISION:
        return ddb_invalid(err, "Attempting to store more than 38 significant digits in a Number");
    case DDB_NUM_SYNTAX:
    case DDB_NUM_OK:
    default:
        break;
    }
    if (len == 0)
        return ddb_invalid(err, "The parameter cannot be converted to a numeric value");
    /* the value is echoed, but not more of it than a message can hold */
    int shown = ddb_quote_len(text, len, 200);
    return ddb_invalid(err, "The parameter cannot be converted to a numeric value: %.*s", shown,
                       text);
}
