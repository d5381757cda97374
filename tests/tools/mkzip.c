/* mkzip: build zip archives for tests, fuzz seeds and example packages, with libzip.
 *
 * Output is reproducible: entries are written in command-line order (--tree sorts names), every
 * entry gets the same DOS timestamp, and modes come from the options or the source files only.
 * The exception is --password (the encryption header is random). Run `mkzip --help`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zip.h>

#include "tenantd/cleanup.h"
#include "tenantd/util.h"

/* 2020-01-01 00:00:00 in MS-DOS format: no time zone involved. */
#define FIXED_DOS_DATE ((uint16_t)(((2020 - 1980) << 9) | (1 << 5) | 1))
#define FIXED_DOS_TIME ((uint16_t)0)
#define DOS_ATTR_DIR   0x10u
#define DOS_ATTR_FILE  0x20u

static const char usage_text[] =
    "usage: mkzip OUT.zip [ENTRY | OPTION]...\n"
    "Entries, added in order:\n"
    "  NAME=TEXT               file NAME containing TEXT, mode 0644\n"
    "  NAME=@PATH              file NAME with the contents and mode bits of PATH\n"
    "  --dir NAME              directory entry NAME/ (mode 0755)\n"
    "  --symlink NAME=TARGET   symlink entry (unix S_IFLNK in the external attributes)\n"
    "  --zeros NAME=BYTES      file of BYTES zero bytes, deflated and streamed\n"
    "  --many N                N small files f0 .. f{N-1}\n"
    "  --raw-name NAME=TEXT    file stored under NAME verbatim, even '../x' or '/abs';\n"
    "                          NAME may use the escapes \\xHH and \\\\\n"
    "  --tree DIR              everything below DIR (sorted), keeping modes and symlinks\n"
    "Modifiers for the next entry only:\n"
    "  --mode MODE             octal unix mode; may carry file type bits (010644: a fifo)\n"
    "  --dos                   MS-DOS external attributes (no unix mode)\n"
    "  --store                 store instead of deflate\n"
    "  --password PW           encrypt (traditional PKWARE; output is then not reproducible)\n"
    "Plain NAMEs must be relative and free of '..' components; use --raw-name for others.\n";

struct opts {
    bool have_mode;
    uint32_t mode; /* st_mode-like, possibly with type bits */
    bool dos;
    bool store;
    const char *password;
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mkzip: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(run mkzip --help for usage)\n");
    va_end(ap);
    exit(2);
}

static void fail(zip_t *za, const char *what, const char *name) __attribute__((noreturn));

static void fail(zip_t *za, const char *what, const char *name)
{
    fprintf(stderr, "mkzip: %s '%s': %s\n", what, name, za ? zip_strerror(za) : strerror(errno));
    if (za)
        zip_discard(za);
    exit(1);
}

/* Split "NAME=VALUE" at the first '='. */
static void split(const char *arg, char **name, const char **value)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        usage_error("expected NAME=VALUE, got '%s'", arg);
    *name = strndup(arg, (size_t)(eq - arg));
    if (!*name) {
        perror("mkzip");
        exit(1);
    }
    *value = eq + 1;
}

static void check_plain_name(const char *name)
{
    if (name[0] == '\0' || name[0] == '/')
        usage_error("name '%s' is empty or absolute; use --raw-name to store it anyway", name);
    for (const char *p = name; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            usage_error("name '%s' has a '..' component; use --raw-name to store it anyway", name);
        p += len;
        if (*p == '/')
            p++;
    }
}

static uint64_t parse_u64(const char *s, const char *option)
{
    int64_t v;
    if (td_parse_int64(s, 0, INT64_MAX, &v) < 0)
        usage_error("%s: bad number '%s'", option, s);
    return (uint64_t)v;
}

static uint32_t parse_mode(const char *s)
{
    char *end = NULL;
    if (!*s || strspn(s, "01234567") != strlen(s))
        usage_error("bad --mode '%s' (octal expected)", s);
    errno = 0;
    unsigned long v = strtoul(s, &end, 8);
    if (errno || *end || v > 0177777)
        usage_error("bad --mode '%s' (octal, at most 0177777)", s);
    return (uint32_t)v;
}

/* Decode \xHH and \\ in a --raw-name NAME. */
static char *unescape(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(len + 1);
    if (!out) {
        perror("mkzip");
        exit(1);
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
        } else if (s[i + 1] == '\\') {
            out[o++] = '\\';
            i++;
        } else if (s[i + 1] == 'x' && s[i + 2] && s[i + 3]) {
            char hex[3] = {s[i + 2], s[i + 3], '\0'};
            char *end = NULL;
            unsigned long v = strtoul(hex, &end, 16);
            if (*end || v == 0 || hex[0] == '-' || hex[0] == '+')
                usage_error("bad escape in raw name '%s' (\\x01..\\xff)", s);
            out[o++] = (char)v;
            i += 3;
        } else {
            usage_error("bad escape in raw name '%s' (\\xHH or \\\\)", s);
        }
    }
    out[o] = '\0';
    return out;
}

