/* Tests for td_zip_extract and td_rm_rf. Archives are built in memory with libzip; hostile
 * variants that libzip refuses to write (duplicate names, lying sizes, inconsistent headers)
 * are made by patching the bytes afterwards. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zip.h>

#include "tenantd/cleanup.h"
#include "tenantd/zipcode.h"

#define INVALID "InvalidParameterValueException"

/* ---- building archives ------------------------------------------------------------------- */

struct ent {
    const char *name;
    const void *data; /* NULL: a directory entry (zip_dir_add) */
    size_t len;       /* SIZE_MAX: strlen(data) */
    uint32_t mode;    /* unix st_mode with type bits; 0: MS-DOS attributes, no unix mode */
    bool encrypt;
    bool store;
};

#define FILE_(n, d, m)                                                                             \
    {                                                                                              \
        .name = (n), .data = (d), .len = SIZE_MAX, .mode = S_IFREG | (m)                           \
    }
#define DIR_(n)                                                                                    \
    {                                                                                              \
        .name = (n), .mode = S_IFDIR | 0755                                                        \
    }
#define LINK_(n, t)                                                                                \
    {                                                                                              \
        .name = (n), .data = (t), .len = SIZE_MAX, .mode = S_IFLNK | 0777                          \
    }

struct zbuf {
    uint8_t *data;
    size_t len;
};

static void zbuf_free(struct zbuf *z)
{
    free(z->data);
    z->data = NULL;
}
#define _cleanup_zbuf_ _cleanup_(zbuf_free)

static struct zbuf build_zip(const struct ent *ents, size_t n)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *out = zip_source_buffer_create(NULL, 0, 0, &ze);
    assert_non_null(out);
    zip_source_keep(out);
    zip_t *za = zip_open_from_source(out, ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    for (size_t i = 0; i < n; i++) {
        const struct ent *e = &ents[i];
        zip_int64_t idx;
        if (!e->data) {
            idx = zip_dir_add(za, e->name, 0);
        } else {
            size_t len = e->len == SIZE_MAX ? strlen(e->data) : e->len;
            zip_source_t *s = zip_source_buffer(za, e->data, len, 0);
            assert_non_null(s);
            idx = zip_file_add(za, e->name, s, 0);
            if (idx < 0)
                zip_source_free(s);
        }
        if (idx < 0)
            print_message("zip_file_add(%s): %s\n", e->name, zip_strerror(za));
        assert_true(idx >= 0);
        zip_uint64_t k = (zip_uint64_t)idx;
        if (e->mode)
            assert_int_equal(zip_file_set_external_attributes(za, k, 0, ZIP_OPSYS_UNIX,
                                                              (zip_uint32_t)e->mode << 16),
                             0);
        else
            assert_int_equal(
                zip_file_set_external_attributes(za, k, 0, ZIP_OPSYS_DOS, e->data ? 0x20 : 0x10),
                0);
        if (e->encrypt)
            assert_int_equal(zip_file_set_encryption(za, k, ZIP_EM_TRAD_PKWARE, "secret"), 0);
        if (e->store)
            assert_int_equal(zip_set_file_compression(za, k, ZIP_CM_STORE, 0), 0);
    }
    assert_int_equal(zip_close(za), 0);

    struct zbuf z = {0};
    assert_int_equal(zip_source_open(out), 0);
    assert_int_equal(zip_source_seek(out, 0, SEEK_END), 0);
    zip_int64_t size = zip_source_tell(out);
    assert_true(size > 0);
    assert_int_equal(zip_source_seek(out, 0, SEEK_SET), 0);
    z.len = (size_t)size;
    z.data = malloc(z.len);
    assert_non_null(z.data);
    assert_int_equal(zip_source_read(out, z.data, z.len), size);
    zip_source_close(out);
    zip_source_free(out);
    return z;
}

static struct zbuf build_many(size_t n)
{
    struct ent *ents = calloc(n, sizeof(*ents));
    char *names = malloc(n * 24);
    assert_non_null(ents);
    assert_non_null(names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names + 24 * i, 24, "f%zu", i);
        ents[i] = (struct ent)FILE_(names + 24 * i, "x", 0644);
    }
    struct zbuf z = build_zip(ents, n);
    free(ents);
    free(names);
    return z;
}

