/*
 * platform/linux/io_linux.c: files for the page cache on Linux (platform/plat_io.h).
 *
 * Layout
 * ------
 *
 *   struct plat_file
 *   +-- fd          O_CLOEXEC; O_DIRECT when direct
 *   +-- lock_fd     writable only: a second descriptor of the same file holding flock(LOCK_EX)
 *   +-- dir_fd      the parent directory of a file this open created, until its first sync
 *   +-- mu -------> free_rings: slot -> slot -> NULL
 *                               each slot: one io_uring of QUEUE_DEPTH entries (the file
 *                               registered as fixed file 0 where the kernel allows) and the
 *                               per-entry progress array of the batch running on it
 *
 * A batch takes a slot off the free list (making one when the list is empty), runs on it alone
 * and puts it back: batches from different threads never share a ring, the list grows to the
 * number of batches that ever ran at once, and the lock is held only to pop and push. Without
 * liburing in the build, with PLAT_FILE_NO_URING, when the kernel refused io_uring at open
 * (EPERM/ENOSYS in containers, or no IORING_OP_READ/WRITE), or when a further ring cannot be
 * made, a batch runs its entries one after the other with pread/pwrite.
 *
 * Opening (plat_file_open), in steps:
 *   1. Check the flags.
 *   2. Open the path O_NONBLOCK (so that a FIFO cannot block the open) and without O_DIRECT (a
 *      file system that refuses O_DIRECT at open may already have created the file). With
 *      CREATE and without EXCL: open an existing file first, else create it with O_EXCL, so we
 *      know whether this open created the file (it then syncs the directory, and removes the
 *      file if a later step fails); a file created meanwhile by someone else is opened.
 *   3. The type: a directory is PLAT_EISDIR; anything but a regular file or block device is
 *      PLAT_EINVAL.
 *   4. Writable: flock(LOCK_EX | LOCK_NB) on a second descriptor of the same file (opened
 *      through /proc/self/fd, so it is the same inode whatever happened to the path); held by
 *      another open file: PLAT_ELOCKED. The lock lives on a descriptor that no io_uring ring ever
 *      holds: a ring keeps its files open for a moment after the process dies (the kernel tears
 *      rings down asynchronously), and the lock must be free as soon as the process is gone.
 *   5. Direct I/O: the alignment from statx(STATX_DIOALIGN) (0: the file system cannot, e.g.
 *      tmpfs on Linux >= 6.6); when statx does not say, none on tmpfs/ramfs, else the block
 *      device's logical block size, else st_blksize, else 4096. Then F_SETFL sets O_DIRECT and
 *      clears O_NONBLOCK; EINVAL there means the file system refuses O_DIRECT: buffered.
 *   6. A created file: open its directory (for the first sync).
 *   7. io_uring: make the first ring; failure means the pread/pwrite path for this file.
 */
#include "io_linux.h"

#include "common/io_common.h"
#include "os_linux.h"
#include "plat_io.h"

#include <stdio.h>
#include "plat_sync.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#ifdef AWECACHE_HAVE_LIBURING
#include <liburing.h>
#endif

#define QUEUE_DEPTH 128u /* io_uring entries: transfers in flight per batch */
#define RUN_MAX     256u /* entries one vectored transfer carries at most (IOV_MAX is 1024) */
/* MAX_OP_BYTES, the alignments, OFF_LIMIT, RESULT_PENDING, NO_ENTRY: common/io_common.h */

/* struct plat_file is io_linux.h's (filemap_linux.c reads it too). */

/* ---- Errors ------------------------------------------------------------------------------- */

