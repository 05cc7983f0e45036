/* iocore: copy between file descriptors, fastest strategy first.
 *
 * Thin by design (DESIGN.md rule 9): no Python objects, every entry point
 * returns a count or -errno.  Temp names, renames and error messages live in
 * telebot/fileio; the C core only moves bytes and walks trees.
 */
#define _GNU_SOURCE
#include "iocore.h"

#include <dirent.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

/* Read/write buffer (the last-resort level).  Probe on this 2-core box,
 * 64 MiB on tmpfs, 7 interleaved rounds: 64 KiB .. 4 MiB buffers all landed
 * at 40-47 ms, i.e. within noise.  256 KiB follows the probe (page-
 * aligned 128-256 KiB; a 16-byte-misaligned buffer was ~1.5x slower) and
 * stays L2-sized.  A file that fits one buffer is read in one call. */
#define IOC_PAGE 4096
#define IOC_RW_BUFFER (256 * 1024)
/* posix_fadvise(SEQUENTIAL) only pays once readahead has room to work. */
#define IOC_FADVISE_MIN (1024 * 1024)
/* Directory-walk progress: call back at least every this many files, so a
 * cancel of a tree of tiny files is seen within ~10 ms (~30 us per file). */
#define IOC_TREE_FILES_PER_CALL 256

static int copy_attrs(int fd, const struct stat *st, int umask_bits);

static int unsupported(int err)
{
    return err == EXDEV || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL ||
           err == ENOTTY || err == EBADF;
}

typedef struct rwbuf {
    char *data;
    size_t cap;
} rwbuf;

static int rwbuf_reserve(rwbuf *b, int64_t want)
{
    size_t size = IOC_RW_BUFFER;
    if (want < IOC_RW_BUFFER)
        size = (size_t)((want + IOC_PAGE - 1) / IOC_PAGE) * IOC_PAGE;
    if (size == 0)
        size = IOC_PAGE;
    if (b->cap >= size)
        return 0;
    free(b->data);
    b->data = NULL;
    b->cap = 0;
    void *p = NULL;
    /* Page alignment: a buffer 16 bytes off a page boundary (a plain
     * bytearray) made read/write copies ~1.5x slower in the probes. */
    if (posix_memalign(&p, IOC_PAGE, size) != 0)
        return -ENOMEM;
    b->data = p;
    b->cap = size;
    return 0;
}

static ssize_t step_rw(int in, int out, int64_t off, int64_t oof, int64_t len, rwbuf *b)
{
    int rc = rwbuf_reserve(b, len);
    if (rc < 0)
        return rc;
    size_t want = (size_t)len < b->cap ? (size_t)len : b->cap;
    ssize_t got = pread(in, b->data, want, off);
    if (got <= 0)
        return got < 0 ? -errno : 0;
    ssize_t put = 0;
    while (put < got) {
        ssize_t n = pwrite(out, b->data + put, (size_t)(got - put), oof + put);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        put += n;
    }
    return got;
}

/* One copy call at `level`: source offset off, destination offset oof. */
static ssize_t step(int level, int in, int out, int64_t off, int64_t oof, int64_t len, rwbuf *b)
{
    ssize_t n;
    if (level == IOC_COPY_RANGE) {
        loff_t oi = off, oo = oof;
        n = copy_file_range(in, &oi, out, &oo, (size_t)len, 0);
    } else if (level == IOC_SENDFILE) {
        /* sendfile writes at the output's file position. */
        if (lseek(out, oof, SEEK_SET) < 0)
            return -errno;
        off_t oi = off;
        n = sendfile(out, in, &oi, (size_t)len);
    } else {
        return step_rw(in, out, off, oof, len, b);
    }
    return n < 0 ? -errno : n;
}

/* Copy source bytes [off, off+len) to destination offset off - shift, in
 * steps of at most job->chunk bytes, reporting progress between steps.
 * Returns 0, 1 when the source ended early, or -errno. */
static int copy_span(int in, int out, int64_t off, int64_t len, int64_t shift, ioc_job *job,
                     rwbuf *b, int report, int *level)
{
    int64_t end = off + len;
    while (off < end) {
        int64_t piece = end - off;
        if (report && piece > job->chunk)
            piece = job->chunk;
        int64_t stop = off + piece;
        while (off < stop) {
            ssize_t n = step(*level, in, out, off, off - shift, stop - off, b);
            if (n == -EINTR)
                continue;
            if (n < 0 && unsupported((int)-n) && *level < IOC_READWRITE) {
                (*level)++;
                continue;
            }
            if (n < 0)
                return (int)n;
            if (n == 0)
                return 1;   /* EOF: the source shrank under us */
            off += n;
            job->done += n;
        }
        if (report && job->progress && job->progress(job->ctx, job->done, job->total))
            return -ECANCELED;
    }
    return 0;
}

