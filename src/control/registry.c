#include "tenantd/registry.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tenantd/cleanup.h"
#include "tenantd/map.h"
#include "tenantd/zipcode.h"

struct td_registry {
    struct td_map *by_name;
    char *code_root; /* <state>/code */
    struct td_service_identity id;
    uint64_t next_generation;
    /* Retired objects still referenced by environments or invocations keep their package in
     * use; they are tracked so garbage collection does not remove it under them. */
    struct td_map *live_objects; /* key: pointer value */
};

int td_registry_new(const char *state_dir, const struct td_service_identity *id,
                    struct td_registry **ret)
{
    struct td_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->by_name = td_map_new();
    r->live_objects = td_map_new();
    r->id = *id;
    r->next_generation = 1;
    if (asprintf(&r->code_root, "%s/code", state_dir) < 0)
        r->code_root = NULL;
    if (!r->by_name || !r->live_objects || !r->code_root) {
        td_registry_free(r);
        return -ENOMEM;
    }
    if (mkdir(r->code_root, 0755) < 0 && errno != EEXIST) {
        int e = -errno;
        td_registry_free(r);
        return e;
    }
    *ret = r;
    return 0;
}

static bool unref_visit(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    (void)userdata;
    struct td_function *fn = value;
    fn->retired = true;
    td_function_unref(fn);
    return true;
}

static bool detach_visit(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    (void)userdata;
    ((struct td_function *)value)->registry = NULL;
    return true;
}

void td_registry_free(struct td_registry *r)
{
    if (!r)
        return;
    if (r->live_objects)
        td_map_foreach(r->live_objects, detach_visit, NULL);
    if (r->by_name)
        td_map_foreach(r->by_name, unref_visit, NULL);
    td_map_free(r->by_name);
    td_map_free(r->live_objects);
    free(r->code_root);
    free(r);
}

struct td_function *td_function_ref(struct td_function *fn)
{
    fn->refs++;
    return fn;
}

void td_function_unref(struct td_function *fn)
{
    if (!fn || --fn->refs > 0)
        return;
    if (fn->registry) {
        td_map_remove(fn->registry->live_objects, &fn, sizeof(fn));
        /* The last user of a deleted function's package is gone: remove its directory now
         * rather than at the next garbage collection. */
        if (fn->retired && fn->code_dir &&
            !td_registry_code_in_use(fn->registry, fn->cfg.code_sha256_hex))
            (void)td_rm_rf(fn->code_dir);
    }
    td_function_config_release(&fn->cfg);
    free(fn->arn);
    free(fn->code_dir);
    free(fn);
}

static int ensure_code_dir(struct td_registry *r, const char *sha_hex, const void *zip, size_t len,
                           char **ret_dir, struct td_err *err)
{
    _cleanup_free_ char *dir = NULL;
    _cleanup_free_ char *tmp = NULL;
    char uuid[TD_UUID_LEN + 1];
    struct stat st;

    if (asprintf(&dir, "%s/%s", r->code_root, sha_hex) < 0)
        return -ENOMEM;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        *ret_dir = TAKE_PTR(dir);
        return 0;
    }
    if (!zip)
        return td_err_internal(err, "code package %s is missing", sha_hex);
    int rc = td_uuid4(uuid);
    if (rc < 0)
        return rc;
    if (asprintf(&tmp, "%s/.tmp-%s", r->code_root, uuid) < 0)
        return -ENOMEM;
    struct td_zip_limits limits = TD_ZIP_LIMITS_DEFAULT;
    rc = td_zip_extract(zip, len, tmp, &limits, NULL, err);
    if (rc < 0)
        return rc;
    if (rename(tmp, dir) < 0) {
        rc = -errno;
        (void)td_rm_rf(tmp);
        if (rc != -EEXIST && rc != -ENOTEMPTY)
            return td_err_setc(err, rc, 500, "ServiceException", "cannot store the code package");
    }
    *ret_dir = TAKE_PTR(dir);
    return 0;
}

