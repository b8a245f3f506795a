/*
 * platform/plat_proc.h: what the awecache tool and awecache-bench need of the OS beyond AWE,
 * files and threads: the terminal, the machine's memory, mapping a file through the OS page
 * cache, dropping a file's cached pages, and running part of a process under a memory limit.
 *
 * Conventions: as plat.h (0 or a negative PLAT_E* code; plat_io.h's codes too). None of these
 * calls is a fault-injection point. They are for tools and benchmarks, not for the engine, and
 * libawecache holds none of them: proc_<os>.c, filemap_<os>.c (the file mapping) and
 * memlimit_<os>.c (the memory limit) make awecache_platform_tool, a static library only the
 * programs that call them link (platform/CMakeLists.txt).
 */
#ifndef AWECACHE_PLATFORM_PLAT_PROC_H
#define AWECACHE_PLATFORM_PLAT_PROC_H

#include "plat_io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The format attribute for the tools' printf-like functions. On mingw-w64, GCC's `printf`
 * archetype checks the Microsoft C runtime's dialect (no %zu), while the programs print with
 * mingw's C99 printf (strict -std=c11 turns __USE_MINGW_ANSI_STDIO on): `gnu_printf` is the
 * archetype that matches. Elsewhere it is plain `printf`. */
#if defined(__MINGW32__)
#define PLAT_PRINTF(fmt, first) __attribute__((format(gnu_printf, fmt, first)))
#elif defined(__GNUC__)
#define PLAT_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define PLAT_PRINTF(fmt, first)
#endif

/* True when standard stream `fd` (1: stdout, 2: stderr) is a terminal. */
bool plat_is_terminal(int fd);

/* The directory for temporary files that must live on a disk (a data file read with direct
 * I/O, say), without a trailing separator: on Linux $TMPDIR if set, else /var/tmp (not /tmp,
 * often a tmpfs, where direct I/O does not exist); on Windows the user's temporary folder.
 * Errors: PLAT_EFAULT, PLAT_EINVAL (len too small for it: nothing written). */
int plat_temp_dir(char *buf, size_t len);

/* Sleeps for about `ns` nanoseconds (at least that long, unless interrupted by a signal). */
void plat_sleep_ns(uint64_t ns);

/* The machine's memory: total RAM, what could be had now without swapping (free, plus caches
 * the OS can drop), and the most this process may lock (RLIMIT_MEMLOCK; UINT64_MAX:
 * unlimited). Any pointer may be NULL. Errors: PLAT_EIO (the OS would not say). */
int plat_mem_info(uint64_t *total, uint64_t *available, uint64_t *lock_limit);

/* This process's resident memory in bytes and its major page faults so far (faults that read
 * from a file or swap); UINT64_MAX where the OS does not tell (Windows counts no major faults
 * apart). Any pointer may be NULL. Errors: PLAT_EIO (the OS would not say). */
int plat_proc_usage(uint64_t *rss, uint64_t *major_faults);

/* Maps bytes [0, len) of the open file f into memory, shared (writes reach the file through the
 * OS page cache), read-write unless the file was opened read-only, and stores the address in
 * *addr. len must not exceed the file's size. Errors: PLAT_EFAULT, PLAT_EINVAL (len 0, beyond
 * the file), PLAT_ENOMEM (no address space), PLAT_EIO. */
int plat_file_map(struct plat_file *f, uint64_t len, void **addr);
/* Unmaps what plat_file_map mapped (the same address and length); dirty pages stay in the OS
 * page cache for it to write back. Errors: PLAT_EINVAL. */
int plat_file_unmap(void *addr, uint64_t len);
/* How a plat_file_map mapping will be accessed, for the OS's read-around on a fault. */
#define PLAT_MAP_NORMAL     0 /* the OS's default (Linux reads around a fault: read_ahead_kb) */
#define PLAT_MAP_RANDOM     1 /* random: read only the page that faulted */
#define PLAT_MAP_SEQUENTIAL 2 /* sequential: read ahead aggressively, drop pages behind */
/* Gives the OS the advice for [addr, addr + len) of a mapping (madvise on Linux; Windows has no
 * such advice for a view: a no-op there). Errors: PLAT_EINVAL (bad advice, range not mapped). */
int plat_file_map_advise(void *addr, uint64_t len, int advice);
/* Writes back the file's dirty pages in the OS page cache and then asks the OS to drop every
 * cached page of the file, so that the next reads come from the device. Errors: PLAT_EFAULT,
 * PLAT_EIO. */
int plat_file_drop_cache(struct plat_file *f);

/* ---- A memory limit for part of the process ----------------------------------------------- */

/* A memory limit on the calling process, for as long as it is held: on Linux a new memory
 * cgroup (v2, or v1's memory controller) below the process's own, with the limit set and the
 * process moved into it. Memory the process touches while inside (file pages it maps or reads
 * through the OS page cache included) is charged to it, and the OS reclaims beyond the limit.
 * Memory charged before entering stays charged where it was. */
struct plat_memlimit; /* opaque */

/* Creates the limit of `bytes` and moves the process into it. When the machine cannot do that
 * (no writable cgroup file system, no memory controller, no permission) it returns PLAT_ENOTSUP
 * and writes the reason, one line, into why[0..whylen) (why may be NULL). Errors: PLAT_EFAULT,
 * PLAT_EINVAL (bytes 0), PLAT_ENOTSUP, PLAT_ENOMEM. */
int plat_memlimit_enter(uint64_t bytes, struct plat_memlimit **out, char *why, size_t whylen);
/* The most memory charged to the limit since it was entered (0 if the OS does not say). */
uint64_t plat_memlimit_peak(const struct plat_memlimit *m);
/* Moves the process back where it was and removes the limit (what was charged to it moves to
 * the parent), and frees m. NULL is a no-op. Returns 0, or PLAT_EIO if the process could not be
 * moved back (m is freed all the same, but the limit stays in force: the caller should say so). */
int plat_memlimit_leave(struct plat_memlimit *m);

#ifdef __cplusplus
}
#endif

#endif /* AWECACHE_PLATFORM_PLAT_PROC_H */