/* Replace every occurrence of from by to (same length) in the archive bytes. */
static int patch_all(struct zbuf *z, const char *from, const char *to)
{
    size_t n = strlen(from);
    int count = 0;
    for (size_t i = 0; i + n <= z->len; i++)
        if (memcmp(z->data + i, from, n) == 0) {
            memcpy(z->data + i, to, n);
            count++;
        }
    return count;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Make every entry declare `size` uncompressed bytes, in its local and its central header, as
 * a zip bomb would. The CRCs stay those of the real data. */
static void lie_about_sizes(struct zbuf *z, uint32_t size)
{
    assert_true(z->len >= 22);
    const uint8_t *eocd = z->data + z->len - 22; /* no archive comment */
    assert_int_equal(get32(eocd), 0x06054b50);
    size_t entries = get16(eocd + 10);
    size_t cd = get32(eocd + 16);
    for (size_t i = 0; i < entries; i++) {
        assert_true(cd + 46 <= z->len);
        uint8_t *c = z->data + cd;
        assert_int_equal(get32(c), 0x02014b50);
        size_t local = get32(c + 42);
        assert_true(local + 30 <= z->len);
        assert_int_equal(get32(z->data + local), 0x04034b50);
        put32(c + 24, size);
        put32(z->data + local + 22, size);
        cd += 46 + (size_t)get16(c + 28) + get16(c + 30) + get16(c + 32);
    }
}

/* ---- extraction helpers ------------------------------------------------------------------ */

static char g_base[64];
static unsigned g_counter;

static void fresh_dest(char dest[PATH_MAX])
{
    snprintf(dest, PATH_MAX, "%s/pkg%u", g_base, g_counter++);
}

/* dir/rel into out; false if it does not fit (also for forked children: no cmocka). */
static bool join(char out[PATH_MAX], const char *dir, const char *rel)
{
    size_t a = strlen(dir), b = strlen(rel);
    if (a + 1 + b >= PATH_MAX)
        return false;
    memcpy(out, dir, a);
    out[a] = '/';
    memcpy(out + a + 1, rel, b + 1);
    return true;
}

static void path_in(char out[PATH_MAX], const char *dir, const char *rel)
{
    assert_true(join(out, dir, rel));
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void extract_ok(const struct zbuf *z, const struct td_zip_limits *lim, char dest[PATH_MAX],
                       struct td_zip_stats *stats)
{
    fresh_dest(dest);
    struct td_err err = {0};
    int r = td_zip_extract(z->data, z->len, dest, lim, stats, &err);
    if (r < 0)
        print_message("unexpected failure %d: %d %s: %s\n", r, err.status, err.type, err.message);
    assert_int_equal(r, 0);
    assert_int_equal(err.status, 0);
}

static void check_rejected(const void *data, size_t len, const struct td_zip_limits *lim,
                           const char *expect)
{
    char dest[PATH_MAX];
    fresh_dest(dest);
    struct td_err err = {0};
    int r = td_zip_extract(data, len, dest, lim, NULL, &err);
    if (r >= 0 || !strstr(err.message, expect))
        print_message("expected '%s', got %d: %d %s: %s\n", expect, r, err.status, err.type,
                      err.message);
    assert_true(r < 0);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, INVALID);
    assert_non_null(strstr(err.message, expect));
    assert_false(exists(dest)); /* nothing left behind */
}

static void reject_ents(const struct ent *ents, size_t n, const char *expect)
{
    _cleanup_zbuf_ struct zbuf z = build_zip(ents, n);
    check_rejected(z.data, z.len, NULL, expect);
}

static void assert_mode(const char *dir, const char *rel, mode_t type, mode_t perm)
{
    char p[PATH_MAX];
    path_in(p, dir, rel);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    if ((st.st_mode & S_IFMT) != type || (st.st_mode & 07777) != perm)
        print_message("%s: mode %o, expected %o\n", rel, (unsigned)st.st_mode,
                      (unsigned)(type | perm));
    assert_int_equal(st.st_mode & S_IFMT, type);
    assert_int_equal(st.st_mode & 07777, perm);
    assert_int_equal(st.st_uid, geteuid());
}

static void assert_content(const char *dir, const char *rel, const char *expect)
{
    char p[PATH_MAX];
    path_in(p, dir, rel);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, expect);
}

static void assert_link(const char *dir, const char *rel, const char *target)
{
    char p[PATH_MAX], buf[PATH_MAX];
    path_in(p, dir, rel);
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, target);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_base, sizeof(g_base), "/tmp/td-test-zip-XXXXXX");
    /* 0755: the unprivileged child must be able to reach its directory. */
    return mkdtemp(g_base) && chmod(g_base, 0755) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return td_rm_rf(g_base) == 0 ? 0 : -1;
}

/* ---- extraction: accepted packages ------------------------------------------------------- */

static void test_normal_package(void **state)
{
    (void)state;
    const struct ent ents[] = {
        FILE_("bootstrap", "#!/bin/sh\necho hi\n", 0755),
        DIR_("src/"),
        FILE_("src/handler.js", "exports.handler = 1;\n", 0644),
        FILE_("src/lib/util.js", "util", 0644), /* parent src/lib/ is implicit */
        FILE_("bin/tool", "tool", 0700),        /* any x bit: 0755 */
        FILE_("data/secret", "s", 0600),        /* others must be able to read: 0644 */
        FILE_("suid", "s", 04755),              /* never setuid */
        FILE_("sgid", "s", 02711),
        FILE_("sticky", "s", 01666),
        FILE_("a/./b", "dot", 0644), /* "." components are dropped */
        {.name = "empty", .data = "", .len = 0, .mode = S_IFREG | 0644},
        {.name = "nomode", .data = "n", .len = SIZE_MAX, .mode = 0644}, /* no S_IFMT bits */
    };
    _cleanup_zbuf_ struct zbuf z = build_zip(ents, TD_ARRAY_SIZE(ents));

    mode_t old = umask(077); /* results must not depend on the umask */
    char dest[PATH_MAX];
    struct td_zip_stats stats;
    extract_ok(&z, NULL, dest, &stats);
    umask(old);

    assert_mode(dest, ".", S_IFDIR, 0755);
    assert_mode(dest, "bootstrap", S_IFREG, 0755);
    assert_mode(dest, "src", S_IFDIR, 0755);
    assert_mode(dest, "src/handler.js", S_IFREG, 0644);
    assert_mode(dest, "src/lib", S_IFDIR, 0755);
    assert_mode(dest, "src/lib/util.js", S_IFREG, 0644);
    assert_mode(dest, "bin", S_IFDIR, 0755);
    assert_mode(dest, "bin/tool", S_IFREG, 0755);
    assert_mode(dest, "data/secret", S_IFREG, 0644);
    assert_mode(dest, "suid", S_IFREG, 0755);
    assert_mode(dest, "sgid", S_IFREG, 0755);
    assert_mode(dest, "sticky", S_IFREG, 0644);
    assert_mode(dest, "a/b", S_IFREG, 0644);
    assert_mode(dest, "empty", S_IFREG, 0644);
    assert_mode(dest, "nomode", S_IFREG, 0644);
    assert_content(dest, "bootstrap", "#!/bin/sh\necho hi\n");
    assert_content(dest, "src/lib/util.js", "util");
    assert_content(dest, "a/b", "dot");
    assert_content(dest, "empty", "");

    assert_int_equal(stats.entries, TD_ARRAY_SIZE(ents));
    assert_int_equal(stats.files, TD_ARRAY_SIZE(ents) - 1);
    assert_int_equal(stats.dirs, 1);
    assert_int_equal(stats.symlinks, 0);
    assert_int_equal(stats.unpacked_bytes, 18 + 21 + 4 + 4 + 1 + 1 + 1 + 1 + 3 + 0 + 1);
    assert_int_equal(td_rm_rf(dest), 0);
    assert_false(exists(dest));
}

