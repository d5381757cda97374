/* Safe extraction of untrusted zip code packages (see tenantd/zipcode.h).
 *
 * Two passes over the archive. The first judges the metadata of every entry without touching
 * the filesystem: names, types, modes, encryption, duplicates, declared sizes. The second
 * creates the tree below a fresh, private (0700) destination directory, only through directory
 * fds with O_NOFOLLOW, O_EXCL and mkdirat/symlinkat, and counts the bytes really decompressed.
 *
 * libzip facts this relies on (checked against libzip 1.7.3):
 *  - ZIP_CHECKCONS is not used: it refuses every streamed zip (data descriptors, as libarchive,
 *    CMake and many packaging tools write them). Names are taken from the central directory
 *    only, and duplicates are refused here, after normalising names.
 *  - Declared sizes are not enforced: an entry whose headers say 100 bytes can inflate to
 *    megabytes without any error (the CRC is the only check, at the end). We count output.
 *  - Names are decoded as UTF-8 or, when not valid UTF-8, converted from CP437, which turns
 *    control bytes into harmless glyphs (0x01 becomes U+263A). Control bytes are therefore
 *    checked in the raw name; everything else on the decoded name, which is the one we write.
 *  - A zero-length buffer opens as an empty archive, so empty input is refused up front.
 */
#include "tenantd/zipcode.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/openat2.h>

#include <zip.h>

#include "tenantd/cleanup.h"
#include "tenantd/util.h"

#define COPY_BUF_SIZE (64 * 1024)
#define SHOW_MAX      160 /* bytes of an entry name quoted in an error message */
#define SHOW_SIZE     (SHOW_MAX * 4 + 8)

enum zkind { ZK_FILE, ZK_DIR, ZK_SYMLINK, ZK_ROOT };

struct zentry {
    char *path;        /* normalised: no "." components, no trailing '/'; "" is the root */
    size_t parent_len; /* bytes of path naming the parent directory; 0 for the root */
    unsigned depth;    /* components of the parent directory */
    enum zkind kind;
    mode_t mode;
};

struct xctx {
    zip_t *za;
    struct zentry *entries;
    size_t n;
    uint64_t max_bytes;
    uint64_t total;
    struct td_zip_stats *stats;
    struct td_err *err;
    int rootfd;
    int cache_fd; /* open directory for cache_path (a parent directory), or -1 */
    size_t cache_len;
    char *cache_path;
    char *scratch; /* TD_ZIP_NAME_MAX + 1 bytes */
    char *buf;
};

/* ---- helpers ---------------------------------------------------------------------------- */

static void zip_discardp(zip_t **za)
{
    if (*za)
        zip_discard(*za);
}

static void zip_fclosep(zip_file_t **zf)
{
    if (*zf)
        (void)zip_fclose(*zf);
}

/* Quote an attacker-chosen name for an error message: printable ASCII only, bounded. */
static const char *show(const char *name, char out[SHOW_SIZE])
{
    size_t o = 0;
    size_t i = 0;
    for (; name[i] && i < SHOW_MAX; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, SHOW_SIZE - o, "\\x%02x", c);
    }
    if (name[i])
        o += (size_t)snprintf(out + o, SHOW_SIZE - o, "...");
    out[o] = '\0';
    return out;
}

static int bad_archive(struct td_err *err)
{
    return td_err_invalid(err, TD_ZIP_MSG_BAD_ARCHIVE);
}

static int too_big(struct xctx *c)
{
    return td_err_invalid(c->err, "Unzipped size must be smaller than %" PRIu64 " bytes",
                          c->max_bytes);
}

/* A local failure (not the client's fault). */
static int io_failure(struct td_err *err, int r, const char *what)
{
    return td_err_setc(err, r, 500, "ServiceException",
                       "Could not extract the code package: %s: %s", what, strerror(-r));
}

static int zip_failure(struct td_err *err, zip_error_t *ze)
{
    switch (zip_error_code_zip(ze)) {
    case ZIP_ER_MEMORY:
        return io_failure(err, -ENOMEM, "reading the archive");
    case ZIP_ER_EXISTS:
        return td_err_invalid(err, "Code package contains duplicate entry names");
    case ZIP_ER_ENCRNOTSUPP:
    case ZIP_ER_NOPASSWD:
    case ZIP_ER_WRONGPASSWD:
        return td_err_invalid(err, "Code package contains encrypted entries");
    default:
        return bad_archive(err);
    }
}