int file_err(int neg_errno)
{
    switch (-neg_errno) {
    case 0:
        return 0;
    case ENOENT:
    case ENOTDIR:
        return PLAT_ENOENT;
    case EEXIST:
        return PLAT_EEXIST;
    case EACCES:
    case EPERM:
    case EROFS:
    case ETXTBSY:
        return PLAT_EACCES;
    case EISDIR:
        return PLAT_EISDIR;
    case EWOULDBLOCK: /* flock(LOCK_NB) on a locked file */
    case EBUSY:
        return PLAT_ELOCKED;
    case ENOSPC:
    case EDQUOT:
        return PLAT_ENOSPC;
    case EFBIG:
    case EOVERFLOW:
        return PLAT_EFBIG;
    case EMFILE:
    case ENFILE:
        return PLAT_EMFILE;
    case ENOMEM:
        return PLAT_ENOMEM;
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
        return PLAT_EINVAL;
    case EFAULT:
        return PLAT_EFAULT;
    case EOPNOTSUPP:
        return PLAT_ENOTSUP;
    default:
        return PLAT_EIO;
    }
}

/* plat_strerror, the one table of texts, is in common/errors.c (plat.h's PLAT_ERROR_MAP). */

/* ---- Arguments and whole-length transfers ------------------------------------------------- */

/* True when a read that has moved `done` bytes of the transfer at `off` reached the end of the
 * file inside a direct I/O block (the kernel stops a direct read at the end of the file, which
 * is the only place it leaves an unaligned position): the rest reads as zeros. */
static bool read_ended_in_block(const struct plat_file *f, uint64_t off, size_t done)
{
    return f->direct && ((off + done) & (f->align - 1)) != 0;
}

/* Moves len bytes between buf and the file at off with pread/pwrite, continuing short transfers;
 * a read that meets the end of the file zero-fills the rest. Arguments already checked. */
static int rw_whole(struct plat_file *f, void *buf, size_t len, uint64_t off, bool write)
{
    char *p = buf;
    size_t done = 0;

    while (done < len) {
        size_t chunk = len - done < MAX_OP_BYTES ? len - done : MAX_OP_BYTES;
        int64_t r = write ? os_pwrite(f->fd, p + done, chunk, off + done)
                          : os_pread(f->fd, p + done, chunk, off + done);

        if (r == -EINTR)
            continue;
        if (r < 0)
            return file_err((int)r);
        if (r == 0) {
            if (write)
                return PLAT_EIO; /* the kernel took nothing and said nothing */
            break;               /* end of file */
        }
        done += (size_t)r;
        if (!write && done < len && read_ended_in_block(f, off, done))
            break;
    }
    if (done < len)
        memset(p + done, 0, len - done);
    return 0;
}

/* ---- io_uring ----------------------------------------------------------------------------- */

#ifdef AWECACHE_HAVE_LIBURING

struct ring_slot {
    struct io_uring ring;   /* QUEUE_DEPTH entries */
    struct ring_slot *next; /* free list link */
    struct io_prog *prog;   /* one per entry of the running batch */
    struct iovec *iov;      /* one per entry: the pieces of vectored transfers */
    size_t prog_cap;        /* entries prog and iov have room for */
    bool fixed;             /* the file is registered as fixed file 0 */
    bool broken;            /* the kernel failed the ring: free it, never reuse it */
};

static void ring_free(struct ring_slot *s)
{
    io_uring_queue_exit(&s->ring);
    free(s->prog);
    free(s->iov);
    free(s);
}

/* Makes a ring for fd, or returns NULL (no memory, io_uring refused, or a kernel without
 * IORING_OP_READ / IORING_OP_WRITE). Not counted by the gate: a failure is never an error. */
static struct ring_slot *ring_make(int fd)
{
    struct ring_slot *s = calloc(1, sizeof(*s));
    struct io_uring_params p;
    struct io_uring_probe *probe;
    bool ok;
    int rc;