static void test_msdos_package(void **state)
{
    (void)state;
    const struct ent ents[] = {
        {.name = "bootstrap", .data = "#!/bin/sh\n", .len = SIZE_MAX, .mode = 0},
        {.name = "dir/", .mode = 0},
        {.name = "dir/file.txt", .data = "x", .len = SIZE_MAX, .mode = 0},
    };
    _cleanup_zbuf_ struct zbuf z = build_zip(ents, TD_ARRAY_SIZE(ents));
    char dest[PATH_MAX];
    extract_ok(&z, NULL, dest, NULL);
    assert_mode(dest, "bootstrap", S_IFREG, 0644);
    assert_mode(dest, "dir", S_IFDIR, 0755);
    assert_mode(dest, "dir/file.txt", S_IFREG, 0644);
}

static void test_dir_entries(void **state)
{
    (void)state;
    /* A directory entry after its contents, a root entry "./", a directory by mode only. */
    const struct ent ents[] = {
        FILE_("x/y/z", "z", 0644),
        DIR_("x/y/"),
        DIR_("./"),
        {.name = "m", .data = "", .len = 0, .mode = S_IFDIR | 0700},
    };
    _cleanup_zbuf_ struct zbuf z = build_zip(ents, TD_ARRAY_SIZE(ents));
    char dest[PATH_MAX];
    struct td_zip_stats stats;
    extract_ok(&z, NULL, dest, &stats);
    assert_mode(dest, "x/y", S_IFDIR, 0755);
    assert_mode(dest, "m", S_IFDIR, 0755);
    assert_content(dest, "x/y/z", "z");
    assert_int_equal(stats.files, 1);
    assert_int_equal(stats.dirs, 3);
}

static void test_cp437_name(void **state)
{
    (void)state;
    /* Not valid UTF-8 and no UTF-8 flag: libzip reads it as CP437 (0x82 is e-acute) and we
     * write the UTF-8 form, which is what code running on Linux will look for. */
    const struct ent ents[] = {FILE_("caf\x82.txt", "x", 0644)};
    _cleanup_zbuf_ struct zbuf z = build_zip(ents, TD_ARRAY_SIZE(ents));
    char dest[PATH_MAX];
    extract_ok(&z, NULL, dest, NULL);
    assert_mode(dest, "caf\xc3\xa9.txt", S_IFREG, 0644);
}

static void test_symlinks_inside(void **state)
{
    (void)state;
    const struct ent ents[] = {
        FILE_("bin/tool", "t", 0755),
        LINK_("lib/link", "../bin/tool"),
        LINK_("cur", "."),
        LINK_("deep/a/b/up", "../../../bin"),
        LINK_("dotted", "./bin/./tool"),
        LINK_("dangling", "does/not/exist"),
        LINK_("chain", "cur/cur/bin/tool"), /* through other links, no '..' after them */
        LINK_("loop", "loop"),
    };
    _cleanup_zbuf_ struct zbuf z = build_zip(ents, TD_ARRAY_SIZE(ents));
    char dest[PATH_MAX];
    struct td_zip_stats stats;
    extract_ok(&z, NULL, dest, &stats);
    assert_link(dest, "lib/link", "../bin/tool");
    assert_link(dest, "cur", ".");
    assert_link(dest, "deep/a/b/up", "../../../bin");
    assert_link(dest, "chain", "cur/cur/bin/tool");
    assert_content(dest, "lib/link", "t");
    assert_content(dest, "deep/a/b/up/tool", "t");
    assert_int_equal(stats.symlinks, 7);
    assert_int_equal(stats.files, 1);
    assert_int_equal(stats.unpacked_bytes, 1 + 11 + 1 + 12 + 12 + 14 + 16 + 4);
}

/* ---- extraction: rejected packages ------------------------------------------------------- */

