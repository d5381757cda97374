/* Access keys the daemon accepts, and the operator's credentials file. */
#include "keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tenantd/cleanup.h"
#include "tenantd/log.h"
#include "tenantd/util.h"

struct first_key {
    char *akid;
    char *secret;
};

static int load_key(const char *akid, const char *secret, const char *principal, void *userdata)
{
    struct td_keys *keys = userdata;
    (void)principal;
    char *copy = strdup(secret);
    if (!copy)
        return -ENOMEM;
    void *old = NULL;
    int r = td_map_put(keys->secrets, akid, strlen(akid), copy, &old);
    free(old);
    if (r < 0) {
        free(copy);
        return r;
    }
    if (!keys->admin_akid[0]) {
        snprintf(keys->admin_akid, sizeof(keys->admin_akid), "%s", akid);
        snprintf(keys->admin_secret, sizeof(keys->admin_secret), "%s", secret);
    }
    return 0;
}

static int random_string(const char *alphabet, size_t n, char *out)
{
    uint8_t rnd[64];
    size_t alen = strlen(alphabet);
    if (n > sizeof(rnd))
        return -EINVAL;
    int r = td_random(rnd, n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd[i] % alen]; /* alphabets of 32 and 64: no bias */
    out[n] = '\0';
    return 0;
}

static int write_credentials(const char *state_dir, const struct td_keys *keys)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *text = NULL;
    if (asprintf(&path, "%s/credentials", state_dir) < 0 ||
        asprintf(&text, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
                 keys->admin_akid, keys->admin_secret) < 0) {
        path = text = NULL;
        return -ENOMEM;
    }
    return td_write_file_atomic(path, text, strlen(text), 0600);
}

int td_keys_init(struct td_keys *keys, struct td_store *store, const char *state_dir,
                 const char *account_id)
{
    memset(keys, 0, sizeof(*keys));
    keys->secrets = td_map_new();
    if (!keys->secrets)
        return -ENOMEM;
    int r = td_store_keys_load(store, load_key, keys);
    if (r < 0)
        return r;
    if (!keys->admin_akid[0]) {
        char akid[21] = "AKIA", secret[41];
        char principal[64];
        if ((r = random_string("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, akid + 4)) < 0 ||
            (r = random_string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                               40, secret)) < 0)
            return r;
        snprintf(principal, sizeof(principal), "arn:aws:iam::%s:root", account_id);
        if ((r = td_store_key_add(store, akid, secret, principal)) < 0)
            return r;
        if ((r = load_key(akid, secret, principal, keys)) < 0)
            return r;
        td_log_info("created the admin access key %s", akid);
    }
    return write_credentials(state_dir, keys);
}

const char *td_keys_secret(const struct td_keys *keys, const char *akid)
{
    return td_map_gets(keys->secrets, akid);
}

static bool free_value(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    (void)userdata;
    free(value);
    return true;
}

void td_keys_release(struct td_keys *keys)
{
    if (keys->secrets) {
        td_map_foreach(keys->secrets, free_value, NULL);
        td_map_free(keys->secrets);
    }
    explicit_bzero(keys->admin_secret, sizeof(keys->admin_secret));
    keys->secrets = NULL;
}
