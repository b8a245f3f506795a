/*
 * platform/plat_io.h: files for the page cache: open, size, sync, and reads and writes in batches.
 *
 * The page cache keeps pages of one large backing file in AWE frames and moves them between the
 * file and frames mapped in a window, thousands of pages per call at random page-aligned
 * offsets. This header gives it one file API for every OS: a plat_file is an open file with an
 * advisory write lock, optional direct I/O (no page cache between the file and the frames), and
 * batches that keep many transfers in flight at once (io_uring on Linux where the kernel allows
 * it, plain positioned reads and writes otherwise).
 *
 * Conventions (for every function below, as in plat.h):
 * - Returns 0 on success or a negative error code of plat.h's PLAT_ERROR_MAP (its file codes are
 *   below). No other value is ever returned.
 * - A NULL pointer where the contract needs memory gives PLAT_EFAULT.
 * - Reads and writes are whole-length: a short transfer by the OS is continued until the whole
 *   length moved or an error stopped it. Reading past the end of the file is not an error: the
 *   part beyond the end reads as zeros (the file does not grow). Writing past the end grows it.
 * - Direct I/O: when plat_file_get_info() says `direct`, the buffer address, the file offset and
 * the length of every read and write must be multiples of `align`; a misaligned one is PLAT_EINVAL,
 *   found before any I/O is issued for it. Without direct I/O, align is 1 (anything goes).
 * - Offsets are uint64_t; off + len must not exceed INT64_MAX (PLAT_EINVAL otherwise). How far a
 *   file may grow is the file system's business (PLAT_EFBIG beyond it).
 * - Threads: a plat_file may be used by any number of threads at once, for any call but
 *   plat_file_close. Each batch is carried out on an io_uring (or by pread/pwrite) that no other
 *   call shares while the batch runs, so batches from different threads never mix results. Two
 *   transfers touching the same bytes at once (in one batch or across threads) leave those bytes
 *   in an unspecified order, as on every OS.
 * - Batches: a batch in which only one entry needs I/O uses pread/pwrite (one system call either
 *   way); otherwise io_uring where plat_file_get_info() says `uring`.
 * - Fault injection (plat_testing.h): every OS call counts, so a test can fail any of them. A
 *   batch on io_uring counts one call per submission round (the first round submits up to the
 *   queue depth entries); an injected failure fails the entries of that round and of every later
 *   round, and the entries already submitted complete normally. On pread/pwrite each call
 *   counts, and an injected failure fails the one entry that made it. EINTR is retried.
 * - Not for use in a fork()ed child: a child opens the file again.
 */
#ifndef AWECACHE_PLATFORM_PLAT_IO_H
#define AWECACHE_PLATFORM_PLAT_IO_H

#include "plat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The file codes (in plat.h's PLAT_ERROR_MAP, with their Win32 numbers and texts): PLAT_ENOENT
 * (no such file, or a path component is not a directory), PLAT_EEXIST (the file exists and
 * PLAT_FILE_EXCL was given), PLAT_EACCES (permission denied, a read-only file or handle),
 * PLAT_EISDIR (the path names a directory), PLAT_ELOCKED (another open file holds the write lock),
 * PLAT_ENOSPC (no space left on the device, or the disk quota is used), PLAT_EFBIG (beyond the
 * largest file the file system allows), PLAT_EMFILE (too many open files, in this process or the
 * system). Other codes the calls below return: PLAT_EINVAL (bad flags, misaligned direct I/O,
 * offset range, not a regular file or block device), PLAT_EFAULT, PLAT_ENOMEM, PLAT_ENOTSUP (the
 * file system cannot do what was asked, e.g. sync), PLAT_EIO (the device failed, or any other OS
 * error). plat_strerror() describes each. */

/* plat_strerror (plat.h) by its older name, which the tools and benchmarks still call. */
const char *plat_io_strerror(int err);

/* ---- Open files --------------------------------------------------------------------------- */

struct plat_file; /* opaque */

/* Open flags. CREATE makes the file (empty, mode 0600 less the umask) if it is missing; EXCL
 * (with CREATE) fails with PLAT_EEXIST if it exists. READONLY opens for reading only: no write
 * lock, and writes and resizes give PLAT_EACCES. DIRECT asks for direct I/O where the file
 * system can do it; where it cannot (tmpfs) the file is opened buffered, never an error.
 * NO_URING makes batches use pread/pwrite even where io_uring works. */
#define PLAT_FILE_CREATE   0x01u
#define PLAT_FILE_EXCL     0x02u
#define PLAT_FILE_READONLY 0x04u
#define PLAT_FILE_DIRECT   0x08u
#define PLAT_FILE_NO_URING 0x10u

/* Opens the regular file (or block device) at `path` and stores the handle in *out. A writable
 * open takes an advisory exclusive lock on the file, held until plat_file_close; while another
 * open file holds it, in this process or another, the open fails with PLAT_ELOCKED. A read-only
 * open takes no lock. A failed open leaves *out untouched and removes any file it created.
 * Errors: PLAT_EFAULT, PLAT_EINVAL (unknown flags, EXCL without CREATE, CREATE with READONLY, not
 * a regular file or block device), PLAT_ENOENT, PLAT_EEXIST, PLAT_EACCES, PLAT_EISDIR,
 * PLAT_ELOCKED, PLAT_EMFILE, PLAT_ENOSPC, PLAT_ENOMEM, PLAT_EIO. */