static bool has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

/* ---- pass 1: judge names and metadata ---------------------------------------------------- */

/* Normalise name into out (TD_ZIP_NAME_MAX + 1 bytes). Returns NULL or the reason it is bad. */
static const char *normalize_name(const char *name, char *out, bool *trailing_slash,
                                  unsigned *parent_depth, size_t *parent_len)
{
    size_t len = strlen(name);
    if (len == 0)
        return "empty name";
    if (name[0] == '/')
        return "absolute path";
    if (has_control(name, len))
        return "control character";
    if (memchr(name, '\\', len))
        return "backslash";
    *trailing_slash = name[len - 1] == '/';
    if (*trailing_slash)
        len--;
    if (len > TD_ZIP_NAME_MAX)
        return "name too long";

    size_t o = 0;
    unsigned comps = 0;
    size_t last_start = 0;
    for (size_t pos = 0; pos <= len;) {
        const char *slash = memchr(name + pos, '/', len - pos);
        size_t end = slash ? (size_t)(slash - name) : len;
        size_t clen = end - pos;
        if (clen == 0)
            return "empty path component";
        if (clen == 2 && name[pos] == '.' && name[pos + 1] == '.')
            return "'..' path component";
        if (clen > TD_ZIP_COMPONENT_MAX)
            return "path component too long";
        if (!(clen == 1 && name[pos] == '.')) {
            if (o > 0)
                out[o++] = '/';
            last_start = o;
            memcpy(out + o, name + pos, clen);
            o += clen;
            if (++comps > TD_ZIP_DEPTH_MAX)
                return "nested too deeply";
        }
        pos = end + 1;
    }
    out[o] = '\0';
    *parent_depth = comps > 0 ? comps - 1 : 0;
    *parent_len = last_start > 0 ? last_start - 1 : 0;
    return NULL;
}

/* A set of normalised paths (indices into the entry array), for duplicate detection. */
struct nameset {
    uint32_t *slots; /* entry index + 1, 0 when free */
    size_t mask;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static int nameset_init(struct nameset *set, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    set->slots = calloc(cap, sizeof(*set->slots));
    if (!set->slots)
        return -ENOMEM;
    set->mask = cap - 1;
    return 0;
}

/* Returns false when an entry with the same path is already in the set. */
static bool nameset_add(struct nameset *set, const struct zentry *entries, uint32_t idx)
{
    const char *path = entries[idx].path;
    for (size_t i = hash_str(path) & set->mask;; i = (i + 1) & set->mask) {
        if (set->slots[i] == 0) {
            set->slots[i] = idx + 1;
            return true;
        }
        if (strcmp(entries[set->slots[i] - 1].path, path) == 0)
            return false;
    }
}

static int judge_entry(struct xctx *c, zip_uint64_t i, char *norm, uint64_t *declared)
{
    char shown[SHOW_SIZE];
    struct zentry *e = &c->entries[i];

    const char *raw = zip_get_name(c->za, i, ZIP_FL_ENC_RAW);
    const char *name = zip_get_name(c->za, i, ZIP_FL_ENC_GUESS);
    if (!raw || !name)
        return zip_failure(c->err, zip_get_error(c->za));
    if (has_control(raw, strlen(raw)))
        return td_err_invalid(c->err, "Code package entry '%s' has an invalid name: %s",
                              show(raw, shown), "control character");

    bool trailing = false;
    const char *why = normalize_name(name, norm, &trailing, &e->depth, &e->parent_len);
    if (why)
        return td_err_invalid(c->err, "Code package entry '%s' has an invalid name: %s",
                              show(name, shown), why);

    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(c->za, i, 0, &st) < 0)
        return zip_failure(c->err, zip_get_error(c->za));
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return td_err_invalid(c->err, "Code package entry '%s' is encrypted", show(name, shown));

    zip_uint8_t opsys = 0;
    zip_uint32_t attr = 0;
    if (zip_file_get_external_attributes(c->za, i, 0, &opsys, &attr) < 0)
        return zip_failure(c->err, zip_get_error(c->za));
    /* Unix modes live in the high 16 bits for archives made on Unix or macOS; anything else
     * (MS-DOS, NTFS, ...) gets the defaults. */
    bool have_unix = (opsys == ZIP_OPSYS_UNIX || opsys == ZIP_OPSYS_OS_X) && (attr >> 16) != 0;
    mode_t umode = have_unix ? (mode_t)(attr >> 16) : 0;

