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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

#endif /* AWECACHE_PLATFORM_OS_LINUX_H */