/* Apply the attributes every entry gets, then forget the modifiers. */
static void finish_entry(zip_t *za, zip_int64_t idx, const char *name, uint32_t unix_mode,
                         struct opts *o)
{
    if (idx < 0)
        fail(za, "cannot add", name);
    zip_uint64_t i = (zip_uint64_t)idx;
    uint32_t mode = o->have_mode ? o->mode : unix_mode;
    if (o->have_mode && (mode & S_IFMT) == 0)
        mode |= unix_mode & S_IFMT;
    bool dir = (mode & S_IFMT) == S_IFDIR;
    int r;
    if (o->dos)
        r = zip_file_set_external_attributes(za, i, 0, ZIP_OPSYS_DOS,
                                             dir ? DOS_ATTR_DIR : DOS_ATTR_FILE);
    else
        r = zip_file_set_external_attributes(za, i, 0, ZIP_OPSYS_UNIX,
                                             (mode << 16) | (dir ? DOS_ATTR_DIR : 0));
    if (r < 0 || zip_file_set_dostime(za, i, FIXED_DOS_TIME, FIXED_DOS_DATE, 0) < 0)
        fail(za, "cannot set attributes of", name);
    if (!dir && zip_set_file_compression(za, i, o->store ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 9) < 0)
        fail(za, "cannot set compression of", name);
    if (o->password && zip_file_set_encryption(za, i, ZIP_EM_TRAD_PKWARE, o->password) < 0)
        fail(za, "cannot encrypt", name);
    *o = (struct opts){0};
}

static void add_source(zip_t *za, const char *name, zip_source_t *src, uint32_t unix_mode,
                       struct opts *o)
{
    if (!src)
        fail(za, "cannot create source for", name);
    zip_int64_t idx = zip_file_add(za, name, src, ZIP_FL_ENC_GUESS);
    if (idx < 0)
        zip_source_free(src);
    finish_entry(za, idx, name, unix_mode, o);
}

static void add_text(zip_t *za, const char *name, const char *text, size_t len, uint32_t mode,
                     struct opts *o)
{
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        perror("mkzip");
        exit(1);
    }
    memcpy(copy, text, len);
    add_source(za, name, zip_source_buffer(za, copy, len, 1), mode, o);
}

static void add_file(zip_t *za, const char *name, const char *path, struct opts *o)
{
    struct stat st;
    if (stat(path, &st) < 0)
        fail(NULL, "cannot stat", path);
    if (!S_ISREG(st.st_mode))
        usage_error("'%s' is not a regular file", path);
    add_source(za, name, zip_source_file(za, path, 0, -1),
               (uint32_t)(S_IFREG | (st.st_mode & 07777)), o);
}

static void add_dir(zip_t *za, const char *name, uint32_t perm, struct opts *o)
{
    finish_entry(za, zip_dir_add(za, name, ZIP_FL_ENC_GUESS), name, S_IFDIR | perm, o);
}

/* A source of `size` zero bytes, produced on demand. */
struct zeros {
    zip_uint64_t size;
    zip_uint64_t pos;
    zip_error_t error;
};

static zip_int64_t zeros_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct zeros *z = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        z->pos = 0;
        return 0;
    case ZIP_SOURCE_READ: {
        zip_uint64_t n = z->size - z->pos < len ? z->size - z->pos : len;
        memset(data, 0, (size_t)n);
        z->pos += n;
        return (zip_int64_t)n;
    }
    case ZIP_SOURCE_CLOSE:
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = ZIP_SOURCE_GET_ARGS(zip_stat_t, data, len, &z->error);
        if (!st)
            return -1;
        zip_stat_init(st);
        st->valid |= ZIP_STAT_SIZE;
        st->size = z->size;
        return sizeof(*st);
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&z->error, data, len);
    case ZIP_SOURCE_FREE:
        zip_error_fini(&z->error);
        free(z);
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                              -1);
    default:
        zip_error_set(&z->error, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
}

static void add_zeros(zip_t *za, const char *name, uint64_t size, struct opts *o)
{
    struct zeros *z = calloc(1, sizeof(*z));
    if (!z) {
        perror("mkzip");
        exit(1);
    }
    z->size = size;
    zip_error_init(&z->error);
    zip_source_t *src = zip_source_function(za, zeros_cb, z);
    if (!src) {
        free(z);
        fail(za, "cannot create source for", name);
    }
    add_source(za, name, src, S_IFREG | 0644, o);
}