/* Reflinks only pay off once a file is a few extents long: below this a
 * plain copy costs the same as the ioctl, so small files skip the probe. */
#define IOC_CLONE_MIN (64 * 1024)

static int try_clone(int in, int out, int64_t size, ioc_job *job)
{
    if (job->level != IOC_CLONE || size < IOC_CLONE_MIN)
        return 0;
    if (ioctl(out, FICLONE, in) == 0)
        return 1;
    if (!unsupported(errno))
        return -errno;
    job->level = IOC_COPY_RANGE;
    return 0;
}

/* The whole-file copy shared by ioc_copy_fd and the tree walker. */
static int64_t copy_fd_st(int in, int out, const struct stat *st, ioc_job *job, rwbuf *b)
{
    int64_t size = st->st_size, start = job->done, pos = 0;
    int report = size > job->chunk;
    int rc = try_clone(in, out, size, job);
    if (rc != 0) {
        if (rc < 0)
            return rc;
        job->done += size;
        return size;
    }
    /* A small file skipped the clone probe: copy it in-kernel without
     * giving up on clones for the bigger files of the same job. */
    int level = job->level == IOC_CLONE ? IOC_COPY_RANGE : job->level;
    int first = level;
    if (level == IOC_READWRITE && size >= IOC_FADVISE_MIN)
        posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
    /* A source with fewer allocated blocks than its size has holes: copy
     * only its data extents and let ftruncate() recreate the tail hole. */
    int sparse = (int64_t)st->st_blocks * 512 < size;
    while (pos < size) {
        int64_t data = pos, hole = size;
        if (sparse) {
            data = lseek(in, pos, SEEK_DATA);
            if (data < 0 && errno == ENXIO) {
                job->done += size - pos;    /* a hole up to the end */
                break;
            }
            if (data < 0) {
                data = pos;
                sparse = 0;
            } else {
                hole = lseek(in, data, SEEK_HOLE);
                if (hole < 0 || hole > size)
                    hole = size;
            }
        }
        job->done += data - pos;
        rc = copy_span(in, out, data, hole - data, 0, job, b, report, &level);
        if (level != first)
            job->level = level;     /* unsupported here: later files skip it */
        if (rc < 0)
            return rc;
        pos = rc ? size : hole;
    }
    if (sparse && ftruncate(out, size) < 0)
        return -errno;
    return job->done - start;
}

int64_t ioc_copy_fd(int in_fd, int out_fd, int64_t size, ioc_job *job)
{
    struct stat st;
    rwbuf b = {NULL, 0};
    if (fstat(in_fd, &st) < 0)
        return -errno;
    st.st_size = size;
    int64_t rc = copy_fd_st(in_fd, out_fd, &st, job, &b);
    free(b.data);
    return rc;
}

/* Open src, fill in job->total and create tmp with src's mode.  On success
 * *in and *out are open and *st holds the source's stat. */
static int open_pair(const char *src, const char *tmp, int *in, int *out, struct stat *st,
                     ioc_job *job)
{
    *in = open(src, O_RDONLY | O_CLOEXEC);
    if (*in < 0)
        return -errno;
    if (fstat(*in, st) < 0)
        return -errno;
    if (S_ISDIR(st->st_mode))
        return -EISDIR;
    job->total = st->st_size;
    *out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->st_mode & 07777);
    return *out < 0 ? -errno : 0;
}

/* Copy data and attributes of the open pair, fsync if asked, close both.
 * Returns bytes copied or -errno (the descriptors are closed either way). */
static int64_t finish_pair(int in, int out, const struct stat *st, ioc_job *job)
{
    rwbuf b = {NULL, 0};
    int64_t n = copy_fd_st(in, out, st, job, &b);
    free(b.data);
    if (n >= 0) {
        int rc = copy_attrs(out, st, job->umask);
        if (rc == 0 && job->fsync && fsync(out) < 0)
            rc = -errno;
        if (rc < 0)
            n = rc;
    }
    if (n >= 0 && job->progress && job->progress(job->ctx, job->done, job->total))
        n = -ECANCELED;
    if (close(out) < 0 && n >= 0)
        n = -errno;
    close(in);
    return n;
}

int64_t ioc_copy_path(const char *src, const char *tmp, const char *dst, ioc_job *job)
{
    int in = -1, out = -1;
    struct stat st;
    int64_t n = open_pair(src, tmp, &in, &out, &st, job);
    if (n < 0) {
        if (in >= 0)
            close(in);
        return n;
    }
    n = finish_pair(in, out, &st, job);
    if (n >= 0 && rename(tmp, dst) < 0)
        n = -errno;
    if (n < 0)
        unlink(tmp);
    return n;
}