    if (s == NULL)
        return NULL;
    memset(&p, 0, sizeof(p));
    /* Keep submitting after a bad entry; run completions only when we enter the kernel. */
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    rc = io_uring_queue_init_params(QUEUE_DEPTH, &s->ring, &p);
    if (rc == -EINVAL) { /* a kernel older than 5.19 */
        memset(&p, 0, sizeof(p));
        rc = io_uring_queue_init_params(QUEUE_DEPTH, &s->ring, &p);
    }
    if (rc != 0) {
        free(s);
        return NULL;
    }
    probe = io_uring_get_probe_ring(&s->ring);
    ok = probe != NULL && io_uring_opcode_supported(probe, IORING_OP_READ) &&
         io_uring_opcode_supported(probe, IORING_OP_WRITE);
    if (probe != NULL)
        io_uring_free_probe(probe);
    if (!ok) {
        ring_free(s);
        return NULL;
    }
    s->fixed = io_uring_register_files(&s->ring, &fd, 1) == 0;
    return s;
}

/* Takes a ring for one batch: a free one, or a new one; NULL: use pread/pwrite. */
static struct ring_slot *ring_take(struct plat_file *f)
{
    struct ring_slot *s;

    if (!f->uring)
        return NULL;
    plat_mutex_lock(&f->mu);
    s = f->free_rings;
    if (s != NULL)
        f->free_rings = s->next;
    plat_mutex_unlock(&f->mu);
    return s != NULL ? s : ring_make(f->fd);
}

static void ring_put(struct plat_file *f, struct ring_slot *s)
{
    if (s->broken) {
        ring_free(s);
        return;
    }
    plat_mutex_lock(&f->mu);
    s->next = f->free_rings;
    f->free_rings = s;
    plat_mutex_unlock(&f->mu);
}

static void rings_free_all(struct plat_file *f)
{
    while (f->free_rings != NULL) {
        struct ring_slot *s = f->free_rings;

        f->free_rings = s->next;
        ring_free(s);
    }
}

static bool first_ring(struct plat_file *f)
{
    struct ring_slot *s = ring_make(f->fd);

    if (s == NULL)
        return false;
    f->free_rings = s;
    return true;
}

/* One batch on one ring. */
struct batch {
    struct io_cursor q; /* the entries; the redo list holds short transfers, EINTR, EAGAIN */
    struct plat_file *f;
    struct ring_slot *s;
    bool write;
    unsigned inflight; /* queued and not yet completed (in the SQ or in the kernel) */
    int stop;          /* 0, or the error that stopped queueing (injected, or the ring failed) */
};

/* The next entry to queue: a continuation first, then a new entry; NO_ENTRY if none. */
static size_t next_entry(struct batch *b)
{
    return io_next_entry(&b->q, b->s->prog);
}

/* Stops queueing with error `err`: every entry not queued now fails with it. */
static void stop_batch(struct batch *b, int err)
{
    size_t i;

    if (b->stop == 0)
        b->stop = err;
    while ((i = next_entry(b)) != NO_ENTRY)
        b->q.ios[i].result = b->stop;
}

/* How many entries, from i on, one vectored transfer can carry (platform/README.md, files 3): i
 * itself, fresh (it came from the cursor, nothing moved yet), then the entries after it that were
 * never started, each beginning in the file where the one before ends; at most RUN_MAX entries and
 * MAX_OP_BYTES bytes. 1: i goes alone. */
static size_t run_length(const struct batch *b, size_t i)
{
    const struct plat_io *ios = b->q.ios;
    size_t k = i + 1, bytes = ios[i].len;

    if (b->s->prog[i].solo || b->s->prog[i].done != 0 || b->q.cursor != i + 1)
        return 1;
    while (k < b->q.n && k - i < RUN_MAX && ios[k].result == RESULT_PENDING &&
           ios[k].off == ios[k - 1].off + ios[k - 1].len && ios[k].len <= MAX_OP_BYTES - bytes) {
        bytes += ios[k].len;
        k++;
    }
    return k - i;
}