static void add_tree(zip_t *za, const char *dir, const char *prefix)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0)
        fail(NULL, "cannot list", dir);
    for (int i = 0; i < n; i++) {
        const char *d = list[i]->d_name;
        if (strcmp(d, ".") == 0 || strcmp(d, "..") == 0) {
            free(list[i]);
            continue;
        }
        char path[PATH_MAX], name[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, d) >= sizeof(path) ||
            (size_t)snprintf(name, sizeof(name), "%s%s", prefix, d) >= sizeof(name))
            usage_error("path too long below '%s'", dir);
        struct stat st;
        if (lstat(path, &st) < 0)
            fail(NULL, "cannot stat", path);
        struct opts o = {0};
        if (S_ISDIR(st.st_mode)) {
            add_dir(za, name, st.st_mode & 07777, &o);
            char sub[PATH_MAX];
            if ((size_t)snprintf(sub, sizeof(sub), "%s/", name) >= sizeof(sub))
                usage_error("path too long below '%s'", dir);
            add_tree(za, path, sub);
        } else if (S_ISREG(st.st_mode)) {
            add_file(za, name, path, &o);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t len = readlink(path, target, sizeof(target));
            if (len < 0 || (size_t)len >= sizeof(target))
                fail(NULL, "cannot read link", path);
            add_text(za, name, target, (size_t)len, S_IFLNK | 0777, &o);
        } else {
            usage_error("'%s' is not a file, directory or symlink", path);
        }
        free(list[i]);
    }
    free(list);
}

static const char *need_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        usage_error("option %s needs an argument", argv[*i]);
    return argv[++*i];
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-') {
        fputs(usage_text, stderr);
        return 2;
    }
    int zerr = 0;
    zip_t *za = zip_open(argv[1], ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        fprintf(stderr, "mkzip: cannot create '%s': %s\n", argv[1], zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return 1;
    }

    struct opts o = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        _cleanup_free_ char *name = NULL;
        const char *value = NULL;
        if (strcmp(a, "--mode") == 0) {
            o.mode = parse_mode(need_arg(argc, argv, &i));
            o.have_mode = true;
        } else if (strcmp(a, "--dos") == 0) {
            o.dos = true;
        } else if (strcmp(a, "--store") == 0) {
            o.store = true;
        } else if (strcmp(a, "--password") == 0) {
            o.password = need_arg(argc, argv, &i);
        } else if (strcmp(a, "--dir") == 0) {
            const char *n = need_arg(argc, argv, &i);
            check_plain_name(n);
            add_dir(za, n, 0755, &o);
        } else if (strcmp(a, "--symlink") == 0) {
            split(need_arg(argc, argv, &i), &name, &value);
            check_plain_name(name);
            add_text(za, name, value, strlen(value), S_IFLNK | 0777, &o);
        } else if (strcmp(a, "--zeros") == 0) {
            split(need_arg(argc, argv, &i), &name, &value);
            check_plain_name(name);
            add_zeros(za, name, parse_u64(value, "--zeros"), &o);
        } else if (strcmp(a, "--many") == 0) {
            uint64_t n = parse_u64(need_arg(argc, argv, &i), "--many");
            if (n > 1000000)
                usage_error("--many %s: at most 1000000", argv[i]);
            for (uint64_t k = 0; k < n; k++) {
                char fname[32];
                snprintf(fname, sizeof(fname), "f%" PRIu64, k);
                add_text(za, fname, fname, strlen(fname), S_IFREG | 0644, &o);
            }
        } else if (strcmp(a, "--raw-name") == 0) {
            split(need_arg(argc, argv, &i), &name, &value);
            _cleanup_free_ char *raw = unescape(name);
            add_text(za, raw, value, strlen(value), S_IFREG | 0644, &o);
        } else if (strcmp(a, "--tree") == 0) {
            const char *dir = need_arg(argc, argv, &i);
            struct stat st;
            if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                usage_error("--tree '%s': not a directory", dir);
            add_tree(za, dir, "");
        } else if (a[0] == '-' && a[1] == '-') {
            usage_error("unknown option '%s'", a);
        } else {
            split(a, &name, &value);
            check_plain_name(name);
            if (value[0] == '@')
                add_file(za, name, value + 1, &o);
            else
                add_text(za, name, value, strlen(value), S_IFREG | 0644, &o);
        }
    }
    if (o.have_mode || o.dos || o.store || o.password)
        usage_error("a modifier (--mode, --dos, --store, --password) must precede an entry");
    if (zip_close(za) < 0) {
        fprintf(stderr, "mkzip: cannot write '%s': %s\n", argv[1], zip_strerror(za));
        zip_discard(za);
        return 1;
    }
    return 0;
}