    switch (umode & S_IFMT) {
    case 0:
    case S_IFREG:
        e->kind = trailing ? ZK_DIR : ZK_FILE;
        break;
    case S_IFDIR:
        e->kind = ZK_DIR;
        break;
    case S_IFLNK:
        if (trailing)
            return td_err_invalid(c->err, "Code package symlink '%s' has an invalid name",
                                  show(name, shown));
        e->kind = ZK_SYMLINK;
        break;
    default:
        return td_err_invalid(c->err,
                              "Code package entry '%s' is a special file (device, fifo or socket); "
                              "only files, directories and symlinks are allowed",
                              show(name, shown));
    }
    if (norm[0] == '\0') {
        if (e->kind != ZK_DIR)
            return td_err_invalid(c->err, "Code package entry '%s' has an invalid name: %s",
                                  show(name, shown), "names the package root");
        e->kind = ZK_ROOT;
    }
    e->mode = e->kind == ZK_FILE && (umode & 0111) == 0 ? 0644 : 0755;

    if (e->kind == ZK_FILE || e->kind == ZK_SYMLINK) {
        uint64_t size = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
        *declared = size > UINT64_MAX - *declared ? UINT64_MAX : *declared + size;
    }
    e->path = strdup(norm);
    return e->path ? 0 : io_failure(c->err, -ENOMEM, "reading the archive");
}

static int judge_all(struct xctx *c)
{
    _cleanup_free_ char *norm = malloc(TD_ZIP_NAME_MAX + 1);
    if (!norm)
        return io_failure(c->err, -ENOMEM, "reading the archive");
    struct nameset set = {0};
    int r = nameset_init(&set, c->n);
    if (r < 0)
        return io_failure(c->err, r, "reading the archive");

    uint64_t declared = 0;
    for (size_t i = 0; i < c->n && r == 0; i++) {
        r = judge_entry(c, i, norm, &declared);
        if (r == 0 && c->entries[i].kind != ZK_ROOT &&
            !nameset_add(&set, c->entries, (uint32_t)i)) {
            char shown[SHOW_SIZE];
            r = td_err_invalid(c->err, "Code package contains duplicate entry '%s'",
                               show(c->entries[i].path, shown));
        }
    }
    free(set.slots);
    if (r == 0 && declared > c->max_bytes)
        r = too_big(c);
    return r;
}

/* ---- pass 2: write ----------------------------------------------------------------------- */

/* Open an existing directory below dfd in one call, refusing symlinks anywhere on the way and
 * anything outside dfd (Linux >= 5.6). Only a shortcut: on any failure the caller walks. */