/* Queues entries i .. i + r - 1 as one vectored transfer (r > 1): they leave the cursor. */
static void queue_run(struct batch *b, size_t i, size_t r, struct io_uring_sqe *sqe, int fd)
{
    struct iovec *iov = b->s->iov + i;

    for (size_t k = 0; k < r; k++) {
        iov[k].iov_base = b->q.ios[i + k].buf;
        iov[k].iov_len = b->q.ios[i + k].len;
    }
    if (b->write)
        io_uring_prep_writev(sqe, fd, iov, (unsigned)r, b->q.ios[i].off);
    else
        io_uring_prep_readv(sqe, fd, iov, (unsigned)r, b->q.ios[i].off);
    b->s->prog[i].run = r;
    b->q.cursor = i + r;
}

static void queue_entry(struct batch *b, size_t i)
{
    struct plat_io *io = &b->q.ios[i];
    size_t done = b->s->prog[i].done, r = run_length(b, i);
    size_t left = io->len - done;
    unsigned chunk = (unsigned)(left < MAX_OP_BYTES ? left : MAX_OP_BYTES);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->s->ring);
    int fd = b->s->fixed ? 0 : b->f->fd;

    assert(sqe != NULL); /* inflight < QUEUE_DEPTH, and the SQ holds only in-flight entries */
    if (r > 1)
        queue_run(b, i, r, sqe, fd);
    else if (b->write)
        io_uring_prep_write(sqe, fd, (char *)io->buf + done, chunk, io->off + done);
    else
        io_uring_prep_read(sqe, fd, (char *)io->buf + done, chunk, io->off + done);
    if (b->s->fixed)
        io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
    io_uring_sqe_set_data64(sqe, (uint64_t)i);
    b->inflight++;
}

/* Finishes entry i, or puts it on the redo list (it goes on alone). */
static void redo_entry(struct batch *b, size_t i)
{
    if (b->stop != 0) {
        b->q.ios[i].result = b->stop;
        return;
    }
    b->s->prog[i].solo = true;
    b->s->prog[i].next = b->q.redo;
    b->q.redo = i;
}

/* A vectored transfer of the run starting at i ended with res: the entries it moved whole are
 * done; each of the others goes on alone from what it moved (platform/README.md, files 3), so that
 * an error, a short transfer or the end of the file lands on the entry it belongs to. */
static void complete_run(struct batch *b, size_t i, int res)
{
    size_t r = b->s->prog[i].run, left = res > 0 ? (size_t)res : 0;

    b->inflight--;
    for (size_t k = i; k < i + r; k++) {
        struct plat_io *io = &b->q.ios[k];
        size_t take = left < io->len ? left : io->len;

        assert(io->result == RESULT_PENDING);
        b->s->prog[k].run = 0;
        b->s->prog[k].done = take;
        left -= take;
        if (take == io->len)
            io->result = 0;
        else
            redo_entry(b, k);
    }
}

static void complete_entry(struct batch *b, size_t i, int res)
{
    struct plat_io *io = &b->q.ios[i];
    struct io_prog *pg = &b->s->prog[i];

    assert(i < b->q.n && io->result == RESULT_PENDING && b->inflight > 0);
    if (pg->run > 1) {
        complete_run(b, i, res);
        return;
    }
    b->inflight--;
    if (res == -EINTR || res == -EAGAIN) {
        redo_entry(b, i);
    } else if (res < 0) {
        io->result = file_err(res);
    } else if (res == 0) {
        if (b->write) {
            io->result = PLAT_EIO;
        } else { /* end of file */
            memset((char *)io->buf + pg->done, 0, io->len - pg->done);
            io->result = 0;
        }
    } else {
        pg->done += (size_t)res;
        if (pg->done == io->len) {
            io->result = 0;
        } else if (!b->write && read_ended_in_block(b->f, io->off, pg->done)) {
            memset((char *)io->buf + pg->done, 0, io->len - pg->done);
            io->result = 0;
        } else {
            redo_entry(b, i);
        }
    }
}

