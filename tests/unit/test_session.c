/* Role-session tokens: issue, open, tamper, expire, bind, key file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tenantd/session.h"
#include "tenantd/util.h"

static const uint8_t master[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static struct td_session *sample(void)
{
    struct td_session *s = td_session_new();
    assert_non_null(s);
    snprintf(s->account, sizeof(s->account), "000000000000");
    snprintf(s->role_name, sizeof(s->role_name), "orders");
    snprintf(s->role_id, sizeof(s->role_id), "AROAABCDEFGHIJKLMNOPQ");
    snprintf(s->session_name, sizeof(s->session_name), "tenant-a");
    s->expires = 2000000000;
    assert_int_equal(td_session_set_tag(s, "TenantId", "tenant-a"), 0);
    assert_int_equal(td_session_set_tag(s, "Team", "x y"), 0);
    return s;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct td_session_keys keys;
    td_session_keys_derive(master, &keys);
    struct td_session *s = sample();
    assert_int_equal(td_session_set_policy(s, "{\"Version\":\"2012-10-17\",\"Statement\":[]}"), 0);
    snprintf(s->env, sizeof(s->env), "env-7-abcdef");
    _cleanup_buf_ struct td_buf token = TD_BUF_INIT(TD_SESSION_TOKEN_MAX);
    char secret[TD_SESSION_SECRET_LEN + 1];
    assert_int_equal(td_session_issue(&keys, s, &token, secret), 0);
    assert_int_equal(strlen(s->access_key_id), TD_SESSION_AKID_LEN);
    assert_memory_equal(s->access_key_id, "ASIA", 4);
    assert_int_equal(strlen(secret), TD_SESSION_SECRET_LEN);

    struct td_session *o = NULL;
    char secret2[TD_SESSION_SECRET_LEN + 1];
    struct td_err err = {0};
    assert_int_equal(
        td_session_open(&keys, token.data, token.len, s->access_key_id, 1000, &o, secret2, &err),
        0);
    assert_string_equal(secret, secret2);
    assert_string_equal(o->role_name, "orders");
    assert_string_equal(o->role_id, "AROAABCDEFGHIJKLMNOPQ");
    assert_string_equal(o->session_name, "tenant-a");
    assert_string_equal(o->account, "000000000000");
    assert_string_equal(o->env, "env-7-abcdef");
    assert_string_equal(td_session_tag(o, "tenantid"), "tenant-a");
    assert_string_equal(td_session_tag(o, "TEAM"), "x y");
    assert_null(td_session_tag(o, "Other"));
    assert_string_equal(o->policy, "{\"Version\":\"2012-10-17\",\"Statement\":[]}");
    assert_int_equal(o->expires, 2000000000);
    char arn[256];
    td_session_arn(o, arn, sizeof(arn));
    assert_string_equal(arn, "arn:aws:sts::000000000000:assumed-role/orders/tenant-a");
    td_session_user_id(o, arn, sizeof(arn));
    assert_string_equal(arn, "AROAABCDEFGHIJKLMNOPQ:tenant-a");
    td_session_free(o);
    td_session_free(s);
}

/* With a cache, td_session_open_cached is checked instead of td_session_open. */
static struct td_session_cache *cache;

static void expect_refused(const struct td_session_keys *keys, const char *token, size_t len,
                           const char *akid, int64_t now, const char *type)
{
    struct td_session *o = NULL;
    char secret[TD_SESSION_SECRET_LEN + 1];
    struct td_err err = {0};
    int r = cache ? td_session_open_cached(cache, keys, token, len, akid, now, &o, secret, &err)
                  : td_session_open(keys, token, len, akid, now, &o, secret, &err);
    assert_true(r < 0);
    assert_null(o);
    assert_string_equal(err.type, type);
}

static void test_refusals(void **state)
{
    (void)state;
    struct td_session_keys keys, other;
    td_session_keys_derive(master, &keys);
    uint8_t master2[32] = {9};
    td_session_keys_derive(master2, &other);
    struct td_session *s = sample();
    _cleanup_buf_ struct td_buf token = TD_BUF_INIT(TD_SESSION_TOKEN_MAX);
    char secret[TD_SESSION_SECRET_LEN + 1];
    assert_int_equal(td_session_issue(&keys, s, &token, secret), 0);
    if (cache) { /* the genuine token in the cache, for all that follows */
        struct td_session *o = NULL;
        struct td_err err = {0};
        assert_int_equal(td_session_open_cached(cache, &keys, token.data, token.len,
                                                s->access_key_id, 1000, &o, secret, &err),
                         0);
        td_session_free(o);
    }

    /* another node's keys, another access key id, expiry */
    expect_refused(&other, token.data, token.len, s->access_key_id, 1000,
                   "UnrecognizedClientException");
    expect_refused(&keys, token.data, token.len, "ASIAAAAAAAAAAAAAAAAA", 1000,
                   "UnrecognizedClientException");
    expect_refused(&keys, token.data, token.len, s->access_key_id, 2000000000,
                   "ExpiredTokenException");
    /* every single-byte change is refused */
    char *copy = malloc(token.len);
    assert_non_null(copy);
    for (size_t i = 0; i < token.len; i++) {
        memcpy(copy, token.data, token.len);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        expect_refused(&keys, copy, token.len, s->access_key_id, 1000,
                       "UnrecognizedClientException");
    }
    /* truncations */
    for (size_t n = 0; n < token.len; n += 7)
        expect_refused(&keys, token.data, n, s->access_key_id, 1000, "UnrecognizedClientException");
    free(copy);
    expect_refused(&keys, "TDS1..", 6, s->access_key_id, 1000, "UnrecognizedClientException");
    expect_refused(&keys, "garbage", 7, s->access_key_id, 1000, "UnrecognizedClientException");
    td_session_free(s);
}

