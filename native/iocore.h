/* iocore: the thin native copy core of telebot (wrapped by telebot/fileio).
 *
 * Contract: no Python objects, no allocation visible to the caller; every
 * function returns a count (>= 0) or -errno.  Python turns -errno into an
 * OSError carrying both file names.  The cffi build script copies the
 * declarations below into its cdef, so keep the two in step.
 */
#ifndef TELEBOT_IOCORE_H
#define TELEBOT_IOCORE_H

#include <stdint.h>

/* Copy strategies, fastest first.  A job starts at `level` and moves down
 * the list when the kernel says "not supported here" (EXDEV, ENOSYS,
 * EOPNOTSUPP, EINVAL, ENOTTY); real errors (ENOSPC, EIO, EACCES) are
 * returned as they are. */
#define IOC_CLONE 0         /* ioctl(FICLONE): share extents (btrfs, xfs) */
#define IOC_COPY_RANGE 1    /* copy_file_range: in-kernel copy, same fs */
#define IOC_SENDFILE 2      /* sendfile: in-kernel copy, any fs pair */
#define IOC_READWRITE 3     /* pread/pwrite through a page-aligned buffer */

#define IOC_PATH_MAX 4096

/* A short copy: the source ended before the bytes it had when the copy began
 * (it shrank under us), or it no longer has that size at the end (it grew).
 * The copy syscalls never return ENODATA themselves, so Python can tell this
 * apart from a real IO error (telebot.fileio.ShortCopyError). */
#define IOC_SHORT_COPY ENODATA

/* Called between chunks with the bytes done so far in the job and the job's
 * total (-1 when unknown); a non-zero return cancels the job (the call then
 * returns -ECANCELED). */
typedef int (*ioc_progress_fn)(void *ctx, int64_t done, int64_t total);

typedef struct ioc_job {
    /* inputs */
    int level;              /* first strategy to try; lowered in place when
                               one is unsupported, so a tree pays the probe
                               once */
    int fsync;              /* fsync the file (ioc_copy_path) or syncfs()
                               the tree's destination at the end */
    int umask;              /* the process umask, or -1 if unknown: files
                               are created with their final mode and
                               fchmod() runs only when umask hid bits */
    int64_t chunk;          /* bytes between progress calls (> 0) */
    ioc_progress_fn progress;   /* NULL: no callbacks */
    void *ctx;
    int64_t total;          /* passed to progress; ioc_copy_path sets it */
    /* outputs */
    int64_t done;           /* bytes copied */
    int64_t files;          /* regular files copied (tree) */
    char err_path[IOC_PATH_MAX];    /* tree: relative path that failed */
} ioc_job;

/* Copy `size` bytes of in_fd to out_fd at the same offsets, keeping holes
 * of sparse sources.  out_fd must be a fresh empty file.  Returns bytes
 * copied (may be < size if the source shrank) or -errno. */
int64_t ioc_copy_fd(int in_fd, int out_fd, int64_t size, ioc_job *job);

/* How a whole-file copy gets its final name.  The data goes into an
 * unnamed O_TMPFILE inode in the destination folder that is linked in only
 * when complete (an existing dst is replaced through a temp link + rename),
 * so no half file ever has a name and a crash leaves nothing behind.  The
 * process-wide method is lowered on first failure: AT_EMPTY_PATH needs
 * CAP_DAC_READ_SEARCH before Linux 6.10, the /proc link needs /proc; a
 * folder whose fs has no O_TMPFILE uses a named temp for that call only. */
#define IOC_NAME_LINKAT 0   /* linkat(fd, "", AT_EMPTY_PATH) */
#define IOC_NAME_PROC 1     /* linkat("/proc/self/fd/N", AT_SYMLINK_FOLLOW) */
#define IOC_NAME_TEMP 2     /* named temp file + rename */

/* Set the method when `set` is one of IOC_NAME_* (tests, bench); returns
 * the method now in use. */
int ioc_naming(int set);

/* The whole single-file copy in one call (a 4 KiB file costs ~8 syscalls;
 * doing them from Python doubled the time): open src, copy into a new
 * file with src's mode and times, fsync if job->fsync, give it the name
 * dst.  With IOC_NAME_TEMP the new file is `tmp` (O_EXCL, -EEXIST if
 * taken), renamed onto dst.  Nothing is left behind on error.  Returns
 * bytes copied or -errno. */
int64_t ioc_copy_path(const char *src, const char *tmp, const char *dst, ioc_job *job);

/* ioc_copy_path for the common call without progress, cancel or fsync, at
 * the lowest per-call cost: a temp name, when one is needed, is made here
 * ("<dir>/.tbpart-<pid>-n<k>") and no job struct crosses the boundary.
 * Starts at `level`; umask_bits as ioc_job.umask.  Bytes copied or -errno. */
int64_t ioc_copy_file(const char *src, const char *dst, int level, int umask_bits);

/* Copy bytes [in_off, in_off + length) of in_fd to offsets [0, length) of
 * out_fd: copy_file_range with explicit offsets, then sendfile, then
 * pread/pwrite through a page-aligned buffer, falling back only on the
 * "unsupported" errnos.  Progress/cancel run between job->chunk steps and
 * once at the end.  Returns bytes copied (fewer when the source ends
 * first, 0 when in_off is at or past its end) or -errno. */
int64_t ioc_copy_range(int in_fd, int out_fd, int64_t in_off, int64_t length, ioc_job *job);

/* Copy the directory tree `src` into `dst`, which must not exist: files
 * (mode, mtime), directories (mode, mtime) and symlinks (as links).  Other
 * file types (fifos, sockets, devices) are skipped.  Returns the number of
 * files copied or -errno, with job->err_path naming the failing entry
 * relative to src. */
int64_t ioc_copy_tree(const char *src, const char *dst, ioc_job *job);

/* The filesystem magic (statfs f_type) of the filesystem holding `path`,
 * or -errno: one syscall where /proc/self/mounts parsing took ~0.2 ms. */
int64_t ioc_fs_magic(const char *path);

/* rename(2) that fails with -EEXIST instead of replacing `dst`. */
int ioc_rename_noreplace(const char *src, const char *dst);

#endif
