#include "tenantd/util.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tenantd/cleanup.h"

int td_base64_encode(const void *data, size_t len, struct td_buf *out)
{
    if (len > INT_MAX / 2)
        return -E2BIG;
    size_t need = 4 * ((len + 2) / 3);
    int r = td_buf_reserve(out, need);
    if (r < 0)
        return r;
    int n = EVP_EncodeBlock((unsigned char *)out->data + out->len, data, (int)len);
    out->len += (size_t)n;
    out->data[out->len] = '\0';
    return 0;
}

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int td_base64_decode(const char *text, size_t len, struct td_buf *out)
{
    if (len % 4 != 0 || len > INT_MAX)
        return -EINVAL;
    size_t pad = 0;
    if (len >= 1 && text[len - 1] == '=')
        pad++;
    if (len >= 2 && text[len - 2] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (!is_b64_char(text[i]))
            return -EINVAL;
    if (len == 0)
        return 0;
    /* EVP_DecodeBlock writes whole 3-byte groups, padding included: decode the last group
     * apart so that the buffer only ever holds (and is only capped by) the real bytes. */
    size_t head = len - 4;
    int r = td_buf_reserve(out, head / 4 * 3 + 3 - pad);
    if (r < 0)
        return r;
    if (head > 0) {
        int n = EVP_DecodeBlock((unsigned char *)out->data + out->len, (const unsigned char *)text,
                                (int)head);
        if (n < 0 || (size_t)n != head / 4 * 3)
            return -EINVAL;
    }
    unsigned char last[3];
    if (EVP_DecodeBlock(last, (const unsigned char *)text + head, 4) != 3)
        return -EINVAL;
    memcpy(out->data + out->len + head / 4 * 3, last, 3 - pad);
    out->len += head / 4 * 3 + 3 - pad;
    out->data[out->len] = '\0';
    return 0;
}

/* SHA-256 fetched once: EVP_sha256() makes every EVP_Digest look the algorithm up again
 * (half the cost of hashing a request's few hundred bytes). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void td_sha256(const void *data, size_t len, uint8_t out[TD_SHA256_LEN])
{
    /* One digest context per thread, reset by each use (EVP_Digest makes and frees one). */
    static __thread EVP_MD_CTX *ctx;
    unsigned int n = TD_SHA256_LEN;
    pthread_once(&sha256_once, sha256_fetch);
    if (!ctx)
        ctx = EVP_MD_CTX_new();
    if (ctx && sha256_md && EVP_DigestInit_ex2(ctx, sha256_md, NULL) == 1 &&
        EVP_DigestUpdate(ctx, data, len) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1)
        return;
    if (!EVP_Digest(data, len, out, &n, sha256_md ? sha256_md : EVP_sha256(), NULL))
        memset(out, 0, TD_SHA256_LEN); /* unreachable with a working libcrypto */
}

int td_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void td_hex(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}

int td_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Identifiers (request ids, trace ids) draw from a buffer the kernel's generator fills 4 KiB
 * at a time: one getrandom per 200 or so ids instead of one each. Secrets (keys, tokens) use
 * td_random. Not for processes that fork and go on drawing ids: the daemon's children exec
 * without taking any. */
int td_random_id_bytes(void *buf, size_t len)
{
    static uint8_t pool[4096];
    static size_t avail;
    if (len > sizeof(pool))
        return td_random(buf, len);
    if (len > avail) {
        int r = td_random(pool, sizeof(pool));
        if (r < 0)
            return r;
        avail = sizeof(pool);
    }
    memcpy(buf, pool + sizeof(pool) - avail, len);
    explicit_bzero(pool + sizeof(pool) - avail, len);
    avail -= len;
    return 0;
}

size_t td_format_u64(uint64_t v, char out[TD_U64_DIGITS_MAX + 1])
{
    char digits[TD_U64_DIGITS_MAX];
    size_t i = sizeof(digits);
    do
        digits[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    size_t n = sizeof(digits) - i;
    memcpy(out, digits + i, n);
    out[n] = '\0';
    return n;
}

size_t td_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

size_t td_strlcat(char *dst, const char *src, size_t size)
{
    size_t have = strnlen(dst, size);
    if (have == size)
        return size + strlen(src);
    return have + td_strlcpy(dst + have, src, size - have);
}

int td_uuid4(char out[TD_UUID_LEN + 1])
{
    uint8_t b[16];
    char hex[33];
    int r = td_random_id_bytes(b, sizeof(b));
    if (r < 0)
        return r;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    td_hex(b, sizeof(b), hex);
    /* 8-4-4-4-12 */
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
    return 0;
}

int64_t td_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t td_mono_ms(void)
{
    return td_mono_us() / 1000;
}

int64_t td_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "YYYY-MM-DDTHH:MM:SS" followed by ".mmm" and the given zone suffix. */
static void format_time(int64_t wall_ms, const char *zone, char *out, size_t size)
{
    time_t secs = (time_t)(wall_ms / 1000);
    unsigned ms = (unsigned)(wall_ms % 1000);
    struct tm tm;
    char date[32];

    if (!gmtime_r(&secs, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(date, sizeof(date), "1970-01-01T00:00:00");
    snprintf(out, size, "%.19s.%03u%s", date, ms % 1000u, zone);
}

void td_format_lambda_time(int64_t wall_ms, char out[29])
{
    format_time(wall_ms, "+0000", out, 29);
}

void td_format_iso_ms(int64_t wall_ms, char out[25])
{
    format_time(wall_ms, "Z", out, 25);
}

int td_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    const char *p = s;
    bool neg = false;
    int64_t v = 0;

    if (!s || !*s)
        return -EINVAL;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (!*p)
        return -EINVAL;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (neg)
        v = -v;
    if (v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

bool td_const_eq(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

int td_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int td_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    int r = td_write_all(fd, data, len);
    if (r == 0 && fchmod(fd, mode) < 0)
        r = -errno;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        (void)unlink(tmp);
    return r;
}
