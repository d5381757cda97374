/* Safe extraction of untrusted Lambda code packages (zip archives), with libzip.
 *
 * The archive and every name, mode and symlink target in it are attacker-controlled. The
 * extractor writes only below a fresh destination directory, through directory file
 * descriptors (openat/mkdirat/symlinkat with O_NOFOLLOW), so no entry can escape it, write
 * through a symlink, or overwrite an earlier entry. Sizes are counted as the bytes are really
 * decompressed: declared sizes are not trusted.
 */
#ifndef TENANTD_ZIPCODE_H
#define TENANTD_ZIPCODE_H

#include <stddef.h>
#include <stdint.h>

#include "tenantd/error.h"

/* Lambda's own limits for a function's unzipped deployment package. */
#define TD_ZIP_MAX_UNPACKED_DEFAULT UINT64_C(262144000) /* 250 MB */
#define TD_ZIP_MAX_ENTRIES_DEFAULT  10000u

/* Longest entry name (bytes, after removing a trailing '/'), longest name component, deepest
 * nesting (components of a name) and longest symlink target accepted. Names leave room for a
 * mount point prefix such as "/var/task/" below PATH_MAX. The depth bound keeps extraction
 * time linear: each entry's parent directories are walked one component at a time. */
#define TD_ZIP_NAME_MAX      4000
#define TD_ZIP_COMPONENT_MAX 255
#define TD_ZIP_DEPTH_MAX     128
#define TD_ZIP_LINK_MAX      4095

/* The message Lambda returns for an archive it cannot read. */
#define TD_ZIP_MSG_BAD_ARCHIVE                                                                     \
    "Could not unzip uploaded file. Please check your file, then try to upload again."

struct td_zip_limits {
    uint64_t max_unpacked_bytes; /* total bytes written: file contents plus symlink targets */
    uint32_t max_entries;        /* entries in the archive (files, directories, symlinks) */
};

#define TD_ZIP_LIMITS_DEFAULT                                                                      \
    {                                                                                              \
        .max_unpacked_bytes = TD_ZIP_MAX_UNPACKED_DEFAULT,                                         \
        .max_entries = TD_ZIP_MAX_ENTRIES_DEFAULT                                                  \
    }

/* On failure, the counts describe what was done before extraction stopped. */
struct td_zip_stats {
    uint64_t unpacked_bytes; /* bytes actually decompressed and written */
    uint32_t entries;        /* entries in the archive */
    uint32_t files;
    uint32_t dirs; /* explicit directory entries (implicit parents are not counted) */
    uint32_t symlinks;
};

/* Extract the zip held in memory (zip, len) into dest_dir, which must not exist yet; its parent
 * must. dest_dir is created mode 0700 during extraction and made 0755 once it is complete.
 *
 * Results: regular files 0755 if the entry's unix mode has any execute bit, else 0644 (also for
 * archives without unix attributes); directories 0755; never setuid, setgid or sticky; owned by
 * the calling user. Symlinks are kept when their target stays inside the package.
 *
 * limits may be NULL (Lambda's defaults); stats and err may be NULL. Returns 0 on success.
 * On failure dest_dir is removed entirely (unless it existed before the call: -EEXIST) and err
 * says why: 400 InvalidParameterValueException for a package that is rejected, 500
 * ServiceException for a local failure (-ENOSPC, -EIO, ...). */
int td_zip_extract(const void *zip, size_t len, const char *dest_dir,
                   const struct td_zip_limits *limits, struct td_zip_stats *stats,
                   struct td_err *err);

/* Remove path and, when it is a directory, everything below it, like `rm -rf`. Never follows a
 * symlink (a symlink is removed, not its target); makes read-only or unsearchable directories
 * writable (only those it is about to delete) so that their contents can be removed. Uses a
 * bounded number of file descriptors however deep the tree is. A missing path is a success.
 * Returns 0 or a negative errno (the first error; removal stops there). */
int td_rm_rf(const char *path);

#endif