/* Temp names made here carry an 'n' so they never meet the Python layer's
 * ".tbpart-<pid>-<number>" names; the counter is shared by all threads. */
static uint64_t temp_counter;

/* Write "<dir of dst>/.tbpart-<pid>-n<k>" into tmp; -ENAMETOOLONG if it does not fit. */
static int temp_name(const char *dst, char *tmp, size_t cap)
{
    const char *slash = strrchr(dst, '/');
    int dlen = slash ? (int)(slash - dst) + 1 : 0;
    unsigned long long k = __atomic_fetch_add(&temp_counter, 1, __ATOMIC_RELAXED);
    int n = snprintf(tmp, cap, "%.*s.tbpart-%d-n%llu", dlen, dst, (int)getpid(), k);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Attempts at a free temp name: a clash needs a stale file from an earlier
 * process with the same pid, so a second try practically always succeeds. */
#define IOC_TEMP_TRIES 16

int64_t ioc_copy_file(const char *src, const char *dst, int level, int umask_bits)
{
    ioc_job job;
    /* Only the fields the copy reads: the struct is 4 KiB (err_path). */
    job.level = level;
    job.fsync = 0;
    job.umask = umask_bits;
    job.chunk = INT64_MAX;
    job.progress = NULL;
    job.ctx = NULL;
    job.done = 0;
    char tmp[IOC_PATH_MAX];
    int in = -1, out = -1;
    struct stat st;
    int64_t n = -EEXIST;
    for (int i = 0; i < IOC_TEMP_TRIES && n == -EEXIST; i++) {
        if (in >= 0)
            close(in);
        in = -1;
        n = temp_name(dst, tmp, sizeof tmp);
        if (n == 0)
            n = open_pair(src, tmp, &in, &out, &st, &job);
    }
    if (n < 0) {
        if (in >= 0)
            close(in);
        return n;
    }
    n = finish_pair(in, out, &st, &job);
    if (n >= 0 && rename(tmp, dst) < 0)
        n = -errno;
    if (n < 0)
        unlink(tmp);
    return n;
}

int64_t ioc_copy_range(int in_fd, int out_fd, int64_t in_off, int64_t length, ioc_job *job)
{
    if (in_off < 0 || length < 0)
        return -EINVAL;
    rwbuf b = {NULL, 0};
    int64_t start = job->done;
    /* No clone level for ranges: FICLONERANGE needs block-aligned offsets
     * and neither ext4 nor tmpfs has it; start at the in-kernel copy. */
    int level = job->level < IOC_COPY_RANGE ? IOC_COPY_RANGE : job->level;
    if (level == IOC_READWRITE && length >= IOC_FADVISE_MIN)
        posix_fadvise(in_fd, in_off, length, POSIX_FADV_SEQUENTIAL);
    int rc = copy_span(in_fd, out_fd, in_off, length, in_off, job, &b, 1, &level);
    if (level > job->level)
        job->level = level;
    free(b.data);
    if (rc >= 0 && job->progress && job->progress(job->ctx, job->done, job->total))
        rc = -ECANCELED;
    return rc < 0 ? rc : job->done - start;
}

/* ---- tree walker ---------------------------------------------------- */

typedef struct walk {
    ioc_job *job;
    rwbuf buf;
    char rel[IOC_PATH_MAX];
    int64_t last_files;
} walk;

static int fail(walk *w, size_t rlen, const char *name, int err)
{
    if (w->job->err_path[0] == '\0')
        snprintf(w->job->err_path, IOC_PATH_MAX, "%.*s%s", (int)rlen, w->rel, name);
    return -err;
}

/* Set mode and times.  A file created with its final mode skips fchmod()
 * when the umask cannot have removed any of its bits. */
static int copy_attrs(int fd, const struct stat *st, int umask_bits)
{
    struct timespec times[2] = {st->st_atim, st->st_mtim};
    mode_t mode = st->st_mode & 07777;
    int hidden = umask_bits < 0 || (mode & (mode_t)umask_bits) || (mode & 07000);
    if (hidden && fchmod(fd, mode) < 0)
        return -errno;
    if (futimens(fd, times) < 0)
        return -errno;
    return 0;
}

static int copy_file_at(int sdir, int ddir, const char *name, walk *w)
{
    int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    int out = -1;
    if (fstat(in, &st) < 0) {
        rc = -errno;
        goto done;
    }
    out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
    if (out < 0) {
        rc = -errno;
        goto done;
    }
    int64_t n = copy_fd_st(in, out, &st, w->job, &w->buf);
    rc = n < 0 ? (int)n : copy_attrs(out, &st, w->job->umask);
done:
    if (out >= 0 && close(out) < 0 && rc == 0)
        rc = -errno;
    close(in);
    return rc;
}

static int copy_link_at(int sdir, int ddir, const char *name)
{
    char target[IOC_PATH_MAX];
    ssize_t n = readlinkat(sdir, name, target, sizeof target - 1);
    if (n < 0)
        return -errno;
    target[n] = '\0';
    return symlinkat(target, ddir, name) < 0 ? -errno : 0;
}

static int walk_dir(int sdir, int ddir, size_t rlen, walk *w);

static int copy_dir_at(int sdir, int ddir, const char *name, size_t rlen, walk *w)
{
    size_t nlen = strlen(name);
    if (rlen + nlen + 2 >= IOC_PATH_MAX)
        return -ENAMETOOLONG;
    if (mkdirat(ddir, name, 0700) < 0)
        return -errno;
    int s = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0)
        return -errno;
    int d = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) {
        int err = errno;
        close(s);
        return -err;
    }
    memcpy(w->rel + rlen, name, nlen);
    w->rel[rlen + nlen] = '/';
    struct stat st;
    int rc = fstat(s, &st) < 0 ? -errno : 0;
    if (rc == 0)
        rc = walk_dir(s, d, rlen + nlen + 1, w);   /* takes ownership of s */
    else
        close(s);
    /* Attributes after the children: creating them bumps the mtime. */
    if (rc == 0)
        rc = copy_attrs(d, &st, -1);
    close(d);
    return rc;
}

