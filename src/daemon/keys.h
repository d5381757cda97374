#ifndef TENANTD_DAEMON_KEYS_H
#define TENANTD_DAEMON_KEYS_H

#include "tenantd/map.h"
#include "tenantd/store.h"

struct td_keys {
    struct td_map *secrets; /* access key id -> secret */
    char admin_akid[TD_ACCESS_KEY_ID_MAX + 1];
    char admin_secret[TD_SECRET_KEY_MAX + 1];
};

/* Load the keys; on first start create the admin key. (Re)writes <state>/credentials. */
int td_keys_init(struct td_keys *keys, struct td_store *store, const char *state_dir,
                 const char *account_id);
const char *td_keys_secret(const struct td_keys *keys, const char *akid);
void td_keys_release(struct td_keys *keys);

#endif
