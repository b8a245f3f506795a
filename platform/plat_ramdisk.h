/*
 * platform/plat_ramdisk.h: a file system in RAM for awecache-bench (bench/awecache-bench/): a block
 * device made of memory, with a fresh file system on it, private to the calling process and gone
 * with it, however the process ends (a normal exit, a signal, kill -9).
 *
 * It lets `awecache-bench --medium ram` measure the engines rather than a device: the data file
 * lives on a real block device with a real file system (so O_DIRECT, io_uring, the OS page cache
 * and its write-back behave as on a disk), whose blocks are RAM.
 *
 * Not part of libawecache: this header and its files (linux/ramdisk_linux.c,
 * windows/ramdisk_windows.c) go into a small static library, awecache_platform_tool, that only the
 * programs calling it link.
 *
 * Conventions: as plat.h (0 or a negative PLAT_E* code; a failure changes nothing). Call
 * plat_ramdisk_create while the process has a single thread (Linux moves the whole process into
 * a mount namespace of its own, which the kernel allows only then); threads started later share
 * the RAM disk.
 */
#ifndef AWECACHE_PLATFORM_PLAT_RAMDISK_H
#define AWECACHE_PLATFORM_PLAT_RAMDISK_H

#include "plat.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct plat_ramdisk; /* opaque */

/*
 * Makes a RAM disk of at least `bytes` bytes (rounded up to MiB) with a fresh, empty file system,
 * and stores it in *out. Files go under plat_ramdisk_dir's directory. The memory is taken as
 * files are written (the file system's own structures at once), and all of it is given back at
 * plat_ramdisk_destroy or when the process ends.
 *
 * Linux: root (CAP_SYS_ADMIN) is needed. The process enters a mount namespace of its own (so
 * that no mount is ever seen outside it), the blocks are a memfd (no file in /dev/shm or
 * anywhere else), a free loop device is bound to it with auto-clear (it lets go of the memory at
 * its last close), mkfs.ext4 (e2fsprogs, found on PATH or in /sbin, /usr/sbin) makes the file
 * system, which is mounted and at once detached from every directory: the process reaches it
 * through an open descriptor only. When the process ends its descriptors close, the file system
 * goes, the loop device unbinds itself and the memfd is freed; nothing is left to clean up.
 * Windows: PLAT_ENOTSUP.
 *
 * When a step is refused it returns the error and writes the reason, one line without a final
 * period, into why[0..whylen) (why may be NULL): not root, no loop devices (a container), no
 * mkfs.ext4, not enough memory. Errors: PLAT_EFAULT (out NULL), PLAT_EINVAL (bytes 0),
 * PLAT_EPERM (no privilege), PLAT_ENOTSUP (the OS or the machine lacks a part), PLAT_ENOMEM,
 * PLAT_EIO (a step failed unexpectedly).
 */
int plat_ramdisk_create(uint64_t bytes, struct plat_ramdisk **out, char *why, size_t whylen);

/* The directory that holds the RAM disk's file system, without a trailing separator (on Linux
 * a path through the process's descriptor, /proc/self/fd/N, valid in this process only). Valid
 * until plat_ramdisk_destroy. */
const char *plat_ramdisk_dir(const struct plat_ramdisk *rd);

/* A one-line description for reports: "ext4 on /dev/loop3, 1.56 GiB of RAM". */
const char *plat_ramdisk_describe(const struct plat_ramdisk *rd);

/* The RAM disk's size in bytes (what plat_ramdisk_create rounded `bytes` up to). */
uint64_t plat_ramdisk_size(const struct plat_ramdisk *rd);

/* Lets go of the RAM disk: every file on it and its memory are gone when this returns (files
 * still open elsewhere in the process keep it until they close; the call then waits up to about
 * two seconds and returns PLAT_EIO if it is still held). Frees rd; NULL is a no-op. */
int plat_ramdisk_destroy(struct plat_ramdisk *rd);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_PLATFORM_PLAT_RAMDISK_H */