static unsigned reap(struct batch *b)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;

    io_uring_for_each_cqe(&b->s->ring, head, cqe)
    {
        complete_entry(b, (size_t)io_uring_cqe_get_data64(cqe), cqe->res);
        seen++;
    }
    io_uring_cq_advance(&b->s->ring, seen);
    return seen;
}

/* The kernel failed the ring itself (not an entry): stop queueing, wait for what the kernel
 * took, fail what it never took, and retire the ring. */
static void ring_failed(struct batch *b, int err)
{
    struct io_uring_cqe *cqe;

    stop_batch(b, err);
    b->s->broken = true;
    while (b->inflight > io_uring_sq_ready(&b->s->ring)) {
        int rc = io_uring_wait_cqe(&b->s->ring, &cqe);

        if (rc != 0 && rc != -EINTR && rc != -EAGAIN)
            break; /* cannot wait either (never seen): give the entries up */
        reap(b);
    }
    for (size_t i = 0; i < b->q.n; i++)
        if (b->q.ios[i].result == RESULT_PENDING)
            b->q.ios[i].result = b->stop;
    b->inflight = 0;
}

/* Runs the pending entries of ios[0..n) on ring s. Returns false (nothing done) when the
 * progress array cannot grow: the caller uses pread/pwrite.
 *
 * Steps:
 *   1. Queue continuations, then new entries, until QUEUE_DEPTH are in flight; each round that
 *      queues anything passes the gate once (an injected failure stops the batch: every entry
 *      not queued yet fails with it).
 *   2. Submit and wait for at least one completion (EINTR, EAGAIN, EBUSY: again).
 *   3. Reap every completion: done, failed, end of file (zero-fill), or short (queue the rest
 *      again in step 1). Repeat from step 1 until nothing is in flight. */
static bool uring_run(struct plat_file *f, struct ring_slot *s, struct plat_io *ios, size_t n,
                      bool write)
{
    struct batch b = {{ios, n, 0, NO_ENTRY}, f, s, write, 0, 0};

    if (s->prog_cap < n) {
        struct io_prog *p = realloc(s->prog, n * sizeof(*p));
        struct iovec *v = p != NULL ? realloc(s->iov, n * sizeof(*v)) : NULL;

        if (p != NULL)
            s->prog = p;
        if (v == NULL)
            return false;
        s->iov = v;
        s->prog_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        s->prog[i].done = 0;
        s->prog[i].run = 0;
        s->prog[i].solo = false;
    }

    for (;;) {
        int rc;

        /* Step 1 */
        if (b.stop == 0 && b.inflight < QUEUE_DEPTH && io_more_entries(&b.q)) {
            do
                rc = os_count_call();
            while (rc == -EINTR);
            if (rc != 0) {
                stop_batch(&b, file_err(rc));
            } else {
                size_t i;

                while (b.inflight < QUEUE_DEPTH && (i = next_entry(&b)) != NO_ENTRY)
                    queue_entry(&b, i);
            }
        }
        if (b.inflight == 0)
            break;
        /* Step 2 */
        rc = io_uring_submit_and_wait(&s->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            ring_failed(&b, file_err(rc));
            break;
        }
        /* Step 3 */
        reap(&b);
    }
    return true;
}

#else /* no liburing in this build: batches use pread/pwrite */

struct ring_slot;

static struct ring_slot *ring_take(struct plat_file *f)
{
    (void)f;
    return NULL;
}

static void ring_put(struct plat_file *f, struct ring_slot *s)
{
    (void)f;
    (void)s;
}

static void rings_free_all(struct plat_file *f)
{
    (void)f;
}

static bool first_ring(struct plat_file *f)
{
    (void)f;
    return false;
}

static bool uring_run(struct plat_file *f, struct ring_slot *s, struct plat_io *ios, size_t n,
                      bool write)
{
    (void)f;
    (void)s;
    (void)ios;
    (void)n;
    (void)write;
    return false;
}