static int open_beneath(int dfd, const char *path)
{
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    long fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

static void set_cache(struct xctx *c, int fd, const char *path, size_t len)
{
    if (c->cache_fd >= 0)
        close(c->cache_fd);
    if (path != c->cache_path)
        memcpy(c->cache_path, path, len);
    c->cache_path[len] = '\0';
    c->cache_len = len;
    c->cache_fd = fd;
}

/* Returns a directory fd for e's parent (borrowed: the root or the cache), creating missing
 * directories. Refuses to pass through anything that is not a real directory. */
static int open_parent(struct xctx *c, const struct zentry *e, int *ret_fd)
{
    size_t plen = e->parent_len;
    if (plen == 0) {
        *ret_fd = c->rootfd;
        return 0;
    }
    if (c->cache_fd >= 0 && c->cache_len == plen && memcmp(c->cache_path, e->path, plen) == 0) {
        *ret_fd = c->cache_fd;
        return 0;
    }

    /* The common case, a parent that exists already: one system call. */
    memcpy(c->scratch, e->path, plen);
    c->scratch[plen] = '\0';
    int fd = open_beneath(c->rootfd, c->scratch);
    if (fd >= 0) {
        set_cache(c, fd, e->path, plen);
        *ret_fd = fd;
        return 0;
    }

    /* Walk one component at a time from the root, or from the cache when it is a prefix. */
    int cur = c->rootfd;
    size_t pos = 0;
    if (c->cache_fd >= 0 && c->cache_len < plen && e->path[c->cache_len] == '/' &&
        memcmp(c->cache_path, e->path, c->cache_len) == 0) {
        cur = c->cache_fd;
        pos = c->cache_len + 1;
    }
    _cleanup_close_ int owned = -1; /* == cur once cur is a directory we opened here */
    while (pos < plen) {
        const char *slash = memchr(e->path + pos, '/', plen - pos);
        size_t end = slash ? (size_t)(slash - e->path) : plen;
        char comp[TD_ZIP_COMPONENT_MAX + 1];
        memcpy(comp, e->path + pos, end - pos);
        comp[end - pos] = '\0';

        bool created = false;
        fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            created = mkdirat(cur, comp, 0755) == 0;
            if (!created && errno != EEXIST)
                return io_failure(c->err, -errno, "mkdirat");
            fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0) {
            int r = -errno;
            if (r != -ELOOP && r != -ENOTDIR)
                return io_failure(c->err, r, "openat");
            struct stat st;
            bool link = fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
            char shown[SHOW_SIZE], shown_parent[SHOW_SIZE];
            memcpy(c->scratch, e->path, end);
            c->scratch[end] = '\0';
            return td_err_invalid(c->err, "Code package entry '%s' is inside '%s', which is %s",
                                  show(e->path, shown), show(c->scratch, shown_parent),
                                  link ? "a symlink" : "not a directory");
        }
        if (created && fchmod(fd, 0755) < 0) {
            int r = -errno;
            close(fd);
            return io_failure(c->err, r, "fchmod");
        }
        if (owned >= 0)
            close(owned);
        owned = cur = fd;
        pos = end + 1;
    }

    *ret_fd = TAKE_FD(owned);
    set_cache(c, *ret_fd, e->path, plen);
    return 0;
}

/* Decompress entry idx, counting every byte against the limit; write it to fd, or (fd < 0)
 * keep at most cap bytes in out (for symlink targets; more is -E2BIG). */
static int read_entry(struct xctx *c, zip_uint64_t idx, int fd, char *out, size_t cap,
                      size_t *out_len)
{
    _cleanup_(zip_fclosep) zip_file_t *zf = zip_fopen_index(c->za, idx, 0);
    if (!zf)
        return zip_failure(c->err, zip_get_error(c->za));
    size_t got = 0;
    for (;;) {
        zip_int64_t n = zip_fread(zf, c->buf, COPY_BUF_SIZE);
        if (n < 0)
            return zip_failure(c->err, zip_file_get_error(zf));
        if (n == 0)
            break;
        if ((uint64_t)n > c->max_bytes - c->total)
            return too_big(c);
        c->total += (uint64_t)n;
        if (fd >= 0) {
            int r = td_write_all(fd, c->buf, (size_t)n);
            if (r < 0)
                return io_failure(c->err, r, "write");
        } else {
            if ((size_t)n > cap - got)
                return -E2BIG;
            memcpy(out + got, c->buf, (size_t)n);
            got += (size_t)n;
        }
    }
    int zr = zip_fclose(TAKE_PTR(zf));
    if (zr != 0) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zr);
        int r = zip_failure(c->err, &ze);
        zip_error_fini(&ze);
        return r;
    }
    if (out_len)
        *out_len = got;
    return 0;
}

/* NULL if target, for a link whose directory is depth components below the root, stays in
 * the package; else why not. '..' may only lead the target: every directory it climbs out of
 * is then a real directory (entries never have symlinks among their parents), and whatever
 * symlinks the rest of the target passes through were judged by the same rule. */
static const char *judge_link_target(const char *t, size_t len, unsigned depth)
{
    if (len == 0)
        return "has an empty target";
    if (memchr(t, '\0', len))
        return "has a NUL byte in its target";
    if (has_control(t, len))
        return "has a control character in its target";
    if (t[0] == '/')
        return "has an absolute target";
    bool named = false;
    for (size_t pos = 0; pos < len;) {
        const char *slash = memchr(t + pos, '/', len - pos);
        size_t end = slash ? (size_t)(slash - t) : len;
        size_t clen = end - pos;
        if (clen == 2 && t[pos] == '.' && t[pos + 1] == '.') {
            if (named)
                return "has '..' after a name in its target";
            if (depth == 0)
                return "points outside the package";
            depth--;
        } else if (clen > 0 && !(clen == 1 && t[pos] == '.')) {
            named = true;
        }
        pos = end + 1;
    }
    return NULL;
}