static void test_reject_bad_names(void **state)
{
    (void)state;
    char longname[TD_ZIP_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    for (size_t i = 100; i < sizeof(longname) - 2; i += 100)
        longname[i] = '/';
    longname[sizeof(longname) - 1] = '\0';
    char longcomp[TD_ZIP_COMPONENT_MAX + 2];
    memset(longcomp, 'b', sizeof(longcomp) - 1);
    longcomp[sizeof(longcomp) - 1] = '\0';

    static const struct {
        const char *name;
        const char *why;
    } cases[] = {
        {"/etc/passwd", "absolute path"},
        {"/", "absolute path"},
        {"../x", "'..' path component"},
        {"a/../../x", "'..' path component"},
        {"a/..", "'..' path component"},
        {"a/../", "'..' path component"},
        {"..", "'..' path component"},
        {"a//b", "empty path component"},
        {"a//", "empty path component"},
        {"a\\b", "backslash"},
        {"..\\..\\x", "backslash"},
        {"a\x01"
         "b",
         "control character"},
        {"new\nline", "control character"},
        {"del\x7f", "control character"},
        {".", "names the package root"},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++) {
        const struct ent ents[] = {FILE_("ok", "fine", 0644), FILE_(cases[i].name, "x", 0644)};
        reject_ents(ents, 2, cases[i].why);
        reject_ents(ents, 2, "has an invalid name");
    }
    const struct ent long1[] = {FILE_(longname, "x", 0644)};
    reject_ents(long1, 1, "name too long");
    const struct ent long2[] = {FILE_(longcomp, "x", 0644)};
    reject_ents(long2, 1, "path component too long");
    /* At the limits: accepted. */
    char maxname[TD_ZIP_NAME_MAX + 2];
    memset(maxname, 'm', TD_ZIP_NAME_MAX);
    for (size_t i = 0; i + 1 < TD_ZIP_DEPTH_MAX; i++)
        maxname[30 * i + 29] = '/'; /* 128 components, the last one 190 bytes */
    maxname[TD_ZIP_NAME_MAX] = '\0';
    char maxdir[TD_ZIP_NAME_MAX + 2];
    memcpy(maxdir, maxname, TD_ZIP_NAME_MAX);
    maxdir[TD_ZIP_NAME_MAX] = '/';
    maxdir[TD_ZIP_NAME_MAX + 1] = '\0';
    maxdir[10] = 'd';
    char maxcomp[TD_ZIP_COMPONENT_MAX + 1];
    memset(maxcomp, 'c', TD_ZIP_COMPONENT_MAX);
    maxcomp[TD_ZIP_COMPONENT_MAX] = '\0';
    const struct ent at_limits[] = {FILE_(maxname, "x", 0644), DIR_(maxdir),
                                    FILE_(maxcomp, "y", 0644)};
    _cleanup_zbuf_ struct zbuf z = build_zip(at_limits, TD_ARRAY_SIZE(at_limits));
    char dest[PATH_MAX];
    extract_ok(&z, NULL, dest, NULL);
    assert_int_equal(td_rm_rf(dest), 0);

    /* One component too many. */
    char deep[2 * TD_ZIP_DEPTH_MAX + 2];
    for (size_t i = 0; i <= TD_ZIP_DEPTH_MAX; i++) {
        deep[2 * i] = 'd';
        deep[2 * i + 1] = '/';
    }
    deep[2 * TD_ZIP_DEPTH_MAX + 1] = '\0'; /* 129 components, no trailing slash */
    const struct ent too_deep[] = {FILE_(deep, "x", 0644)};
    reject_ents(too_deep, 1, "nested too deeply");

    const struct ent dirdots[] = {DIR_("../d/")};
    reject_ents(dirdots, 1, "'..' path component");
    const struct ent linkdots[] = {LINK_("../l", "x")};
    reject_ents(linkdots, 1, "'..' path component");
}

static void test_reject_special_files(void **state)
{
    (void)state;
    static const uint32_t types[] = {S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, 0170000};
    for (size_t i = 0; i < TD_ARRAY_SIZE(types); i++) {
        const struct ent ents[] = {
            FILE_("ok", "fine", 0644),
            {.name = "dev", .data = "", .len = 0, .mode = types[i] | 0666},
        };
        reject_ents(ents, 2, "Code package entry 'dev' is a special file");
    }
}

static void test_reject_duplicates(void **state)
{
    (void)state;
    /* libzip will not write two entries with one name: write dupA and dupB, then rename. */
    const struct ent ents[] = {FILE_("dupA", "1", 0644), FILE_("dupB", "2", 0644)};
    _cleanup_zbuf_ struct zbuf z = build_zip(ents, 2);
    assert_int_equal(patch_all(&z, "dupB", "dupA"), 2);
    check_rejected(z.data, z.len, NULL, "duplicate");

    /* The same path after normalisation. */
    const struct ent file_dir[] = {FILE_("a", "1", 0644), DIR_("a/")};
    reject_ents(file_dir, 2, "duplicate entry 'a'");
    const struct ent dots[] = {FILE_("x/y", "1", 0644), FILE_("x/./y", "2", 0644)};
    reject_ents(dots, 2, "duplicate entry 'x/y'");
    const struct ent dirs[] = {DIR_("d/"), DIR_("./d/")};
    reject_ents(dirs, 2, "duplicate entry 'd'");
    const struct ent link_file[] = {LINK_("l", "x"), FILE_("./l", "2", 0644)};
    reject_ents(link_file, 2, "duplicate entry 'l'");

    /* Not duplicates, but one path used as a file and as a directory. */
    const struct ent file_then_child[] = {FILE_("a", "1", 0644), FILE_("a/b", "2", 0644)};
    reject_ents(file_then_child, 2, "is inside 'a', which is not a directory");
    const struct ent child_then_file[] = {FILE_("a/b", "1", 0644), FILE_("a", "2", 0644)};
    reject_ents(child_then_file, 2, "Code package entry 'a' conflicts with an earlier entry");
    const struct ent child_then_link[] = {FILE_("a/b", "1", 0644), LINK_("a", "x")};
    reject_ents(child_then_link, 2, "Code package entry 'a' conflicts with an earlier entry");
}

static void test_reject_encrypted(void **state)
{
    (void)state;
    if (!zip_encryption_method_supported(ZIP_EM_TRAD_PKWARE, 1))
        skip();
    const struct ent ents[] = {
        FILE_("plain", "p", 0644),
        {.name = "secret", .data = "s", .len = SIZE_MAX, .mode = S_IFREG | 0644, .encrypt = true},
    };
    reject_ents(ents, 2, "Code package entry 'secret' is encrypted");
}

static void test_reject_symlinks_outside(void **state)
{
    (void)state;
    char longtarget[TD_ZIP_LINK_MAX + 2];
    memset(longtarget, 'x', sizeof(longtarget) - 1);
    longtarget[sizeof(longtarget) - 1] = '\0';

    static const struct {
        const char *name;
        const char *target;
        const char *why;
    } cases[] = {
        {"l", "/etc/passwd", "has an absolute target"},
        {"l", "/", "has an absolute target"},
        {"l", "..", "points outside the package"},
        {"l", "../x", "points outside the package"},
        {"a/l", "../..", "points outside the package"},
        {"a/b/l", "../../../x", "points outside the package"},
        {"a/b/l", "./../.././../etc", "points outside the package"},
        {"l", "x/../..", "has '..' after a name in its target"},
        {"l", "sub/../x", "has '..' after a name in its target"},
        {"l", "", "has an empty target"},
        {"l", "a\nb", "has a control character in its target"},
    };
    for (size_t i = 0; i < TD_ARRAY_SIZE(cases); i++) {
        const struct ent ents[] = {FILE_("ok", "fine", 0644),
                                   LINK_(cases[i].name, cases[i].target)};
        char expect[256];
        snprintf(expect, sizeof(expect), "Code package symlink '%s' %s", cases[i].name,
                 cases[i].why);
        reject_ents(ents, 2, expect);
    }
    const struct ent nul[] = {
        {.name = "l", .data = "a\0b", .len = 3, .mode = S_IFLNK | 0777},
    };
    reject_ents(nul, 1, "has a NUL byte in its target");
    const struct ent toolong[] = {LINK_("l", longtarget)};
    reject_ents(toolong, 1, "has a target longer than 4095 bytes");
    const struct ent slash[] = {LINK_("l/", "x")};
    reject_ents(slash, 1, "Code package symlink 'l/' has an invalid name");

    /* Every link is inside by itself; followed physically, y would be above the root:
     * d1/d2/.. is d1, d1/x is the root, and its ".." is outside. */
    const struct ent chain[] = {LINK_("d1/x", ".."), LINK_("d1/d2/y", "../x/..")};
    reject_ents(chain, 2, "Code package symlink 'd1/d2/y' has '..' after a name in its target");
}

static void test_reject_write_through_symlink(void **state)
{
    (void)state;
    /* d -> sub, then d/file: must not land in sub/file. */
    const struct ent through_dir[] = {DIR_("sub/"), LINK_("d", "sub"), FILE_("d/file", "x", 0644)};
    reject_ents(through_dir, 3, "Code package entry 'd/file' is inside 'd', which is a symlink");

    const struct ent through_dot[] = {LINK_("a", "."), FILE_("a/x", "x", 0644)};
    reject_ents(through_dot, 2, "Code package entry 'a/x' is inside 'a', which is a symlink");

    const struct ent deeper[] = {LINK_("p/q", "../r"), FILE_("p/q/r/s", "x", 0644)};
    reject_ents(deeper, 2, "Code package entry 'p/q/r/s' is inside 'p/q', which is a symlink");

    const struct ent dir_on_link[] = {LINK_("a", "."), DIR_("a/")};
    reject_ents(dir_on_link, 2, "duplicate entry 'a'");

    /* a -> . is fine by itself; a/../../x is refused by name before anything is written. */
    const struct ent dotdot[] = {LINK_("a", "."), FILE_("a/../../x", "x", 0644)};
    reject_ents(dotdot, 2, "'..' path component");
}

static void test_reject_too_many_entries(void **state)
{
    (void)state;
    struct td_zip_limits lim = {.max_unpacked_bytes = 1 << 20, .max_entries = 5};
    _cleanup_zbuf_ struct zbuf five = build_many(5);
    char dest[PATH_MAX];
    extract_ok(&five, &lim, dest, NULL);
    _cleanup_zbuf_ struct zbuf six = build_many(6);
    check_rejected(six.data, six.len, &lim, "Code package has 6 entries, more than the limit of 5");

    /* Lambda's real limit. */
    _cleanup_zbuf_ struct zbuf over = build_many(TD_ZIP_MAX_ENTRIES_DEFAULT + 1);
    check_rejected(over.data, over.len, NULL,
                   "Code package has 10001 entries, more than the limit of 10000");
    _cleanup_zbuf_ struct zbuf at = build_many(TD_ZIP_MAX_ENTRIES_DEFAULT);
    struct td_zip_stats stats;
    extract_ok(&at, NULL, dest, &stats);
    assert_int_equal(stats.files, TD_ZIP_MAX_ENTRIES_DEFAULT);
    assert_content(dest, "f9999", "x");
    assert_int_equal(td_rm_rf(dest), 0);
}

static void test_reject_too_big(void **state)
{
    (void)state;
    const size_t mib = 1 << 20;
    struct td_zip_limits lim = {.max_unpacked_bytes = mib, .max_entries = 100};
    uint8_t *zeros = calloc(1, 4 * mib);
    assert_non_null(zeros);

    /* Declared honestly. */
    const struct ent big[] = {{.name = "z", .data = zeros, .len = 2 * mib, .mode = S_IFREG | 0644}};
    _cleanup_zbuf_ struct zbuf z1 = build_zip(big, 1);
    check_rejected(z1.data, z1.len, &lim, "Unzipped size must be smaller than 1048576 bytes");

    /* Exactly at the limit is fine. */
    const struct ent exact[] = {{.name = "z", .data = zeros, .len = mib, .mode = S_IFREG | 0644}};
    _cleanup_zbuf_ struct zbuf z2 = build_zip(exact, 1);
    char dest[PATH_MAX];
    struct td_zip_stats stats;
    extract_ok(&z2, &lim, dest, &stats);
    assert_int_equal(stats.unpacked_bytes, mib);

    /* A bomb that lies: declares 100 bytes, inflates to 4 MiB. Only counting stops it. */
    const struct ent bomb[] = {
        {.name = "z", .data = zeros, .len = 4 * mib, .mode = S_IFREG | 0644}};
    _cleanup_zbuf_ struct zbuf z3 = build_zip(bomb, 1);
    assert_true(z3.len < 16 * 1024);
    lie_about_sizes(&z3, 100);
    check_rejected(z3.data, z3.len, &lim, "Unzipped size must be smaller than 1048576 bytes");

    /* The same lie below the limit: accepted, and the real size is reported. */
    struct td_zip_limits roomy = {.max_unpacked_bytes = 8 * mib, .max_entries = 100};
    extract_ok(&z3, &roomy, dest, &stats);
    assert_int_equal(stats.unpacked_bytes, 4 * mib);

    /* Several entries, each small, together too big: by the declared sizes, and by counting
     * when they lie. */
    const struct ent parts[] = {
        {.name = "p1", .data = zeros, .len = 400 * 1024, .mode = S_IFREG | 0644},
        {.name = "p2", .data = zeros, .len = 400 * 1024, .mode = S_IFREG | 0644},
        {.name = "p3", .data = zeros, .len = 400 * 1024, .mode = S_IFREG | 0644},
    };
    _cleanup_zbuf_ struct zbuf z4 = build_zip(parts, 3);
    check_rejected(z4.data, z4.len, &lim, "Unzipped size must be smaller than 1048576 bytes");
    lie_about_sizes(&z4, 10);
    check_rejected(z4.data, z4.len, &lim, "Unzipped size must be smaller than 1048576 bytes");

    /* Lying large: refused from the declared sizes alone, with Lambda's default limit. */
    lie_about_sizes(&z1, 0x7fffffff);
    check_rejected(z1.data, z1.len, NULL, "Unzipped size must be smaller than 262144000 bytes");
    free(zeros);
}

static void test_reject_bad_archives(void **state)
{
    (void)state;
    static const char garbage[] = "this is not a zip file, just some text.....................";
    check_rejected(garbage, sizeof(garbage), NULL, TD_ZIP_MSG_BAD_ARCHIVE);
    check_rejected(garbage, 0, NULL, "Uploaded file must be a non-empty zip");
    check_rejected(NULL, 0, NULL, "Uploaded file must be a non-empty zip");
    static const uint8_t empty_zip[22] = {'P', 'K', 5, 6};
    check_rejected(empty_zip, sizeof(empty_zip), NULL, "Uploaded file must be a non-empty zip");

    const struct ent ents[] = {FILE_("name1", "hello hello hello", 0644),
                               FILE_("name2", "world", 0755)};
    _cleanup_zbuf_ struct zbuf z = build_zip(ents, 2);
    check_rejected(z.data, z.len / 2, NULL, TD_ZIP_MSG_BAD_ARCHIVE);
    check_rejected(z.data, z.len - 1, NULL, TD_ZIP_MSG_BAD_ARCHIVE);
    check_rejected(z.data + 1, z.len - 1, NULL, TD_ZIP_MSG_BAD_ARCHIVE);

    /* Local and central headers that disagree about a name are not refused: ZIP_CHECKCONS would
     * also refuse every streamed zip (data descriptors, as libarchive and CMake write them), and
     * extraction only ever uses the central directory's name, the one that was validated. The
     * entry is written under its central name. */
    _cleanup_zbuf_ struct zbuf z2 = build_zip(ents, 2);
    for (size_t i = 0; i + 5 <= z2.len; i++)
        if (memcmp(z2.data + i, "name2", 5) == 0) {
            z2.data[i + 4] = '3'; /* only the first occurrence: the local header */
            break;
        }
    char dest2[PATH_MAX];
    extract_ok(&z2, NULL, dest2, NULL);
    assert_mode(dest2, "name2", S_IFREG, 0755);

    /* Corrupt data in the second entry: the first is written, then everything is removed. */
    uint8_t *noise = malloc(64 * 1024);
    assert_non_null(noise);
    uint32_t x = 12345;
    for (size_t i = 0; i < 64 * 1024; i++) {
        x = x * 1103515245 + 12345;
        noise[i] = (uint8_t)(x >> 16);
    }
    const struct ent two[] = {
        FILE_("first", "first", 0644),
        {.name = "noise", .data = noise, .len = 64 * 1024, .mode = S_IFREG | 0644},
    };
    _cleanup_zbuf_ struct zbuf z3 = build_zip(two, 2);
    z3.data[z3.len / 2] ^= 0x5a;
    check_rejected(z3.data, z3.len, NULL, TD_ZIP_MSG_BAD_ARCHIVE);
    free(noise);
}

static void test_dest_exists(void **state)
{
    (void)state;
    char dest[PATH_MAX], keep[PATH_MAX];
    fresh_dest(dest);
    assert_int_equal(mkdir(dest, 0755), 0);
    path_in(keep, dest, "keep");
    int fd = open(keep, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);

    const struct ent ents[] = {FILE_("keep", "overwritten?", 0644)};
    _cleanup_zbuf_ struct zbuf z = build_zip(ents, 1);
    struct td_err err = {0};
    assert_int_equal(td_zip_extract(z.data, z.len, dest, NULL, NULL, &err), -EEXIST);
    assert_int_equal(err.status, 500);
    assert_string_equal(err.type, "ServiceException");
    assert_content(dest, "keep", ""); /* untouched, and not removed */

    /* A missing parent is a local error too. */
    char nested[PATH_MAX];
    path_in(nested, dest, "no/such/dir");
    assert_int_equal(td_zip_extract(z.data, z.len, nested, NULL, NULL, &err), -ENOENT);
    assert_int_equal(err.status, 500);
    assert_int_equal(td_rm_rf(dest), 0);
}

static void test_no_fd_leak(void **state)
{
    (void)state;
    const struct ent good[] = {FILE_("a/b/c", "x", 0644), FILE_("a/b/d", "y", 0644),
                               FILE_("a/e", "z", 0755), LINK_("a/l", "e")};
    const struct ent bad[] = {FILE_("a/b/c", "x", 0644), LINK_("d", "a"), FILE_("d/x", "y", 0644)};
    _cleanup_zbuf_ struct zbuf zg = build_zip(good, TD_ARRAY_SIZE(good));
    _cleanup_zbuf_ struct zbuf zb = build_zip(bad, TD_ARRAY_SIZE(bad));
    int before = count_fds();
    for (int i = 0; i < 20; i++) {
        char dest[PATH_MAX];
        extract_ok(&zg, NULL, dest, NULL);
        assert_int_equal(td_rm_rf(dest), 0);
        check_rejected(zb.data, zb.len, NULL, "which is a symlink");
    }
    assert_int_equal(count_fds(), before);
}

/* ---- td_rm_rf ---------------------------------------------------------------------------- */

static void touch_at(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
}

/* Build root/ with read-only and unreadable directories, symlinks to outside (a directory
 * and a file), and a chain of `deep` nested directories. Plain checks, no cmocka asserts:
 * also used in forked children. Returns 0 or -1. */
static int make_hostile_tree(const char *root, const char *outside, int deep)
{
    char p[PATH_MAX];
    if (mkdir(root, 0755) < 0)
        return -1;
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return -1;
    int ok = 0;
    ok |= mkdirat(rfd, "ro", 0755);
    ok |= mkdirat(rfd, "ro/inner", 0755);
    ok |= mkdirat(rfd, "noperm", 0755);
    ok |= mkdirat(rfd, "noperm/sub", 0755);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "ro/f%d", i);
        int fd = openat(rfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        ok |= fd < 0 ? -1 : close(fd);
        snprintf(name, sizeof(name), "noperm/sub/f%d", i);
        fd = openat(rfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0000);
        ok |= fd < 0 ? -1 : close(fd);
    }
    (void)join(p, outside, "keep");
    ok |= symlinkat(outside, rfd, "link_dir");
    ok |= symlinkat(p, rfd, "link_file");
    ok |= symlinkat(outside, rfd, "ro/link_dir");
    ok |= symlinkat("../../..", rfd, "ro/inner/up");
    ok |= fchmodat(rfd, "ro/inner", 0555, 0);
    ok |= fchmodat(rfd, "ro", 0555, 0);
    ok |= fchmodat(rfd, "noperm/sub", 0000, 0);
    ok |= fchmodat(rfd, "noperm", 0000, 0);

    int cur = openat(rfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < deep && cur >= 0; i++) {
        ok |= mkdirat(cur, "d", 0755);
        int next = openat(cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(cur);
        cur = next;
    }
    if (cur >= 0) {
        ok |= symlinkat(outside, cur, "bottom_link");
        close(cur);
    } else {
        ok = -1;
    }
    close(rfd);
    return ok ? -1 : 0;
}

static int make_outside(const char *outside)
{
    char p[PATH_MAX];
    if (mkdir(outside, 0755) < 0)
        return -1;
    (void)join(p, outside, "keep");
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    return close(fd);
}

static bool outside_intact(const char *outside)
{
    char p[PATH_MAX];
    (void)join(p, outside, "keep");
    struct stat st;
    return stat(outside, &st) == 0 && S_ISDIR(st.st_mode) && stat(p, &st) == 0 &&
           S_ISREG(st.st_mode);
}

static void test_rm_rf(void **state)
{
    (void)state;
    char root[PATH_MAX], outside[PATH_MAX];
    path_in(root, g_base, "rm-tree");
    path_in(outside, g_base, "rm-outside");
    assert_int_equal(make_outside(outside), 0);
    assert_int_equal(make_hostile_tree(root, outside, 300), 0);

    assert_int_equal(td_rm_rf(root), 0);
    assert_false(exists(root));
    assert_true(outside_intact(outside));

    /* A symlink given as the path: the link goes, its target stays. */
    char link[PATH_MAX];
    path_in(link, g_base, "rm-link");
    assert_int_equal(symlink(outside, link), 0);
    assert_int_equal(td_rm_rf(link), 0);
    assert_false(exists(link));
    assert_true(outside_intact(outside));

    /* A plain file, and a missing path. */
    char keep[PATH_MAX];
    path_in(keep, outside, "other");
    int fd = open(keep, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(td_rm_rf(keep), 0);
    assert_false(exists(keep));
    assert_int_equal(td_rm_rf(keep), 0);
    assert_int_equal(td_rm_rf(""), -EINVAL);

    /* A read-only directory as the root itself. */
    assert_int_equal(mkdir(root, 0755), 0);
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(rfd >= 0);
    touch_at(rfd, "f");
    close(rfd);
    assert_int_equal(chmod(root, 0500), 0);
    assert_int_equal(td_rm_rf(root), 0);
    assert_false(exists(root));

    assert_int_equal(td_rm_rf(outside), 0);
}

/* Run fn in a child process, as nobody when we are root (so that permissions really apply).
 * Returns the child's exit status. */
static int run_child(int (*fn)(const char *dir), const char *dir, bool drop)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (drop && geteuid() == 0) {
            if (chown(dir, 65534, 65534) < 0 || setgroups(0, NULL) < 0 ||
                setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                _exit(90);
        }
        _exit(fn(dir));
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int rm_unprivileged(const char *dir)
{
    char root[PATH_MAX], outside[PATH_MAX];
    (void)join(root, dir, "tree");
    (void)join(outside, dir, "outside");
    if (make_outside(outside) < 0 || make_hostile_tree(root, outside, 50) < 0)
        return 1;
    /* As a normal user the 0000 directories really cannot be read before they are chmod'ed. */
    char p[PATH_MAX];
    (void)join(p, root, "noperm");
    if (geteuid() != 0 && open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC) >= 0)
        return 2;
    if (td_rm_rf(root) != 0)
        return 3;
    if (exists(root))
        return 4;
    if (!outside_intact(outside))
        return 5;
    return td_rm_rf(outside) == 0 ? 0 : 6;
}

static void test_rm_rf_unprivileged(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    path_in(dir, g_base, "rm-unpriv");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(run_child(rm_unprivileged, dir, true), 0);
    assert_int_equal(td_rm_rf(dir), 0);
}

static int rm_few_fds(const char *dir)
{
    char root[PATH_MAX], outside[PATH_MAX];
    (void)join(root, dir, "tree");
    (void)join(outside, dir, "outside");
    if (make_outside(outside) < 0 || make_hostile_tree(root, outside, 2000) < 0)
        return 1;
    struct rlimit rl = {.rlim_cur = 24, .rlim_max = 24};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 2;
    if (td_rm_rf(root) != 0)
        return 3;
    return !exists(root) && outside_intact(outside) ? 0 : 4;
}

static void test_rm_rf_deep_tree_few_fds(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    path_in(dir, g_base, "rm-deep");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(run_child(rm_few_fds, dir, false), 0);
    assert_int_equal(td_rm_rf(dir), 0);
}

static int rm_mounts(const char *dir)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return 77;
    char root[PATH_MAX], outside[PATH_MAX], mnt[PATH_MAX], p[PATH_MAX];
    (void)join(root, dir, "tree");
    (void)join(outside, dir, "outside");
    (void)join(mnt, dir, "tree/bound");
    if (make_outside(outside) < 0 || mkdir(root, 0755) < 0 || mkdir(mnt, 0755) < 0)
        return 1;
    /* A bind mount of a directory of the same filesystem: same st_dev, other mount. */
    if (mount(outside, mnt, NULL, MS_BIND, NULL) < 0)
        return 77;
    int r = td_rm_rf(root);
    (void)join(p, mnt, "keep");
    if (r != -EXDEV || !exists(p) || !outside_intact(outside))
        return 2;
    if (umount2(mnt, MNT_DETACH) < 0)
        return 3;
    /* A tmpfs: another st_dev. */
    if (mount("tmpfs", mnt, "tmpfs", 0, NULL) < 0)
        return 77;
    (void)join(p, mnt, "inside");
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return 4;
    close(fd);
    r = td_rm_rf(root);
    if (r != -EXDEV || !exists(p))
        return 5;
    if (umount2(mnt, MNT_DETACH) < 0)
        return 6;
    return td_rm_rf(root) == 0 && !exists(root) ? 0 : 7;
}

static void test_rm_rf_stops_at_mount_points(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    path_in(dir, g_base, "rm-mounts");
    assert_int_equal(mkdir(dir, 0755), 0);
    int r = run_child(rm_mounts, dir, false);
    assert_int_equal(td_rm_rf(dir), 0);
    if (r == 77)
        skip(); /* no permission to mount here */
    assert_int_equal(r, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_package),
        cmocka_unit_test(test_msdos_package),
        cmocka_unit_test(test_dir_entries),
        cmocka_unit_test(test_cp437_name),
        cmocka_unit_test(test_symlinks_inside),
        cmocka_unit_test(test_reject_bad_names),
        cmocka_unit_test(test_reject_special_files),
        cmocka_unit_test(test_reject_duplicates),
        cmocka_unit_test(test_reject_encrypted),
        cmocka_unit_test(test_reject_symlinks_outside),
        cmocka_unit_test(test_reject_write_through_symlink),
        cmocka_unit_test(test_reject_too_many_entries),
        cmocka_unit_test(test_reject_too_big),
        cmocka_unit_test(test_reject_bad_archives),
        cmocka_unit_test(test_dest_exists),
        cmocka_unit_test(test_no_fd_leak),
        cmocka_unit_test(test_rm_rf),
        cmocka_unit_test(test_rm_rf_unprivileged),
        cmocka_unit_test(test_rm_rf_deep_tree_few_fds),
        cmocka_unit_test(test_rm_rf_stops_at_mount_points),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
