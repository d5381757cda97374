/* Fuzz td_zip_extract: each input is extracted into a fresh temporary directory with small
 * limits, checked, and removed. Beyond crashes and sanitizer reports, it aborts when:
 *  - a failure leaves the destination behind, or is a local (500) error other than lack of
 *    space or memory, or has no message;
 *  - a success breaks the limits, or produces anything but 0644/0755 files, 0755 directories
 *    and symlinks that resolve inside the package;
 *  - a file descriptor leaks, or td_rm_rf fails.
 *
 * Inputs starting with "TDZR\n" are recipes rather than archives, so that the fuzzer can vary
 * names and symlink targets freely (in raw archives they sit in two headers that must agree):
 * one entry per line, "<type><name>=<content>", type f (file 0644), x (file 0755), d (directory),
 * l (symlink), n (file without unix attributes), s (fifo). The harness builds the zip with
 * libzip (entries libzip refuses, such as duplicates, are skipped) and extracts it.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zip.h>

#include "tenantd/zipcode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root_real[PATH_MAX];
static size_t root_real_len;

static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        close(fd);
    return fd;
}

static void check(int ok, const char *what, const char *path)
{
    if (!ok) {
        fprintf(stderr, "fuzz_zip: %s: %s\n", what, path ? path : "");
        abort();
    }
}

static int check_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    mode_t perm = st->st_mode & 07777;
    switch (type) {
    case FTW_D:
        check(S_ISDIR(st->st_mode) && perm == 0755, "directory mode", path);
        break;
    case FTW_F:
        check(S_ISREG(st->st_mode), "special file extracted", path);
        check(perm == 0644 || perm == 0755, "file mode", path);
        break;
    case FTW_SL: {
        char real[PATH_MAX];
        /* Dangling links and loops do not resolve; links that do must stay inside. */
        if (realpath(path, real)) {
            size_t n = strlen(real);
            check(n >= root_real_len && memcmp(real, root_real, root_real_len) == 0 &&
                      (real[root_real_len] == '/' || real[root_real_len] == '\0'),
                  "symlink resolves outside the package", path);
        }
        break;
    }
    default:
        check(0, "unreadable entry", path);
    }
    return 0;
}

#define RECIPE_MAGIC       "TDZR\n"
#define RECIPE_MAX_ENTRIES 32

/* Build an archive from a recipe; returns a malloc'ed buffer or NULL. */
static uint8_t *build_recipe(const uint8_t *data, size_t size, size_t *ret_len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *out = zip_source_buffer_create(NULL, 0, 0, &ze);
    if (!out)
        return NULL;
    zip_t *za = zip_open_from_source(out, ZIP_TRUNCATE, &ze);
    if (!za) {
        zip_source_free(out);
        return NULL;
    }
    zip_source_keep(out); /* read the result back after zip_close */
    size_t pos = strlen(RECIPE_MAGIC);
    for (int n = 0; pos < size && n < RECIPE_MAX_ENTRIES; n++) {
        const uint8_t *line = data + pos;
        const uint8_t *nl = memchr(line, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - line) : size - pos;
        pos += len + 1;
        const uint8_t *eq = len > 1 ? memchr(line + 1, '=', len - 1) : NULL;
        if (!eq)
            continue;
        char name[512];
        size_t nlen = (size_t)(eq - line - 1);
        if (nlen == 0 || nlen >= sizeof(name) || memchr(line + 1, '\0', nlen))
            continue;
        memcpy(name, line + 1, nlen);
        name[nlen] = '\0';
        const uint8_t *content = eq + 1;
        size_t clen = len - nlen - 2;

        zip_uint32_t mode;
        zip_uint8_t opsys = ZIP_OPSYS_UNIX;
        switch (line[0]) {
        case 'f':
            mode = S_IFREG | 0644;
            break;
        case 'x':
            mode = S_IFREG | 0755;
            break;
        case 'd':
            mode = S_IFDIR | 0755;
            break;
        case 'l':
            mode = S_IFLNK | 0777;
            break;
        case 's':
            mode = S_IFIFO | 0644;
            break;
        case 'n':
            mode = 0;
            opsys = ZIP_OPSYS_DOS;
            break;
        default:
            continue;
        }
        zip_source_t *src = zip_source_buffer(za, content, clen, 0);
        if (!src)
            continue;
        zip_int64_t idx = zip_file_add(za, name, src, ZIP_FL_ENC_GUESS);
        if (idx < 0) {
            zip_source_free(src);
            continue;
        }
        (void)zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, opsys,
                                               opsys == ZIP_OPSYS_DOS ? 0x20 : mode << 16);
    }
    uint8_t *buf = NULL;
    if (zip_close(za) < 0) {
        zip_discard(za);
    } else if (zip_source_open(out) == 0) {
        zip_int64_t n = -1;
        if (zip_source_seek(out, 0, SEEK_END) == 0)
            n = zip_source_tell(out);
        if (n > 0 && zip_source_seek(out, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
            zip_source_read(out, buf, (zip_uint64_t)n) == n) {
            *ret_len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
        }
        zip_source_close(out);
    }
    zip_source_free(out);
    zip_error_fini(&ze);
    return buf;
}

static void run_one(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t mlen = strlen(RECIPE_MAGIC);
    if (size >= mlen && memcmp(data, RECIPE_MAGIC, mlen) == 0) {
        size_t len = 0;
        uint8_t *zip = build_recipe(data, size, &len);
        if (zip)
            run_one(zip, len);
        free(zip);
    } else {
        run_one(data, size);
    }
    return 0;
}

static void run_one(const uint8_t *data, size_t size)
{
    /* Measured per run: libFuzzer itself may keep new fds (its symbolizer's pipes). */
    int expected_fd = lowest_free_fd();

    /* $TMPDIR on a tmpfs makes fuzzing several times faster. */
    const char *tmp = getenv("TMPDIR");
    char base[PATH_MAX / 2], dest[PATH_MAX];
    snprintf(base, sizeof(base), "%s/td-fuzz-zip-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    check(mkdtemp(base) != NULL, "mkdtemp", base);
    snprintf(dest, sizeof(dest), "%s/pkg", base);

    const struct td_zip_limits lim = {.max_unpacked_bytes = 1 << 20, .max_entries = 64};
    struct td_zip_stats stats;
    struct td_err err = {0};
    int r = td_zip_extract(data, size, dest, &lim, &stats, &err);
    struct stat st;
    if (r < 0) {
        check(lstat(dest, &st) < 0 && errno == ENOENT, "failure left the destination", dest);
        check(err.status == 400 || r == -ENOSPC || r == -EDQUOT || r == -ENOMEM,
              "unexpected local error", err.message);
        check(err.type[0] && err.message[0], "error without type or message", NULL);
    } else {
        check(err.status == 0, "success with an error", err.message);
        check(stats.unpacked_bytes <= lim.max_unpacked_bytes, "size limit", NULL);
        check(stats.entries <= lim.max_entries && stats.entries > 0, "entry limit", NULL);
        check(stats.files + stats.dirs + stats.symlinks == stats.entries, "stats", NULL);
        check(realpath(dest, root_real) != NULL, "realpath", dest);
        root_real_len = strlen(root_real);
        check(nftw(dest, check_entry, 16, FTW_PHYS) == 0, "nftw", dest);
    }
    check(td_rm_rf(base) == 0, "td_rm_rf", base);
    check(lstat(base, &st) < 0, "td_rm_rf left the directory", base);
    check(lowest_free_fd() == expected_fd, "file descriptor leak", NULL);
}
