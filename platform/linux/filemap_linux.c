/*
 * platform/linux/filemap_linux.c: plat_proc.h's file mapping on Linux: a file mapped through the
 * OS page cache (a shared mmap of it), advice for the mapping (madvise), and dropping a file's
 * cached pages (fdatasync, then posix_fadvise DONTNEED). For the baselines of awecache-bench
 * alone: built into awecache_platform_tool, not libawecache (platform/CMakeLists.txt). The file is
 * io_linux.c's (io_linux.h).
 */
#include "io_linux.h"

#include "os_linux.h"
#include "plat_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

int plat_file_map(struct plat_file *f, uint64_t len, void **addr)
{
    struct stat st;
    void *p;
    int rc;

    if (f == NULL || addr == NULL)
        return PLAT_EFAULT;
    if (len == 0 || len > SIZE_MAX)
        return PLAT_EINVAL;
    rc = os_fstat(f->fd, &st);
    if (rc != 0)
        return file_err(rc);
    if ((uint64_t)st.st_size < len && !f->blkdev)
        return PLAT_EINVAL;
    /* A shared file mapping is not a frame or window: the plain call, not the counted gate. */
    p = mmap(NULL, (size_t)len, f->readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
             0);
    if (p == MAP_FAILED)
        return errno == ENOMEM ? PLAT_ENOMEM : (errno == EINVAL ? PLAT_EINVAL : PLAT_EIO);
    *addr = p;
    return 0;
}

int plat_file_unmap(void *addr, uint64_t len)
{
    if (addr == NULL || len == 0 || len > SIZE_MAX || munmap(addr, (size_t)len) != 0)
        return PLAT_EINVAL;
    return 0;
}

/* Steps: 1. write back the file's dirty pages, whoever dirtied them (fdatasync works on a
 * read-only descriptor too); 2. drop the file's clean pages from the page cache. */
int plat_file_drop_cache(struct plat_file *f)
{
    int rc;

    if (f == NULL)
        return PLAT_EFAULT;
    /* Step 1 */
    rc = os_fdatasync(f->fd);
    if (rc != 0)
        return file_err(rc);
    /* Step 2: posix_fadvise returns the error number itself. */
    rc = posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
    return rc == 0 ? 0 : PLAT_EIO;
}

int plat_file_map_advise(void *addr, uint64_t len, int advice)
{
    int adv = advice == PLAT_MAP_RANDOM       ? MADV_RANDOM
              : advice == PLAT_MAP_SEQUENTIAL ? MADV_SEQUENTIAL
                                              : MADV_NORMAL;

    if (addr == NULL || len == 0 || len > SIZE_MAX ||
        (advice != PLAT_MAP_NORMAL && advice != PLAT_MAP_RANDOM && advice != PLAT_MAP_SEQUENTIAL))
        return PLAT_EINVAL;
    return madvise(addr, (size_t)len, adv) == 0 ? 0 : PLAT_EINVAL;
}