#endif /* AWECACHE_HAVE_LIBURING */

/* ---- Batches ------------------------------------------------------------------------------ */

/* Steps:
 *   1. Check every entry's arguments; entries that fail, or need no I/O, are finished now.
 *   2. Run the rest on a ring of our own (uring_run), or one by one with pread/pwrite.
 *   3. Return the result of the lowest-indexed entry that failed. */
static int batch(struct plat_file *f, struct plat_io *ios, size_t n, bool write)
{
    struct ring_slot *s;
    size_t pending;

    if (f == NULL || (ios == NULL && n > 0))
        return PLAT_EFAULT;
    /* Step 1 */
    pending = io_batch_check(ios, n, write && f->readonly, f->align);
    /* Step 2 */
    if (pending > 0) {
        s = pending > 1 ? ring_take(f) : NULL; /* one entry: pread/pwrite costs less */
        if (s == NULL || !uring_run(f, s, ios, n, write)) {
            for (size_t i = 0; i < n; i++)
                if (ios[i].result == RESULT_PENDING)
                    ios[i].result = rw_whole(f, ios[i].buf, ios[i].len, ios[i].off, write);
        }
        if (s != NULL)
            ring_put(f, s);
    }
    /* Step 3 */
    return io_batch_result(ios, n);
}

int plat_file_read_batch(struct plat_file *f, struct plat_io *ios, size_t n)
{
    return batch(f, ios, n, false);
}

int plat_file_write_batch(struct plat_file *f, struct plat_io *ios, size_t n)
{
    return batch(f, ios, n, true);
}

int plat_file_read(struct plat_file *f, void *buf, size_t len, uint64_t off)
{
    int rc;

    if (f == NULL)
        return PLAT_EFAULT;
    rc = io_check_args(f->align, buf, len, off);
    return rc != 0 || len == 0 ? rc : rw_whole(f, buf, len, off, false);
}

int plat_file_write(struct plat_file *f, const void *buf, size_t len, uint64_t off)
{
    int rc;

    if (f == NULL)
        return PLAT_EFAULT;
    if (f->readonly)
        return PLAT_EACCES;
    rc = io_check_args(f->align, buf, len, off);
    return rc != 0 || len == 0 ? rc : rw_whole(f, (void *)(uintptr_t)buf, len, off, true);
}

/* ---- Open, close, size, sync -------------------------------------------------------------- */

#define KNOWN_FLAGS                                                                                \
    (PLAT_FILE_CREATE | PLAT_FILE_EXCL | PLAT_FILE_READONLY | PLAT_FILE_DIRECT | PLAT_FILE_NO_URING)

/* Step 2 of the open: opens or creates path; *created says whether this call created it. */
static int open_path(const char *path, unsigned flags, int *fd, bool *created)
{
    int access = (flags & PLAT_FILE_READONLY) ? O_RDONLY : O_RDWR;
    int rc;

    *created = false;
    for (;;) {
        if (!(flags & PLAT_FILE_EXCL)) {
            rc = os_open(path, access | O_NONBLOCK, 0, fd);
            if (rc != -ENOENT || !(flags & PLAT_FILE_CREATE))
                return rc;
        }
        rc = os_open(path, access | O_NONBLOCK | O_CREAT | O_EXCL, 0600, fd);
        if (rc == 0)
            *created = true;
        if (rc != -EEXIST || (flags & PLAT_FILE_EXCL))
            return rc;
        /* Someone created it since we looked: open theirs. */
    }
}