static int conflict(struct xctx *c, const struct zentry *e)
{
    char shown[SHOW_SIZE];
    return td_err_invalid(c->err, "Code package entry '%s' conflicts with an earlier entry",
                          show(e->path, shown));
}

static int write_entry(struct xctx *c, zip_uint64_t idx)
{
    const struct zentry *e = &c->entries[idx];
    if (e->kind == ZK_ROOT) {
        c->stats->dirs++;
        return 0;
    }
    int pfd = -1;
    int r = open_parent(c, e, &pfd);
    if (r < 0)
        return r;
    const char *base = e->path + (e->parent_len ? e->parent_len + 1 : 0);

    switch (e->kind) {
    case ZK_DIR: {
        if (mkdirat(pfd, base, 0755) < 0) {
            if (errno != EEXIST)
                return io_failure(c->err, -errno, "mkdirat");
            /* Fine if an earlier entry's path created it implicitly. */
            struct stat st;
            if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                return conflict(c, e);
        } else {
            _cleanup_close_ int fd =
                openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0 || fchmod(fd, 0755) < 0)
                return io_failure(c->err, -errno, "chmod");
        }
        c->stats->dirs++;
        return 0;
    }
    case ZK_FILE: {
        _cleanup_close_ int fd =
            openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return errno == EEXIST ? conflict(c, e) : io_failure(c->err, -errno, "openat");
        r = read_entry(c, idx, fd, NULL, 0, NULL);
        if (r < 0)
            return r;
        if (fchmod(fd, e->mode) < 0)
            return io_failure(c->err, -errno, "fchmod");
        if (close(TAKE_FD(fd)) < 0)
            return io_failure(c->err, -errno, "close");
        c->stats->files++;
        return 0;
    }
    case ZK_SYMLINK: {
        char target[TD_ZIP_LINK_MAX + 1];
        size_t tlen = 0;
        char shown[SHOW_SIZE];
        r = read_entry(c, idx, -1, target, TD_ZIP_LINK_MAX, &tlen);
        if (r == -E2BIG)
            return td_err_invalid(c->err,
                                  "Code package symlink '%s' has a target longer than %d bytes",
                                  show(e->path, shown), TD_ZIP_LINK_MAX);
        if (r < 0)
            return r;
        const char *why = judge_link_target(target, tlen, e->depth);
        if (why)
            return td_err_invalid(c->err, "Code package symlink '%s' %s", show(e->path, shown),
                                  why);
        target[tlen] = '\0';
        if (symlinkat(target, pfd, base) < 0)
            return errno == EEXIST ? conflict(c, e) : io_failure(c->err, -errno, "symlinkat");
        c->stats->symlinks++;
        return 0;
    }
    case ZK_ROOT:
    default:
        return 0;
    }
}

static void free_entries(struct zentry *entries, size_t n)
{
    if (!entries)
        return;
    for (size_t i = 0; i < n; i++)
        free(entries[i].path);
    free(entries);
}

static int extract_into(struct xctx *c, const char *dest_dir)
{
    c->rootfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->rootfd < 0)
        return io_failure(c->err, -errno, "open destination");
    c->buf = malloc(COPY_BUF_SIZE);
    c->cache_path = malloc(TD_ZIP_NAME_MAX + 1);
    c->scratch = malloc(TD_ZIP_NAME_MAX + 1);
    if (!c->buf || !c->cache_path || !c->scratch)
        return io_failure(c->err, -ENOMEM, "extracting");
    for (size_t i = 0; i < c->n; i++) {
        int r = write_entry(c, i);
        if (r < 0)
            return r;
    }
    if (fchmod(c->rootfd, 0755) < 0)
        return io_failure(c->err, -errno, "fchmod");
    return 0;
}