int td_registry_make(struct td_registry *r, const struct td_function_config *cfg, const void *zip,
                     size_t zip_len, struct td_function **ret, struct td_err *err)
{
    struct td_function *fn = calloc(1, sizeof(*fn));
    if (!fn)
        return -ENOMEM;
    fn->refs = 1;
    fn->generation = r->next_generation++;
    int rc = td_function_config_copy(&fn->cfg, cfg);
    struct td_buf arn = TD_BUF_INIT(512);
    if (rc == 0)
        rc = td_function_arn(&r->id, cfg->name, &arn);
    fn->arn = td_buf_steal(&arn, NULL);
    if (rc == 0)
        rc = ensure_code_dir(r, cfg->code_sha256_hex, zip, zip_len, &fn->code_dir, err);
    if (rc == 0)
        rc = td_map_put(r->live_objects, &fn, sizeof(fn), fn, NULL);
    if (rc < 0) {
        td_function_unref(fn);
        return rc;
    }
    fn->registry = r;
    *ret = fn;
    return 0;
}

struct td_function *td_registry_get(const struct td_registry *r, const char *name)
{
    return td_map_gets(r->by_name, name);
}

int td_registry_put(struct td_registry *r, struct td_function *fn)
{
    void *old = NULL;
    int rc = td_map_put(r->by_name, fn->cfg.name, strlen(fn->cfg.name), fn, &old);
    if (rc < 0)
        return rc;
    if (old) {
        ((struct td_function *)old)->retired = true;
        td_function_unref(old);
    }
    return 0;
}

int td_registry_remove(struct td_registry *r, const char *name)
{
    struct td_function *fn = td_map_remove(r->by_name, name, strlen(name));
    if (!fn)
        return -ENOENT;
    fn->retired = true;
    td_function_unref(fn);
    return 0;
}

static bool collect_name(const void *key, size_t len, void *value, void *userdata)
{
    (void)value;
    char ***cursor = userdata;
    **cursor = strndup(key, len);
    (*cursor)++;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int td_registry_names(const struct td_registry *r, char ***ret_names, size_t *ret_count)
{
    size_t n = td_map_size(r->by_name);
    char **names = calloc(n ? n : 1, sizeof(*names));
    if (!names)
        return -ENOMEM;
    char **cursor = names;
    td_map_foreach(r->by_name, collect_name, &cursor);
    for (size_t i = 0; i < n; i++) {
        if (!names[i]) {
            for (size_t j = 0; j < n; j++)
                free(names[j]);
            free(names);
            return -ENOMEM;
        }
    }
    qsort(names, n, sizeof(*names), cmp_str);
    *ret_names = names;
    *ret_count = n;
    return 0;
}

struct code_use {
    const char *sha;
    bool found;
};

static bool check_use(const void *key, size_t len, void *value, void *userdata)
{
    (void)key;
    (void)len;
    struct code_use *u = userdata;
    const struct td_function *fn = value;
    if (strcmp(fn->cfg.code_sha256_hex, u->sha) == 0) {
        u->found = true;
        return false;
    }
    return true;
}

bool td_registry_code_in_use(const struct td_registry *r, const char *sha256_hex)
{
    struct code_use u = {sha256_hex, false};
    td_map_foreach(r->live_objects, check_use, &u);
    return u.found;
}

void td_registry_gc_code(struct td_registry *r)
{
    DIR *d = opendir(r->code_root);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0))
            continue;
        bool stale_tmp = strncmp(de->d_name, ".tmp-", 5) == 0;
        if (!stale_tmp &&
            (strlen(de->d_name) != TD_SHA256_HEX_LEN || td_registry_code_in_use(r, de->d_name)))
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", r->code_root, de->d_name) < (int)sizeof(path))
            (void)td_rm_rf(path);
    }
    closedir(d);
}