/* Step 5 of the open: the alignment direct I/O needs on fd, 0 when it cannot be had. */
static size_t dio_alignment(int fd, const struct stat *st)
{
    uint32_t mem, offset, lbs;
    uint64_t size;
    size_t a;

    if (os_statx_dioalign(fd, &mem, &offset) == 0) {
        if (mem == 0 || offset == 0)
            return 0;
        a = mem > offset ? mem : offset;
    } else if (S_ISBLK(st->st_mode) && os_blkdev_geometry(fd, &size, &lbs) == 0) {
        a = lbs;
    } else if (os_fd_in_memory_fs(fd)) {
        return 0;
    } else {
        a = st->st_blksize > 0 ? (size_t)st->st_blksize : DEF_DIO_ALIGN;
    }
    if ((a & (a - 1)) != 0)
        a = DEF_DIO_ALIGN;
    return a < MIN_DIO_ALIGN ? MIN_DIO_ALIGN : a;
}

/* Step 6 of the open: opens the directory holding path. */
static int open_parent(const char *path, int *dir_fd)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    char *dir;
    int rc;

    if (len == 0)
        return os_open(".", O_RDONLY | O_DIRECTORY, 0, dir_fd);
    dir = malloc(len + 1);
    if (dir == NULL)
        return -ENOMEM;
    memcpy(dir, path, len);
    dir[len] = '\0';
    rc = os_open(dir, O_RDONLY | O_DIRECTORY, 0, dir_fd);
    free(dir);
    return rc;
}

