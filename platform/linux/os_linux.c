/*
 * platform/linux/os_linux.c: the OS-call gate of the Linux platform.
 *
 * Every counted call asks the gate first. The gate is a hook that the library never sets: a
 * check is one atomic load, nothing beside the cost of the system call it guards. Fault injection
 * (plat_testing.h) is test scaffolding, not part of libawecache: testing_linux.c, built into the
 * test-only library awecache_testing (platform/CMakeLists.txt), sets the hook to count the calls
 * and fail the armed one.
 */
#include "os_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Frames past 4 GiB of the memfd, and backing files past 2 GiB, need 64-bit offsets in every
 * call (mmap, pread, fallocate...): the build defines _FILE_OFFSET_BITS=64 for every target, which
 * matters in a 32-bit build (cmake/i386.cmake). */
_Static_assert(sizeof(off_t) == 8, "off_t must be 64 bits: build with -D_FILE_OFFSET_BITS=64");

_Atomic(os_gate_fn) os_gate_hook;
_Atomic int os_copy_by_call;

/* Asks the gate about one OS call: 0 to go ahead, or a negative errno to fail it with. */
static int gate(void)
{
    os_gate_fn hook = atomic_load_explicit(&os_gate_hook, memory_order_acquire);

    return hook == NULL ? 0 : hook();
}

int os_mmap_uncounted(void *addr, size_t len, int prot, int flags, int fd, off_t off, void **out)
{
    void *p = mmap(addr, len, prot, flags, fd, off);

    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

int os_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, void **out)
{
    int rc = gate();

    return rc != 0 ? rc : os_mmap_uncounted(addr, len, prot, flags, fd, off, out);
}

int os_munmap(void *addr, size_t len)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    return munmap(addr, len) == 0 ? 0 : -errno;
}

int os_mprotect(void *addr, size_t len, int prot)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    return mprotect(addr, len, prot) == 0 ? 0 : -errno;
}

int os_madvise(void *addr, size_t len, int advice)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    return madvise(addr, len, advice) == 0 ? 0 : -errno;
}

int os_memfd_create(const char *name, unsigned flags, int *fd)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    rc = memfd_create(name, flags);
    if (rc < 0)
        return -errno;
    *fd = rc;
    return 0;
}

int os_ftruncate(int fd, off_t len)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    return ftruncate(fd, len) == 0 ? 0 : -errno;
}

int os_fallocate(int fd, int mode, off_t off, off_t len)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    return fallocate(fd, mode, off, len) == 0 ? 0 : -errno;
}

bool os_read_u64(const char *path, uint64_t *out)
{
    FILE *f = fopen(path, "re");
    unsigned long long v;
    int n;

    if (f == NULL)
        return false;
    n = fscanf(f, "%llu", &v);
    fclose(f);
    if (n != 1)
        return false;
    *out = v;
    return true;
}

bool os_read_last_u64(const char *path, uint64_t *out)
{
    FILE *f = fopen(path, "re");
    char line[256];
    const char *p;
    bool ok;

    if (f == NULL)
        return false;
    ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    p = line + strcspn(line, "\n");
    while (p > line && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (*p < '0' || *p > '9')
        return false;
    *out = strtoull(p, NULL, 10);
    return true;
}

bool os_read_keyed_u64(const char *path, const char *key, uint64_t *out)
{
    FILE *f = fopen(path, "re");
    char line[256];
    size_t klen = strlen(key);
    bool found = false;

    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            *out = strtoull(line + klen + 1, NULL, 10);
            found = true;
        }
    }
    fclose(f);
    return found;
}

void os_say(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || n == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* ---- Files (platform/plat_io.h) ------------------------------------------------------------ */

#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>

int os_count_call(void)
{
    return gate();
}

int os_open(const char *path, int flags, unsigned mode, int *fd)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    rc = open(path, flags | O_CLOEXEC, (mode_t)mode);
    if (rc < 0)
        return -errno;
    *fd = rc;
    return 0;
}

int os_close(int fd)
{
    /* Linux releases the descriptor whatever close returns; EINTR must not be retried. */
    return close(fd) == 0 || errno == EINTR ? 0 : -errno;
}

int os_unlink(const char *path)
{
    return unlink(path) == 0 ? 0 : -errno;
}

int os_flock(int fd, int op)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    return flock(fd, op) == 0 ? 0 : -errno;
}

int os_fcntl_set_flags(int fd, int set, int clear)
{
    int rc = gate();
    int fl;

    if (rc != 0)
        return rc;
    fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (((fl | set) & ~clear) == fl)
        return 0;
    return fcntl(fd, F_SETFL, (fl | set) & ~clear) == 0 ? 0 : -errno;
}

int os_fstat(int fd, struct stat *st)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    return fstat(fd, st) == 0 ? 0 : -errno;
}

int64_t os_pread(int fd, void *buf, size_t len, uint64_t off)
{
    int rc = gate();
    ssize_t n;

    if (rc != 0)
        return rc;
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -errno : (int64_t)n;
}

int64_t os_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    int rc = gate();
    ssize_t n;

    if (rc != 0)
        return rc;
    n = pwrite(fd, buf, len, (off_t)off);
    return n < 0 ? -errno : (int64_t)n;
}

uint64_t os_file_size_limit(int fd)
{
    uint64_t lo = 0, hi = (uint64_t)INT64_MAX; /* lseek accepts lo; the answer is in [lo, hi] */
    struct rlimit rl;

    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;

        if (lseek(fd, (off_t)mid, SEEK_SET) == (off_t)mid)
            lo = mid;
        else
            hi = mid - 1;
    }
    (void)lseek(fd, 0, SEEK_SET);
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)rl.rlim_cur < lo)
        lo = (uint64_t)rl.rlim_cur;
    return lo;
}

int os_fdatasync(int fd)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    return fdatasync(fd) == 0 ? 0 : -errno;
}

int os_fsync(int fd)
{
    int rc = gate();

    if (rc != 0)
        return rc;
    return fsync(fd) == 0 ? 0 : -errno;
}

int os_statx_dioalign(int fd, uint32_t *mem_align, uint32_t *offset_align)
{
#ifdef STATX_DIOALIGN
    struct statx sx;

    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) != 0)
        return -errno;
    if ((sx.stx_mask & STATX_DIOALIGN) == 0)
        return -ENOTSUP;
    *mem_align = sx.stx_dio_mem_align;
    *offset_align = sx.stx_dio_offset_align;
    return 0;
#else
    (void)fd;
    (void)mem_align;
    (void)offset_align;
    return -ENOTSUP; /* headers older than Linux 6.1 */
#endif
}

bool os_fd_in_memory_fs(int fd)
{
    struct statfs sf;

    if (fstatfs(fd, &sf) != 0)
        return false;
    return (unsigned long)sf.f_type == TMPFS_MAGIC || (unsigned long)sf.f_type == RAMFS_MAGIC;
}

int os_blkdev_geometry(int fd, uint64_t *size, uint32_t *logical_block)
{
    uint64_t bytes;
    int lbs;

    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0 || ioctl(fd, BLKSSZGET, &lbs) != 0)
        return -errno;
    *size = bytes;
    *logical_block = lbs > 0 ? (uint32_t)lbs : 512;
    return 0;
}