static int entry_type(int sdir, const struct dirent *e)
{
    if (e->d_type != DT_UNKNOWN)
        return e->d_type;
    struct stat st;
    if (fstatat(sdir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return DT_UNKNOWN;
    return S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG
         : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
}

static int tree_progress(walk *w)
{
    ioc_job *job = w->job;
    job->files++;
    if (!job->progress || job->files - w->last_files < IOC_TREE_FILES_PER_CALL)
        return 0;
    w->last_files = job->files;
    return job->progress(job->ctx, job->done, job->total) ? -ECANCELED : 0;
}

static int walk_entry(int sdir, int ddir, const struct dirent *e, size_t rlen, walk *w)
{
    switch (entry_type(sdir, e)) {
    case DT_REG: {
        int rc = copy_file_at(sdir, ddir, e->d_name, w);
        return rc < 0 ? rc : tree_progress(w);
    }
    case DT_DIR:
        return copy_dir_at(sdir, ddir, e->d_name, rlen, w);
    case DT_LNK:
        return copy_link_at(sdir, ddir, e->d_name);
    default:
        return 0;   /* fifos, sockets, devices: not ours to copy */
    }
}

/* Walk the open directory sdir (closed on return) into ddir. */
static int walk_dir(int sdir, int ddir, size_t rlen, walk *w)
{
    DIR *dir = fdopendir(sdir);
    if (!dir) {
        int err = errno;
        close(sdir);
        return fail(w, rlen, "", err);
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(dir);
        if (!e) {
            if (errno)
                rc = fail(w, rlen, "", errno);
            break;
        }
        const char *n = e->d_name;
        if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
            continue;
        rc = walk_entry(dirfd(dir), ddir, e, rlen, w);
        if (rc < 0) {
            fail(w, rlen, n, -rc);
            break;
        }
    }
    closedir(dir);
    return rc;
}

int64_t ioc_copy_tree(const char *src, const char *dst, ioc_job *job)
{
    walk w;
    memset(&w, 0, sizeof w);
    w.job = job;
    job->err_path[0] = '\0';
    int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s < 0)
        return -errno;
    struct stat st;
    if (fstat(s, &st) < 0 || mkdir(dst, 0700) < 0) {
        int err = errno;
        close(s);
        return -err;
    }
    int d = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) {
        int err = errno;
        close(s);
        return -err;
    }
    int rc = walk_dir(s, d, 0, &w);
    if (rc == 0)
        rc = copy_attrs(d, &st, -1);
    /* One syncfs() instead of an fsync() per file: same durability for a
     * move, a fraction of the flushes. */
    if (rc == 0 && job->fsync && syncfs(d) < 0)
        rc = -errno;
    if (rc == 0 && job->progress && job->progress(job->ctx, job->done, job->total))
        rc = -ECANCELED;
    close(d);
    free(w.buf.data);
    return rc < 0 ? rc : job->files;
}

int ioc_rename_noreplace(const char *src, const char *dst)
{
    return renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) < 0 ? -errno : 0;
}