int plat_file_open(const char *path, unsigned flags, struct plat_file **out)
{
    struct plat_file *f;
    struct stat st;
    bool created = false;
    size_t align = 0;
    int rc;

    /* Step 1 */
    if (path == NULL || out == NULL)
        return PLAT_EFAULT;
    if ((flags & ~KNOWN_FLAGS) != 0 || ((flags & PLAT_FILE_EXCL) && !(flags & PLAT_FILE_CREATE)) ||
        ((flags & PLAT_FILE_CREATE) && (flags & PLAT_FILE_READONLY)))
        return PLAT_EINVAL;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return PLAT_ENOMEM;
    f->fd = -1;
    f->lock_fd = -1;
    f->dir_fd = -1;
    f->readonly = (flags & PLAT_FILE_READONLY) != 0;
    f->align = 1;
    rc = plat_mutex_init(&f->mu);
    if (rc != 0) {
        free(f);
        return rc;
    }

    /* Step 2 */
    rc = open_path(path, flags, &f->fd, &created);
    /* Step 3 */
    if (rc == 0)
        rc = os_fstat(f->fd, &st);
    if (rc == 0 && S_ISDIR(st.st_mode))
        rc = -EISDIR;
    else if (rc == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        rc = -EINVAL;
    if (rc == 0)
        f->blkdev = S_ISBLK(st.st_mode);
    /* Step 4 */
    if (rc == 0 && !f->readonly) {
        char self[64];

        snprintf(self, sizeof(self), "/proc/self/fd/%d", f->fd);
        rc = os_open(self, O_RDONLY | O_CLOEXEC, 0, &f->lock_fd);
        if (rc == 0)
            rc = os_flock(f->lock_fd, LOCK_EX | LOCK_NB);
    }
    /* Step 5 */
    if (rc == 0 && (flags & PLAT_FILE_DIRECT))
        align = dio_alignment(f->fd, &st);
    if (rc == 0 && align != 0) {
        rc = os_fcntl_set_flags(f->fd, O_DIRECT, O_NONBLOCK);
        if (rc == 0) {
            f->direct = true;
            f->align = align;
        } else if (rc == -EINVAL) {
            align = 0; /* the file system refuses O_DIRECT: buffered */
            rc = 0;
        }
    }
    if (rc == 0 && align == 0)
        rc = os_fcntl_set_flags(f->fd, 0, O_NONBLOCK | O_DIRECT);
    /* Step 6 */
    if (rc == 0 && created)
        rc = open_parent(path, &f->dir_fd);
    if (rc != 0) {
        if (f->dir_fd >= 0)
            os_close(f->dir_fd);
        if (f->lock_fd >= 0)
            os_close(f->lock_fd);
        if (f->fd >= 0)
            os_close(f->fd);
        if (created)
            os_unlink(path);
        plat_mutex_destroy(&f->mu);
        free(f);
        return file_err(rc);
    }
    /* Step 7 */
    f->uring = !(flags & PLAT_FILE_NO_URING) && first_ring(f);
    *out = f;
    return 0;
}

int plat_file_close(struct plat_file *f)
{
    int rc;

    if (f == NULL)
        return 0;
    /* The lock is on its own descriptor (step 4 of opening): closing it frees the lock at once,
     * whatever the rings still hold while the kernel tears them down. */
    if (f->lock_fd >= 0)
        os_close(f->lock_fd);
    rings_free_all(f);
    if (f->dir_fd >= 0)
        os_close(f->dir_fd);
    rc = os_close(f->fd);
    plat_mutex_destroy(&f->mu);
    free(f);
    return rc == 0 ? 0 : PLAT_EIO;
}

int plat_file_get_info(struct plat_file *f, struct plat_file_info *out)
{
    struct stat st;
    uint64_t size;
    uint32_t lbs;
    int rc;

    if (f == NULL || out == NULL)
        return PLAT_EFAULT;
    rc = os_fstat(f->fd, &st);
    if (rc != 0)
        return rc == -ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
    size = (uint64_t)st.st_size;
    if (f->blkdev && os_blkdev_geometry(f->fd, &size, &lbs) != 0)
        return PLAT_EIO;
    memset(out, 0, sizeof(*out));
    out->size = size;
    out->max_size = f->blkdev ? size : os_file_size_limit(f->fd);
    out->align = f->align;
    out->queue_depth = f->uring ? QUEUE_DEPTH : 1;
    out->direct = f->direct;
    out->uring = f->uring;
    out->block_device = f->blkdev;
    out->readonly = f->readonly;
    return 0;
}

/* Sets the size of a regular file (plat_file_resize). A direct file that grows gets its new blocks
 * allocated (fallocate: unwritten extents, read as zeros) where the file system can, so that a
 * direct write into them allocates nothing: ext4 and XFS take such a write without blocking,
 * where a write into a hole makes io_uring hand it to a worker thread (a fifth of a key-value
 * load's processor time went to those). Where fallocate fails (a file system without it, no
 * space), ftruncate makes the file sparse as before, and a write that needs space fails then.
 * A buffered file stays sparse: its writes go to the page cache, which allocates later. */
static int resize_regular(struct plat_file *f, uint64_t size)
{
    struct stat st;
    int rc;

    if (f->direct) {
        rc = os_fstat(f->fd, &st);
        if (rc != 0)
            return rc;
        if ((uint64_t)st.st_size < size &&
            os_fallocate(f->fd, 0, st.st_size, (off_t)(size - (uint64_t)st.st_size)) == 0)
            return 0;
    }
    return os_ftruncate(f->fd, (off_t)size);
}

int plat_file_resize(struct plat_file *f, uint64_t size)
{
    if (f == NULL)
        return PLAT_EFAULT;
    if (f->readonly)
        return PLAT_EACCES;
    if (size > OFF_LIMIT || f->blkdev)
        return PLAT_EINVAL;
    return file_err(resize_regular(f, size));
}

int plat_file_sync(struct plat_file *f)
{
    int rc;

    if (f == NULL)
        return PLAT_EFAULT;
    rc = os_fdatasync(f->fd);
    if (rc == 0) {
        plat_mutex_lock(&f->mu);
        if (f->dir_fd >= 0) {
            rc = os_fsync(f->dir_fd);
            if (rc == 0) {
                os_close(f->dir_fd);
                f->dir_fd = -1;
            }
        }
        plat_mutex_unlock(&f->mu);
    }
    if (rc == -EINVAL || rc == -EROFS)
        return PLAT_ENOTSUP; /* this file cannot be synced */
    return file_err(rc);
}