int plat_file_open(const char *path, unsigned flags, struct plat_file **out);

/* Closes the file and releases the lock and everything the handle held, whatever the result.
 * No call on `f` may be running or start. Returns 0, or PLAT_EIO when the OS reported a failed
 * earlier write at close (the handle is gone either way). NULL is a no-op returning 0. */
int plat_file_close(struct plat_file *f);

struct plat_file_info {
    uint64_t size;        /* bytes in the file now (a block device: its capacity) */
    uint64_t max_size;    /* the largest size the file can reach: the file system's limit for
                           * it and the process's file size limit (Linux: RLIMIT_FSIZE); a
                           * block device: its capacity */
    size_t align;         /* buffers, offsets and lengths must be multiples of this: the direct
                           * I/O alignment (a power of two, >= 512) when direct, else 1 */
    unsigned queue_depth; /* transfers a batch keeps in flight at once (1: pread/pwrite) */
    bool direct;          /* direct I/O is on (no page cache) */
    bool uring;           /* batches go through io_uring; false: pread/pwrite (asked for with
                           * PLAT_FILE_NO_URING, no liburing in this build, or the kernel
                           * refused io_uring, as containers often do) */
    bool block_device;    /* the path named a block device (plat_file_resize gives PLAT_EINVAL) */
    bool readonly;        /* opened with PLAT_FILE_READONLY */
};

/* Fills *out. Errors: PLAT_EFAULT, PLAT_ENOMEM, PLAT_EIO. */
int plat_file_get_info(struct plat_file *f, struct plat_file_info *out);

/* Sets the file's size to `size` bytes: growing adds zeros, shrinking drops the tail. A direct
 * file gets the blocks it grows by allocated where the file system can (Linux: fallocate), so
 * that direct writes into them need no allocation; otherwise (and on a buffered file) the new
 * bytes are sparse where the file system can. Errors: PLAT_EFAULT, PLAT_EACCES (read-only handle),
 * PLAT_EINVAL (size > INT64_MAX, a block device), PLAT_EFBIG, PLAT_ENOSPC, PLAT_EIO. */
int plat_file_resize(struct plat_file *f, uint64_t size);

/* Makes every completed write and resize durable (fdatasync). The first sync after the open
 * that created the file also syncs its directory, so that the name survives a crash too.
 * Errors: PLAT_EFAULT, PLAT_ENOSPC, PLAT_ENOTSUP, PLAT_EIO (a write-back failed: the data written
 * since the last sync may be lost). */
int plat_file_sync(struct plat_file *f);

/* Reads len bytes at `off` into buf, whole-length; bytes beyond the end of the file read as
 * zeros. len == 0 does nothing (buf may be NULL). On error the contents of buf are unspecified.
 * Errors: PLAT_EFAULT, PLAT_EINVAL (alignment, range), PLAT_EIO. */
int plat_file_read(struct plat_file *f, void *buf, size_t len, uint64_t off);

/* Writes len bytes from buf at `off`, whole-length, growing the file if needed. On error a
 * prefix of the range may have been written. Errors: PLAT_EFAULT, PLAT_EACCES (read-only
 * handle), PLAT_EINVAL (alignment, range), PLAT_EFBIG, PLAT_ENOSPC, PLAT_EIO. */
int plat_file_write(struct plat_file *f, const void *buf, size_t len, uint64_t off);

/* ---- Batches ------------------------------------------------------------------------------ */

/* One transfer of a batch. The caller fills buf, len and off; the call fills result. */
struct plat_io {
    void *buf;    /* memory to read into or write from (a page of a window, say) */
    size_t len;   /* bytes; 0 is a transfer that succeeds at once */
    uint64_t off; /* file offset */
    int result;   /* out: 0, or the entry's error code (as plat_file_read / plat_file_write) */
};

/* Reads every entry of ios[0..n): up to the queue depth of them in flight at once, in any order.
 * Entries are independent: each gets its own result, with the semantics of plat_file_read
 * (whole-length, zeros past the end), and a failed entry (bad arguments included) stops no
 * other. Returns 0 when every entry succeeded, else the result of the lowest-indexed entry that
 * failed. n == 0 returns 0. Errors (whole call, no entry touched): PLAT_EFAULT (f NULL, or ios
 * NULL with n > 0). */
int plat_file_read_batch(struct plat_file *f, struct plat_io *ios, size_t n);

/* Writes every entry of ios[0..n), as plat_file_read_batch reads. A read-only handle fails every
 * entry with PLAT_EACCES. Entries whose ranges overlap leave the overlap in an unspecified
 * order. */
int plat_file_write_batch(struct plat_file *f, struct plat_io *ios, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_PLATFORM_PLAT_IO_H */