int td_zip_extract(const void *zip, size_t len, const char *dest_dir,
                   const struct td_zip_limits *limits, struct td_zip_stats *stats,
                   struct td_err *err)
{
    static const struct td_zip_limits defaults = TD_ZIP_LIMITS_DEFAULT;
    struct td_zip_stats local_stats;
    if (!stats)
        stats = &local_stats;
    memset(stats, 0, sizeof(*stats));
    if (!limits)
        limits = &defaults;
    if (!dest_dir || !*dest_dir || (!zip && len > 0))
        return io_failure(err, -EINVAL, "bad arguments");
    if (len == 0)
        return td_err_invalid(err, "Uploaded file must be a non-empty zip");

    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(zip, len, 0, &ze);
    if (!src) {
        int r = zip_failure(err, &ze);
        zip_error_fini(&ze);
        return r;
    }
    _cleanup_(zip_discardp) zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!za) {
        zip_source_free(src);
        int r = zip_failure(err, &ze);
        zip_error_fini(&ze);
        return r;
    }
    zip_error_fini(&ze);

    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n < 0)
        return bad_archive(err);
    if (n == 0)
        return td_err_invalid(err, "Uploaded file must be a non-empty zip");
    if ((uint64_t)n > limits->max_entries)
        return td_err_invalid(
            err, "Code package has %" PRId64 " entries, more than the limit of %" PRIu32,
            (int64_t)n, limits->max_entries);
    stats->entries = (uint32_t)n;

    struct xctx c = {
        .za = za,
        .n = (size_t)n,
        .max_bytes = limits->max_unpacked_bytes,
        .stats = stats,
        .err = err,
        .rootfd = -1,
        .cache_fd = -1,
    };
    c.entries = calloc(c.n, sizeof(*c.entries));
    if (!c.entries)
        return io_failure(err, -ENOMEM, "reading the archive");

    int r = judge_all(&c);
    if (r == 0) {
        if (mkdir(dest_dir, 0700) < 0) {
            r = io_failure(err, -errno, "mkdir destination");
        } else {
            r = extract_into(&c, dest_dir);
            if (c.cache_fd >= 0)
                close(c.cache_fd);
            if (c.rootfd >= 0)
                close(c.rootfd);
            if (r < 0)
                (void)td_rm_rf(dest_dir);
        }
    }
    stats->unpacked_bytes = c.total;
    free(c.buf);
    free(c.cache_path);
    free(c.scratch);
    free_entries(c.entries, c.n);
    return r;
}

/* ---- td_rm_rf ---------------------------------------------------------------------------- */

struct rm_id {
    dev_t dev;
    ino_t ino;
    uint64_t mnt;
    bool has_mnt;
};

struct rm_level {
    char **dirs; /* subdirectories still to remove */
    size_t n;
    size_t next;
    struct rm_id id;
};

static int rm_id_of(int fd, struct rm_id *id)
{
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_MNT_ID, &stx) < 0)
        return -errno;
    id->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    id->ino = stx.stx_ino;
    id->has_mnt = (stx.stx_mask & STATX_MNT_ID) != 0;
    id->mnt = stx.stx_mnt_id;
    return 0;
}

static bool rm_same_mount(const struct rm_id *a, const struct rm_id *b)
{
    return a->dev == b->dev && (!a->has_mnt || !b->has_mnt || a->mnt == b->mnt);
}

/* Open directory name in dfd for reading without following a symlink, and make it ours to
 * empty (u+rwx, even from mode 0000). Everything is done on the inode first looked up, through
 * an O_PATH fd: its mount is checked against root's (-EXDEV) before its mode is touched. */
static int rm_open_dir(int dfd, const char *name, const struct rm_id *root, struct rm_id *ret_id)
{
    _cleanup_close_ int pfd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return -errno;
    int r = rm_id_of(pfd, ret_id);
    if (r < 0)
        return r;
    if (root && !rm_same_mount(ret_id, root))
        return -EXDEV; /* a mount point: never delete another filesystem's files */
    struct stat st;
    if (fstat(pfd, &st) < 0)
        return -errno;
    if ((st.st_mode & S_IRWXU) != S_IRWXU) {
        /* fchmod() refuses O_PATH fds; /proc/self/fd/N reaches exactly this inode. If that
         * fails (no /proc), the open or the removals below report EACCES. */
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        (void)chmod(proc, (st.st_mode & 07777) | S_IRWXU);
    }
    int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static void rm_level_free(struct rm_level *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->dirs[i]);
    free(l->dirs);
    l->dirs = NULL;
    l->n = l->next = 0;
}

struct rm_name {
    char *name;
    bool dir;
};