/* The cache gives what td_session_open gives, and refuses all it refuses, with the genuine
 * token cached. */
static void test_cache(void **state)
{
    (void)state;
    struct td_session_keys keys;
    td_session_keys_derive(master, &keys);
    struct td_session *s = sample();
    assert_int_equal(td_session_set_policy(s, "{\"Version\":\"2012-10-17\",\"Statement\":[]}"), 0);
    assert_int_equal(td_session_add_policy_arn(s, "arn:aws:iam::000000000000:policy/p"), 0);
    _cleanup_buf_ struct td_buf token = TD_BUF_INIT(TD_SESSION_TOKEN_MAX);
    char secret[TD_SESSION_SECRET_LEN + 1];
    assert_int_equal(td_session_issue(&keys, s, &token, secret), 0);
    assert_int_equal(td_session_cache_new(&cache), 0);
    for (int round = 0; round < 3; round++) { /* a miss, then hits */
        struct td_session *o = NULL;
        char secret2[TD_SESSION_SECRET_LEN + 1] = "";
        struct td_err err = {0};
        assert_int_equal(td_session_open_cached(cache, &keys, token.data, token.len,
                                                s->access_key_id, 1000, &o, secret2, &err),
                         0);
        assert_string_equal(secret2, secret);
        assert_string_equal(o->access_key_id, s->access_key_id);
        assert_string_equal(o->role_id, s->role_id);
        assert_string_equal(o->session_name, s->session_name);
        assert_string_equal(td_session_tag(o, "TenantId"), "tenant-a");
        assert_string_equal(o->policy, s->policy);
        assert_int_equal(o->n_policy_arns, 1);
        assert_string_equal(o->policy_arns[0], "arn:aws:iam::000000000000:policy/p");
        assert_int_equal(o->expires, s->expires);
        td_session_free(o); /* the caller's copy: the cache keeps its own */
    }
    test_refusals(state);
    /* the cached token itself: another key id, and expiry at a later time */
    expect_refused(&keys, token.data, token.len, "ASIAAAAAAAAAAAAAAAAA", 1000,
                   "UnrecognizedClientException");
    expect_refused(&keys, token.data, token.len, s->access_key_id, 2000000000,
                   "ExpiredTokenException");
    td_session_cache_free(cache);
    cache = NULL;
    td_session_free(s);
}

static void test_tags_and_policy_limits(void **state)
{
    (void)state;
    struct td_session *s = td_session_new();
    char key[200];
    assert_int_equal(td_session_set_tag(s, "", "v"), -EINVAL);
    memset(key, 'k', 129);
    key[129] = '\0';
    assert_int_equal(td_session_set_tag(s, key, "v"), -EINVAL);
    for (int i = 0; i < TD_SESSION_MAX_TAGS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(td_session_set_tag(s, key, "v"), 0);
    }
    assert_int_equal(td_session_set_tag(s, "one-more", "v"), -E2BIG);
    assert_int_equal(td_session_set_tag(s, "K1", "replaced"), 0); /* same key, any case */
    assert_string_equal(td_session_tag(s, "k1"), "replaced");
    char *big = malloc(TD_SESSION_POLICY_MAX + 2);
    memset(big, ' ', TD_SESSION_POLICY_MAX + 1);
    big[TD_SESSION_POLICY_MAX + 1] = '\0';
    assert_int_equal(td_session_set_policy(s, big), -E2BIG);
    free(big);
    td_session_free(s);
}

static void test_key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/td-session-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct td_session_keys a, b;
    assert_int_equal(td_session_keys_load(dir, &a), 0);
    assert_int_equal(td_session_keys_load(dir, &b), 0); /* the same key, read back */
    assert_memory_equal(&a, &b, sizeof(a));
    char path[128];
    snprintf(path, sizeof(path), "%s/session.key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(chmod(path, 0644), 0); /* readable by others: refused */
    assert_int_equal(td_session_keys_load(dir, &b), -EBADMSG);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_cache),      cmocka_unit_test(test_tags_and_policy_limits),
        cmocka_unit_test(test_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
