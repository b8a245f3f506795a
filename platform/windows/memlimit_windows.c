/*
 * platform/windows/memlimit_windows.c: plat_proc.h's memory limit on Windows, which Windows
 * cannot give here. Built into awecache_platform_tool, never into libawecache
 * (platform/CMakeLists.txt), as memlimit_linux.c is.
 *
 * The memory limit. The Linux side charges a cgroup for the file pages a process brings into the
 * page cache, which is what awecache-bench's mmap baseline needs limited. Windows' nearest tool, a
 * job object with JOB_OBJECT_LIMIT_PROCESS_MEMORY, limits committed private memory only; the system
 * file cache and mapped file views are not charged to it, so it would not limit the baseline at
 * all. Hard working-set limits (SetProcessWorkingSetSizeEx) bound mapped views but need the
 * increase-quota privilege and change how the whole process pages. plat_memlimit_enter therefore
 * answers PLAT_ENOTSUP with that reason, as Linux does where no cgroup can be made.
 */
#include "plat_proc.h"

#include <stdio.h>

struct plat_memlimit {
    int unused; /* never made on Windows */
};

int plat_memlimit_enter(uint64_t bytes, struct plat_memlimit **out, char *why, size_t whylen)
{
    if (out == NULL)
        return PLAT_EFAULT;
    if (bytes == 0)
        return PLAT_EINVAL;
    if (why != NULL && whylen > 0)
        snprintf(why, whylen,
                 "Windows cannot limit the file cache a process uses: a job object's memory "
                 "limit counts committed private memory only, not cached or mapped file pages");
    return PLAT_ENOTSUP;
}

uint64_t plat_memlimit_peak(const struct plat_memlimit *m)
{
    (void)m;
    return 0;
}

int plat_memlimit_leave(struct plat_memlimit *m)
{
    (void)m;
    return 0;
}
