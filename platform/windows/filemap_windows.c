/*
 * platform/windows/filemap_windows.c: plat_proc.h's file mapping on Windows: a file mapped
 * through the OS page cache (a view of a file mapping object), advice for the mapping (none to
 * give), and dropping a file's cached pages. For the baselines of awecache-bench alone: built into
 * awecache_platform_tool, not libawecache (platform/CMakeLists.txt). The file is io_windows.c's
 * (io_windows.h).
 */
#include "io_windows.h"

#include "os_windows.h"
#include "plat_proc.h"

#include <stdint.h>

/* Steps: 1. check len against the file's size (a mapping longer than the file would grow a
 * writable file); 2. make a file mapping object of the file's size and map a view of len bytes;
 * 3. close the mapping object (the view keeps it). */
int plat_file_map(struct plat_file *f, uint64_t len, void **addr)
{
    uint64_t size;
    HANDLE m;
    void *p;
    DWORD err;

    if (f == NULL || addr == NULL)
        return PLAT_EFAULT;
    if (len == 0 || len > SIZE_MAX)
        return PLAT_EINVAL;
    /* Step 1 */
    err = os_file_size(f->h, &size);
    if (err != 0)
        return os_to_plat(err);
    if (size < len)
        return PLAT_EINVAL;
    /* Step 2: a view of a file is no frame or window: the plain calls, not the counted gate. */
    m = CreateFileMappingW(f->h, NULL, f->readonly ? PAGE_READONLY : PAGE_READWRITE, 0, 0, NULL);
    if (m == NULL)
        return os_to_plat(GetLastError()) == PLAT_ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
    p = MapViewOfFile(m, f->readonly ? FILE_MAP_READ : FILE_MAP_READ | FILE_MAP_WRITE, 0, 0,
                      (SIZE_T)len);
    err = p == NULL ? GetLastError() : 0;
    /* Step 3 */
    CloseHandle(m);
    if (p == NULL)
        return os_to_plat(err) == PLAT_ENOMEM ? PLAT_ENOMEM : PLAT_EIO;
    *addr = p;
    return 0;
}

int plat_file_unmap(void *addr, uint64_t len)
{
    if (addr == NULL || len == 0 || len > SIZE_MAX || !UnmapViewOfFile(addr))
        return PLAT_EINVAL;
    return 0;
}

/* Steps:
 * 1. Write back the file's dirty pages (FlushFileBuffers), whoever dirtied them: through the
 *    handle when it is writable, else through a writable reopen of it (ReOpenFile) when the
 *    account may write the file; when it may not, nothing can be written back from here.
 * 2. Ask for the clean pages to go: open the file once more without buffering and close it
 *    again. NTFS flushes and purges a file's cached pages when a non-cached handle is opened and
 *    no view of the file is mapped; that is all an unprivileged process can do on Windows (the
 *    system-wide standby-list purge needs administrator rights). Best effort, not verified on
 *    Windows here: the next reads may still come from the cache, and its failure is ignored. */
int plat_file_drop_cache(struct plat_file *f)
{
    HANDLE h2;
    DWORD err;

    if (f == NULL)
        return PLAT_EFAULT;
    /* Step 1 */
    if (!f->readonly) {
        err = os_flush_file(f->h);
    } else {
        h2 = ReOpenFile(f->h, GENERIC_READ | GENERIC_WRITE, SHARE_ALL, 0);
        err = h2 == INVALID_HANDLE_VALUE ? 0 : os_flush_file(h2);
        if (h2 != INVALID_HANDLE_VALUE)
            CloseHandle(h2);
    }
    if (err != 0)
        return os_to_plat(err) == PLAT_EFAULT ? PLAT_EFAULT : PLAT_EIO;
    /* Step 2 */
    h2 = ReOpenFile(f->h, GENERIC_READ, SHARE_ALL, FILE_FLAG_NO_BUFFERING);
    if (h2 != INVALID_HANDLE_VALUE)
        CloseHandle(h2);
    return 0;
}

int plat_file_map_advise(void *addr, uint64_t len, int advice)
{
    /* Windows reads a view's pages on demand with its own clustering; no advice to give. */
    if (addr == NULL || len == 0 ||
        (advice != PLAT_MAP_NORMAL && advice != PLAT_MAP_RANDOM && advice != PLAT_MAP_SEQUENTIAL))
        return PLAT_EINVAL;
    return 0;
}
