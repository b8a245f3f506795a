/*
 * platform/linux/os_linux.h: the gate through which the Linux platform makes its OS calls.
 *
 * Every call that changes memory state (memfd_create, ftruncate, fallocate, mmap, munmap,
 * mprotect, madvise) goes through one of these wrappers. Each returns 0 or a negative errno,
 * captured right at the failing call, so no caller ever reads errno itself. Counted calls can be
 * made to fail by tests (platform/plat_testing.h); calls made while rolling back a failed
 * operation use the `_uncounted` variants and are never failed by injection.
 */
#ifndef AWECACHE_PLATFORM_OS_LINUX_H
#define AWECACHE_PLATFORM_OS_LINUX_H

#include "plat_proc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The gate's hook: NULL (every call goes ahead) unless a test set it. It is asked once per
 * counted call and returns 0 to go ahead or the negative errno the call fails with. Set only by
 * testing_linux.c (awecache_testing, plat_testing.h), never by the library. */
typedef int (*os_gate_fn)(void);
extern _Atomic(os_gate_fn) os_gate_hook;

/* 1: plat_frames_copy goes through pread and pwrite (counted calls) even where the pool has its
 * view. Set only by testing_linux.c (plat_testing_copy_frames_by_os), never by the library. */
extern _Atomic int os_copy_by_call;

/* mmap: stores the mapping in *out. */
int os_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, void **out);
int os_mmap_uncounted(void *addr, size_t len, int prot, int flags, int fd, off_t off, void **out);
int os_munmap(void *addr, size_t len);
int os_mprotect(void *addr, size_t len, int prot);
int os_madvise(void *addr, size_t len, int advice);
int os_memfd_create(const char *name, unsigned flags, int *fd);
int os_ftruncate(int fd, off_t len);
int os_fallocate(int fd, int mode, off_t off, off_t len);

/* Reads a small text file (a /proc or /sys entry) and parses its first unsigned number;
 * returns false if it cannot. Not counted: used only to learn capabilities. */
bool os_read_u64(const char *path, uint64_t *out);

/* Reads a list of numbers such as "0-3,5" and parses the last one; false if it cannot. */
bool os_read_last_u64(const char *path, uint64_t *out);

/* Reads "Key: <number>" from a /proc file such as /proc/meminfo; false if absent. */
bool os_read_keyed_u64(const char *path, const char *key, uint64_t *out);

/* Formats why a call failed into why[0..n) (why NULL or n 0: nowhere), for the functions that
 * report a reason beside their code (plat_ramdisk.h, plat_proc.h's memory limit). */
void os_say(char *why, size_t n, const char *fmt, ...) PLAT_PRINTF(3, 4);

/* ---- Files (platform/plat_io.h) ------------------------------------------------------------
 * Counted like the calls above: open, flock, fcntl, fstat, pread, pwrite, fdatasync, fsync
 * (and os_ftruncate). Not counted: close, unlink and unlock (they release what was made) and
 * the capability queries (statx, statfs, block device ioctls), whose failure has a fallback. */

/* Counts one OS call made for the platform by a library (an io_uring submission round):
 * 0 to go ahead, or the injected negative errno. */
int os_count_call(void);

/* open(2) with O_CLOEXEC added: stores the descriptor in *fd. */
int os_open(const char *path, int flags, unsigned mode, int *fd);
int os_close(int fd);
int os_unlink(const char *path);
int os_flock(int fd, int op);
/* Sets the file status flags in `set` and clears those in `clear` (O_DIRECT, O_NONBLOCK) with
 * F_GETFL / F_SETFL. */
int os_fcntl_set_flags(int fd, int set, int clear);
struct stat;
int os_fstat(int fd, struct stat *st);
/* pread / pwrite: the bytes moved (>= 0) or a negative errno. */
int64_t os_pread(int fd, void *buf, size_t len, uint64_t off);
int64_t os_pwrite(int fd, const void *buf, size_t len, uint64_t off);
int os_fdatasync(int fd);
/* The largest size the file may grow to: the file system's limit for it (found by lseek, which
 * refuses offsets past it, in a binary search that moves only the unused file position) and
 * RLIMIT_FSIZE. A capability query: not counted. */
uint64_t os_file_size_limit(int fd);
int os_fsync(int fd);

/* Direct I/O alignment from statx(STATX_DIOALIGN): 0 with both alignments stored (0 and 0 when
 * the file system cannot do direct I/O on this file), -ENOTSUP when statx did not say. */
int os_statx_dioalign(int fd, uint32_t *mem_align, uint32_t *offset_align);
/* True when the file lives in memory (tmpfs, ramfs): direct I/O means nothing there. */
bool os_fd_in_memory_fs(int fd);
/* A block device's size in bytes and logical block size. */
int os_blkdev_geometry(int fd, uint64_t *size, uint32_t *logical_block);

#endif /* AWECACHE_PLATFORM_OS_LINUX_H */