/* Remove every entry of directory fd except subdirectories, which are listed in l->dirs. */
static int rm_scan(int fd, struct rm_level *l)
{
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dfd < 0)
        return -errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        int r = -errno;
        close(dfd);
        return r;
    }
    rewinddir(d);

    /* Read everything first, then act: nothing is removed while the stream is open. */
    struct rm_name *names = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            r = -errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 32;
            struct rm_name *nn = realloc(names, ncap * sizeof(*nn));
            if (!nn) {
                r = -ENOMEM;
                break;
            }
            names = nn;
            cap = ncap;
        }
        bool dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            dir = fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        }
        names[n].name = strdup(de->d_name);
        if (!names[n].name) {
            r = -ENOMEM;
            break;
        }
        names[n++].dir = dir;
    }
    closedir(d);

    if (r == 0 && n > 0) {
        l->dirs = calloc(n, sizeof(*l->dirs));
        if (!l->dirs)
            r = -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (r == 0 && !names[i].dir && unlinkat(fd, names[i].name, 0) < 0) {
            if (errno == EISDIR)
                names[i].dir = true;
            else if (errno != ENOENT)
                r = -errno;
        }
        if (r == 0 && names[i].dir)
            l->dirs[l->n++] = TAKE_PTR(names[i].name);
        free(names[i].name);
    }
    free(names);
    return r;
}

/* Empty the directory topfd (consumed) without following symlinks and without holding more
 * than a few fds: descend by name, climb back through "..", checking identities on the way. */
static int rm_contents(int topfd, const struct rm_id *topid)
{
    struct rm_level *levels = NULL;
    size_t depth = 0, cap = 0;
    int fd = topfd;
    int r;

    levels = calloc(1, sizeof(*levels));
    if (!levels) {
        close(fd);
        return -ENOMEM;
    }
    cap = 1;
    depth = 1;
    levels[0].id = *topid;
    r = rm_scan(fd, &levels[0]);

    while (r == 0) {
        struct rm_level *l = &levels[depth - 1];
        if (l->next < l->n) {
            const char *name = l->dirs[l->next++];
            struct rm_id cid;
            int child = rm_open_dir(fd, name, &levels[0].id, &cid);
            if (child == -ENOENT)
                continue;
            if (child == -ELOOP || child == -ENOTDIR) {
                /* Replaced by something else since the scan: remove that instead. */
                if (unlinkat(fd, name, 0) < 0 && errno != ENOENT)
                    r = -errno;
                continue;
            }
            if (child < 0) {
                r = child;
                break;
            }
            if (depth == cap) {
                struct rm_level *nl = realloc(levels, 2 * cap * sizeof(*nl));
                if (nl) {
                    levels = nl;
                    cap *= 2;
                } else {
                    r = -ENOMEM;
                }
            }
            if (r < 0) {
                close(child);
                break;
            }
            close(fd);
            fd = child;
            levels[depth] = (struct rm_level){.id = cid};
            depth++;
            r = rm_scan(fd, &levels[depth - 1]);
        } else {
            if (depth == 1)
                break;
            int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (parent < 0) {
                r = -errno;
                break;
            }
            struct rm_level *p = &levels[depth - 2];
            struct rm_id pid;
            r = rm_id_of(parent, &pid);
            if (r == 0 && (pid.dev != p->id.dev || pid.ino != p->id.ino))
                r = -ESTALE; /* the tree was moved under us */
            if (r < 0) {
                close(parent);
                break;
            }
            close(fd);
            fd = parent;
            struct rm_id done = l->id;
            rm_level_free(l);
            depth--;

            const char *name = p->dirs[p->next - 1];
            struct stat st;
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                    r = -errno;
                continue;
            }
            if (st.st_dev != done.dev || st.st_ino != done.ino)
                r = -ESTALE;
            else if (unlinkat(fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                r = -errno;
        }
    }

    for (size_t i = 0; i < depth; i++)
        rm_level_free(&levels[i]);
    free(levels);
    close(fd);
    return r;
}

int td_rm_rf(const char *path)
{
    if (!path || !*path)
        return -EINVAL;
    struct rm_id id;
    int fd = rm_open_dir(AT_FDCWD, path, NULL, &id);
    if (fd == -ENOENT)
        return 0;
    if (fd == -ELOOP || fd == -ENOTDIR) {
        if (unlink(path) < 0 && errno != ENOENT)
            return -errno;
        return 0;
    }
    if (fd < 0)
        return fd;
    int r = rm_contents(fd, &id);
    if (r < 0)
        return r;
    if (rmdir(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}
